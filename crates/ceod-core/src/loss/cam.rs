//! The class activation map inside the training graph.
//!
//! `cam = ReLU(sum_k alpha_k A_k)` with `alpha` a constant (the GAIN-style choice, DESIGN.md §2)
//! and `A` the tracked target-layer activations, so gradients reach the backbone; it is upsampled
//! with fixed bilinear matrices (`U_h · cam · U_wᵀ`) and normalised by its maximum, in the graph.

use candle_core::{DType, Device, Tensor, Var};
use ceod_gradcam::CamModel;

use crate::error::CoreError;

/// The `n_out × n_in` matrix `R` of bilinear resampling with half-pixel centres (PyTorch
/// `align_corners=False`): `R_h · X · R_wᵀ` resizes `X`.
pub(crate) fn bilinear_matrix(
    n_in: usize,
    n_out: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor, CoreError> {
    let mut r = vec![0f64; n_out * n_in];
    let scale = n_in as f64 / n_out as f64;
    for i in 0..n_out {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        let l1 = src - i0 as f64;
        r[i * n_in + i0] += 1.0 - l1;
        r[i * n_in + i1] += l1;
    }
    Ok(Tensor::from_vec(r, (n_out, n_in), device)?.to_dtype(dtype)?)
}

/// Bilinear upsampling of `B × h × w` maps to `B × height × width`, differentiable.
pub(crate) fn upsample(maps: &Tensor, height: usize, width: usize) -> Result<Tensor, CoreError> {
    let (_, h, w) = maps.dims3()?;
    let (dtype, dev) = (maps.dtype(), maps.device());
    let rh = bilinear_matrix(h, height, dtype, dev)?;
    let rwt = bilinear_matrix(w, width, dtype, dev)?.t()?;
    Ok(rh.broadcast_matmul(maps)?.broadcast_matmul(&rwt)?)
}

/// Each map of a batch (`B × …`) divided by its maximum plus `eps`, with the maximum in the graph.
///
/// The maximum is computed as `sum(x · m) / sum(m)` with `m = detach(x == max(x))`, so its
/// gradient is split evenly among tied maxima, as PyTorch's `amax` does (candle's `max` gives the
/// full gradient to every tie). An all-zero map stays zero.
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let cam = Tensor::new(&[[[0f32, 2.], [1., 4.]]], &Device::Cpu)?;
/// let n = ceod_core::normalised_cam(&cam, 0.0)?;
/// assert_eq!(n.flatten_all()?.to_vec1::<f32>()?, vec![0., 0.5, 0.25, 1.]);
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// Tensor errors (a rank-0 input).
pub fn normalised_cam(maps: &Tensor, eps: f64) -> Result<Tensor, CoreError> {
    let b = maps.dim(0)?;
    let flat = maps.reshape((b, ()))?;
    let mx = flat.max_keepdim(1)?.detach();
    let ties = flat.broadcast_eq(&mx)?.to_dtype(flat.dtype())?.detach();
    let max_even = (&flat * &ties)?.sum_keepdim(1)?.div(&ties.sum_keepdim(1)?)?;
    let out = flat.broadcast_div(&max_even.affine(1.0, eps)?)?;
    Ok(out.reshape(maps.dims())?)
}

/// `alpha[b, k]` (constant) for each sample's target class: the analytic `W[c_b, k] / (h·w)` for
/// a GAP + linear head, else the mean gradient of the target logit from a second backward pass
/// through the head on a detached copy of the features.
pub(crate) fn alpha<M: CamModel + ?Sized>(
    model: &M,
    features: &Tensor,
    classes: &[u32],
) -> Result<Tensor, CoreError> {
    let (b, _, h, w) = features.dims4()?;
    let dev = features.device();
    if let Some(head) = model.linear_head() {
        let idx = Tensor::new(classes, dev)?;
        let a = head
            .weight
            .detach()
            .to_dtype(features.dtype())?
            .index_select(&idx, 0)?
            .affine(1.0 / (h * w) as f64, 0.0)?;
        return Ok(a);
    }
    let var = Var::from_tensor(&features.detach())?;
    let logits = model.head(var.as_tensor())?;
    let logits = logits.reshape((b, ()))?;
    let c = logits.dim(1)?;
    let mut onehot = vec![0f32; b * c];
    for (i, &k) in classes.iter().enumerate() {
        if (k as usize) < c {
            onehot[i * c + k as usize] = 1.0;
        }
    }
    let onehot = Tensor::from_vec(onehot, (b, c), dev)?.to_dtype(logits.dtype())?;
    let grads = (logits * onehot)?.sum_all()?.backward()?;
    match grads.get(var.as_tensor()) {
        Some(g) => Ok(g.mean((2, 3))?.detach()),
        None => Ok(Tensor::zeros((b, features.dim(1)?), features.dtype(), dev)?),
    }
}

/// `ReLU(sum_k alpha_k A_k)`: `B × h × w`, differentiable in `features`.
pub(crate) fn raw_cam(features: &Tensor, alpha: &Tensor) -> Result<Tensor, CoreError> {
    let (b, k, _, _) = features.dims4()?;
    let a = alpha.reshape((b, k, 1, 1))?;
    Ok(features.broadcast_mul(&a)?.sum(1)?.relu()?)
}
