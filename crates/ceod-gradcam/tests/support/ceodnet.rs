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
    /// The forward `features` runs: candle's `conv2d` + `max_pool2d`, or channels-last im2col.
    pub forward: Forward,
    /// conv weights as `9·Cin × Cout` matrices for the channels-last forward.
    cl_weights: Vec<Tensor>,
    /// conv weights as `Cout × 9·Cin` matrices for the CNHW forward.
    cnhw_weights: Vec<Tensor>,
}

/// How ceodnet-s runs its convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// NCHW with candle's `conv2d`, bias, ReLU and `max_pool2d` (what a straightforward model does).
    Conv2d,
    /// NHWC: zero padding, the nine shifted views concatenated along channels (im2col) and one
    /// matrix product per layer; 2×2 max pooling as two pairwise maxima; bias and ReLU after the
    /// pool (both commute with the max, exactly). Same values, fewer passes over memory.
    ChannelsLast,
    /// `C × B × H × W` ("CNHW"): the nine shifted views of the zero-padded map stacked along the
    /// channel axis in one copy (blocks of whole rows), one `Cout × 9·Cin` by `9·Cin × B·H·W`
    /// product per layer, whose output is again CNHW; candle's `max_pool2d` on the CNHW map.
    Cnhw,
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
        let cl_weights = convs
            .iter()
            .map(|(w, _)| {
                let (cout, cin, kh, kw) = w.dims4()?;
                // (Cout, Cin, kh, kw) -> (kh, kw, Cin, Cout) -> (kh·kw·Cin, Cout)
                w.permute((2, 3, 1, 0))?
                    .contiguous()?
                    .reshape((kh * kw * cin, cout))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let cnhw_weights = convs
            .iter()
            .map(|(w, _)| {
                let (cout, cin, kh, kw) = w.dims4()?;
                // (Cout, Cin, kh, kw) -> (Cout, kh, kw, Cin) -> (Cout, kh·kw·Cin)
                w.permute((0, 2, 3, 1))?
                    .contiguous()?
                    .reshape((cout, kh * kw * cin))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            cnhw_weights,
            convs,
            fc_w: get("fc.weight")?,
            fc_b: get("fc.bias")?,
            expose_linear_head: true,
            forward: Forward::Conv2d,
            cl_weights,
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
        let cl_weights = self
            .cl_weights
            .iter()
            .map(|w| w.to_dtype(dtype))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let cnhw_weights = self
            .cnhw_weights
            .iter()
            .map(|w| w.to_dtype(dtype))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            cnhw_weights,
            convs,
            fc_w: self.fc_w.to_dtype(dtype)?,
            fc_b: self.fc_b.to_dtype(dtype)?,
            expose_linear_head: self.expose_linear_head,
            forward: self.forward,
            cl_weights,
        })
    }
}

fn conv_relu(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let c = b.dim(0)?;
    x.conv2d(w, 1, 1, 1, 1)?
        .broadcast_add(&b.reshape((1, c, 1, 1))?)?
        .relu()
}

/// 3×3 convolution, padding 1, channels-last: `B × H × W × Cin` to `B·H·W × Cout` (no bias).
fn conv3x3_nhwc(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, wd, c) = x.dims4()?;
    let xp = x.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
    let mut shifted = Vec::with_capacity(9);
    for dy in 0..3 {
        for dx in 0..3 {
            shifted.push(xp.narrow(1, dy, h)?.narrow(2, dx, wd)?.contiguous()?);
        }
    }
    let cols = Tensor::cat(&shifted, 3)?.reshape((b * h * wd, 9 * c))?;
    cols.matmul(w)
}

/// 2×2 max pool of `B·H·W × C` rows holding a `B × H × W × C` map: `B × H/2 × W/2 × C`.
fn max_pool2_nhwc(y: &Tensor, (b, h, w): (usize, usize, usize)) -> candle_core::Result<Tensor> {
    let c = y.dim(1)?;
    let pairs = y.reshape((b * h, w / 2, 2 * c))?;
    let cols = pairs.narrow(2, 0, c)?.maximum(&pairs.narrow(2, c, c)?)?;
    let rows = cols.reshape((b * h / 2, 2, (w / 2) * c))?;
    rows.narrow(1, 0, 1)?
        .maximum(&rows.narrow(1, 1, 1)?)?
        .reshape((b, h / 2, w / 2, c))
}

/// 3×3 convolution, padding 1, on a `C × B × H × W` map: `Cout × B × H × W` (no bias).
fn conv3x3_cnhw(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (c, b, h, wd) = x.dims4()?;
    let cout = w.dim(0)?;
    let xp = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
    let mut shifted = Vec::with_capacity(9);
    for dy in 0..3 {
        for dx in 0..3 {
            shifted.push(xp.narrow(2, dy, h)?.narrow(3, dx, wd)?);
        }
    }
    let cols = Tensor::cat(&shifted, 0)?.reshape((9 * c, b * h * wd))?;
    w.matmul(&cols)?.reshape((cout, b, h, wd))
}

impl CeodNetS {
    fn features_cnhw(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, cin, h, w) = xs.dims4()?;
        let mut x = if cin == 1 {
            xs.reshape((1, b, h, w))?
        } else {
            xs.transpose(0, 1)?.contiguous()?
        };
        for (i, ((_, bias), wm)) in self.convs.iter().zip(&self.cnhw_weights).enumerate() {
            let y = conv3x3_cnhw(&x, wm)?;
            let y = if i < 3 { y.max_pool2d(2)? } else { y };
            let c = bias.dim(0)?;
            x = y.broadcast_add(&bias.reshape((c, 1, 1, 1))?)?.relu()?;
        }
        x.transpose(0, 1)?.contiguous()
    }

    fn features_channels_last(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (b, cin, h, w) = xs.dims4()?;
        let mut x = if cin == 1 {
            xs.reshape((b, h, w, 1))?
        } else {
            xs.permute((0, 2, 3, 1))?.contiguous()?
        };
        let (mut h, mut w) = (h, w);
        for (i, ((_, bias), wm)) in self.convs.iter().zip(&self.cl_weights).enumerate() {
            let y = conv3x3_nhwc(&x, wm)?;
            let c = y.dim(1)?;
            x = if i < 3 {
                let p = max_pool2_nhwc(&y, (b, h, w))?;
                h /= 2;
                w /= 2;
                p
            } else {
                y.reshape((b, h, w, c))?
            };
            x = x.broadcast_add(bias)?.relu()?;
        }
        x.permute((0, 3, 1, 2))?.contiguous()
    }
}

impl CamModel for CeodNetS {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self.forward {
            Forward::ChannelsLast => return self.features_channels_last(xs),
            Forward::Cnhw => return self.features_cnhw(xs),
            Forward::Conv2d => {}
        }
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
