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
