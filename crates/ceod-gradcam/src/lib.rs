//! Class activation maps from candle's backward pass.
//!
//! Candle has no forward hooks, so a model exposes its target layer by implementing
//! [`CamModel`]: `features(x) -> A` (`B × K × h × w`) and `head(A) -> logits` (`B × C`).
//!
//! - [`feature_gradients`]: `dy/dA` for each sample's [`Target`] logit, by running the head on a
//!   detached copy of `A` wrapped as a `Var` (candle keeps no gradients of intermediate tensors).
//! - [`CamMethod`]: Grad-CAM, Grad-CAM++, XGradCAM, HiResCAM, LayerCAM and plain CAM. For a
//!   global-average-pool + linear head ([`CamModel::linear_head`]) `dy/dA_kij = w_ck / (h·w)`, so
//!   Grad-CAM equals CAM; that analytic form is used by default ([`GradientSource`]).
//! - Two modes: [`explain`] (all detached: logits, the raw map and the normalised map at image
//!   size) and [`train_cam`] (the raw map differentiable with respect to `A`, and to the head on
//!   the analytic path; the weights held constant).
//! - Post-processing: ReLU, bilinear upsampling with half-pixel centres as `U_h · cam · U_wᵀ`
//!   ([`bilinear_matrix`], [`BilinearUpsampler`]), and [`normalise`]: `cam / (max + eps)` per
//!   image with PyTorch's tie rule for the max's gradient ([`TieRule`]).
//! - On the CPU (`f32`, `f64`) the upsampling, the weighted sum of the methods with per-channel
//!   weights (all but HiResCAM and LayerCAM) and the normalisation run
//!   as custom ops with their own backward passes (same values to rounding, same gradient rules):
//!   fewer temporaries, and none of candle's CPU matrix products, each of which reads
//!   `/proc/cpuinfo`.
//!
//! Conventions: maps are `B × rows × columns`; an image of `H` rows and `W` columns gives a
//! `B × H × W` map; feature cell `(i, j)` of an `h × w` map covers rows `[i·H/h, (i+1)·H/h)` and
//! columns `[j·W/w, (j+1)·W/w)` of the image. Any candle device works (CPU by default; the
//! `cuda` and `metal` features are forwarded to candle).
#![warn(missing_docs)]

mod cam;
mod cpu;
mod error;
mod explain;
mod gradient;
mod method;
mod model;
mod normalise;
mod options;
mod target;
#[cfg(test)]
mod test_util;
mod train;
mod upsample;

pub use error::{CamError, Result};
pub use explain::{Explanation, cam_to_image, explain, explain_features};
pub use gradient::{FeatureGradients, feature_gradients};
pub use method::{CamMethod, GRAD_CAM_PLUS_PLUS_EPS, GradientSource, XGRAD_CAM_EPS};
pub use model::{CamModel, LinearHead};
pub use normalise::{NormaliseOptions, TieRule, image_max, normalise};
pub use options::CamOptions;
pub use target::Target;
pub use train::{TrainCam, train_cam};
pub use upsample::{
    BilinearUpsampler, bilinear_matrix, bilinear_matrix_dtype, bilinear_weights, upsample_bilinear,
};
