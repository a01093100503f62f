//! Max pooling (k × k windows, stride k) whose backward pass is right.
//!
//! candle 0.11.1's `max_pool2d` backward disagrees with finite differences (its gradient comes out
//! scaled by `1/(k·k)`, DESIGN.md §2), so the model uses this pool instead.
//!
//! Tie rule: the whole gradient of a window goes to ONE element, the first maximum in row-major
//! order inside the window (top-left first), as PyTorch's CPU `max_pool2d` does. On the CPU a NaN
//! in a window is the window's maximum (NaN propagates, as in PyTorch). Rows and columns that do
//! not fill a whole window are dropped (PyTorch's default floor mode).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};

/// `k × k` max pooling with stride `k` over a `B × C × H × W` tensor: `B × C × ⌊H/k⌋ × ⌊W/k⌋`.
///
/// On the CPU this is a custom op with its own backward (gradient to the first maximum of each
/// window); on other devices the same rule is built from tensor ops (reshape, `max`, a first-max
/// mask).
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[[[[1f32, 2., 5., 0.], [3., 4., 1., 1.]]]], &Device::Cpu)?;
/// let y = ceod_core::max_pool(&x, 2)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, vec![4., 5.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
///
/// # Errors
/// When `xs` is not 4-d, `k` is 0 or larger than `H` or `W`, or the dtype is not `f32`/`f64` (CPU).
pub fn max_pool(xs: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    check(xs, k)?;
    if xs.device().is_cpu() {
        xs.contiguous()?.apply_op1(MaxPool { k })
    } else {
        max_pool_tensor_ops(xs, k)
    }
}

fn check(xs: &Tensor, k: usize) -> candle_core::Result<()> {
    let (_, _, h, w) = xs.dims4()?;
    if k == 0 || k > h || k > w {
        candle_core::bail!("max_pool: window {k} does not fit a {h}x{w} map");
    }
    Ok(())
}

/// The same pooling and tie rule as [`max_pool`], built only from candle tensor ops, so it runs
/// on every device (and is how [`max_pool`] runs off the CPU).
///
/// A window containing NaN gives 0 here (the comparison with the maximum fails everywhere).
///
/// # Errors
/// As [`max_pool`].
pub fn max_pool_tensor_ops(xs: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    check(xs, k)?;
    let (b, c, h, w) = xs.dims4()?;
    let (oh, ow) = (h / k, w / k);
    let x = xs.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?;
    let x = x
        .reshape((b, c, oh, k, ow, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .contiguous()?
        .reshape((b, c, oh, ow, k * k))?;
    let mx = x.max_keepdim(4)?.detach();
    let tie = x.broadcast_eq(&mx)?.to_dtype(x.dtype())?;
    // Keep only the first tie: its running count of ties is exactly 1.
    let count = tie.cumsum(4)?;
    let first = tie.mul(&count.eq(&count.ones_like()?)?.to_dtype(x.dtype())?)?;
    x.mul(&first.detach())?.sum(4)
}

/// The CPU custom op: forward max, backward to the first maximum.
struct MaxPool {
    k: usize,
}

/// The backward of [`MaxPool`]: `(input, grad_output) -> grad_input`.
struct MaxPoolGrad {
    k: usize,
}

fn is_nan<T: PartialOrd>(v: &T) -> bool {
    v.partial_cmp(v).is_none()
}

/// Index (into the contiguous input) of the first maximum of each output window, in output order.
fn argmax_windows<T: WithDType>(
    src: &[T],
    dims: (usize, usize, usize, usize),
    k: usize,
) -> Vec<usize> {
    let (b, c, h, w) = dims;
    let (oh, ow) = (h / k, w / k);
    let mut out = Vec::with_capacity(b * c * oh * ow);
    for plane in 0..b * c {
        let base = plane * h * w;
        for i in 0..oh {
            for j in 0..ow {
                let mut best = base + i * k * w + j * k;
                'win: for di in 0..k {
                    let row = base + (i * k + di) * w + j * k;
                    for dj in 0..k {
                        let idx = row + dj;
                        if is_nan(&src[best]) {
                            break 'win;
                        }
                        if src[idx] > src[best] || is_nan(&src[idx]) {
                            best = idx;
                        }
                    }
                }
                out.push(best);
            }
        }
    }
    out
}

fn contiguous_slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    name: &str,
) -> candle_core::Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{name}: input must be contiguous"),
    }
}

macro_rules! float_dispatch {
    ($storage:expr, $name:expr, $f:ident $(, $arg:expr)*) => {
        match $storage {
            CpuStorage::F32(_) => $f::<f32>($($arg),*),
            CpuStorage::F64(_) => $f::<f64>($($arg),*),
            _ => candle_core::bail!("{}: only f32 and f64 are supported", $name),
        }
    };
}

fn pool_fwd<T: WithDType>(
    storage: &CpuStorage,
    layout: &Layout,
    k: usize,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let src = contiguous_slice::<T>(storage, layout, "max_pool")?;
    let dims = layout.shape().dims4()?;
    let arg = argmax_windows(src, dims, k);
    let out: Vec<T> = arg.iter().map(|&i| src[i]).collect();
    let (b, c, h, w) = dims;
    Ok((
        T::to_cpu_storage_owned(out),
        Shape::from((b, c, h / k, w / k)),
    ))
}

fn pool_bwd<T: WithDType>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    k: usize,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let src = contiguous_slice::<T>(s1, l1, "max_pool backward")?;
    let grad = contiguous_slice::<T>(s2, l2, "max_pool backward")?;
    let dims = l1.shape().dims4()?;
    let arg = argmax_windows(src, dims, k);
    if grad.len() != arg.len() {
        candle_core::bail!(
            "max_pool backward: gradient has {} values, expected {}",
            grad.len(),
            arg.len()
        );
    }
    let mut out = vec![T::from_f64(0.0); src.len()];
    for (&i, &g) in arg.iter().zip(grad) {
        out[i] = g;
    }
    Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "ceod-max-pool"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        float_dispatch!(storage, self.name(), pool_fwd, storage, layout, self.k)
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = arg.apply_op2_no_bwd(&grad_res.contiguous()?, &MaxPoolGrad { k: self.k })?;
        Ok(Some(g))
    }
}

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "ceod-max-pool-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        float_dispatch!(s1, self.name(), pool_bwd, s1, l1, s2, l2, self.k)
    }
}
