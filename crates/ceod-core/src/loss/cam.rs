//! The class activation map inside the training graph, from ceod-gradcam's train mode.
//!
//! `cam = ReLU(sum_k alpha_k A_k)` with `alpha` a constant (the GAIN-style choice, DESIGN.md §2,
//! as in the PyTorch reference) and `A` the tracked target-layer activations, so gradients reach
//! the backbone; upsampled with fixed bilinear matrices (`U_h · cam · U_wᵀ`) and normalised by its
//! maximum in the graph, the gradient of tied maxima split evenly (PyTorch's rule).

use candle_core::Tensor;
use ceod_gradcam::{
    CamModel, CamOptions, LinearHead, NormaliseOptions, Target, TieRule, cam_to_image, train_cam,
};

use crate::error::CoreError;

/// A view of a model whose linear head is detached, so that `alpha = W[c]/(h·w)` is a constant:
/// ceod-gradcam's analytic train mode otherwise keeps it in the graph of `W`, while the paper's
/// reference (and the fixtures) treat alpha as a constant.
struct ConstantAlpha<'a, M: ?Sized>(&'a M);

impl<M: CamModel + ?Sized> CamModel for ConstantAlpha<'_, M> {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.0.features(xs)
    }

    fn head(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        self.0.head(features)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        self.0.linear_head().map(|h| LinearHead {
            weight: h.weight.detach(),
            bias: h.bias.map(|b| b.detach()),
        })
    }
}

/// The normalised CAM of each sample's class, `B × height × width`, differentiable in
/// `features` (not in the head's weights). With `signs` (one `±1` per sample, binary models'
/// [`BinaryCam::TrueClass`](super::options::BinaryCam)), the map is `ReLU(s_i · sum_k alpha_k A_k)`.
pub(crate) fn training_cam<M: CamModel + ?Sized>(
    model: &M,
    features: &Tensor,
    classes: &[usize],
    signs: Option<&[f64]>,
    size: (usize, usize),
    norm_eps: f64,
) -> Result<Tensor, CoreError> {
    let normalise = NormaliseOptions {
        eps: norm_eps,
        ties: TieRule::Split,
    };
    let opts = CamOptions {
        normalise,
        ..CamOptions::default()
    };
    let target = Target::Classes(classes.to_vec());
    let cam = train_cam(&ConstantAlpha(model), features, &target, &opts)?;
    let raw = match (signs, &cam.alpha) {
        (Some(signs), Some(alpha)) if signs.iter().any(|&s| s < 0.0) => {
            let (b, k) = alpha.dims2()?;
            let sign = Tensor::from_vec(signs.to_vec(), (b, 1), alpha.device())?
                .to_dtype(alpha.dtype())?;
            // alpha is a constant; the signed weighted sum stays in the graph of `features`
            let w = alpha.broadcast_mul(&sign)?.detach().reshape((b, k, 1, 1))?;
            features.broadcast_mul(&w)?.sum(1)?.relu()?
        }
        (Some(signs), None) if signs.iter().any(|&s| s < 0.0) => {
            return Err(CoreError::InvalidInput(
                "the true-class CAM of a binary model needs per-channel CAM weights".into(),
            ));
        }
        _ => cam.raw,
    };
    Ok(cam_to_image(&raw, size, &normalise)?)
}
