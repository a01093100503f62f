//! Per-image max normalisation.

use candle_core::Tensor;

use crate::error::{CamError, Result};

/// Which elements the gradient of the per-image max goes to when several are tied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TieRule {
    /// Split evenly among the tied maxima, as PyTorch's `amax` does:
    /// `max = sum(x·m) / sum(m)` with `m = detach(x == max(x))`. The forward value is the max
    /// exactly. The default, so that gradients match the PyTorch reference.
    #[default]
    Split,
    /// The full gradient to every tied maximum (candle's `max`). Over-counts on plateaus.
    Full,
}

/// Options of [`normalise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormaliseOptions {
    /// Added to the max: `cam / (max + eps)`. Default `1e-8` (the PyTorch reference's value).
    pub eps: f64,
    /// The gradient rule for tied maxima. Default [`TieRule::Split`].
    pub ties: TieRule,
}

impl Default for NormaliseOptions {
    fn default() -> Self {
        Self {
            eps: 1e-8,
            ties: TieRule::Split,
        }
    }
}

/// The per-image maximum of `x` (`B × ...`), shape `B × 1`, with the gradient rule `ties`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_gradcam::{TieRule, image_max};
///
/// let x = Tensor::new(&[[[1f32, 3.], [3., 2.]]], &Device::Cpu)?;
/// let m = image_max(&x, TieRule::Split)?;
/// assert_eq!(m.to_vec2::<f32>()?, vec![vec![3.]]);
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn image_max(x: &Tensor, ties: TieRule) -> Result<Tensor> {
    if x.rank() < 2 {
        return Err(CamError::Shape {
            what: "maps to normalise",
            expected: "B × ... (one map per leading index)".into(),
            got: x.dims().to_vec(),
        });
    }
    let flat = x.flatten_from(1)?;
    let max = flat.max_keepdim(1)?;
    Ok(match ties {
        TieRule::Full => max,
        TieRule::Split => {
            let max = max.detach();
            let m = flat.broadcast_eq(&max)?.to_dtype(x.dtype())?.detach();
            let count = m.sum_keepdim(1)?;
            let s = flat.mul(&m)?.sum_keepdim(1)?;
            // Forward: exactly `max` (s − s = 0); backward: d max / dx = m / count.
            (max + (&s - s.detach())?.div(&count)?)?
        }
    })
}

/// `ReLU(x) / (max + eps)` per image (leading index), `max` taken over everything else.
///
/// Negative values are clamped to 0 first, so the result lies in `[0, 1)` and an all-zero (or
/// all-negative) map gives zeros: never NaN, never infinity. Differentiable, the max included,
/// with the gradient rule [`NormaliseOptions::ties`].
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_gradcam::{NormaliseOptions, normalise};
///
/// let maps = Tensor::new(&[[[0f32, 2.], [4., -1.]], [[0., 0.], [0., 0.]]], &Device::Cpu)?;
/// let opts = NormaliseOptions { eps: 0.0, ..Default::default() };
/// let n = normalise(&maps, &opts)?;
/// assert_eq!(n.flatten_all()?.to_vec1::<f32>()?, vec![0., 0.5, 1., 0., 0., 0., 0., 0.]);
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn normalise(x: &Tensor, opts: &NormaliseOptions) -> Result<Tensor> {
    let x = x.relu()?;
    let max = image_max(&x, opts.ties)?;
    let mut denom = (max + opts.eps)?;
    if opts.eps <= 0.0 {
        // eps = 0 is allowed: guard 0/0 on all-zero maps (their output is 0 either way).
        let zero = denom.eq(0.0)?.to_dtype(denom.dtype())?;
        denom = (denom + zero)?;
    }
    let flat = x.flatten_from(1)?.broadcast_div(&denom)?;
    Ok(flat.reshape(x.dims())?)
}
