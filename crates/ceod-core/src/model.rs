//! `CeodNet`: conv3x3 → ReLU → [max pool] blocks, global average pool, linear.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarBuilder, VarMap};
use ceod_gradcam::{CamModel, LinearHead};
use serde::{Deserialize, Serialize};

use crate::cpu::{ConvOptions, conv2d};
use crate::error::CoreError;

/// The architecture of a [`CeodNet`]; serialisable, it is stored in the checkpoint's model card.
///
/// Block `i` is `conv{i+1}` (3×3, padding 1, `widths[i]` output channels) → ReLU → a `pool_size`
/// max pool if `pool[i]`. The target layer of the CAM is the last block's output. Then a global
/// average pool and `fc` (`widths.last() → num_outputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Input channels (1 grey, 3 RGB).
    pub in_channels: usize,
    /// Output channels of each conv block.
    pub widths: Vec<usize>,
    /// Whether each block ends with a max pool (same length as `widths`).
    pub pool: Vec<bool>,
    /// Window and stride of the max pools.
    pub pool_size: usize,
    /// Number of logits: 1 for binary (sigmoid) models, `C ≥ 2` for softmax models.
    pub num_outputs: usize,
}

impl Default for ModelConfig {
    /// The `ceodnet-s` preset.
    fn default() -> Self {
        Self::ceodnet_s()
    }
}

impl ModelConfig {
    /// The names of the presets [`ModelConfig::preset`] knows.
    pub const PRESETS: &'static [&'static str] = &["ceodnet-s"];

    /// `ceodnet-s`: 1 input channel, widths 16, 32, 64, 64, pools after the first three blocks,
    /// one output (the target layer is `64 × 16 × 16` for a 128×128 input).
    pub fn ceodnet_s() -> Self {
        Self {
            in_channels: 1,
            widths: vec![16, 32, 64, 64],
            pool: vec![true, true, true, false],
            pool_size: 2,
            num_outputs: 1,
        }
    }

    /// A preset by name (`ceodnet-s`).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for an unknown name.
    pub fn preset(name: &str) -> Result<Self, CoreError> {
        match name {
            "ceodnet-s" => Ok(Self::ceodnet_s()),
            _ => Err(CoreError::InvalidConfig(format!(
                "unknown model preset `{name}` (known: {})",
                Self::PRESETS.join(", ")
            ))),
        }
    }

    /// Checks that the config describes a network.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] when a size is 0 or `pool` and `widths` differ in length.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: String| Err(CoreError::InvalidConfig(m));
        if self.in_channels == 0 || self.num_outputs == 0 {
            return bad("in_channels and num_outputs must be at least 1".into());
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            return bad(format!(
                "widths must be non-empty and positive, got {:?}",
                self.widths
            ));
        }
        if self.pool.len() != self.widths.len() {
            return bad(format!(
                "pool has {} entries, widths has {}",
                self.pool.len(),
                self.widths.len()
            ));
        }
        if self.pool_size == 0 {
            return bad("pool_size must be at least 1".into());
        }
        Ok(())
    }

    /// Every parameter's name and shape (PyTorch layouts), in the model's order:
    /// `conv1.weight` `[w1, in, 3, 3]`, `conv1.bias` `[w1]`, …, `fc.weight` `[C, w_last]`,
    /// `fc.bias` `[C]`.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::with_capacity(2 * self.widths.len() + 2);
        let mut cin = self.in_channels;
        for (i, &w) in self.widths.iter().enumerate() {
            out.push((format!("conv{}.weight", i + 1), vec![w, cin, 3, 3]));
            out.push((format!("conv{}.bias", i + 1), vec![w]));
            cin = w;
        }
        out.push(("fc.weight".into(), vec![self.num_outputs, cin]));
        out.push(("fc.bias".into(), vec![self.num_outputs]));
        out
    }

    /// Size `(h, w)` of the target layer for an `height × width` input (each pool floors).
    pub fn feature_size(&self, height: usize, width: usize) -> (usize, usize) {
        let k = self.pool_size.max(1);
        self.pool
            .iter()
            .filter(|&&p| p)
            .fold((height, width), |(h, w), _| (h / k, w / k))
    }

    /// Channels of the target layer (the last width).
    pub fn feature_channels(&self) -> usize {
        self.widths.last().copied().unwrap_or(self.in_channels)
    }
}

/// How [`CeodNet::seeded_with`] initialises the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightInit {
    /// PyTorch's default for `Conv2d`/`Linear`: weights and biases uniform in `±1/sqrt(fan_in)`
    /// (what the fixtures use). Each conv + ReLU block then shrinks the signal's second moment
    /// about six-fold, so a deep stack starts with a nearly constant output.
    #[default]
    PyTorchDefault,
    /// Kaiming (He) uniform for the convolutions, `±sqrt(6/fan_in)`, which keeps the second
    /// moment through conv + ReLU; the linear head as PyTorch's default; every bias zero.
    KaimingUniform,
}

/// The CEOD network: conv blocks, global average pool, linear; see [`ModelConfig`].
///
/// Its tensors are named `conv1.weight`, `conv1.bias`, …, `fc.weight`, `fc.bias` in PyTorch
/// layouts, so PyTorch weights with those names load as they are.
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// use ceod_core::{CeodNet, ModelConfig};
///
/// let (net, _varmap) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 7, DType::F32, &Device::Cpu)?;
/// let x = Tensor::zeros((2, 1, 32, 32), DType::F32, &Device::Cpu)?;
/// assert_eq!(net.forward(&x)?.dims(), &[2, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CeodNet {
    config: ModelConfig,
    convs: Vec<Conv2d>,
    fc: Linear,
}

impl CeodNet {
    /// Builds the network from a `VarBuilder` (`vb.pp("conv1")`, …, `vb.pp("fc")`), candle style.
    ///
    /// From a fresh `VarMap` the weights get candle's (unseeded) default init; use
    /// [`CeodNet::seeded`] for a deterministic one.
    ///
    /// # Errors
    /// An invalid config, or a tensor of the wrong shape in the builder's backend.
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> Result<Self, CoreError> {
        config.validate()?;
        let conv_cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let mut convs = Vec::with_capacity(config.widths.len());
        let mut cin = config.in_channels;
        for (i, &w) in config.widths.iter().enumerate() {
            convs.push(candle_nn::conv2d(
                cin,
                w,
                3,
                conv_cfg,
                vb.pp(format!("conv{}", i + 1)),
            )?);
            cin = w;
        }
        let fc = candle_nn::linear(cin, config.num_outputs, vb.pp("fc"))?;
        Ok(Self {
            config: config.clone(),
            convs,
            fc,
        })
    }

    /// A network with deterministic weights from `seed`, and the `VarMap` holding them (hand its
    /// `all_vars()` to an optimiser).
    ///
    /// The init is PyTorch's default for `Conv2d`/`Linear`: every weight and bias uniform in
    /// `±1/sqrt(fan_in)`, drawn from a SplitMix64 generator in parameter order
    /// ([`WeightInit::PyTorchDefault`]; [`CeodNet::seeded_with`] for the other).
    ///
    /// # Errors
    /// An invalid config or a tensor error.
    pub fn seeded(
        config: &ModelConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, VarMap), CoreError> {
        Self::seeded_with(config, seed, WeightInit::PyTorchDefault, dtype, device)
    }

    /// [`CeodNet::seeded`] with a choice of initialisation.
    ///
    /// ```
    /// use candle_core::{DType, Device};
    /// use ceod_core::{CeodNet, ModelConfig, WeightInit};
    ///
    /// let cfg = ModelConfig::ceodnet_s();
    /// let (net, _vm) = CeodNet::seeded_with(&cfg, 0, WeightInit::KaimingUniform, DType::F32, &Device::Cpu)?;
    /// let b = net.named_tensors()[1].1.abs()?.sum_all()?.to_scalar::<f32>()?;
    /// assert_eq!(b, 0.0); // conv1.bias starts at zero
    /// # Ok::<(), ceod_core::CoreError>(())
    /// ```
    ///
    /// # Errors
    /// An invalid config or a tensor error.
    pub fn seeded_with(
        config: &ModelConfig,
        seed: u64,
        init: WeightInit,
        dtype: DType,
        device: &Device,
    ) -> Result<(Self, VarMap), CoreError> {
        config.validate()?;
        let varmap = VarMap::new();
        let mut rng = SplitMix64(seed);
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| CoreError::InvalidInput("VarMap lock poisoned".into()))?;
            // Weights come before their bias in parameter order; a bias shares its weight's fan-in.
            let mut fan_in = 1;
            for (name, shape) in config.parameter_shapes() {
                if name.ends_with(".weight") {
                    fan_in = shape[1..].iter().product();
                }
                let n: usize = shape.iter().product();
                let default_bound = 1.0 / (fan_in as f64).sqrt();
                let bound = match init {
                    WeightInit::PyTorchDefault => default_bound,
                    WeightInit::KaimingUniform if name.ends_with(".bias") => 0.0,
                    // He et al.: Var = 2 / fan_in keeps the second moment through conv + ReLU
                    WeightInit::KaimingUniform if name.starts_with("conv") => {
                        (6.0 / fan_in as f64).sqrt()
                    }
                    WeightInit::KaimingUniform => default_bound,
                };
                let values: Vec<f64> = (0..n)
                    .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
                    .collect();
                let t = Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?;
                data.insert(name, candle_core::Var::from_tensor(&t)?);
            }
        }
        let net = Self::new(config, VarBuilder::from_varmap(&varmap, dtype, device))?;
        Ok((net, varmap))
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Every parameter tensor with its name, in [`ModelConfig::parameter_shapes`] order.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.convs.len() + 2);
        for (i, c) in self.convs.iter().enumerate() {
            out.push((format!("conv{}.weight", i + 1), c.weight().clone()));
            if let Some(b) = c.bias() {
                out.push((format!("conv{}.bias", i + 1), b.clone()));
            }
        }
        out.push(("fc.weight".into(), self.fc.weight().clone()));
        if let Some(b) = self.fc.bias() {
            out.push(("fc.bias".into(), b.clone()));
        }
        out
    }
}

impl CamModel for CeodNet {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        // On the CPU each block is one fused custom op (conv, bias, ReLU, pool; `crate::cpu`);
        // elsewhere candle's kernels and `max_pool`, with the same results.
        let mut x = xs.clone();
        for (conv, &pool) in self.convs.iter().zip(&self.config.pool) {
            let options = ConvOptions {
                padding: 1,
                relu: true,
                pool: pool.then_some(self.config.pool_size),
            };
            x = conv2d(&x, conv.weight(), conv.bias(), options)?;
        }
        Ok(x)
    }

    fn head(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        let pooled = features.mean((2, 3))?;
        if !pooled.device().is_cpu() {
            return self.head_matmul(&pooled);
        }
        // On the CPU the `B × K` by `K × C` product as a broadcast multiply and a sum: candle's
        // CPU matmul reads `/proc/cpuinfo` on every call (about 50 µs here, ten times this
        // product at batch 1), three times per training step (forward and both gradients).
        let y = pooled
            .unsqueeze(1)?
            .broadcast_mul(&self.fc.weight().unsqueeze(0)?)?
            .sum(2)?;
        match self.fc.bias() {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead {
            weight: self.fc.weight().clone(),
            bias: self.fc.bias().cloned(),
        })
    }
}

impl CeodNet {
    /// The linear head as candle's `Linear` (a matmul), the path of cuda and metal.
    fn head_matmul(&self, pooled: &Tensor) -> candle_core::Result<Tensor> {
        pooled.apply(&self.fc)
    }
}

impl Module for CeodNet {
    /// Logits `B × num_outputs` for images `B × in_channels × H × W`. (`ModuleT` comes with it
    /// through candle's blanket impl: the network has no dropout or batch norm.)
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.head(&self.features(xs)?)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, seedable, portable generator for the init.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use candle_core::{DType, Device, Tensor};

    use super::*;

    #[test]
    fn the_cpu_head_equals_the_matmul_head_with_its_gradients() {
        let mut cfg = ModelConfig::ceodnet_s();
        for outputs in [1, 3] {
            cfg.num_outputs = outputs;
            let (net, varmap) = CeodNet::seeded(&cfg, 7, DType::F32, &Device::Cpu).unwrap();
            let v: Vec<f32> = (0..2 * 64 * 3 * 2)
                .map(|i| ((i as f32) * 0.77).sin())
                .collect();
            let a = Tensor::from_vec(v, (2, 64, 3, 2), &Device::Cpu).unwrap();
            let pooled = a.mean((2, 3)).unwrap();
            let fast = net.head(&a).unwrap();
            let slow = net.head_matmul(&pooled).unwrap();
            let grads = |y: &Tensor| y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let (gf, gs) = (grads(&fast), grads(&slow));
            let d = (&fast - &slow)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5, "{outputs} outputs");
            for var in varmap.all_vars() {
                let (x, y) = (gf.get(var.as_tensor()), gs.get(var.as_tensor()));
                match (x, y) {
                    (Some(x), Some(y)) => {
                        let d = (x - y).unwrap().abs().unwrap().flatten_all().unwrap();
                        assert!(d.max(0).unwrap().to_scalar::<f32>().unwrap() < 1e-5);
                    }
                    (None, None) => {}
                    _ => panic!("a gradient on one path only"),
                }
            }
        }
    }
}
