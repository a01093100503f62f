//! Per-image max normalisation.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, WithDType};

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
    if x.rank() >= 2
        && opts.ties == TieRule::Split
        && x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
    {
        // On the CPU: one pass forward and two backward, instead of about a dozen full-size
        // temporaries from candle's ops (same values, same gradient rule).
        return Ok(x.contiguous()?.apply_op1(Normalise { eps: opts.eps })?);
    }
    normalise_with_tensor_ops(x, opts)
}

/// [`normalise`] from candle's tensor ops (off the CPU, the `Full` tie rule; the reference of the
/// tests).
fn normalise_with_tensor_ops(x: &Tensor, opts: &NormaliseOptions) -> Result<Tensor> {
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

/// `relu(x) / (max + eps)` per image with the [`TieRule::Split`] gradient.
struct Normalise {
    eps: f64,
}

/// The contiguous values of an operand (the crate's CPU helper, with this op's name).
fn contiguous<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    crate::cpu::contiguous(s, l, "normalise")
}

/// Elements per image (everything after the leading index).
fn per_image(l: &Layout) -> usize {
    l.shape().dims().iter().skip(1).product()
}

fn relu<T: WithDType>(v: T) -> T {
    if v < T::zero() { T::zero() } else { v }
}

/// The maximum of `relu(map)` and the denominator `max + eps` (1 where that is 0, as the
/// tensor-op version's guard for `eps ≤ 0`).
fn max_and_denominator<T: WithDType>(map: &[T], eps: f64) -> (T, T) {
    let max = map.iter().fold(T::zero(), |m, &v| {
        let r = relu(v);
        if r > m { r } else { m }
    });
    let mut d = max + T::from_f64(eps);
    if eps <= 0.0 && d == T::zero() {
        d = T::one();
    }
    (max, d)
}

impl Normalise {
    fn fwd<T: WithDType>(&self, x: &[T], n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(x.len());
        for map in x.chunks_exact(n) {
            let (_, d) = max_and_denominator(map, self.eps);
            out.extend(map.iter().map(|&v| relu(v) / d));
        }
        out
    }
}

impl CustomOp1 for Normalise {
    fn name(&self) -> &'static str {
        "ceod-normalise"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = per_image(l);
        let storage = match (s, n) {
            (_, 0) => s.clone(),
            (CpuStorage::F32(_), _) => CpuStorage::F32(self.fwd(contiguous::<f32>(s, l)?, n)),
            (CpuStorage::F64(_), _) => CpuStorage::F64(self.fwd(contiguous::<f64>(s, l)?, n)),
            _ => candle_core::bail!("normalise: only f32 and f64 are supported"),
        };
        Ok((storage, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(
            x.apply_op2_no_bwd(&g, &NormaliseGrad { eps: self.eps })?,
        ))
    }
}

/// `(x, g) -> dx`: with `r = relu(x)`, `D = max r + eps`, `m` the tied maxima (`count` of them):
/// `dx_i = [x_i ≥ 0] · (g_i / D − m_i / count · Σ_j g_j r_j / D²)`.
struct NormaliseGrad {
    eps: f64,
}

impl NormaliseGrad {
    fn run<T: WithDType>(&self, x: &[T], g: &[T], n: usize) -> candle_core::Result<Vec<T>> {
        if x.len() != g.len() {
            candle_core::bail!("normalise: gradient of {} values for {}", g.len(), x.len());
        }
        let mut out = Vec::with_capacity(x.len());
        for (map, gm) in x.chunks_exact(n).zip(g.chunks_exact(n)) {
            let (max, d) = max_and_denominator(map, self.eps);
            let (mut sum, mut count) = (0f64, 0usize);
            for (&v, &gv) in map.iter().zip(gm) {
                let r = relu(v);
                sum += gv.to_f64() * r.to_f64();
                count += usize::from(r == max);
            }
            let d64 = d.to_f64();
            let share = T::from_f64(sum / (d64 * d64 * count.max(1) as f64));
            out.extend(map.iter().zip(gm).map(|(&v, &gv)| {
                if v < T::zero() {
                    T::zero()
                } else if relu(v) == max {
                    gv / d - share
                } else {
                    gv / d
                }
            }));
        }
        Ok(out)
    }
}

impl CustomOp2 for NormaliseGrad {
    fn name(&self) -> &'static str {
        "ceod-normalise-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = per_image(l1);
        let storage = match (s1, n) {
            (_, 0) => s1.clone(),
            (CpuStorage::F32(_), _) => {
                CpuStorage::F32(self.run(contiguous::<f32>(s1, l1)?, contiguous(s2, l2)?, n)?)
            }
            (CpuStorage::F64(_), _) => {
                CpuStorage::F64(self.run(contiguous::<f64>(s1, l1)?, contiguous(s2, l2)?, n)?)
            }
            _ => candle_core::bail!("normalise: only f32 and f64 are supported"),
        };
        Ok((storage, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::test_util::{rel, values};

    /// Seeded values in `[-0.5, 1)`, some maps with tied maxima, one all-negative map.
    fn maps(seed: u64, dims: &[usize], dt: DType) -> Tensor {
        let n: usize = dims.iter().product();
        let per: usize = dims[1..].iter().product();
        let mut x = seed;
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                -0.5 + 1.5 * ((x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        if dims[0] > 1 {
            // image 1: three tied maxima of 2
            for j in [0, per / 2, per - 1] {
                v[per + j] = 2.0;
            }
        }
        if dims[0] > 2 {
            // image 2: nothing positive
            v[2 * per..3 * per]
                .iter_mut()
                .for_each(|e| *e = -e.abs() - 0.1);
        }
        Tensor::from_vec(v, dims, &Device::Cpu)
            .unwrap()
            .to_dtype(dt)
            .unwrap()
    }

    fn value_and_grad(
        f: impl Fn(&Tensor, &NormaliseOptions) -> Result<Tensor>,
        x: &Tensor,
        r: &Tensor,
        o: &NormaliseOptions,
    ) -> (Vec<f64>, Vec<f64>) {
        let v = Var::from_tensor(x).unwrap();
        let y = f(v.as_tensor(), o).unwrap();
        let g = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
        (values(&y), values(g.get(v.as_tensor()).unwrap()))
    }

    #[test]
    fn fused_op_equals_candle_ops_value_and_gradient() {
        for dims in [vec![1, 5, 7], vec![3, 9, 4], vec![4, 2, 6, 5]] {
            for dt in [DType::F32, DType::F64] {
                for eps in [1e-8, 0.0, 0.1] {
                    let o = NormaliseOptions {
                        eps,
                        ties: TieRule::Split,
                    };
                    let x = maps(dims.len() as u64, &dims, dt);
                    let r = maps(17, &dims, dt);
                    let (v1, g1) = value_and_grad(normalise, &x, &r, &o);
                    let (v2, g2) = value_and_grad(normalise_with_tensor_ops, &x, &r, &o);
                    assert!(rel(&v1, &v2) <= 1e-6, "{dims:?} {dt:?} {eps}");
                    assert!(rel(&g1, &g2) <= 1e-5, "{dims:?} {dt:?} {eps} gradient");
                }
            }
        }
    }

    #[test]
    fn fused_gradient_equals_central_finite_differences_in_f64() {
        // No ties and no zeros (the max is differentiable there).
        let dims = [2usize, 4, 5];
        let n: usize = dims.iter().product();
        let base: Vec<f64> = (0..n)
            .map(|i| 0.1 + ((i * 37) % 23) as f64 * 0.04 + i as f64 * 1e-3)
            .collect();
        let x = Tensor::from_vec(base.clone(), &dims[..], &Device::Cpu).unwrap();
        let r = maps(5, &dims, DType::F64);
        let o = NormaliseOptions::default();
        let (_, g) = value_and_grad(normalise, &x, &r, &o);
        let rv = values(&r);
        let f = |v: &[f64]| {
            let t = Tensor::from_vec(v.to_vec(), &dims[..], &Device::Cpu).unwrap();
            let y = values(&normalise(&t, &o).unwrap());
            y.iter().zip(&rv).map(|(a, b)| a * b).sum::<f64>()
        };
        let h = 1e-6;
        for i in 0..n {
            let (mut p, mut m) = (base.clone(), base.clone());
            p[i] += h;
            m[i] -= h;
            let fd = (f(&p) - f(&m)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= 1e-6 * fd.abs().max(1.0),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }
}
