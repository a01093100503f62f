//! Cross-entropy losses: stable binary cross-entropy with logits, softmax cross-entropy.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// Options of [`bce_with_logits`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BceOptions {
    /// Weight of the positive class (PyTorch's `pos_weight`): `n_negative / n_positive` balances
    /// an imbalanced set. `None` is 1.
    pub pos_weight: Option<f64>,
}

/// Mean binary cross-entropy of `logits` against `targets` in `[0, 1]`, in the stable form.
///
/// Per element, with `p` the positive weight (1 by default):
/// `(1 − t)·x + (1 + (p − 1)·t)·(log(1 + exp(−|x|)) + max(−x, 0))`, which for `p = 1` is
/// `max(x, 0) − x·t + log(1 + exp(−|x|))`. It is finite for every finite logit (candle-nn's
/// `binary_cross_entropy_with_logit` takes `log(sigmoid(x))` and overflows from |x| ≈ 17 in
/// f32), and its gradient is `σ(x) − t` (for `p = 1`) also at `x = 0` exactly.
///
/// `logits` and `targets` must have the same number of elements (`B`, `B × 1`, …).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_core::{BceOptions, bce_with_logits};
///
/// let x = Tensor::new(&[100f32, -100.], &Device::Cpu)?;
/// let t = Tensor::new(&[0f32, 0.], &Device::Cpu)?;
/// let loss = bce_with_logits(&x, &t, &BceOptions::default())?.to_scalar::<f32>()?;
/// assert_eq!(loss, 50.0); // (100 + 0) / 2
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// [`CoreError::InvalidInput`] when the element counts differ; tensor errors.
pub fn bce_with_logits(
    logits: &Tensor,
    targets: &Tensor,
    options: &BceOptions,
) -> Result<Tensor, CoreError> {
    let x = logits.flatten_all()?;
    let t = targets
        .flatten_all()?
        .to_device(x.device())?
        .to_dtype(x.dtype())?;
    if x.elem_count() != t.elem_count() {
        return Err(CoreError::InvalidInput(format!(
            "bce: {} logits but {} targets",
            x.elem_count(),
            t.elem_count()
        )));
    }
    let abs = x.abs()?;
    // log(1 + exp(−|x|)): exp(−|x|) ≤ 1, so nothing overflows.
    let log_term = abs.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    // max(−x, 0) written as (|x| − x)/2 so that its derivative at 0 is 0 (candle's relu'(0) = 1).
    let neg_part = (&abs - &x)?.affine(0.5, 0.0)?;
    let soft = (log_term + neg_part)?;
    let one_minus_t = t.affine(-1.0, 1.0)?;
    let lin = (&one_minus_t * &x)?;
    let per = match options.pos_weight {
        Some(p) if p != 1.0 => (lin + t.affine(p - 1.0, 1.0)?.mul(&soft)?)?,
        _ => (lin + soft)?,
    };
    Ok(per.mean_all()?)
}

/// Mean softmax cross-entropy of `logits` (`B × C`) against class indices `targets` (`B`,
/// integer dtype), via a max-shifted log-softmax (stable).
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[[0f32, 0.], [1000., 0.]], &Device::Cpu)?;
/// let t = Tensor::new(&[1u32, 0], &Device::Cpu)?;
/// let loss = ceod_core::cross_entropy(&x, &t)?.to_scalar::<f32>()?;
/// assert!((loss - std::f32::consts::LN_2 / 2.0).abs() < 1e-6);
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// [`CoreError::InvalidInput`] for mismatched shapes or a class index out of range.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor, CoreError> {
    let (b, c) = logits.dims2()?;
    let t = targets
        .flatten_all()?
        .to_device(logits.device())?
        .to_dtype(DType::U32)?;
    if t.elem_count() != b {
        return Err(CoreError::InvalidInput(format!(
            "cross_entropy: {b} rows of logits but {} targets",
            t.elem_count()
        )));
    }
    if let Some(&bad) = t.to_vec1::<u32>()?.iter().find(|&&k| k as usize >= c) {
        return Err(CoreError::InvalidInput(format!(
            "cross_entropy: class {bad} out of range for {c} classes"
        )));
    }
    Ok(candle_nn::loss::cross_entropy(logits, &t)?)
}
