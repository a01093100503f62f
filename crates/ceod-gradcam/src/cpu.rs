//! CPU kernels for the two post-processing steps that sit in the training graph: bilinear
//! upsampling and the channel-weighted sum `ReLU(sum_k alpha_k A_k)`, as candle custom ops with
//! their own backward passes.
//!
//! On the CPU candle runs both as matrix products, and each of its CPU matrix products asks
//! `num_cpus` for the physical core count, which reads `/proc/cpuinfo` (about 50 µs on the 2-core
//! VM, more than the product itself for these sizes); a training step with the CAM in its graph
//! makes about a dozen of them. These ops compute the same sums directly: the upsampling as two
//! passes of two-tap interpolation (the matrices have two non-zeros per row), the weighted sum as
//! one pass over the channels. Same values up to rounding, same gradient rules (candle's ReLU:
//! `max(z, 0)`, NaN to 0, the gradient passing where `z >= 0`).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};
use candle_core::{WithDType, bail};

/// Whether `t` can take the CPU path (`f32` or `f64` on the CPU).
pub(crate) fn eligible(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// The two taps of one output index: `out[i] = w0·in[i0] + w1·in[i1]`.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    w0: f64,
    i1: usize,
    w1: f64,
}

/// The taps of [`bilinear_weights`](crate::bilinear_weights)' matrix, row by row (a repeated edge
/// index merged into one tap of weight `1 − l + l`, as the matrix holds it).
fn taps(n_in: usize, n_out: usize) -> Vec<Tap> {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|i| {
            let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            let l1 = src - i0 as f64;
            if i1 == i0 {
                Tap {
                    i0,
                    w0: (1.0 - l1) + l1,
                    i1,
                    w1: 0.0,
                }
            } else {
                Tap {
                    i0,
                    w0: 1.0 - l1,
                    i1,
                    w1: l1,
                }
            }
        })
        .collect()
}

/// The contiguous values of an operand of a CPU op; `what` names the op in the error.
pub(crate) fn contiguous<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("{what}: operands must be contiguous"),
    }
}

/// Bilinear resampling of the last two axes, `… × h × w` to `… × H × W`.
#[derive(Debug, Clone)]
pub(crate) struct Bilinear {
    input: (usize, usize),
    output: (usize, usize),
    rows: Arc<Vec<Tap>>,
    cols: Arc<Vec<Tap>>,
}

impl Bilinear {
    /// The resampler from `input` to `output` (both non-empty; the caller checks).
    pub(crate) fn new(input: (usize, usize), output: (usize, usize)) -> Self {
        Self {
            input,
            output,
            rows: Arc::new(taps(input.0, output.0)),
            cols: Arc::new(taps(input.1, output.1)),
        }
    }

    /// Resamples `maps` (`… × h × w`, any leading axes) on the CPU, in the graph.
    pub(crate) fn apply(&self, maps: &Tensor) -> candle_core::Result<Tensor> {
        let dims = maps.dims();
        let rank = dims.len();
        let mut out_dims = dims[..rank - 2].to_vec();
        out_dims.extend([self.output.0, self.output.1]);
        let n: usize = dims[..rank - 2].iter().product();
        let flat = maps
            .contiguous()?
            .reshape((n, self.input.0, self.input.1))?;
        flat.apply_op1(self.clone())?.reshape(out_dims)
    }

    fn forward<T: WithDType>(&self, x: &[T]) -> Vec<T> {
        let ((h, w), (oh, ow)) = (self.input, self.output);
        let cols: Vec<(usize, T, usize, T)> = cast(&self.cols);
        let rows: Vec<(usize, T, usize, T)> = cast(&self.rows);
        let n = x.len() / (h * w);
        let mut out = vec![T::zero(); n * oh * ow];
        let mut tmp = vec![T::zero(); h * ow];
        for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
            // Along the columns: h × w to h × W.
            for (s, t) in src.chunks_exact(w).zip(tmp.chunks_exact_mut(ow)) {
                for (d, &(j0, a, j1, b)) in t.iter_mut().zip(&cols) {
                    *d = a * s[j0] + b * s[j1];
                }
            }
            // Along the rows: h × W to H × W.
            for (d, &(i0, a, i1, b)) in dst.chunks_exact_mut(ow).zip(&rows) {
                let (r0, r1) = (&tmp[i0 * ow..(i0 + 1) * ow], &tmp[i1 * ow..(i1 + 1) * ow]);
                for ((d, &u), &v) in d.iter_mut().zip(r0).zip(r1) {
                    *d = a * u + b * v;
                }
            }
        }
        out
    }

    /// The adjoint of [`forward`](Self::forward): the gradient of `… × h × w` maps from that of
    /// their `… × H × W` resampling.
    fn adjoint<T: WithDType>(&self, g: &[T]) -> Vec<T> {
        let ((h, w), (oh, ow)) = (self.input, self.output);
        let cols: Vec<(usize, T, usize, T)> = cast(&self.cols);
        let rows: Vec<(usize, T, usize, T)> = cast(&self.rows);
        let n = g.len() / (oh * ow);
        let mut out = vec![T::zero(); n * h * w];
        let mut tmp = vec![T::zero(); h * ow];
        for (src, dst) in g.chunks_exact(oh * ow).zip(out.chunks_exact_mut(h * w)) {
            tmp.fill(T::zero());
            for (s, &(i0, a, i1, b)) in src.chunks_exact(ow).zip(&rows) {
                for (t, &v) in tmp[i0 * ow..(i0 + 1) * ow].iter_mut().zip(s) {
                    *t += a * v;
                }
                for (t, &v) in tmp[i1 * ow..(i1 + 1) * ow].iter_mut().zip(s) {
                    *t += b * v;
                }
            }
            for (t, d) in tmp.chunks_exact(ow).zip(dst.chunks_exact_mut(w)) {
                for (&v, &(j0, a, j1, b)) in t.iter().zip(&cols) {
                    d[j0] += a * v;
                    d[j1] += b * v;
                }
            }
        }
        out
    }
}

fn cast<T: WithDType>(taps: &[Tap]) -> Vec<(usize, T, usize, T)> {
    taps.iter()
        .map(|t| (t.i0, T::from_f64(t.w0), t.i1, T::from_f64(t.w1)))
        .collect()
}

impl CustomOp1 for Bilinear {
    fn name(&self) -> &'static str {
        "ceod-bilinear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, h, w) = l.shape().dims3()?;
        if (h, w) != self.input {
            bail!("bilinear: maps of {h} × {w}, expected {:?}", self.input);
        }
        let storage = match s {
            CpuStorage::F32(_) => {
                CpuStorage::F32(self.forward(contiguous::<f32>(s, l, "bilinear")?))
            }
            CpuStorage::F64(_) => {
                CpuStorage::F64(self.forward(contiguous::<f64>(s, l, "bilinear")?))
            }
            _ => bail!("bilinear: only f32 and f64 are supported"),
        };
        Ok((storage, Shape::from((n, self.output.0, self.output.1))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&BilinearAdjoint(self.clone()))?,
        ))
    }
}

/// The backward pass of [`Bilinear`].
struct BilinearAdjoint(Bilinear);

impl CustomOp1 for BilinearAdjoint {
    fn name(&self) -> &'static str {
        "ceod-bilinear-adjoint"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, oh, ow) = l.shape().dims3()?;
        let b = &self.0;
        if (oh, ow) != b.output {
            bail!("bilinear: gradient of {oh} × {ow}, expected {:?}", b.output);
        }
        let storage = match s {
            CpuStorage::F32(_) => CpuStorage::F32(b.adjoint(contiguous::<f32>(s, l, "bilinear")?)),
            CpuStorage::F64(_) => CpuStorage::F64(b.adjoint(contiguous::<f64>(s, l, "bilinear")?)),
            _ => bail!("bilinear: only f32 and f64 are supported"),
        };
        Ok((storage, Shape::from((n, b.input.0, b.input.1))))
    }
}

/// `ReLU(sum_k alpha_bk · A_bk)` for `A` `B × K × h × w` and `alpha` `B × K`: `B × h × w`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelSum;

/// `z_b = sum_k alpha_bk · A_bk` (before the ReLU) into `z` (`h·w` values).
fn weighted_sum<T: WithDType>(a: &[T], alpha: &[T], z: &mut [T]) {
    z.fill(T::zero());
    let hw = z.len();
    for (plane, &al) in a.chunks_exact(hw).zip(alpha) {
        for (d, &v) in z.iter_mut().zip(plane) {
            *d += al * v;
        }
    }
}

fn dims(la: &Layout, lw: &Layout) -> candle_core::Result<(usize, usize, usize, usize)> {
    let (b, k, h, w) = la.shape().dims4()?;
    if lw.shape().dims() != [b, k] {
        bail!(
            "channel sum: weights of shape {:?} for activations {:?}",
            lw.shape().dims(),
            la.shape().dims()
        );
    }
    Ok((b, k, h, w))
}

impl ChannelSum {
    fn forward<T: WithDType>(a: &[T], alpha: &[T], b: usize, k: usize, hw: usize) -> Vec<T> {
        let mut out = vec![T::zero(); b * hw];
        if k == 0 || hw == 0 {
            // No channels: the sum is 0 (as the matmul gives); no positions: nothing to do.
            return out;
        }
        for ((ab, wb), z) in a
            .chunks_exact(k * hw)
            .zip(alpha.chunks_exact(k))
            .zip(out.chunks_exact_mut(hw))
        {
            weighted_sum(ab, wb, z);
            // candle's ReLU (`max(v, 0)`): NaN becomes 0 as well.
            z.iter_mut()
                .for_each(|v| *v = if *v >= T::zero() { *v } else { T::zero() });
        }
        out
    }
}

impl CustomOp2 for ChannelSum {
    fn name(&self) -> &'static str {
        "ceod-channel-sum"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, k, h, w) = dims(l1, l2)?;
        let what = "channel sum";
        let storage = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(Self::forward(
                contiguous::<f32>(s1, l1, what)?,
                contiguous(s2, l2, what)?,
                b,
                k,
                h * w,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(Self::forward(
                contiguous::<f64>(s1, l1, what)?,
                contiguous(s2, l2, what)?,
                b,
                k,
                h * w,
            )),
            _ => bail!("channel sum: only f32 and f64 are supported"),
        };
        Ok((storage, Shape::from((b, h, w))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        alpha: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, k, h, w) = a.dims4()?;
        let op = ChannelSumGrad {
            da: a.track_op(),
            dalpha: alpha.track_op(),
        };
        if !op.da && !op.dalpha {
            return Ok((None, None));
        }
        let both = a.apply_op3_no_bwd(alpha, &grad.contiguous()?, &op)?;
        let na = if op.da { b * k * h * w } else { 0 };
        let da = match op.da {
            true => Some(both.narrow(0, 0, na)?.reshape((b, k, h, w))?),
            false => None,
        };
        let dalpha = match op.dalpha {
            true => Some(both.narrow(0, na, b * k)?.reshape((b, k))?),
            false => None,
        };
        Ok((da, dalpha))
    }
}

/// The backward pass of [`ChannelSum`]: `[dA | dalpha]`, flat (each part only when asked for),
/// from `A`, `alpha` and the gradient `g` of the output. With `m = g · [z >= 0]`:
/// `dA_bk = alpha_bk · m_b`, `dalpha_bk = sum_ij A_bkij · m_bij`.
struct ChannelSumGrad {
    da: bool,
    dalpha: bool,
}

impl ChannelSumGrad {
    fn run<T: WithDType>(&self, a: &[T], alpha: &[T], g: &[T], dims: [usize; 3]) -> Vec<T> {
        let [b, k, hw] = dims;
        let (na, nw) = (
            if self.da { b * k * hw } else { 0 },
            if self.dalpha { b * k } else { 0 },
        );
        let mut out = vec![T::zero(); na + nw];
        if k == 0 || hw == 0 {
            return out;
        }
        let (da, dalpha) = out.split_at_mut(na);
        let mut m = vec![T::zero(); hw];
        for (i, ((ab, wb), gb)) in a
            .chunks_exact(k * hw)
            .zip(alpha.chunks_exact(k))
            .zip(g.chunks_exact(hw))
            .enumerate()
        {
            weighted_sum(ab, wb, &mut m);
            for (mv, &gv) in m.iter_mut().zip(gb) {
                *mv = if *mv >= T::zero() { gv } else { T::zero() };
            }
            if self.da {
                let dab = &mut da[i * k * hw..(i + 1) * k * hw];
                for (dplane, &al) in dab.chunks_exact_mut(hw).zip(wb) {
                    for (d, &mv) in dplane.iter_mut().zip(&m) {
                        *d = al * mv;
                    }
                }
            }
            if self.dalpha {
                for (plane, dw) in ab.chunks_exact(hw).zip(&mut dalpha[i * k..(i + 1) * k]) {
                    let s: f64 = plane
                        .iter()
                        .zip(&m)
                        .map(|(&v, &mv)| (v * mv).to_f64())
                        .sum();
                    *dw = T::from_f64(s);
                }
            }
        }
        out
    }
}

impl CustomOp3 for ChannelSumGrad {
    fn name(&self) -> &'static str {
        "ceod-channel-sum-grad"
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
        let (b, k, h, w) = dims(l1, l2)?;
        if l3.shape().dims() != [b, h, w] {
            bail!("channel sum: gradient of shape {:?}", l3.shape().dims());
        }
        let what = "channel sum";
        let dims = [b, k, h * w];
        let storage = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(self.run(
                contiguous::<f32>(s1, l1, what)?,
                contiguous(s2, l2, what)?,
                contiguous(s3, l3, what)?,
                dims,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.run(
                contiguous::<f64>(s1, l1, what)?,
                contiguous(s2, l2, what)?,
                contiguous(s3, l3, what)?,
                dims,
            )),
            _ => bail!("channel sum: only f32 and f64 are supported"),
        };
        let len = usize::from(self.da) * b * k * h * w + usize::from(self.dalpha) * b * k;
        Ok((storage, Shape::from(len)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use candle_core::{Device, Var};

    use super::*;
    use crate::bilinear_matrix_dtype;
    use crate::test_util::{rel, values};

    fn random(seed: u64, dims: &[usize], dt: DType) -> Tensor {
        let n: usize = dims.iter().product();
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f64> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64 - 0.4
            })
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu)
            .unwrap()
            .to_dtype(dt)
            .unwrap()
    }

    /// `U_h · X · U_wᵀ` with candle's matmul: the reference.
    fn by_matrices(x: &Tensor, out: (usize, usize)) -> Tensor {
        let (n, h, w) = x.dims3().unwrap();
        let dt = x.dtype();
        let rows = bilinear_matrix_dtype(h, out.0, dt, &Device::Cpu).unwrap();
        let cols_t = bilinear_matrix_dtype(w, out.1, dt, &Device::Cpu)
            .unwrap()
            .t()
            .unwrap();
        let y = x.reshape((n * h, w)).unwrap().matmul(&cols_t).unwrap();
        rows.broadcast_matmul(&y.reshape((n, h, out.1)).unwrap())
            .unwrap()
    }

    #[test]
    fn bilinear_equals_the_matrix_products_and_their_gradient() {
        // Upsampling, odd and non-square sizes, a 1-pixel axis, downsampling.
        let cases = [
            ((16, 16), (128, 128)),
            ((7, 5), (23, 11)),
            ((1, 4), (3, 9)),
            ((9, 12), (4, 5)),
        ];
        for (dt, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            for (i, &(input, output)) in cases.iter().enumerate() {
                let x = Var::from_tensor(&random(i as u64, &[3, input.0, input.1], dt)).unwrap();
                let r = random(100 + i as u64, &[3, output.0, output.1], dt);
                let op = Bilinear::new(input, output);
                let got = op.apply(x.as_tensor()).unwrap();
                let want = by_matrices(x.as_tensor(), output);
                assert_eq!(got.dims(), want.dims());
                let e = rel(&values(&got), &values(&want));
                assert!(e < tol, "{dt:?} {input:?}→{output:?}: value error {e:e}");
                let g_got = (got * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let g_want = (want * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let e = rel(
                    &values(g_got.get(x.as_tensor()).unwrap()),
                    &values(g_want.get(x.as_tensor()).unwrap()),
                );
                assert!(e < tol, "{dt:?} {input:?}→{output:?}: gradient error {e:e}");
            }
        }
    }

    #[test]
    fn bilinear_gradient_matches_finite_differences() {
        let (input, output) = ((3, 4), (7, 6));
        let x = random(7, &[2, input.0, input.1], DType::F64);
        let r = random(8, &[2, output.0, output.1], DType::F64);
        let op = Bilinear::new(input, output);
        let f = |x: &Tensor| -> f64 {
            (op.apply(x).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let xv = Var::from_tensor(&x).unwrap();
        let g = (op.apply(xv.as_tensor()).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let analytic = values(g.get(xv.as_tensor()).unwrap());
        let base = values(&x);
        let h = 1e-6;
        for (i, &a) in analytic.iter().enumerate() {
            let mut up = base.clone();
            up[i] += h;
            let mut down = base.clone();
            down[i] -= h;
            let t = |v: Vec<f64>| Tensor::from_vec(v, x.dims(), &Device::Cpu).unwrap();
            let fd = (f(&t(up)) - f(&t(down))) / (2.0 * h);
            assert!(
                (fd - a).abs() < 1e-8,
                "entry {i}: analytic {a}, finite difference {fd}"
            );
        }
    }

    /// `ReLU(sum_k alpha_k A_k)` with a batched matmul: the reference.
    fn channel_sum_by_matmul(a: &Tensor, alpha: &Tensor) -> Tensor {
        let (b, k, h, w) = a.dims4().unwrap();
        alpha
            .unsqueeze(1)
            .unwrap()
            .matmul(&a.reshape((b, k, h * w)).unwrap())
            .unwrap()
            .reshape((b, h, w))
            .unwrap()
            .relu()
            .unwrap()
    }

    #[test]
    fn channel_sum_equals_the_matmul_and_both_gradients() {
        for (dt, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            for (i, dims) in [[2usize, 64, 16, 16], [3, 5, 7, 3], [1, 1, 1, 1]]
                .iter()
                .enumerate()
            {
                let a = Var::from_tensor(&random(i as u64, dims, dt).relu().unwrap()).unwrap();
                let alpha = Var::from_tensor(&random(50 + i as u64, &dims[..2], dt)).unwrap();
                let r = random(90 + i as u64, &[dims[0], dims[2], dims[3]], dt);
                let got = a
                    .as_tensor()
                    .apply_op2(alpha.as_tensor(), ChannelSum)
                    .unwrap();
                let want = channel_sum_by_matmul(a.as_tensor(), alpha.as_tensor());
                let e = rel(&values(&got), &values(&want));
                assert!(e < tol, "{dt:?} {dims:?}: value error {e:e}");
                let g_got = (got * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let g_want = (want * &r).unwrap().sum_all().unwrap().backward().unwrap();
                for (name, v) in [("A", &a), ("alpha", &alpha)] {
                    let e = rel(
                        &values(g_got.get(v.as_tensor()).unwrap()),
                        &values(g_want.get(v.as_tensor()).unwrap()),
                    );
                    assert!(e < tol, "{dt:?} {dims:?}: gradient of {name}, error {e:e}");
                }
            }
        }
    }

    #[test]
    fn channel_sum_passes_the_gradient_where_the_sum_is_zero_as_candles_relu() {
        // All activations zero: the weighted sum is exactly 0 everywhere; candle's ReLU rule
        // (`>= 0`) lets the gradient through, so dA = alpha · g.
        let a = Var::from_tensor(&Tensor::zeros((1, 2, 1, 2), DType::F64, &Device::Cpu).unwrap())
            .unwrap();
        let alpha = Tensor::new(&[[2f64, -3.]], &Device::Cpu).unwrap();
        let y = a.as_tensor().apply_op2(&alpha, ChannelSum).unwrap();
        assert_eq!(values(&y), vec![0., 0.]);
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(
            values(g.get(a.as_tensor()).unwrap()),
            vec![2., 2., -3., -3.]
        );
    }

    #[test]
    fn channel_sum_maps_nan_to_zero_and_skips_untracked_gradients() {
        let a = Var::from_tensor(
            &Tensor::new(&[[[[f64::NAN, 1.]], [[2., -4.]]]], &Device::Cpu).unwrap(),
        )
        .unwrap();
        // alpha a plain tensor (as in training, where it is held constant): no gradient for it.
        let alpha = Tensor::new(&[[1f64, 1.]], &Device::Cpu).unwrap();
        let y = a.as_tensor().apply_op2(&alpha, ChannelSum).unwrap();
        // candle's relu gives max(NaN, 0) = 0; 1 − 4 < 0 gives 0 too.
        assert_eq!(values(&y), vec![0., 0.]);
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&alpha).is_none());
        assert_eq!(values(g.get(a.as_tensor()).unwrap()), vec![0., 0., 0., 0.]);
        // Shapes with no channel or no position give zeros, not a panic.
        for dims in [[2usize, 0, 3, 3], [2, 3, 0, 3]] {
            let a = Tensor::zeros(&dims, DType::F32, &Device::Cpu).unwrap();
            let alpha = Tensor::zeros(&dims[..2], DType::F32, &Device::Cpu).unwrap();
            let y = a.apply_op2(&alpha, ChannelSum).unwrap();
            assert_eq!(y.dims(), &[dims[0], dims[2], dims[3]]);
            assert!(values(&y).iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn shape_errors_are_reported() {
        let a = Tensor::zeros((2, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        let alpha = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
        let e = a.apply_op2(&alpha, ChannelSum).unwrap_err().to_string();
        assert!(e.contains("channel sum"), "{e}");
        let x = Tensor::zeros((1, 3, 3), DType::F32, &Device::Cpu).unwrap();
        let e = x
            .apply_op1(Bilinear::new((2, 2), (4, 4)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bilinear"), "{e}");
        let u8s = Tensor::zeros((1, 2, 2), DType::U8, &Device::Cpu).unwrap();
        assert!(u8s.apply_op1(Bilinear::new((2, 2), (4, 4))).is_err());
    }
}
