//! Small models for the unit-level tests.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Tensor};
use ceod_gradcam::{CamModel, LinearHead};

use super::SplitMix64;

/// Features: the input average-pooled by `pool` (the input itself when `pool == 1`).
fn pooled(xs: &Tensor, pool: usize) -> candle_core::Result<Tensor> {
    if pool == 1 {
        Ok(xs.clone())
    } else {
        xs.avg_pool2d(pool)
    }
}

/// A non-linear head: `tanh(flatten(A) · W1ᵀ + b1) · W2ᵀ + b2`, so `dy/dA` varies with position
/// and with the input.
#[derive(Debug, Clone)]
pub struct MlpModel {
    pub pool: usize,
    pub w1: Tensor,
    pub b1: Tensor,
    pub w2: Tensor,
    pub b2: Tensor,
}

impl MlpModel {
    /// For features `k × h × w`, `hidden` units and `classes` logits.
    pub fn seeded(
        seed: u64,
        pool: usize,
        (k, h, w): (usize, usize, usize),
        hidden: usize,
        classes: usize,
        dtype: DType,
    ) -> Self {
        let dev = Device::Cpu;
        let mut rng = SplitMix64(seed);
        let n = k * h * w;
        Self {
            pool,
            w1: rng
                .tensor(&[hidden, n], 2.0 / (n as f64).sqrt(), dtype, &dev)
                .unwrap(),
            b1: rng.tensor(&[hidden], 0.3, dtype, &dev).unwrap(),
            w2: rng.tensor(&[classes, hidden], 1.0, dtype, &dev).unwrap(),
            b2: rng.tensor(&[classes], 0.1, dtype, &dev).unwrap(),
        }
    }
}

impl CamModel for MlpModel {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        pooled(xs, self.pool)
    }

    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.flatten_from(1)?
            .matmul(&self.w1.t()?)?
            .broadcast_add(&self.b1)?
            .tanh()?
            .matmul(&self.w2.t()?)?
            .broadcast_add(&self.b2)
    }
}

/// Global average pool + linear head over pooled input channels.
#[derive(Debug, Clone)]
pub struct GapModel {
    pub pool: usize,
    pub weight: Tensor,
    pub bias: Tensor,
    pub expose_linear_head: bool,
}

impl GapModel {
    pub fn seeded(seed: u64, pool: usize, channels: usize, classes: usize, dtype: DType) -> Self {
        let dev = Device::Cpu;
        let mut rng = SplitMix64(seed);
        Self {
            pool,
            weight: rng.tensor(&[classes, channels], 1.0, dtype, &dev).unwrap(),
            bias: rng.tensor(&[classes], 0.1, dtype, &dev).unwrap(),
            expose_linear_head: true,
        }
    }
}

impl CamModel for GapModel {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        pooled(xs, self.pool)
    }

    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.mean(3)?
            .mean(2)?
            .matmul(&self.weight.t()?)?
            .broadcast_add(&self.bias)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        self.expose_linear_head.then(|| LinearHead {
            weight: self.weight.clone(),
            bias: Some(self.bias.clone()),
        })
    }
}
