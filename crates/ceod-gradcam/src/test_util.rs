//! Helpers shared by the crate's unit tests.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Tensor};

/// All values of `t` as `f64`, flattened.
pub(crate) fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest difference relative to the largest magnitude of `want` (lengths must match).
pub(crate) fn rel(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale
}
