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
        let (_, k, h, w) = a.dims4()?;
        match self {
            Weights::Channel(alpha)
                if crate::cpu::eligible(a) && alpha.dtype() == a.dtype() && k * h * w > 0 =>
            {
                // One pass over the channels (the ReLU included) instead of a batched matmul.
                Ok(a.contiguous()?
                    .apply_op2(&alpha.contiguous()?, crate::cpu::ChannelSum)?)
            }
            _ => self.combine_tensor_ops(a),
        }
    }

    /// [`combine`](Self::combine) with candle's tensor ops, the path of other devices and dtypes.
    fn combine_tensor_ops(&self, a: &Tensor) -> Result<Tensor> {
        let (b, k, h, w) = a.dims4()?;
        let summed = match self {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn the_cpu_op_and_the_tensor_ops_agree_with_their_gradients() {
        let (b, k, h, w) = (2, 5, 4, 3);
        let v: Vec<f32> = (0..b * k * h * w)
            .map(|i| ((i as f32) * 0.41).sin())
            .collect();
        let a =
            Var::from_tensor(&Tensor::from_vec(v, (b, k, h, w), &Device::Cpu).unwrap()).unwrap();
        let al: Vec<f32> = (0..b * k).map(|i| ((i as f32) * 1.3).cos()).collect();
        let alpha = Var::from_tensor(&Tensor::from_vec(al, (b, k), &Device::Cpu).unwrap()).unwrap();
        let weights = Weights::Channel(alpha.as_tensor().clone());
        let r = a.as_tensor().sum(1).unwrap().sin().unwrap().detach();
        let run = |y: Tensor| {
            let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            [
                y,
                g.get(a.as_tensor()).unwrap().clone(),
                g.get(alpha.as_tensor()).unwrap().clone(),
            ]
        };
        let fast = run(weights.combine(a.as_tensor()).unwrap());
        let slow = run(weights.combine_tensor_ops(a.as_tensor()).unwrap());
        for (x, y) in fast.iter().zip(&slow) {
            let d = (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
        }
    }

    #[test]
    fn empty_channel_or_spatial_axes_give_empty_or_zero_maps_not_a_panic() {
        for dims in [(2, 0, 3, 3), (2, 3, 0, 3)] {
            let a = Tensor::zeros(dims, candle_core::DType::F32, &Device::Cpu).unwrap();
            let alpha =
                Tensor::zeros((dims.0, dims.1), candle_core::DType::F32, &Device::Cpu).unwrap();
            let y = Weights::Channel(alpha).combine(&a).unwrap();
            assert_eq!(y.dims(), &[dims.0, dims.2, dims.3]);
            assert!(
                y.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
    }
}
