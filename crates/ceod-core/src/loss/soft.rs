//! The soft (differentiable) overlap distance.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, WithDType};

use super::options::{CeodOptions, Coefficient};
use crate::error::CoreError;

/// The soft overlap distance `1 − soft_c` per sample (`B`), differentiable in `cam`.
///
/// `cam` is the normalised CAM at mask resolution (`B × H × W`, values in `[0, 1]`) and `masks`
/// the masks (`B × H × W`, 1 inside). With `s = sigmoid((cam − t)/T)` (threshold `t`, temperature
/// `T`), `ε = options.overlap_eps`:
/// - `paper`: `sum(s·m) / (min(sum s, sum m) + ε)`;
/// - `containment`: `sum(s·m) / (sum s + ε)`;
/// - `iou`: `sum(s·m) / (sum s + sum m − sum(s·m) + ε)`;
/// - `energy` (no threshold): `sum(cam·m) / (sum cam + ε)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_core::{CeodOptions, Coefficient, soft_overlap_distance};
///
/// // energy: a quarter of the CAM's mass lies in the mask
/// let cam = Tensor::new(&[[[1f32, 1.], [1., 1.]]], &Device::Cpu)?;
/// let mask = Tensor::new(&[[[1f32, 0.], [0., 0.]]], &Device::Cpu)?;
/// let opts = CeodOptions { coefficient: Coefficient::Energy, overlap_eps: 0.0, ..Default::default() };
/// let d = soft_overlap_distance(&cam, &mask, &opts)?.to_vec1::<f32>()?;
/// assert!((d[0] - 0.75).abs() < 1e-6);
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// [`CoreError::InvalidInput`] when the shapes differ; tensor errors.
pub fn soft_overlap_distance(
    cam: &Tensor,
    masks: &Tensor,
    options: &CeodOptions,
) -> Result<Tensor, CoreError> {
    if cam.dims() != masks.dims() || cam.rank() != 3 {
        return Err(CoreError::InvalidInput(format!(
            "soft overlap: cam {:?} and masks {:?} must both be B × H × W",
            cam.dims(),
            masks.dims()
        )));
    }
    if options.coefficient != Coefficient::Energy && options.temperature <= 0.0 {
        return Err(CoreError::InvalidInput(format!(
            "soft overlap: temperature must be positive, got {}",
            options.temperature
        )));
    }
    let m = masks.to_dtype(cam.dtype())?.detach();
    if cam.device().is_cpu() && matches!(cam.dtype(), DType::F32 | DType::F64) {
        // One pass over the maps forward and one backward (candle's ops: about a dozen
        // full-size temporaries).
        let op = SoftOp {
            p: SoftParams::new(options),
            sums: Mutex::new(None),
        };
        return Ok(cam.contiguous()?.apply_op2(&m.contiguous()?, op)?);
    }
    soft_with_tensor_ops(cam, &m, options)
}

/// [`soft_overlap_distance`] from candle's tensor ops (off the CPU; the reference of the tests).
fn soft_with_tensor_ops(
    cam: &Tensor,
    masks: &Tensor,
    options: &CeodOptions,
) -> Result<Tensor, CoreError> {
    let m = masks.to_dtype(cam.dtype())?.detach();
    let eps = options.overlap_eps;
    let sum = |t: &Tensor| t.sum((1, 2));
    let coeff = if options.coefficient == Coefficient::Energy {
        sum(&(cam * &m)?)?.div(&sum(cam)?.affine(1.0, eps)?)?
    } else {
        let t = options.threshold;
        let temp = options.temperature;
        if temp <= 0.0 {
            return Err(CoreError::InvalidInput(format!(
                "soft overlap: temperature must be positive, got {temp}"
            )));
        }
        let s = candle_nn::ops::sigmoid(&cam.affine(1.0 / temp, -t / temp)?)?;
        let inter = sum(&(&s * &m)?)?;
        let ss = sum(&s)?;
        let sm = sum(&m)?;
        let denom = match options.coefficient {
            Coefficient::Paper => ss.minimum(&sm)?,
            Coefficient::Containment => ss,
            // Iou (Energy is the branch above)
            _ => ((ss + sm)? - &inter)?,
        };
        inter.div(&denom.affine(1.0, eps)?)?
    };
    Ok(coeff.affine(-1.0, 1.0)?)
}

/// The constants of the soft term.
#[derive(Debug, Clone, Copy)]
struct SoftParams {
    coefficient: Coefficient,
    threshold: f64,
    temperature: f64,
    eps: f64,
}

impl SoftParams {
    fn new(o: &CeodOptions) -> Self {
        Self {
            coefficient: o.coefficient,
            threshold: o.threshold,
            temperature: o.temperature,
            eps: o.overlap_eps,
        }
    }

    /// The per-pixel value summed against the mask: `sigmoid((c − t)/T)`, or `c` for energy.
    fn s<T: WithDType>(&self, c: T) -> f64 {
        let c = c.to_f64();
        if self.coefficient == Coefficient::Energy {
            c
        } else {
            1.0 / (1.0 + (-(c - self.threshold) / self.temperature).exp())
        }
    }

    /// `d s / d c` from `s`.
    fn ds(&self, s: f64) -> f64 {
        if self.coefficient == Coefficient::Energy {
            1.0
        } else {
            s * (1.0 - s) / self.temperature
        }
    }

    /// The distance `1 − coeff` from the sums `[Σ s·m, Σ s, Σ m]`.
    fn distance(&self, [inter, ss, sm]: [f64; 3]) -> f64 {
        1.0 - inter / (self.denominator([inter, ss, sm]) + self.eps)
    }

    fn denominator(&self, [inter, ss, sm]: [f64; 3]) -> f64 {
        match self.coefficient {
            Coefficient::Paper => ss.min(sm),
            Coefficient::Containment | Coefficient::Energy => ss,
            Coefficient::Iou => ss + sm - inter,
        }
    }

    /// `(∂d/∂inter, ∂d/∂ss)`; the tie of `min(ss, sm)` shares the gradient half and half, as
    /// candle's `minimum` does.
    fn partials(&self, sums: [f64; 3]) -> (f64, f64) {
        let [inter, ss, sm] = sums;
        let d = self.denominator(sums) + self.eps;
        let q = inter / (d * d);
        match self.coefficient {
            Coefficient::Paper => {
                let share = if ss < sm {
                    1.0
                } else if ss == sm {
                    0.5
                } else {
                    0.0
                };
                (-1.0 / d, q * share)
            }
            Coefficient::Containment | Coefficient::Energy => (-1.0 / d, q),
            Coefficient::Iou => (-1.0 / d - q, q),
        }
    }
}

/// The sums `[Σ s·m, Σ s, Σ m]` of one map, in f64.
fn sums<T: WithDType>(p: &SoftParams, cam: &[T], m: &[T]) -> [f64; 3] {
    let mut acc = [0f64; 3];
    for (&c, &mv) in cam.iter().zip(m) {
        let s = p.s(c);
        let mv = mv.to_f64();
        acc[0] += s * mv;
        acc[1] += s;
        acc[2] += mv;
    }
    acc
}

fn contiguous<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => candle_core::bail!("soft overlap: operands must be contiguous"),
    }
}

/// Maps per task: the batch split over the CPU threads in fixed runs.
fn per_task(b: usize) -> usize {
    b.div_ceil(crate::cpu::threads().clamp(1, b.max(1))).max(1)
}

/// `(cam, masks) -> 1 − soft_c` per sample, keeping the sums for the backward pass.
struct SoftOp {
    p: SoftParams,
    sums: Mutex<Option<Vec<[f64; 3]>>>,
}

impl SoftOp {
    fn fwd<T: WithDType>(
        &self,
        cam: &[T],
        m: &[T],
        n: usize,
    ) -> candle_core::Result<(Vec<T>, Vec<[f64; 3]>)> {
        if cam.len() != m.len() || !cam.len().is_multiple_of(n) {
            candle_core::bail!("soft overlap: cam and masks differ in size");
        }
        let b = cam.len() / n;
        let per = per_task(b);
        let p = self.p;
        let tasks = cam.chunks(per * n).zip(m.chunks(per * n)).collect();
        let parts = crate::cpu::run_tasks(tasks, |_, (c, mk): (&[T], &[T])| {
            Ok(c.chunks_exact(n)
                .zip(mk.chunks_exact(n))
                .map(|(ci, mi)| sums(&p, ci, mi))
                .collect::<Vec<_>>())
        })?;
        let all: Vec<[f64; 3]> = parts.into_iter().flatten().collect();
        let d = all.iter().map(|&s| T::from_f64(p.distance(s))).collect();
        Ok((d, all))
    }
}

impl CustomOp2 for SoftOp {
    fn name(&self) -> &'static str {
        "ceod-soft-overlap"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let b = l1.shape().dims().first().copied().unwrap_or(0);
        let n = n_of(l1);
        if n == 0 {
            candle_core::bail!("soft overlap: empty maps");
        }
        let (storage, sums) = match s1 {
            CpuStorage::F32(_) => {
                let (d, s) = self.fwd(contiguous::<f32>(s1, l1)?, contiguous(s2, l2)?, n)?;
                (CpuStorage::F32(d), s)
            }
            CpuStorage::F64(_) => {
                let (d, s) = self.fwd(contiguous::<f64>(s1, l1)?, contiguous(s2, l2)?, n)?;
                (CpuStorage::F64(d), s)
            }
            _ => candle_core::bail!("soft overlap: only f32 and f64 are supported"),
        };
        *self
            .sums
            .lock()
            .map_err(|_| candle_core::Error::Msg("soft overlap: poisoned lock".into()))? =
            Some(sums);
        Ok((storage, Shape::from(b)))
    }

    fn bwd(
        &self,
        cam: &Tensor,
        masks: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let sums = self
            .sums
            .lock()
            .map_err(|_| candle_core::Error::Msg("soft overlap: poisoned lock".into()))?
            .clone()
            .ok_or_else(|| {
                candle_core::Error::Msg("soft overlap: backward before forward".into())
            })?;
        let g = grad_res.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let coef: Vec<(f64, f64)> = sums
            .iter()
            .zip(&g)
            .map(|(&s, &gv)| {
                let (di, ds) = self.p.partials(s);
                (gv * di, gv * ds)
            })
            .collect();
        let dcam = cam.apply_op2_no_bwd(masks, &SoftGrad { p: self.p, coef })?;
        Ok((Some(dcam), None))
    }
}

fn n_of(l: &Layout) -> usize {
    l.shape().dims().iter().skip(1).product()
}

/// `d cam = (g·∂d/∂inter · m + g·∂d/∂ss) · ds/dc` per sample.
struct SoftGrad {
    p: SoftParams,
    coef: Vec<(f64, f64)>,
}

impl SoftGrad {
    fn run<T: WithDType>(&self, cam: &[T], m: &[T]) -> candle_core::Result<Vec<T>> {
        let b = self.coef.len();
        if b == 0 || cam.len() != m.len() || !cam.len().is_multiple_of(b) || cam.is_empty() {
            candle_core::bail!(
                "soft overlap: gradient of {} values for {b} maps",
                cam.len()
            );
        }
        let n = cam.len() / b;
        let mut out = vec![T::zero(); cam.len()];
        let per = per_task(b);
        let tasks = out
            .chunks_mut(per * n)
            .zip(cam.chunks(per * n).zip(m.chunks(per * n)))
            .collect();
        crate::cpu::run_tasks(tasks, |t, (o, (c, mk)): (&mut [T], (&[T], &[T]))| {
            let maps = o
                .chunks_exact_mut(n)
                .zip(c.chunks_exact(n).zip(mk.chunks_exact(n)));
            for (i, (oi, (ci, mi))) in maps.enumerate() {
                let (ki, ks) = self.coef[t * per + i];
                for (d, (&cv, &mv)) in oi.iter_mut().zip(ci.iter().zip(mi)) {
                    let s = self.p.s(cv);
                    *d = T::from_f64((ki * mv.to_f64() + ks) * self.p.ds(s));
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

impl CustomOp2 for SoftGrad {
    fn name(&self) -> &'static str {
        "ceod-soft-overlap-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let storage = match s1 {
            CpuStorage::F32(_) => {
                CpuStorage::F32(self.run(contiguous::<f32>(s1, l1)?, contiguous(s2, l2)?)?)
            }
            CpuStorage::F64(_) => {
                CpuStorage::F64(self.run(contiguous::<f64>(s1, l1)?, contiguous(s2, l2)?)?)
            }
            _ => candle_core::bail!("soft overlap: only f32 and f64 are supported"),
        };
        Ok((storage, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// A seeded `B × H × W` tensor with values in `[lo, hi)`.
    fn tensor(seed: u64, shape: (usize, usize, usize), lo: f64, hi: f64, dt: DType) -> Tensor {
        let n = shape.0 * shape.1 * shape.2;
        let mut x = seed;
        let v: Vec<f64> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dt)
            .unwrap()
    }

    fn rel(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
        a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    fn vec(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn options(coefficient: Coefficient) -> CeodOptions {
        CeodOptions {
            coefficient,
            threshold: 0.5,
            temperature: 0.1,
            overlap_eps: 1e-6,
            ..Default::default()
        }
    }

    const COEFFICIENTS: [Coefficient; 4] = [
        Coefficient::Paper,
        Coefficient::Containment,
        Coefficient::Iou,
        Coefficient::Energy,
    ];

    /// Value and gradient of `sum_i r_i · d_i` in `cam`.
    fn value_and_grad(
        f: impl Fn(&Tensor, &Tensor, &CeodOptions) -> Result<Tensor, CoreError>,
        cam: &Tensor,
        masks: &Tensor,
        r: &Tensor,
        o: &CeodOptions,
    ) -> (Vec<f64>, Vec<f64>) {
        let v = Var::from_tensor(cam).unwrap();
        let d = f(v.as_tensor(), masks, o).unwrap();
        let g = (&d * r).unwrap().sum_all().unwrap().backward().unwrap();
        (vec(&d), vec(g.get(v.as_tensor()).unwrap()))
    }

    #[test]
    fn fused_op_equals_candle_ops_value_and_gradient() {
        // Batch 1, odd and non-square maps; masks of 0/1 and a mask smaller than the hot region
        // (so `min` picks each side in the paper coefficient).
        for (k, &shape) in [(1, 5, 7), (3, 9, 4), (4, 16, 16)].iter().enumerate() {
            for dt in [DType::F32, DType::F64] {
                let cam = tensor(k as u64 + 1, shape, 0.0, 1.0, dt);
                let masks = tensor(k as u64 + 7, shape, 0.0, 1.0, dt)
                    .ge(0.5 + 0.2 * k as f64)
                    .unwrap()
                    .to_dtype(dt)
                    .unwrap();
                let r = tensor(k as u64 + 11, (1, 1, shape.0), -1.0, 1.0, dt)
                    .flatten_all()
                    .unwrap();
                for c in COEFFICIENTS {
                    let o = options(c);
                    let (v1, g1) = value_and_grad(soft_overlap_distance, &cam, &masks, &r, &o);
                    let (v2, g2) = value_and_grad(soft_with_tensor_ops, &cam, &masks, &r, &o);
                    assert!(
                        rel(&v1, &v2) <= 1e-5,
                        "{c:?} {shape:?} {dt:?}: {v1:?} {v2:?}"
                    );
                    assert!(rel(&g1, &g2) <= 1e-5, "{c:?} {shape:?} {dt:?} gradient");
                }
            }
        }
    }

    #[test]
    fn fused_gradient_equals_central_finite_differences_in_f64() {
        let shape = (2, 5, 6);
        let cam = tensor(3, shape, 0.0, 1.0, DType::F64);
        let masks = tensor(4, shape, 0.0, 1.0, DType::F64)
            .ge(0.4)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let r = Tensor::new(&[0.7f64, -1.3], &Device::Cpu).unwrap();
        for c in COEFFICIENTS {
            let o = options(c);
            let (_, g) = value_and_grad(soft_overlap_distance, &cam, &masks, &r, &o);
            let base = vec(&cam);
            let f = |x: &[f64]| {
                let t = Tensor::from_vec(x.to_vec(), shape, &Device::Cpu).unwrap();
                let d = vec(&soft_overlap_distance(&t, &masks, &o).unwrap());
                0.7 * d[0] - 1.3 * d[1]
            };
            let h = 1e-6;
            for i in 0..base.len() {
                let (mut p, mut m) = (base.clone(), base.clone());
                p[i] += h;
                m[i] -= h;
                let fd = (f(&p) - f(&m)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-6 * fd.abs().max(1.0),
                    "{c:?} pixel {i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn shape_and_temperature_errors() {
        let cam = tensor(1, (1, 3, 3), 0.0, 1.0, DType::F32);
        let bad = tensor(1, (1, 3, 4), 0.0, 1.0, DType::F32);
        let o = options(Coefficient::Containment);
        assert!(soft_overlap_distance(&cam, &bad, &o).is_err());
        let cold = CeodOptions {
            temperature: 0.0,
            ..o
        };
        assert!(soft_overlap_distance(&cam, &cam, &cold).is_err());
    }
}
