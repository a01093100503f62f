//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;

use ceod_geometry::{HeatMap, Mask};

/// The fixtures folder: `$CEOD_FIXTURES`, else `../shared/fixtures` next to the workspace root.
/// `None` (and a printed note) when it is absent, so the tests skip in a clone without it.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: fixtures folder {} not found (set CEOD_FIXTURES)",
            dir.display()
        );
        None
    }
}

/// A tensor of a safetensors file as raw little-endian bytes plus its shape.
pub struct Tensor {
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Tensor {
    pub fn f32s(&self) -> Vec<f32> {
        self.bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
    pub fn f64s(&self) -> Vec<f64> {
        self.bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
}

/// Reads the named tensors of a safetensors file.
pub fn read_tensors(path: &std::path::Path, names: &[&str]) -> Vec<Tensor> {
    let data = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    names
        .iter()
        .map(|n| {
            let t = st.tensor(n).unwrap();
            Tensor {
                shape: t.shape().to_vec(),
                bytes: t.data().to_vec(),
            }
        })
        .collect()
}

/// A small deterministic generator (SplitMix64) for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The 0/1 heat map of a mask (hot exactly where the mask is set, under any threshold in (0, 1]).
pub fn heat_of(mask: &Mask) -> HeatMap {
    HeatMap::new(
        mask.width(),
        mask.height(),
        mask.values()
            .iter()
            .map(|&v| if v { 1.0 } else { 0.0 })
            .collect(),
    )
    .unwrap()
}

/// Pixel count of `a & b`.
pub fn count_and(a: &Mask, b: &Mask) -> usize {
    a.values()
        .iter()
        .zip(b.values())
        .filter(|(x, y)| **x && **y)
        .count()
}
