//! The fused block `max_pool(relu(conv2d(x, w) + b))` (stride 1, zero padding; the ReLU and the
//! pool optional) as a candle custom op with its own backward pass, built on `im2col`/`col2im`
//! and the `gemm` crate.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, WithDType};

use super::direct;
use super::gemm::{MatRef, Parallelism, matmul};
use super::im2col::{Geometry, col2im_add, im2col, im2col_rows};

/// Options of [`conv2d`]: the zero padding, whether a ReLU follows, and an optional max pool.
///
/// The stride and dilation of the convolution are 1 (the convolutions of `CeodNet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvOptions {
    /// Zero padding on every side (1 keeps the size of a 3×3 convolution).
    pub padding: usize,
    /// Apply `max(·, 0)` to the output; its backward lets the gradient through where the output is
    /// positive (PyTorch's rule).
    pub relu: bool,
    /// Then a `k × k` max pool with stride `k` (`Some(k)`), with the rule of
    /// [`max_pool`](crate::max_pool): the gradient of a window goes to its first maximum in
    /// row-major order, rows and columns that do not fill a window are dropped. Windows up to
    /// 16 are fused into the op; larger ones run [`max_pool`](crate::max_pool) after it.
    pub pool: Option<usize>,
}

impl ConvOptions {
    /// A 3×3 "same" convolution followed by a ReLU: `padding = 1, relu = true`, no pool.
    pub fn same_relu() -> Self {
        Self {
            padding: 1,
            relu: true,
            pool: None,
        }
    }

    /// The same followed by a `k × k` max pool: a pooling `CeodNet` block.
    pub fn same_relu_pool(k: usize) -> Self {
        Self {
            pool: Some(k),
            ..Self::same_relu()
        }
    }
}

/// The largest pool window: a window offset is stored in one byte.
const MAX_POOL: usize = 16;

/// `max_pool(relu(conv2d(xs, weight) + bias))` — the ReLU, bias and pool as `options` and `bias`
/// ask — stride 1, for `xs` `B × C × H × W`, `weight` `O × C × kh × kw` and `bias` `O`:
/// `B × O × oh × ow` with `oh = H + 2p − kh + 1` (divided by `k`, rounding down, after a pool).
///
/// On the CPU, for `f32` and `f64`, this is one custom op: per image an `im2col` and a `gemm`,
/// the bias, ReLU and pool fused into the pass over its result (the unpooled map never becomes a
/// tensor), the batch split over candle's CPU threads. Its backward pass is one more custom op
/// (two when a batch smaller than the thread count is split by channels): per image the output
/// gradient through the pool and the ReLU once, then the kernel and bias gradients by `im2col` +
/// `gemm` and the input gradient by `gemm` + `col2im` (skipped when `xs` needs no gradient). Elsewhere (cuda, metal, other dtypes) it is candle's `conv2d`,
/// `broadcast_add`, `relu` and [`max_pool`](crate::max_pool). Non-contiguous inputs are made
/// contiguous first.
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
/// let pooled = conv2d(&x, &w, Some(&b), ConvOptions::same_relu_pool(2))?;
/// assert_eq!(pooled.dims(), &[1, 1, 1, 1]);
/// # Ok::<(), candle_core::Error>(())
/// ```
///
/// # Errors
/// When `xs` or `weight` is not 4-d, the channels or the bias length do not match, the kernel
/// does not fit the padded input, the pool window is 0 or larger than the map, or the dtypes
/// differ.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    options: ConvOptions,
) -> candle_core::Result<Tensor> {
    let g = geometry(xs, weight, options.padding)?;
    if let Some(b) = bias
        && b.dims() != [g.c_out]
    {
        candle_core::bail!(
            "conv2d: bias of shape {:?}, expected [{}]",
            b.dims(),
            g.c_out
        );
    }
    if xs.dtype() != weight.dtype() || bias.is_some_and(|b| b.dtype() != xs.dtype()) {
        candle_core::bail!("conv2d: input, weight and bias must have one dtype");
    }
    if let Some(k) = options.pool
        && (k == 0 || k > g.out_h() || k > g.out_w())
    {
        candle_core::bail!(
            "conv2d: pool window {k} does not fit a {}x{} map",
            g.out_h(),
            g.out_w()
        );
    }
    let fast = xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64);
    if !fast {
        return candle_path(xs, weight, bias, options);
    }
    if let Some(k) = options.pool.filter(|&k| k > MAX_POOL) {
        // Windows above 16 do not fit the op's one-byte window offsets: pool separately.
        let y = conv2d(
            xs,
            weight,
            bias,
            ConvOptions {
                pool: None,
                ..options
            },
        )?;
        return crate::pool::max_pool(&y, k);
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
            epilogue: Epilogue {
                relu: options.relu,
                pool: options.pool.unwrap_or(1),
            },
            argmax: Mutex::new(None),
        },
    )
}

/// The same computation from candle's own ops (the path off the CPU).
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
    if options.relu {
        y = y.relu()?;
    }
    match options.pool {
        Some(k) => crate::pool::max_pool(&y, k),
        None => Ok(y),
    }
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

/// What follows the convolution: the ReLU and a `pool × pool` max pool (`pool = 1`: none).
#[derive(Debug, Clone, Copy)]
struct Epilogue {
    relu: bool,
    pool: usize,
}

impl Epilogue {
    /// Length of one image's output.
    fn out_len(&self, g: &Geometry) -> usize {
        g.c_out * (g.out_h() / self.pool) * (g.out_w() / self.pool)
    }
}

/// The forward op: `(x, w, b) -> pool(relu?(conv(x, w) + b))`. It keeps the pool's window
/// choices (one byte per output value) for its backward pass.
struct ConvOp {
    pad: usize,
    epilogue: Epilogue,
    argmax: Mutex<Option<Arc<Vec<u8>>>>,
}

/// How the output gradient maps back onto the unpooled convolution output.
#[derive(Clone)]
struct Scatter {
    g: Geometry,
    epilogue: Epilogue,
    argmax: Option<Arc<Vec<u8>>>,
}

impl Scatter {
    /// Output channels `c0 .. c0 + cn` of one image as a scatter of their own, the range of their
    /// values in that image's output (`plane` values per channel), and their slice of the image's
    /// pool choices `arg` (empty without a pool).
    fn channel_part<'a>(
        &self,
        c0: usize,
        cn: usize,
        plane: usize,
        arg: &'a [u8],
    ) -> (Scatter, std::ops::Range<usize>, &'a [u8]) {
        let sub = Scatter {
            g: Geometry {
                batch: 1,
                c_out: cn,
                ..self.g
            },
            epilogue: self.epilogue,
            argmax: None,
        };
        let range = c0 * plane..(c0 + cn) * plane;
        let a = if arg.is_empty() {
            arg
        } else {
            &arg[range.clone()]
        };
        (sub, range, a)
    }
}

/// Input gradient: `(grad_out, out, w) -> dx`.
struct ConvInputGrad(Scatter);

/// Kernel and bias gradients: `(grad_out, out, x) -> [dw (O·K) | db (O)]`.
struct ConvKernelGrad(Scatter);

/// Both backward ops in one pass over the batch, for batches of at least one image per thread
/// (or one thread): `(grad_out, out, x) -> [dx (B·C·H·W) | dw (O·K) | db (O)]` (`dx` only when
/// `weight` is given). Each image's output gradient (through the pool and the ReLU) is formed
/// once, and its column matrix buffer serves the kernel gradient and then the input gradient.
struct ConvGrad {
    s: Scatter,
    /// A copy of the kernel, when the input gradient is wanted (its own storage: reading it takes
    /// no second lock on a storage the op's inputs might share).
    weight: Option<Tensor>,
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

pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Runs `f(i, input_i)` for every task on candle's own CPU worker threads (its barrier pool,
/// which also runs candle's element-wise ops, so the two never compete for the cores), task `i`
/// on thread `i mod threads`; the results in task order.
pub(crate) fn run_tasks<I: Send, R: Send>(
    inputs: Vec<I>,
    f: impl Fn(usize, I) -> candle_core::Result<R> + Sync,
) -> candle_core::Result<Vec<R>> {
    type Slot<I, R> = Mutex<(Option<I>, Option<candle_core::Result<R>>)>;
    let n = inputs.len();
    let slots: Vec<Slot<I, R>> = inputs
        .into_iter()
        .map(|i| Mutex::new((Some(i), None)))
        .collect();
    let pool = candle_core::utils::barrier_pool();
    let threads = pool.n_workers() + 1;
    pool.execute(|tid| {
        for t in (tid..n).step_by(threads) {
            // Each slot is taken by exactly one thread: the lock is never contended.
            if let Ok(mut slot) = slots[t].lock()
                && let Some(input) = slot.0.take()
            {
                slot.1 = Some(f(t, input));
            }
        }
    });
    slots
        .into_iter()
        .map(|m| match m.into_inner() {
            Ok((_, Some(r))) => r,
            _ => Err(candle_core::Error::Msg(
                "ceod conv: a worker task did not run".into(),
            )),
        })
        .collect()
}

/// How a batch is shared out over the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// One thread: everything in order.
    Serial,
    /// The batch in runs of this many images, one run per task (fixed, so results are
    /// deterministic).
    Images(usize),
    /// Fewer images than threads: each image in turn, its channels split over the threads (all
    /// on candle's barrier pool: no second thread pool, such as a rayon-parallel gemm, competing
    /// with it for the cores).
    Channels(usize),
}

fn split(batch: usize) -> Split {
    let t = threads();
    if t <= 1 {
        Split::Serial
    } else if batch >= t {
        Split::Images(batch.div_ceil(t))
    } else {
        Split::Channels(t)
    }
}

/// Items per part when `len` items are split in at most `parts` consecutive runs.
fn per_part(len: usize, parts: usize) -> usize {
    len.div_ceil(parts.clamp(1, len.max(1))).max(1)
}

/// The pool's window offsets of the channels of one image's output, `n` per part.
fn arg_parts(arg: &mut [u8], chunk: usize, parts: usize) -> Vec<&mut [u8]> {
    if arg.is_empty() {
        (0..parts).map(|_| <&mut [u8]>::default()).collect()
    } else {
        arg.chunks_mut(chunk).collect()
    }
}

/// Fills the column matrix of one image on all threads (row ranges).
fn im2col_parallel<T: WithDType>(
    x: &[T],
    g: &Geometry,
    col: &mut [T],
    parts: usize,
) -> candle_core::Result<()> {
    let (k, n) = (g.k(), g.n());
    let per = per_part(k, parts);
    let tasks = col.chunks_mut(per * n).collect();
    run_tasks(tasks, |t, c| {
        im2col_rows(x, g, t * per, c);
        Ok(())
    })
    .map(|_| ())
}

#[allow(clippy::eq_op)]
#[inline(always)]
fn is_nan<T: WithDType>(v: T) -> bool {
    v != v
}

/// ReLU that keeps a NaN a NaN (as PyTorch's).
#[inline(always)]
fn relu<T: WithDType>(v: T) -> T {
    if v < T::zero() { T::zero() } else { v }
}

wide! {
    /// Bias, ReLU and pool of one image's convolution output `z` (`O × oh × ow`) into `out`,
    /// recording the pool's window offsets in `arg`.
    fn epilogue<T: WithDType>(
        z: &mut [T],
        b: &[T],
        g: &Geometry,
        e: Epilogue,
        out: &mut [T],
        arg: &mut [u8],
    ) {
        let (oh, ow, n) = (g.out_h(), g.out_w(), g.n());
        let k = e.pool;
        if k == 1 {
            for (row, &bc) in z.chunks_exact_mut(n).zip(b) {
                if e.relu {
                    row.iter_mut().for_each(|v| *v = relu(*v + bc));
                } else {
                    row.iter_mut().for_each(|v| *v += bc);
                }
            }
            out.copy_from_slice(z);
            return;
        }
        if k == 2 {
            return pool2_epilogue(z, b, g, e.relu, out, arg);
        }
        let (ph, pw) = (oh / k, ow / k);
        let mut o = 0;
        for (plane, &bc) in z.chunks_exact(n).zip(b) {
            for i in 0..ph {
                for j in 0..pw {
                    // The first maximum in row-major order; a NaN is the maximum (as `max_pool`).
                    let mut best = plane[i * k * ow + j * k];
                    let mut at = 0usize;
                    'win: for di in 0..k {
                        let row = &plane[(i * k + di) * ow + j * k..][..k];
                        for (dj, &v) in row.iter().enumerate() {
                            if is_nan(best) {
                                break 'win;
                            }
                            if v > best || is_nan(v) {
                                best = v;
                                at = di * k + dj;
                            }
                        }
                    }
                    let v = best + bc;
                    out[o] = if e.relu { relu(v) } else { v };
                    // `at < k·k ≤ 256`.
                    arg[o] = at as u8;
                    o += 1;
                }
            }
        }
    }
}

/// The gradient with respect to one image's convolution output (`O × oh × ow`, before bias,
/// ReLU and pool) from the gradient `grad` and value `out` of the op's output: `grad` itself
/// when there is neither ReLU nor pool, else written into `buf`.
fn output_grad<'a, T: WithDType>(
    grad: &'a [T],
    out: &[T],
    arg: &[u8],
    s: &Scatter,
    buf: &'a mut Vec<T>,
) -> &'a [T] {
    let e = s.epilogue;
    if e.pool == 1 && !e.relu {
        return grad;
    }
    buf.clear();
    buf.resize(s.g.c_out * s.g.n(), T::zero());
    output_grad_into(grad, out, arg, s, buf);
    buf
}

wide! {
    /// [`output_grad`] into `dst` (`O × oh × ow`, overwritten).
    fn output_grad_into<T: WithDType>(grad: &[T], out: &[T], arg: &[u8], s: &Scatter, dst: &mut [T]) {
        let e = s.epilogue;
        let zero = T::zero();
        if e.pool == 1 {
            if e.relu {
                for ((d, &gv), &o) in dst.iter_mut().zip(grad).zip(out) {
                    *d = if o > zero { gv } else { zero };
                }
            } else {
                dst.copy_from_slice(grad);
            }
            return;
        }
        let (g, k) = (&s.g, e.pool);
        let (ow, n) = (g.out_w(), g.n());
        let (ph, pw) = (g.out_h() / k, ow / k);
        if k == 2 {
            if g.out_h() % 2 != 0 || ow % 2 != 0 {
                // The rows and columns that fill no window get no gradient.
                dst.fill(zero);
            }
            pool2_scatter(grad, out, arg, g, e.relu, dst);
            return;
        }
        dst.fill(zero);
        for c in 0..g.c_out {
            let plane = &mut dst[c * n..(c + 1) * n];
            let base = c * ph * pw;
            for i in 0..ph {
                for j in 0..pw {
                    let p = base + i * pw + j;
                    if !e.relu || out[p] > zero {
                        let at = usize::from(arg[p]);
                        plane[(i * k + at / k) * ow + j * k + at % k] = grad[p];
                    }
                }
            }
        }
    }
}

/// [`epilogue`] for 2×2 windows, branch-free (the window maxima of random data are unpredictable).
#[inline(always)]
fn pool2_epilogue<T: WithDType>(
    z: &[T],
    b: &[T],
    g: &Geometry,
    relu_on: bool,
    out: &mut [T],
    arg: &mut [u8],
) {
    let (ow, n) = (g.out_w(), g.n());
    let (ph, pw) = (g.out_h() / 2, ow / 2);
    let planes = z.chunks_exact(n).zip(b).zip(
        out.chunks_exact_mut(ph * pw)
            .zip(arg.chunks_exact_mut(ph * pw)),
    );
    for ((plane, &bc), (op, ap)) in planes {
        for (i, (orow, arow)) in op
            .chunks_exact_mut(pw)
            .zip(ap.chunks_exact_mut(pw))
            .enumerate()
        {
            let r0 = &plane[2 * i * ow..][..2 * pw];
            let r1 = &plane[(2 * i + 1) * ow..][..2 * pw];
            let cells = r0
                .chunks_exact(2)
                .zip(r1.chunks_exact(2))
                .zip(orow.iter_mut().zip(arow.iter_mut()));
            for ((p0, p1), (ov, av)) in cells {
                let cand = [p0[0], p0[1], p1[0], p1[1]];
                let (mut best, mut at) = (cand[0], 0u8);
                for (idx, &v) in (1u8..).zip(&cand[1..]) {
                    // The first maximum; once a NaN is the best it stays (as `max_pool`).
                    let take = !is_nan(best) && (v > best || is_nan(v));
                    best = if take { v } else { best };
                    at = if take { idx } else { at };
                }
                let v = best + bc;
                *ov = if relu_on { relu(v) } else { v };
                *av = at;
            }
        }
    }
}

/// The scatter of [`output_grad`] for 2×2 windows into `buf` (zeroed, `O × oh × ow`).
#[inline(always)]
fn pool2_scatter<T: WithDType>(
    grad: &[T],
    out: &[T],
    arg: &[u8],
    g: &Geometry,
    relu_on: bool,
    buf: &mut [T],
) {
    let (ow, n) = (g.out_w(), g.n());
    let (ph, pw) = (g.out_h() / 2, ow / 2);
    let zero = T::zero();
    let per = ph * pw;
    let planes = buf.chunks_exact_mut(n).zip(
        grad.chunks_exact(per)
            .zip(out.chunks_exact(per))
            .zip(arg.chunks_exact(per)),
    );
    for (plane, ((gp, op), ap)) in planes {
        for i in 0..ph {
            let (top, bottom) = plane[2 * i * ow..(2 * i + 2) * ow].split_at_mut(ow);
            let (gr, or, ar) = (
                &gp[i * pw..][..pw],
                &op[i * pw..][..pw],
                &ap[i * pw..][..pw],
            );
            let cells = top[..2 * pw]
                .chunks_exact_mut(2)
                .zip(bottom[..2 * pw].chunks_exact_mut(2));
            for ((t, bt), ((&gv, &o), &a)) in cells.zip(gr.iter().zip(or).zip(ar)) {
                let gv = if !relu_on || o > zero { gv } else { zero };
                t[0] = if a == 0 { gv } else { zero };
                t[1] = if a == 1 { gv } else { zero };
                bt[0] = if a == 2 { gv } else { zero };
                bt[1] = if a == 3 { gv } else { zero };
            }
        }
    }
}

/// Forward over the batch: the outputs and the pool's window offsets.
fn forward<T: WithDType>(
    x: &[T],
    w: &[T],
    b: &[T],
    g: Geometry,
    e: Epilogue,
) -> candle_core::Result<(Vec<T>, Vec<u8>)> {
    let (k, n, il, ol) = (g.k(), g.n(), g.in_len(), e.out_len(&g));
    let zero = T::zero();
    let mut out = vec![zero; g.batch * ol];
    let mut arg = vec![0u8; if e.pool > 1 { g.batch * ol } else { 0 }];
    let al = if e.pool > 1 { ol } else { 0 };
    let par = Parallelism::None;
    let run = |xs: &[T], os: &mut [T], args: &mut [u8]| -> candle_core::Result<()> {
        let direct = k <= direct::MAX_K;
        let mut col = vec![zero; if direct { 0 } else { k * n }];
        let mut z = vec![zero; g.out_len()];
        for (i, (xi, oi)) in xs.chunks_exact(il).zip(os.chunks_exact_mut(ol)).enumerate() {
            if direct {
                direct::forward(xi, w, &g, &mut z);
                epilogue(&mut z, b, &g, e, oi, &mut args[i * al..(i + 1) * al]);
                continue;
            }
            im2col(xi, &g, &mut col);
            matmul(
                (g.c_out, n, k),
                &mut z,
                MatRef::row_major(w, k),
                MatRef::row_major(&col, n),
                false,
                par,
            )?;
            epilogue(&mut z, b, &g, e, oi, &mut args[i * al..(i + 1) * al]);
        }
        Ok(())
    };
    match split(g.batch) {
        Split::Images(per) => {
            let arg_chunks: Vec<&mut [u8]> = if al > 0 {
                arg.chunks_mut(per * al).collect()
            } else {
                (0..g.batch.div_ceil(per))
                    .map(|_| <&mut [u8]>::default())
                    .collect()
            };
            let tasks = x
                .chunks(per * il)
                .zip(out.chunks_mut(per * ol))
                .zip(arg_chunks)
                .collect();
            run_tasks(tasks, |_, ((xs, os), args)| run(xs, os, args))?;
        }
        Split::Channels(parts) => forward_channels(x, w, b, g, e, &mut out, &mut arg, parts)?,
        Split::Serial => run(x, &mut out, &mut arg)?,
    }
    Ok((out, arg))
}

/// [`forward`] of a batch smaller than the thread count: per image, the column matrix filled by
/// all threads, then each thread the gemm and epilogue of its output channels.
#[allow(clippy::too_many_arguments)]
fn forward_channels<T: WithDType>(
    x: &[T],
    w: &[T],
    b: &[T],
    g: Geometry,
    e: Epilogue,
    out: &mut [T],
    arg: &mut [u8],
    parts: usize,
) -> candle_core::Result<()> {
    let (k, n, il, ol) = (g.k(), g.n(), g.in_len(), e.out_len(&g));
    let plane = ol / g.c_out;
    let per = per_part(g.c_out, parts);
    let direct = k <= direct::MAX_K;
    let zero = T::zero();
    let mut col = vec![zero; if direct { 0 } else { k * n }];
    let mut z = vec![zero; g.out_len()];
    let al = if e.pool > 1 { ol } else { 0 };
    for (i, (xi, oi)) in x.chunks_exact(il).zip(out.chunks_exact_mut(ol)).enumerate() {
        if !direct {
            im2col_parallel(xi, &g, &mut col, parts)?;
        }
        let ai = &mut arg[i * al..(i + 1) * al];
        let tasks = z
            .chunks_mut(per * n)
            .zip(oi.chunks_mut(per * plane))
            .zip(arg_parts(ai, per * plane, parts))
            .collect();
        let col = &col;
        run_tasks(tasks, |t, ((zc, oc), ac)| {
            let (c0, cn) = (t * per, zc.len() / n);
            let gs = Geometry {
                batch: 1,
                c_out: cn,
                ..g
            };
            let ws = &w[c0 * k..(c0 + cn) * k];
            if direct {
                direct::forward(xi, ws, &gs, zc);
            } else {
                matmul(
                    (cn, n, k),
                    zc,
                    MatRef::row_major(ws, k),
                    MatRef::row_major(col, n),
                    false,
                    Parallelism::None,
                )?;
            }
            epilogue(zc, &b[c0..c0 + cn], &gs, e, oc, ac);
            Ok(())
        })?;
    }
    Ok(())
}

/// The window offsets of the images `[first, first + count)`.
fn arg_slice(s: &Scatter, ol: usize, first: usize, count: usize) -> &[u8] {
    match &s.argmax {
        Some(a) if s.epilogue.pool > 1 => &a[first * ol..(first + count) * ol],
        _ => &[],
    }
}

/// The input gradient `B × C × H × W`.
fn input_grad<T: WithDType>(
    grad: &[T],
    out: &[T],
    w: &[T],
    s: &Scatter,
) -> candle_core::Result<Vec<T>> {
    match split(s.g.batch) {
        Split::Channels(parts) => {
            let mut dx = vec![T::zero(); s.g.batch * s.g.in_len()];
            input_grad_channels(grad, out, w, s, &mut dx, parts)?;
            Ok(dx)
        }
        _ => conv_grad(grad, out, None, Some(w), s),
    }
}

/// The output gradient of one image's channels, split over the threads, as in [`output_grad`],
/// into `gm` (`O × N`).
fn output_grad_parallel<T: WithDType>(
    grad: &[T],
    out: &[T],
    arg: &[u8],
    s: &Scatter,
    gm: &mut [T],
    parts: usize,
) -> candle_core::Result<()> {
    let g = s.g;
    let n = g.n();
    let plane = s.epilogue.out_len(&g) / g.c_out;
    let per = per_part(g.c_out, parts);
    let tasks = gm.chunks_mut(per * n).collect();
    run_tasks(tasks, |t, gc| {
        let (c0, cn) = (t * per, gc.len() / n);
        let (sub, range, a) = s.channel_part(c0, cn, plane, arg);
        output_grad_into(&grad[range.clone()], &out[range], a, &sub, gc);
        Ok(())
    })
    .map(|_| ())
}

/// [`input_grad`] of a batch smaller than the thread count: per image, the output gradient
/// split by output channels, then `Wᵀ · gm` and `col2im` split by input channels.
fn input_grad_channels<T: WithDType>(
    grad: &[T],
    out: &[T],
    w: &[T],
    s: &Scatter,
    dx: &mut [T],
    parts: usize,
) -> candle_core::Result<()> {
    let g = s.g;
    let (k, n, il, ol) = (g.k(), g.n(), g.in_len(), s.epilogue.out_len(&g));
    let kk = g.kh * g.kw;
    let hw = g.h * g.w;
    let al = if s.epilogue.pool > 1 { ol } else { 0 };
    let per = per_part(g.c_in, parts);
    let mut gm = vec![T::zero(); g.c_out * n];
    for (i, dxi) in dx.chunks_exact_mut(il).enumerate() {
        let args = arg_slice(s, ol, i, 1);
        let (gi, oi) = (&grad[i * ol..(i + 1) * ol], &out[i * ol..(i + 1) * ol]);
        output_grad_parallel(gi, oi, &args[..al], s, &mut gm, parts)?;
        let gm = &gm;
        let tasks = dxi.chunks_mut(per * hw).collect();
        run_tasks(tasks, |t, dxc: &mut [T]| {
            let (c0, cn) = (t * per, dxc.len() / hw);
            let rows = cn * kk;
            let mut dcol = vec![T::zero(); rows * n];
            // dcol[rows × N] = Wᵀ[rows of K × O] · gm[O × N]
            let wt = MatRef {
                data: &w[c0 * kk..],
                rs: 1,
                cs: k,
            };
            matmul(
                (rows, n, g.c_out),
                &mut dcol,
                wt,
                MatRef::row_major(gm, n),
                false,
                Parallelism::None,
            )?;
            let gs = Geometry {
                batch: 1,
                c_in: cn,
                ..g
            };
            col2im_add(&dcol, &gs, dxc);
            Ok(())
        })?;
    }
    Ok(())
}

wide! {
    /// `db[c] += sum(gm[c])` for each output channel's plane of `n` values, summed in `f64` with
    /// eight partial sums (so that it vectorises; one running sum over a 4096-value plane was 6 %
    /// of a training step).
    fn bias_grad_add<T: WithDType>(gm: &[T], n: usize, db: &mut [f64]) {
        for (d, row) in db.iter_mut().zip(gm.chunks_exact(n)) {
            let mut acc = [0f64; 8];
            let chunks = row.chunks_exact(8);
            let tail: f64 = chunks.remainder().iter().map(|v| v.to_f64()).sum();
            for c in chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += v.to_f64();
                }
            }
            *d += acc.iter().sum::<f64>() + tail;
        }
    }
}

/// The kernel and bias gradients `[dw (O·K) | db (O)]`.
fn kernel_grad<T: WithDType>(
    grad: &[T],
    out: &[T],
    x: &[T],
    s: &Scatter,
) -> candle_core::Result<Vec<T>> {
    match split(s.g.batch) {
        Split::Channels(parts) => kernel_grad_channels(grad, out, x, s, parts),
        // (`ConvOp::bwd` sends these splits to `ConvGrad`; this arm serves a thread count that
        // changed in between.)
        _ => conv_grad(grad, out, Some(x), None, s),
    }
}

/// [`kernel_grad`] of a batch smaller than the thread count: per image, the column matrix filled
/// by all threads, then each thread the output gradient and the kernel and bias gradients of its
/// output channels.
fn kernel_grad_channels<T: WithDType>(
    grad: &[T],
    out: &[T],
    x: &[T],
    s: &Scatter,
    parts: usize,
) -> candle_core::Result<Vec<T>> {
    let g = s.g;
    let (k, n, il, ol, co) = (g.k(), g.n(), g.in_len(), s.epilogue.out_len(&g), g.c_out);
    let plane = ol / co;
    let al = if s.epilogue.pool > 1 { ol } else { 0 };
    let zero = T::zero();
    let direct = k <= direct::MAX_K;
    let per = per_part(co, parts);
    let mut col = vec![zero; if direct { 0 } else { k * n }];
    let mut total = vec![zero; co * k + co];
    // As in `kernel_grad`: the bias gradient accumulated in f64.
    let mut db64 = vec![0f64; co];
    for (i, xi) in x.chunks_exact(il).enumerate() {
        if !direct {
            im2col_parallel(xi, &g, &mut col, parts)?;
        }
        let args = &arg_slice(s, ol, i, 1)[..al];
        let (gi, oi) = (&grad[i * ol..(i + 1) * ol], &out[i * ol..(i + 1) * ol]);
        let col = &col;
        let tasks = total[..co * k]
            .chunks_mut(per * k)
            .zip(db64.chunks_mut(per))
            .collect();
        run_tasks(tasks, |t, (dw, db): (&mut [T], &mut [f64])| {
            let (c0, cn) = (t * per, db.len());
            let (sub, range, a) = s.channel_part(c0, cn, plane, args);
            let mut buf = Vec::new();
            let gm = output_grad(&gi[range.clone()], &oi[range], a, &sub, &mut buf);
            bias_grad_add(gm, n, db);
            if direct {
                direct::kernel_grad_add(gm, xi, &sub.g, dw);
                return Ok(());
            }
            // dw[cn × K] += gm[cn × N] · colᵀ[N × K]
            matmul(
                (cn, k, n),
                dw,
                MatRef::row_major(gm, n),
                MatRef::transposed(col, n),
                true,
                Parallelism::None,
            )
        })?;
    }
    for (d, &v) in total[co * k..].iter_mut().zip(&db64) {
        *d = T::from_f64(v);
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
        let k = self.epilogue.pool;
        let shape = Shape::from((batch, c_out, g.out_h() / k, g.out_w() / k));
        let (storage, arg) = dispatch!(s1, self.name(), |T| {
            let x = slice::<T>(s1, l1, batch * g.in_len())?;
            let wt = slice::<T>(s2, l2, c_out * g.k())?;
            let b = slice::<T>(s3, l3, c_out)?;
            let (out, arg) = forward(x, wt, b, g, self.epilogue)?;
            (T::to_cpu_storage_owned(out), arg)
        });
        if k > 1 {
            let mut slot = self
                .argmax
                .lock()
                .map_err(|_| candle_core::Error::Msg("ceod conv: poisoned lock".into()))?;
            *slot = Some(Arc::new(arg));
        }
        Ok((storage, shape))
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
        let argmax = self
            .argmax
            .lock()
            .map_err(|_| candle_core::Error::Msg("ceod conv: poisoned lock".into()))?
            .clone();
        if self.epilogue.pool > 1 && argmax.is_none() {
            candle_core::bail!("ceod conv: backward before forward");
        }
        let s = Scatter {
            g,
            epilogue: self.epilogue,
            argmax,
        };
        let grad = grad_res.contiguous()?;
        let want_dw = w.track_op() || b.track_op();
        if want_dw && matches!(split(g.batch), Split::Images(_) | Split::Serial) {
            let weight = if x.track_op() { Some(w.copy()?) } else { None };
            let want_dx = weight.is_some();
            let all = grad.apply_op3_no_bwd(res, x, &ConvGrad { s, weight })?;
            let (nx, nw) = (
                if want_dx { g.batch * g.in_len() } else { 0 },
                g.c_out * g.k(),
            );
            let dx = if want_dx {
                Some(all.narrow(0, 0, nx)?.reshape(x.shape())?)
            } else {
                None
            };
            return Ok((
                dx,
                Some(all.narrow(0, nx, nw)?.reshape(w.shape())?),
                Some(all.narrow(0, nx + nw, g.c_out)?),
            ));
        }
        let dx = if x.track_op() {
            Some(grad.apply_op3_no_bwd(res, w, &ConvInputGrad(s.clone()))?)
        } else {
            None
        };
        let (dw, db) = if w.track_op() || b.track_op() {
            let both = grad.apply_op3_no_bwd(res, x, &ConvKernelGrad(s))?;
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

impl CustomOp3 for ConvGrad {
    fn name(&self) -> &'static str {
        "ceod-conv2d-grad"
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
        let s = &self.s;
        let g = s.g;
        let ol = g.batch * s.epilogue.out_len(&g);
        let nw = g.c_out * g.k();
        // The kernel's storage, read-locked for the call (nothing writes it during a backward pass).
        let weight = self.weight.as_ref().map(|w| w.storage_and_layout());
        let weight = match &weight {
            Some((guard, layout)) => match &**guard {
                candle_core::Storage::Cpu(cs) => Some((cs, *layout)),
                _ => candle_core::bail!("ceod conv: the kernel is not on the CPU"),
            },
            None => None,
        };
        let nx = if weight.is_some() {
            g.batch * g.in_len()
        } else {
            0
        };
        dispatch!(s1, self.name(), |T| {
            let grad = slice::<T>(s1, l1, ol)?;
            let out = slice::<T>(s2, l2, ol)?;
            let x = slice::<T>(s3, l3, g.batch * g.in_len())?;
            let w = match weight {
                Some((cs, l)) => Some(slice::<T>(cs, l, nw)?),
                None => None,
            };
            let all = conv_grad(grad, out, Some(x), w, s)?;
            Ok((T::to_cpu_storage_owned(all), Shape::from(nx + nw + g.c_out)))
        })
    }
}

/// The backward pass for batches of at least one image per thread (the batch split into runs of
/// images, one per task): per image its output gradient (through the pool and the ReLU) once,
/// then, when `x` is given, the kernel and bias gradients (`dw += gm · colᵀ`, `db += sum gm`)
/// and, when `w` is given, the input gradient (`dcol = Wᵀ · gm`, then `col2im`) from the same
/// buffers. Returns `[dx (B·C·H·W) if w | dw (O·K), db (O) if x]`; the task sums of `dw` and
/// `db` are added in task order, so the values do not depend on timing.
fn conv_grad<T: WithDType>(
    grad: &[T],
    out: &[T],
    x: Option<&[T]>,
    w: Option<&[T]>,
    s: &Scatter,
) -> candle_core::Result<Vec<T>> {
    let g = s.g;
    let (k, n, il, ol, co) = (g.k(), g.n(), g.in_len(), s.epilogue.out_len(&g), g.c_out);
    let al = if s.epilogue.pool > 1 { ol } else { 0 };
    let zero = T::zero();
    let direct = k <= direct::MAX_K;
    let nx = if w.is_some() { g.batch * il } else { 0 };
    let nw = if x.is_some() { co * k + co } else { 0 };
    let mut all = vec![zero; nx + nw];
    let (dx, rest) = all.split_at_mut(nx);
    let run = |first: usize,
               gs: &[T],
               os: &[T],
               xs: Option<&[T]>,
               dxs: &mut [T]|
     -> candle_core::Result<Vec<T>> {
        let mut acc = vec![zero; nw];
        let mut col = vec![zero; if direct && w.is_none() { 0 } else { k * n }];
        let mut buf = Vec::new();
        let args = arg_slice(s, ol, first, gs.len() / ol);
        // The bias gradient sums many terms that largely cancel (e.g. BCE over both labels at
        // init): accumulate it in f64.
        let mut db64 = vec![0f64; co];
        for (i, (gi, oi)) in gs.chunks_exact(ol).zip(os.chunks_exact(ol)).enumerate() {
            let gm = output_grad(gi, oi, &args[i * al..(i + 1) * al], s, &mut buf);
            if let Some(xs) = xs {
                let xi = &xs[i * il..(i + 1) * il];
                let dw = &mut acc[..co * k];
                bias_grad_add(gm, n, &mut db64);
                if direct {
                    direct::kernel_grad_add(gm, xi, &g, dw);
                } else {
                    im2col(xi, &g, &mut col);
                    // dw[O × K] += gm[O × N] · colᵀ[N × K]
                    matmul(
                        (co, k, n),
                        dw,
                        MatRef::row_major(gm, n),
                        MatRef::transposed(&col, n),
                        true,
                        Parallelism::None,
                    )?;
                }
            }
            if let Some(w) = w {
                // dcol[K × N] = Wᵀ[K × O] · gm[O × N], into the column buffer.
                matmul(
                    (k, n, co),
                    &mut col,
                    MatRef::transposed(w, k),
                    MatRef::row_major(gm, n),
                    false,
                    Parallelism::None,
                )?;
                col2im_add(&col, &g, &mut dxs[i * il..(i + 1) * il]);
            }
        }
        if nw > 0 {
            for (d, &v) in acc[co * k..].iter_mut().zip(&db64) {
                *d = T::from_f64(v);
            }
        }
        Ok(acc)
    };
    let parts = match split(g.batch) {
        Split::Images(per) => {
            let tasks = grad.chunks(per * ol).count();
            let mut dx_parts: Vec<&mut [T]> = dx.chunks_mut(per * il).collect();
            dx_parts.resize_with(tasks, <&mut [T]>::default);
            let mut x_parts: Vec<Option<&[T]>> = match x {
                Some(x) => x.chunks(per * il).map(Some).collect(),
                None => Vec::new(),
            };
            x_parts.resize(tasks, None);
            let tasks = grad
                .chunks(per * ol)
                .zip(out.chunks(per * ol))
                .zip(x_parts)
                .zip(dx_parts)
                .collect();
            run_tasks(tasks, |t, (((gs, os), xs), dxs)| {
                run(t * per, gs, os, xs, dxs)
            })?
        }
        Split::Serial => vec![run(0, grad, out, x, dx)?],
        Split::Channels(_) => candle_core::bail!("ceod conv: fused gradient of a split image"),
    };
    let mut parts = parts.into_iter();
    if let Some(first) = parts.next() {
        rest.copy_from_slice(&first);
    }
    for p in parts {
        rest.iter_mut().zip(&p).for_each(|(t, &v)| *t += v);
    }
    Ok(all)
}

macro_rules! dispatch_grad {
    ($s:expr, $name:expr, $s1:expr, $l1:expr, $s2:expr, $l2:expr, $s3:expr, $l3:expr, $len3:expr, $f:ident, $shape:expr) => {{
        let s = &$s;
        let ol = s.g.batch * s.epilogue.out_len(&s.g);
        dispatch!($s1, $name, |T| {
            let grad = slice::<T>($s1, $l1, ol)?;
            let out = slice::<T>($s2, $l2, ol)?;
            let third = slice::<T>($s3, $l3, $len3)?;
            Ok((T::to_cpu_storage_owned($f(grad, out, third, s)?), $shape))
        })
    }};
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
        let g = self.0.g;
        let shape = Shape::from((g.batch, g.c_in, g.h, g.w));
        dispatch_grad!(
            self.0,
            self.name(),
            s1,
            l1,
            s2,
            l2,
            s3,
            l3,
            g.c_out * g.k(),
            input_grad,
            shape
        )
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
        let g = self.0.g;
        let shape = Shape::from(g.c_out * g.k() + g.c_out);
        dispatch_grad!(
            self.0,
            self.name(),
            s1,
            l1,
            s2,
            l2,
            s3,
            l3,
            g.batch * g.in_len(),
            kernel_grad,
            shape
        )
    }
}
