//! The machine's measured f32 FMA ceiling, for the "fraction of the FLOP ceiling" figures in
//! `docs/PERFORMANCE.md`: twelve independent chains of 256-bit fused multiply-adds (AVX2 + FMA,
//! what the `gemm` crate's micro-kernels use) on each of 1 and `N` threads.
//!
//! ```sh
//! cargo run --release -p ceod-core --example fma_peak -- [THREADS]
//! ```
//!
//! Prints GFLOP/s (2 FLOP per lane per FMA). `THREADS` defaults to the logical CPUs (hyperthreads
//! count; candle's default is the physical cores). A clock from `/proc/cpuinfo` can understate
//! the ceiling: on the 2-core VM it reports 2.6 GHz while the cores sustain 3.7–4.0 GHz of FMAs
//! (the turbo clock varies from run to run; `scripts/bench_all.sh` measures it in the same run).
//! Two threads sometimes share one core for the whole run (half the figure): run it twice.
#![allow(missing_docs)]

use std::time::Instant;

const ITERS: u64 = 100_000_000;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(1e-7);
    let mut a = [_mm256_setzero_ps(); 12];
    for (i, v) in a.iter_mut().enumerate() {
        *v = _mm256_set1_ps(seed + i as f32);
    }
    for _ in 0..ITERS {
        for v in a.iter_mut() {
            *v = _mm256_fmadd_ps(*v, x, y);
        }
    }
    let mut s = _mm256_setzero_ps();
    for v in a {
        s = _mm256_add_ps(s, v);
    }
    let mut out = [0f32; 8];
    // SAFETY: `out` holds 8 f32, what a 256-bit unaligned store writes.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
fn gflops(threads: usize) -> f64 {
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            std::thread::spawn(move || {
                // SAFETY: called only after AVX2 and FMA were detected (main).
                unsafe { chains(std::hint::black_box(1.0 + i as f32)) }
            })
        })
        .collect();
    let mut sink = 0f32;
    for h in handles {
        sink += h.join().unwrap_or(0.0);
    }
    std::hint::black_box(sink);
    (ITERS * 12 * 8 * 2 * threads as u64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            eprintln!("this CPU has no AVX2 + FMA");
            return;
        }
        let n: usize = match std::env::args().nth(1) {
            Some(a) => match a.parse() {
                Ok(n) if n > 0 => n,
                _ => {
                    eprintln!("THREADS must be a positive whole number, got `{a}`");
                    std::process::exit(2);
                }
            },
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut counts = vec![1, n];
        counts.dedup();
        for threads in counts {
            println!(
                "{threads} thread(s): {:.1} GFLOP/s f32 FMA",
                gflops(threads)
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    eprintln!("fma_peak measures x86-64 AVX2 + FMA only");
}
