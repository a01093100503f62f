//! The CAM methods and how each combines the activations `A` with the gradients `dy/dA`.

use std::fmt;

use candle_core::Tensor;

use crate::error::{CamError, Result};

/// The `eps` of Grad-CAM++'s `a_kij = g² / (2g² + sum_ij(A)·g³ + eps)` (pytorch-grad-cam's value).
pub const GRAD_CAM_PLUS_PLUS_EPS: f64 = 1e-6;

/// The `eps` of XGradCAM's `w_k = sum_ij(g·A) / (sum_ij(A) + eps)` (pytorch-grad-cam's value).
pub const XGRAD_CAM_EPS: f64 = 1e-7;

/// A class activation map method. Every method ends with `cam = ReLU(sum_k W_k ⊙ A_k)`; they
/// differ in the weights `W` they derive from `A` and `g = dy/dA` (`B × K × h × w`):
///
/// | method | weights |
/// |---|---|
/// | [`GradCam`](Self::GradCam) | `alpha_k = mean_ij g_kij` |
/// | [`GradCamPlusPlus`](Self::GradCamPlusPlus) | `sum_ij ReLU(g)·g² / (2g² + sum_ij(A_k)·g³ + eps)` |
/// | [`XGradCam`](Self::XGradCam) | `sum_ij(g·A_k) / (sum_ij(A_k) + eps)` |
/// | [`HiResCam`](Self::HiResCam) | `g` itself, element by element |
/// | [`LayerCam`](Self::LayerCam) | `ReLU(g)`, element by element |
/// | [`Cam`](Self::Cam) | `w_ck / (h·w)` from the global-average-pool + linear head |
///
/// The formulas and their `eps` ([`GRAD_CAM_PLUS_PLUS_EPS`], [`XGRAD_CAM_EPS`]) are those of
/// pytorch-grad-cam. For a global-average-pool + linear head `g_kij = w_ck / (h·w)` everywhere,
/// so Grad-CAM, HiResCAM and CAM coincide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CamMethod {
    /// Grad-CAM (Selvaraju et al. 2017).
    #[default]
    GradCam,
    /// Grad-CAM++ (Chattopadhay et al. 2018).
    GradCamPlusPlus,
    /// XGradCAM (Fu et al. 2020).
    XGradCam,
    /// HiResCAM (Draelos & Carin 2020).
    HiResCam,
    /// LayerCAM (Jiang et al. 2021).
    LayerCam,
    /// Plain CAM (Zhou et al. 2016) for a global-average-pool + linear head, scaled by `1/(h·w)`
    /// so that it equals Grad-CAM.
    Cam,
}

impl fmt::Display for CamMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CamMethod::GradCam => "Grad-CAM",
            CamMethod::GradCamPlusPlus => "Grad-CAM++",
            CamMethod::XGradCam => "XGradCAM",
            CamMethod::HiResCam => "HiResCAM",
            CamMethod::LayerCam => "LayerCAM",
            CamMethod::Cam => "CAM",
        })
    }
}

/// Where `dy/dA` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GradientSource {
    /// The analytic form when [`CamModel::linear_head`](crate::CamModel::linear_head) is `Some`,
    /// the backward pass otherwise.
    #[default]
    Auto,
    /// Always the backward pass through the head (see [`feature_gradients`](crate::feature_gradients)).
    Backward,
    /// Always the analytic form; an error when the model has no linear head.
    Analytic,
}

/// The weights of the combination `sum_k W_k ⊙ A_k`.
#[derive(Debug, Clone)]
pub(crate) enum Weights {
    /// One weight per channel, `B × K`.
    Channel(Tensor),
    /// One weight per activation, `B × K × h × w`.
    Spatial(Tensor),
}

impl Weights {
    /// The per-channel weights, if the method has them.
    pub(crate) fn channel(&self) -> Option<&Tensor> {
        match self {
            Weights::Channel(w) => Some(w),
            Weights::Spatial(_) => None,
        }
    }

    /// `ReLU(sum_k W_k ⊙ A_k)`, shape `B × h × w`.
    pub(crate) fn combine(&self, a: &Tensor) -> Result<Tensor> {
        let (b, k, h, w) = a.dims4()?;
        let summed = match self {
            Weights::Channel(alpha) if crate::cpu::eligible(a) && alpha.dtype() == a.dtype() => {
                // One pass over the channels (the ReLU included) instead of a batched matmul.
                return Ok(a
                    .contiguous()?
                    .apply_op2(&alpha.contiguous()?, crate::cpu::ChannelSum)?);
            }
            Weights::Channel(alpha) => alpha
                .unsqueeze(1)?
                .matmul(&a.reshape((b, k, h * w))?)?
                .reshape((b, h, w))?,
            Weights::Spatial(weights) => weights.mul(a)?.sum(1)?,
        };
        Ok(summed.relu()?)
    }
}

/// Per-image sums over the spatial axes: `B × K × h × w` to `B × K`.
fn spatial_sum(t: &Tensor) -> Result<Tensor> {
    Ok(t.flatten_from(2)?.sum(2)?)
}

/// The weights of `method` from the activations and the gradients (`B × K × h × w` each).
pub(crate) fn weights_from_gradients(method: CamMethod, a: &Tensor, g: &Tensor) -> Result<Weights> {
    Ok(match method {
        CamMethod::GradCam => Weights::Channel(g.flatten_from(2)?.mean(2)?),
        CamMethod::GradCamPlusPlus => {
            let g2 = g.sqr()?;
            let g3 = g2.mul(g)?;
            let (b, k, _, _) = a.dims4()?;
            let sum_a = spatial_sum(a)?.reshape((b, k, 1, 1))?;
            let denom =
                ((g2.affine(2.0, 0.0)? + sum_a.broadcast_mul(&g3)?)? + GRAD_CAM_PLUS_PLUS_EPS)?;
            // Where g = 0 the numerator is 0 and the denominator eps: a_kij = 0, as in the library.
            let aij = g2.div(&denom)?;
            Weights::Channel(spatial_sum(&g.relu()?.mul(&aij)?)?)
        }
        CamMethod::XGradCam => {
            let num = spatial_sum(&g.mul(a)?)?;
            let den = (spatial_sum(a)? + XGRAD_CAM_EPS)?;
            Weights::Channel(num.div(&den)?)
        }
        CamMethod::HiResCam => Weights::Spatial(g.clone()),
        CamMethod::LayerCam => Weights::Spatial(g.relu()?),
        CamMethod::Cam => return Err(CamError::NoLinearHead { method }),
    })
}

/// The weights of `method` when `g_kij = alpha_bk` at every position (a global-average-pool +
/// linear head): the closed forms of [`weights_from_gradients`] for a spatially constant gradient.
/// They stay in the graph of `alpha` (and so of the head's weight).
pub(crate) fn weights_from_alpha(method: CamMethod, a: &Tensor, alpha: &Tensor) -> Result<Weights> {
    let (_, _, h, w) = a.dims4()?;
    Ok(match method {
        CamMethod::GradCam | CamMethod::HiResCam | CamMethod::Cam => {
            Weights::Channel(alpha.clone())
        }
        CamMethod::LayerCam => Weights::Channel(alpha.relu()?),
        CamMethod::GradCamPlusPlus => {
            let g2 = alpha.sqr()?;
            let g3 = g2.mul(alpha)?;
            let sum_a = spatial_sum(a)?;
            let denom = ((g2.affine(2.0, 0.0)? + sum_a.mul(&g3)?)? + GRAD_CAM_PLUS_PLUS_EPS)?;
            let per_position = alpha.relu()?.mul(&g2.div(&denom)?)?;
            Weights::Channel(per_position.affine((h * w) as f64, 0.0)?)
        }
        CamMethod::XGradCam => {
            let sum_a = spatial_sum(a)?;
            let den = (&sum_a + XGRAD_CAM_EPS)?;
            Weights::Channel(alpha.mul(&sum_a)?.div(&den)?)
        }
    })
}
