//! The fused convolution `relu(conv2d(x, w) + b)` (stride 1, zero padding) as a candle custom op
//! with its own backward pass, built on `im2col`/`col2im` and the `gemm` crate.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::gemm::{MatRef, Parallelism, matmul};
use super::im2col::{Geometry, col2im_add, im2col};

/// Options of [`conv2d`]: the zero padding on each side and whether a ReLU follows.
///
/// The stride and dilation are 1 (the convolutions of `CeodNet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvOptions {
    /// Zero padding on every side (1 keeps the size of a 3×3 convolution).
    pub padding: usize,
    /// Apply `max(·, 0)` to the output; its backward lets the gradient through where the output is
    /// positive (PyTorch's rule).
    pub relu: bool,
}

impl ConvOptions {
    /// A 3×3 "same" convolution followed by a ReLU: `padding = 1, relu = true` (a `CeodNet` block).
    pub fn same_relu() -> Self {
        Self {
            padding: 1,
            relu: true,
        }
    }
}

/// `relu(conv2d(xs, weight) + bias)` (the ReLU and the bias as [`ConvOptions`] and `bias` ask),
/// stride 1, for `xs` `B × C × H × W`, `weight` `O × C × kh × kw` and `bias` `O`: `B × O × oh × ow`
/// with `oh = H + 2p − kh + 1`.
///
/// On the CPU, for `f32` and `f64`, this is one custom op: `im2col` and a `gemm` per image, the
/// bias and ReLU fused into the same pass, the batch split over rayon's threads; its backward pass
/// is two more custom ops (the input gradient by `gemm` + `col2im`, the kernel and bias gradients
/// by `im2col` + `gemm`), and the input gradient is skipped when `xs` needs none. Elsewhere (cuda,
/// metal, other dtypes) it is candle's `conv2d`, `broadcast_add` and `relu`. Non-contiguous inputs
/// are made contiguous first.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_core::cpu::{ConvOptions, conv2d};
///
/// let x = Tensor::new(&[[[[1f32, -2.], [3., 4.]]]], &Device::Cpu)?; // 1×1×2×2
/// let w = Tensor::ones((1, 1, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let b = Tensor::new(&[-5f32], &Device::Cpu)?;
/// // Every output pixel of a 3×3 sum over a 2×2 image sees the whole image: 6 − 5 = 1.
/// let y = conv2d(&x, &w, Some(&b), ConvOptions::same_relu())?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, vec![1., 1., 1., 1.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
///
/// # Errors
/// When `xs` or `weight` is not 4-d, the channels or the bias length do not match, the kernel
/// does not fit the padded input, or the dtypes differ.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    options: ConvOptions,
) -> candle_core::Result<Tensor> {
    let g = geometry(xs, weight, options.padding)?;
    if let Some(b) = bias {
        if b.dims() != [g.c_out] {
            candle_core::bail!(
                "conv2d: bias of shape {:?}, expected [{}]",
                b.dims(),
                g.c_out
            );
        }
    }
    if xs.dtype() != weight.dtype() || bias.is_some_and(|b| b.dtype() != xs.dtype()) {
        candle_core::bail!("conv2d: input, weight and bias must have one dtype");
    }
    let fast = xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64);
    if !fast {
        return candle_path(xs, weight, bias, options);
    }
    let zeros;
    let bias = match bias {
        Some(b) => b,
        None => {
            zeros = Tensor::zeros(g.c_out, xs.dtype(), xs.device())?;
            &zeros
        }
    };
    xs.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        ConvOp {
            pad: options.padding,
            relu: options.relu,
        },
    )
}

/// The same computation from candle's own ops (the path off the CPU, and the reference).
fn candle_path(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    options: ConvOptions,
) -> candle_core::Result<Tensor> {
    let mut y = xs.conv2d(weight, options.padding, 1, 1, 1)?;
    if let Some(b) = bias {
        y = y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?;
    }
    if options.relu { y.relu() } else { Ok(y) }
}

fn geometry(xs: &Tensor, weight: &Tensor, pad: usize) -> candle_core::Result<Geometry> {
    let (batch, c_in, h, w) = xs.dims4()?;
    let (c_out, wc, kh, kw) = weight.dims4()?;
    if wc != c_in {
        candle_core::bail!("conv2d: input has {c_in} channels, the weight expects {wc}");
    }
    if kh == 0 || kw == 0 || kh > h + 2 * pad || kw > w + 2 * pad {
        candle_core::bail!(
            "conv2d: a {kh}x{kw} kernel does not fit a {h}x{w} input padded by {pad}"
        );
    }
    Ok(Geometry {
        batch,
        c_in,
        h,
        w,
        c_out,
        kh,
        kw,
        pad,
    })
}

/// The forward op: `(x, w, b) -> relu?(conv(x, w) + b)`.
struct ConvOp {
    pad: usize,
    relu: bool,
}

/// Input gradient: `(grad_out, out, w) -> dx`.
struct ConvInputGrad {
    g: Geometry,
    relu: bool,
}

/// Kernel and bias gradients: `(grad_out, out, x) -> [dw (O·K) | db (O)]`.
struct ConvKernelGrad {
    g: Geometry,
    relu: bool,
}

fn slice<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    len: usize,
) -> candle_core::Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) if b - a == len => Ok(&data[a..b]),
        Some((a, b)) => candle_core::bail!("ceod conv: {} values, expected {len}", b - a),
        None => candle_core::bail!("ceod conv: operands must be contiguous"),
    }
}

fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Images per parallel task: the batch in `threads` equal runs (fixed, so results are
/// deterministic), or `None` when one image is better served by a multi-threaded gemm.
fn images_per_task(batch: usize) -> Option<usize> {
    let t = threads();
    (t > 1 && batch > 1).then(|| batch.div_ceil(t.min(batch)))
}

/// gemm parallelism inside one task.
fn inner_parallelism(batch: usize) -> Parallelism {
    let t = threads();
    if t > 1 && batch <= 1 {
        Parallelism::Rayon(t)
    } else {
        Parallelism::None
    }
}

/// `gm = grad · 1[out > 0]` (or `grad` itself without ReLU) for one image.
fn masked<'a, T: WithDType>(grad: &'a [T], out: &[T], relu: bool, buf: &'a mut Vec<T>) -> &'a [T] {
    if !relu {
        return grad;
    }
    buf.clear();
    let zero = T::zero();
    buf.extend(
        grad.iter()
            .zip(out)
            .map(|(&gv, &o)| if o > zero { gv } else { zero }),
    );
    buf
}

fn forward<T: WithDType>(
    x: &[T],
    w: &[T],
    b: &[T],
    g: Geometry,
    relu: bool,
) -> candle_core::Result<Vec<T>> {
    let (k, n, il, ol) = (g.k(), g.n(), g.in_len(), g.out_len());
    let zero = T::zero();
    let mut out = vec![zero; g.batch * ol];
    let par = inner_parallelism(g.batch);
    let run = |xs: &[T], os: &mut [T]| -> candle_core::Result<()> {
        let mut col = vec![zero; k * n];
        for (xi, oi) in xs.chunks_exact(il).zip(os.chunks_exact_mut(ol)) {
            im2col(xi, &g, &mut col);
            matmul(
                (g.c_out, n, k),
                oi,
                MatRef::row_major(w, k),
                MatRef::row_major(&col, n),
                false,
                par,
            )?;
            for (row, &bc) in oi.chunks_exact_mut(n).zip(b) {
                if relu {
                    // `t < 0 → 0` keeps a NaN a NaN, as PyTorch's ReLU does.
                    row.iter_mut()
                        .for_each(|v| *v = if *v + bc < zero { zero } else { *v + bc });
                } else {
                    row.iter_mut().for_each(|v| *v += bc);
                }
            }
        }
        Ok(())
    };
    match images_per_task(g.batch) {
        Some(per) => x
            .par_chunks(per * il)
            .zip(out.par_chunks_mut(per * ol))
            .try_for_each(|(xs, os)| run(xs, os))?,
        None => run(x, &mut out)?,
    }
    Ok(out)
}

fn input_grad<T: WithDType>(
    grad: &[T],
    out: &[T],
    w: &[T],
    g: Geometry,
    relu: bool,
) -> candle_core::Result<Vec<T>> {
    let (k, n, il, ol) = (g.k(), g.n(), g.in_len(), g.out_len());
    let zero = T::zero();
    let mut dx = vec![zero; g.batch * il];
    let par = inner_parallelism(g.batch);
    let run = |gs: &[T], os: &[T], dxs: &mut [T]| -> candle_core::Result<()> {
        let mut dcol = vec![zero; k * n];
        let mut buf = Vec::with_capacity(ol);
        for ((gi, oi), dxi) in gs
            .chunks_exact(ol)
            .zip(os.chunks_exact(ol))
            .zip(dxs.chunks_exact_mut(il))
        {
            let gm = masked(gi, oi, relu, &mut buf);
            // dcol[K × N] = Wᵀ[K × O] · gm[O × N]
            matmul(
                (k, n, g.c_out),
                &mut dcol,
                MatRef::transposed(w, k),
                MatRef::row_major(gm, n),
                false,
                par,
            )?;
            col2im_add(&dcol, &g, dxi);
        }
        Ok(())
    };
    match images_per_task(g.batch) {
        Some(per) => grad
            .par_chunks(per * ol)
            .zip(out.par_chunks(per * ol))
            .zip(dx.par_chunks_mut(per * il))
            .try_for_each(|((gs, os), dxs)| run(gs, os, dxs))?,
        None => run(grad, out, &mut dx)?,
    }
    Ok(dx)
}

fn kernel_grad<T: WithDType>(
    grad: &[T],
    out: &[T],
    x: &[T],
    g: Geometry,
    relu: bool,
) -> candle_core::Result<Vec<T>> {
    let (k, n, il, ol, co) = (g.k(), g.n(), g.in_len(), g.out_len(), g.c_out);
    let zero = T::zero();
    let par = inner_parallelism(g.batch);
    // One `[dw | db]` per task, summed in task order.
    let run = |gs: &[T], os: &[T], xs: &[T]| -> candle_core::Result<Vec<T>> {
        let mut acc = vec![zero; co * k + co];
        let mut col = vec![zero; k * n];
        let mut buf = Vec::with_capacity(ol);
        for ((gi, oi), xi) in gs
            .chunks_exact(ol)
            .zip(os.chunks_exact(ol))
            .zip(xs.chunks_exact(il))
        {
            let gm = masked(gi, oi, relu, &mut buf);
            im2col(xi, &g, &mut col);
            let (dw, db) = acc.split_at_mut(co * k);
            // dw[O × K] += gm[O × N] · colᵀ[N × K]
            matmul(
                (co, k, n),
                dw,
                MatRef::row_major(gm, n),
                MatRef::transposed(&col, n),
                true,
                par,
            )?;
            for (d, row) in db.iter_mut().zip(gm.chunks_exact(n)) {
                *d += row.iter().fold(zero, |s, &v| s + v);
            }
        }
        Ok(acc)
    };
    let parts = match images_per_task(g.batch) {
        Some(per) => grad
            .par_chunks(per * ol)
            .zip(out.par_chunks(per * ol))
            .zip(x.par_chunks(per * il))
            .map(|((gs, os), xs)| run(gs, os, xs))
            .collect::<candle_core::Result<Vec<_>>>()?,
        None => vec![run(grad, out, x)?],
    };
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![zero; co * k + co]);
    for p in parts {
        total.iter_mut().zip(&p).for_each(|(t, &v)| *t += v);
    }
    Ok(total)
}

macro_rules! dispatch {
    ($s:expr, $name:expr, |$t:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(_) => {
                type $t = f32;
                $body
            }
            CpuStorage::F64(_) => {
                type $t = f64;
                $body
            }
            _ => candle_core::bail!("{}: only f32 and f64 are supported", $name),
        }
    };
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "ceod-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, c_in, h, w) = l1.shape().dims4()?;
        let (c_out, _, kh, kw) = l2.shape().dims4()?;
        let g = Geometry {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            pad: self.pad,
        };
        let shape = Shape::from((batch, c_out, g.out_h(), g.out_w()));
        dispatch!(s1, self.name(), |T| {
            let x = slice::<T>(s1, l1, batch * g.in_len())?;
            let wt = slice::<T>(s2, l2, c_out * g.k())?;
            let b = slice::<T>(s3, l3, c_out)?;
            Ok((
                T::to_cpu_storage_owned(forward(x, wt, b, g, self.relu)?),
                shape,
            ))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = geometry(x, w, self.pad)?;
        let grad = grad_res.contiguous()?;
        let dx = if x.track_op() {
            Some(grad.apply_op3_no_bwd(res, w, &ConvInputGrad { g, relu: self.relu })?)
        } else {
            None
        };
        let (dw, db) = if w.track_op() || b.track_op() {
            let both = grad.apply_op3_no_bwd(res, x, &ConvKernelGrad { g, relu: self.relu })?;
            let nw = g.c_out * g.k();
            (
                Some(both.narrow(0, 0, nw)?.reshape(w.shape())?),
                Some(both.narrow(0, nw, g.c_out)?),
            )
        } else {
            (None, None)
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp3 for ConvInputGrad {
    fn name(&self) -> &'static str {
        "ceod-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        let shape = Shape::from((g.batch, g.c_in, g.h, g.w));
        dispatch!(s1, self.name(), |T| {
            let grad = slice::<T>(s1, l1, g.batch * g.out_len())?;
            let out = slice::<T>(s2, l2, g.batch * g.out_len())?;
            let w = slice::<T>(s3, l3, g.c_out * g.k())?;
            Ok((
                T::to_cpu_storage_owned(input_grad(grad, out, w, g, self.relu)?),
                shape,
            ))
        })
    }
}

impl CustomOp3 for ConvKernelGrad {
    fn name(&self) -> &'static str {
        "ceod-conv2d-kernel-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        let shape = Shape::from(g.c_out * g.k() + g.c_out);
        dispatch!(s1, self.name(), |T| {
            let grad = slice::<T>(s1, l1, g.batch * g.out_len())?;
            let out = slice::<T>(s2, l2, g.batch * g.out_len())?;
            let x = slice::<T>(s3, l3, g.batch * g.in_len())?;
            Ok((
                T::to_cpu_storage_owned(kernel_grad(grad, out, x, g, self.relu)?),
                shape,
            ))
        })
    }
}
