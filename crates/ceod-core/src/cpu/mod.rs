//! The fast CPU path of [`CeodNet`](crate::CeodNet): convolutions as candle custom ops.
//!
//! candle 0.11.1 runs a convolution's backward pass as a `conv_transpose2d` (input gradient) and
//! a dilated `conv2d` (kernel gradient), which dominate a training step on the CPU. Here the
//! forward pass and both gradients are `im2col`/`col2im` around a `gemm` (the same `gemm` crate
//! candle uses), with the bias, ReLU and max pool fused into the same pass and the batch split
//! over candle's own CPU threads. Layers with few inputs per output (the first, on grey images)
//! use a direct loop convolution instead of the gemm. The results equal candle's ops to rounding
//! (tests: `tests/cpu_conv*.rs`).
//!
//! On other devices [`conv2d`] falls back to candle's own kernels, so one code path serves all.

/// `fn name<T: WithDType>(args) -> R { body }`, compiled twice: for the build's baseline (SSE2 on
/// x86-64, which is what a plain `cargo build` targets) and with AVX2 and FMA enabled, the second
/// chosen at run time when the CPU has both. The loops are the same source, so the results are
/// the same bit for bit: Rust never contracts `a * b + c` into a fused multiply-add, and LLVM
/// vectorises no floating-point reduction that the code does not spell out. (The `gemm` crate
/// dispatches its own micro-kernels the same way.) Keep it so: `f32::min`/`max` (whose result for
/// `±0` ties may differ between the two builds) or `mul_add` (a slow libm call in the baseline
/// build) would break or slow one of them.
macro_rules! wide {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident<$t:ident: WithDType>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$m])*
        $vis fn $name<$t: WithDType>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<$t: WithDType>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$t: WithDType>($($arg: $ty),*) $(-> $ret)? {
                body::<$t>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::cpu::has_avx2() {
                // SAFETY: `avx2` needs AVX2 and FMA, which the CPU has (checked at run time).
                return unsafe { avx2::<$t>($($arg),*) };
            }
            body::<$t>($($arg),*)
        }
    };
}

/// Set by the tests to run the baseline builds on a CPU that has AVX2.
#[cfg(target_arch = "x86_64")]
static BASELINE_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the CPU runs the AVX2 + FMA builds of the loops (std caches the answer).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    !BASELINE_ONLY.load(std::sync::atomic::Ordering::Relaxed)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

mod alloc;
mod conv;
mod direct;
mod gemm;
mod im2col;

pub use alloc::tune_allocator;
pub use conv::{ConvOptions, conv2d};
pub(crate) use conv::{run_tasks, threads};

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::Ordering;

    use candle_core::{DType, Device, Tensor, Var};

    use super::{BASELINE_ONLY, ConvOptions, conv2d};

    /// Output, input gradient, kernel gradient and bias gradient of one fused block, on a pool of
    /// two threads (so that batch 1 is split by channels and batch 3 by images on any machine),
    /// as f64 bit patterns.
    fn run(x: &Var, w: &Var, b: &Var, o: ConvOptions, r: &Tensor) -> Vec<Vec<u64>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let y = conv2d(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), o).unwrap();
            let g = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
            let bits = |t: &Tensor| -> Vec<u64> {
                let t = t.flatten_all().unwrap();
                match t.dtype() {
                    DType::F32 => t
                        .to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|v| u64::from(v.to_bits()))
                        .collect(),
                    _ => t
                        .to_vec1::<f64>()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect(),
                }
            };
            let mut out = vec![bits(&y)];
            for v in [x, w, b] {
                out.push(bits(g.get(v.as_tensor()).unwrap()));
            }
            out
        })
    }

    #[test]
    fn avx2_and_baseline_builds_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("skipped: this CPU has no AVX2 + FMA, only the baseline build runs");
            return;
        }
        let dev = Device::Cpu;
        // The direct path (1 input channel) and the gemm path; pools of 2 and 3 and none;
        // batch 1 (channel split) and 3 (image split); odd sizes.
        let cases = [
            (1, 1, 8, 13, 11, Some(2), true, DType::F32),
            (3, 1, 4, 9, 9, None, true, DType::F32),
            (1, 5, 6, 10, 7, Some(2), true, DType::F32),
            (3, 4, 7, 9, 12, Some(3), true, DType::F32),
            (3, 4, 5, 8, 7, Some(2), false, DType::F64),
            (2, 1, 3, 6, 9, None, false, DType::F64),
        ];
        for (i, &(bsz, ci, co, h, wd, pool, relu, dt)) in cases.iter().enumerate() {
            let seed = i as u64;
            let rand = |dims: &[usize], s: u64| {
                let n: usize = dims.iter().product();
                let v: Vec<f32> = (0..n)
                    .map(|j| ((j as f64 * 0.618 + s as f64 * 0.37).sin() * 0.8) as f32)
                    .collect();
                Tensor::from_vec(v, dims, &dev)
                    .unwrap()
                    .to_dtype(dt)
                    .unwrap()
            };
            let x = Var::from_tensor(&rand(&[bsz, ci, h, wd], seed)).unwrap();
            let w = Var::from_tensor(&rand(&[co, ci, 3, 3], seed + 10)).unwrap();
            let b = Var::from_tensor(&rand(&[co], seed + 20)).unwrap();
            let o = ConvOptions {
                padding: 1,
                relu,
                pool,
            };
            let shape = conv2d(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), o)
                .unwrap()
                .dims()
                .to_vec();
            let r = rand(&shape, seed + 30);
            let wide = run(&x, &w, &b, o, &r);
            BASELINE_ONLY.store(true, Ordering::Relaxed);
            let base = run(&x, &w, &b, o, &r);
            BASELINE_ONLY.store(false, Ordering::Relaxed);
            for (what, (a, c)) in ["output", "dx", "dw", "db"]
                .iter()
                .zip(wide.iter().zip(&base))
            {
                assert!(
                    a == c,
                    "case {i}: {what} differs between the AVX2 and baseline builds"
                );
            }
        }
    }
}
