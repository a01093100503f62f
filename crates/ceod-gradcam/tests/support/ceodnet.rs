//! A minimal ceodnet-s (DESIGN.md §3) for the fixture tests and the bench: conv3x3 (pad 1) → ReLU
//! → max pool 2, three times, then conv4 → ReLU = A (the target layer), global average pool, fc.
//! Tensor names and layouts are PyTorch's (`conv1.weight` … `fc.bias`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ceod_gradcam::{CamModel, LinearHead};

/// The parameter names, in order.
pub const PARAM_NAMES: [&str; 10] = [
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "conv3.weight",
    "conv3.bias",
    "conv4.weight",
    "conv4.bias",
    "fc.weight",
    "fc.bias",
];

/// ceodnet-s with plain (frozen) tensors as weights.
#[derive(Debug, Clone)]
pub struct CeodNetS {
    /// `(weight, bias)` of conv1..conv4.
    pub convs: Vec<(Tensor, Tensor)>,
    /// `fc.weight` `[classes, 64]`.
    pub fc_w: Tensor,
    /// `fc.bias` `[classes]`.
    pub fc_b: Tensor,
    /// Whether `linear_head` reports the head (off: every method takes the backward path).
    pub expose_linear_head: bool,
}

impl CeodNetS {
    /// From a name → tensor map (checks every name and that there is nothing else).
    pub fn from_map(map: &HashMap<String, Tensor>) -> candle_core::Result<Self> {
        for name in map.keys() {
            if !PARAM_NAMES.contains(&name.as_str()) {
                candle_core::bail!("unexpected tensor {name}");
            }
        }
        let get = |n: &str| -> candle_core::Result<Tensor> {
            map.get(n)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {n}")))
        };
        let mut convs = Vec::new();
        for i in 1..=4 {
            convs.push((
                get(&format!("conv{i}.weight"))?,
                get(&format!("conv{i}.bias"))?,
            ));
        }
        Ok(Self {
            convs,
            fc_w: get("fc.weight")?,
            fc_b: get("fc.bias")?,
            expose_linear_head: true,
        })
    }

    /// Loads a PyTorch-layout safetensors file.
    pub fn load(path: &Path, device: &Device) -> candle_core::Result<Self> {
        Self::from_map(&candle_core::safetensors::load(path, device)?)
    }

    /// Seeded PyTorch-like init (uniform ±1/sqrt(fan_in)), `in_ch` input channels, 1 logit.
    pub fn seeded(
        seed: u64,
        in_ch: usize,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut rng = super::SplitMix64(seed);
        let widths = [16usize, 32, 64, 64];
        let mut map = HashMap::new();
        let mut cin = in_ch;
        for (i, &cout) in widths.iter().enumerate() {
            let bound = 1.0 / ((cin * 9) as f64).sqrt();
            map.insert(
                format!("conv{}.weight", i + 1),
                rng.tensor(&[cout, cin, 3, 3], bound, dtype, device)?,
            );
            map.insert(
                format!("conv{}.bias", i + 1),
                rng.tensor(&[cout], bound, dtype, device)?,
            );
            cin = cout;
        }
        let bound = 1.0 / (64f64).sqrt();
        map.insert(
            "fc.weight".into(),
            rng.tensor(&[1, 64], bound, dtype, device)?,
        );
        map.insert("fc.bias".into(), rng.tensor(&[1], bound, dtype, device)?);
        Self::from_map(&map)
    }

    /// The same network in another dtype.
    pub fn to_dtype(&self, dtype: DType) -> candle_core::Result<Self> {
        let convs = self
            .convs
            .iter()
            .map(|(w, b)| Ok((w.to_dtype(dtype)?, b.to_dtype(dtype)?)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            convs,
            fc_w: self.fc_w.to_dtype(dtype)?,
            fc_b: self.fc_b.to_dtype(dtype)?,
            expose_linear_head: self.expose_linear_head,
        })
    }
}

fn conv_relu(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let c = b.dim(0)?;
    x.conv2d(w, 1, 1, 1, 1)?
        .broadcast_add(&b.reshape((1, c, 1, 1))?)?
        .relu()
}

impl CamModel for CeodNetS {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = xs.clone();
        for (i, (w, b)) in self.convs.iter().enumerate() {
            x = conv_relu(&x, w, b)?;
            if i < 3 {
                x = x.max_pool2d(2)?;
            }
        }
        Ok(x)
    }

    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.mean(3)?
            .mean(2)?
            .matmul(&self.fc_w.t()?)?
            .broadcast_add(&self.fc_b)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        self.expose_linear_head.then(|| LinearHead {
            weight: self.fc_w.clone(),
            bias: Some(self.fc_b.clone()),
        })
    }
}
