//! Shared test support: a seeded generator, ceodnet-s, the fixtures folder, comparisons.
#![allow(dead_code, clippy::unwrap_used)]

pub mod ceodnet;
pub mod toy;

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

/// SplitMix64: a small seeded generator (candle's CPU RNG cannot be seeded).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }

    /// A tensor uniform in `[-scale, scale)`.
    pub fn tensor(
        &mut self,
        dims: &[usize],
        scale: f64,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = dims.iter().product();
        Tensor::from_vec(self.vec(n, scale), dims, device)?.to_dtype(dtype)
    }
}

/// The shared fixtures folder (`$CEOD_FIXTURES` or `<workspace>/../shared/fixtures`), or `None`
/// (and a printed note) when it is absent.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.join("batch.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: fixtures folder {} not found (set CEOD_FIXTURES to the shared fixtures)",
            dir.display()
        );
        None
    }
}

/// Flattened values as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// `max |a − b|`.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `max |a − b| / max |b|` (0 when both are all zero).
pub fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let scale = values(b).iter().map(|x| x.abs()).fold(0.0, f64::max);
    let d = max_abs_diff(a, b);
    if scale == 0.0 { d } else { d / scale }
}

/// Asserts `max |a − b| <= tol · max(max |b|, tiny)`.
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    let r = rel_diff(a, b);
    if std::env::var_os("CEOD_VERBOSE").is_some() {
        eprintln!("{what}: relative difference {r:e}");
    }
    assert!(r <= tol, "{what}: relative difference {r:e} > {tol:e}");
}
