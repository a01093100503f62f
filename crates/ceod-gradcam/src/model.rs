//! The split of a model at its target layer.

use candle_core::{Result, Tensor};

/// The weights of a head that is a global average pool followed by one linear layer.
///
/// For such a head `d logit_c / d A_kij = weight[c, k] / (h·w)` at every position, so Grad-CAM
/// equals plain CAM and can be computed analytically, differentiably in both the features and the
/// head.
#[derive(Debug, Clone)]
pub struct LinearHead {
    /// `C × K` weight, PyTorch layout (`out_features × in_features`).
    pub weight: Tensor,
    /// `C` bias, if the layer has one.
    pub bias: Option<Tensor>,
}

/// A model split at its target layer (candle has no hooks; this split is the way in).
///
/// `head(features(x))` must equal the model's logits for `x`.
pub trait CamModel {
    /// Activations `A` of the target layer, shape `B × K × h × w`.
    fn features(&self, xs: &Tensor) -> Result<Tensor>;

    /// Logits from target-layer activations: `B × K × h × w` to `B × C`.
    fn head(&self, features: &Tensor) -> Result<Tensor>;

    /// The head's weights when it is global average pool + linear, enabling the analytic CAM.
    /// The default, `None`, makes every method take the gradient path.
    fn linear_head(&self) -> Option<LinearHead> {
        None
    }
}

impl LinearHead {
    /// The analytic Grad-CAM weights `alpha[b, k] = weight[target_b, k] / (h·w)`, shape `B × K`.
    ///
    /// This is exactly `mean_ij d logit_target / d A_kij` for a global-average-pool + linear head.
    /// The result stays in the graph of `weight`, so a loss on the CAM reaches the head. It is
    /// cast to `dtype` (the features' dtype) when the weight has another one.
    pub fn alpha(
        &self,
        targets: &[usize],
        channels: usize,
        spatial: (usize, usize),
        dtype: candle_core::DType,
    ) -> crate::Result<Tensor> {
        let dims = self.weight.dims();
        if dims.len() != 2 || dims[1] != channels {
            return Err(crate::CamError::Shape {
                what: "linear head weight",
                expected: format!("C × {channels} (out_features × in_features)"),
                got: dims.to_vec(),
            });
        }
        let classes = dims[0];
        for (sample, &class) in targets.iter().enumerate() {
            if class >= classes {
                return Err(crate::CamError::TargetOutOfRange {
                    sample,
                    class,
                    classes,
                });
            }
        }
        let ids: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
        let ids = Tensor::from_vec(ids, targets.len(), self.weight.device())?;
        let hw = (spatial.0 * spatial.1) as f64;
        let alpha = self.weight.index_select(&ids, 0)?.affine(1.0 / hw, 0.0)?;
        Ok(if alpha.dtype() == dtype {
            alpha
        } else {
            alpha.to_dtype(dtype)?
        })
    }
}
