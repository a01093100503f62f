//! An inference-only forward pass of [`CeodNet`] with a faster 3×3 convolution.
//!
//! A private piece of ceod-infer (see the crate docs): candle 0.11.1's CPU `conv2d` builds its
//! im2col tiles element by element and spends most of its time there (for ceodnet-s at batch 1
//! about 3× the CPU time of the matrix products). Here a 3×3, padding 1 convolution is one
//! matrix product on a column matrix made of 9 shifted views of the zero-padded input
//! (`pad` + `narrow` + `stack`: row copies, no per-element index arithmetic):
//! `out[b] = W · col[b] + bias`, with `W` the PyTorch weight reshaped to `C_out × (C_in·9)` and
//! `col[b]` of shape `(C_in·9) × (H·W)`, row `ci·9 + kh·3 + kw` being the input channel `ci`
//! shifted by `(kh − 1, kw − 1)`. The output is NCHW directly. ReLU, ceod-core's
//! [`max_pool`], the global average pool and the linear head are ceod-core's operations.
//!
//! The same weights, the same operations in the same order, except for the summation order
//! inside the convolution: logits agree with `CeodNet::forward` to float rounding (tested).

use candle_core::{Module, Result, Tensor};
use ceod_core::{CeodNet, ModelConfig, max_pool};
use ceod_gradcam::{CamModel, LinearHead};

/// Images per pass through the conv blocks (see [`FastNet`]'s `features`).
pub const CHUNK: usize = 4;

/// One conv block: the weight as `C_out × (C_in·9)`, the bias as `1 × C_out × 1`, and whether
/// a max pool follows.
#[derive(Debug, Clone)]
struct Block {
    weight: Tensor,
    bias: Tensor,
    pool: bool,
}

/// [`CeodNet`]'s weights arranged for the fast forward pass; implements [`Module`] (logits) and
/// [`CamModel`] (features and head), like `CeodNet`.
#[derive(Debug, Clone)]
pub struct FastNet {
    blocks: Vec<Block>,
    pool_size: usize,
    fc_weight: Tensor,
    fc_bias: Tensor,
}

/// 3×3, stride 1, padding 1 convolution of `x` (`B × C_in × H × W`) with `weight`
/// (`C_out × C_in·9`) and `bias` (`1 × C_out × 1`), as one batched matrix product.
fn conv3x3(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (b, cin, h, w) = x.dims4()?;
    let cout = weight.dim(0)?;
    let xp = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
    let mut views = Vec::with_capacity(9);
    for kh in 0..3 {
        for kw in 0..3 {
            views.push(xp.narrow(2, kh, h)?.narrow(3, kw, w)?);
        }
    }
    let col = Tensor::stack(&views, 2)?.reshape((b, cin * 9, h * w))?;
    weight
        .broadcast_left(b)?
        .matmul(&col)?
        .broadcast_add(bias)?
        .reshape((b, cout, h, w))
}

impl FastNet {
    /// The fast forward pass for `net` (its weights are shared, not copied, where possible).
    ///
    /// # Errors
    /// A parameter missing from `net` or of an unexpected shape.
    pub fn new(net: &CeodNet) -> Result<Self> {
        let cfg: &ModelConfig = net.config();
        let tensors = net.named_tensors();
        let get = |name: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.detach())
                .ok_or_else(|| candle_core::Error::Msg(format!("CeodNet has no `{name}`")))
        };
        let mut blocks = Vec::with_capacity(cfg.widths.len());
        for (i, (&width, &pool)) in cfg.widths.iter().zip(&cfg.pool).enumerate() {
            let w = get(&format!("conv{}.weight", i + 1))?;
            let (cout, _, kh, kw) = w.dims4()?;
            if (kh, kw) != (3, 3) || cout != width {
                candle_core::bail!(
                    "conv{}: expected a {width}×C×3×3 weight, got {:?}",
                    i + 1,
                    w.dims()
                );
            }
            let bias = match get(&format!("conv{}.bias", i + 1)) {
                Ok(b) => b.reshape((1, cout, 1))?,
                Err(_) => Tensor::zeros((1, cout, 1), w.dtype(), w.device())?,
            };
            blocks.push(Block {
                weight: w.reshape((cout, ()))?.contiguous()?,
                bias,
                pool,
            });
        }
        let fc_weight = get("fc.weight")?;
        let fc_bias = match get("fc.bias") {
            Ok(b) => b,
            Err(_) => Tensor::zeros(fc_weight.dim(0)?, fc_weight.dtype(), fc_weight.device())?,
        };
        Ok(Self {
            blocks,
            pool_size: cfg.pool_size,
            fc_weight,
            fc_bias,
        })
    }
}

impl FastNet {
    /// The conv blocks on at most [`CHUNK`] images at a time.
    fn features_chunk(&self, xs: &Tensor) -> Result<Tensor> {
        let mut x = xs.clone();
        for b in &self.blocks {
            x = conv3x3(&x, &b.weight, &b.bias)?.relu()?;
            if b.pool {
                x = max_pool(&x, self.pool_size)?;
            }
        }
        Ok(x)
    }
}

impl CamModel for FastNet {
    /// The conv blocks, [`CHUNK`] images at a time: the column matrices stay small (a batch of
    /// 32 at 128×128 would need 75 MB for the second block, allocated and page-faulted anew on
    /// every call), and batches of any size give the same features as single images.
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        let b = xs.dim(0)?;
        let chunk = CHUNK;
        if b <= chunk {
            return self.features_chunk(xs);
        }
        let parts = (0..b)
            .step_by(chunk)
            .map(|start| self.features_chunk(&xs.narrow(0, start, chunk.min(b - start))?))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)
    }

    fn head(&self, features: &Tensor) -> Result<Tensor> {
        features
            .mean((2, 3))?
            .matmul(&self.fc_weight.t()?)?
            .broadcast_add(&self.fc_bias)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead {
            weight: self.fc_weight.clone(),
            bias: Some(self.fc_bias.clone()),
        })
    }
}

impl Module for FastNet {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.head(&self.features(xs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let scale = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1e-12);
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        d / scale
    }

    #[test]
    fn logits_features_and_cams_agree_with_ceodnet() {
        let dev = Device::Cpu;
        let configs = [
            (ModelConfig::ceodnet_s(), (2, 1, 48, 64)),
            (
                ModelConfig {
                    in_channels: 3,
                    widths: vec![8, 12, 5],
                    pool: vec![true, false, true],
                    pool_size: 3,
                    num_outputs: 4,
                },
                (3, 3, 27, 20),
            ),
        ];
        for (cfg, shape) in configs {
            let (net, _) = CeodNet::seeded(&cfg, 5, DType::F32, &dev).unwrap();
            let fast = FastNet::new(&net).unwrap();
            let x = Tensor::rand(-1f32, 1f32, shape, &dev).unwrap();
            let fa = fast.features(&x).unwrap();
            let na = net.features(&x).unwrap();
            assert_eq!(fa.dims(), na.dims());
            assert!(max_rel_diff(&fa, &na) < 1e-5, "features {cfg:?}");
            let fl = fast.forward(&x).unwrap();
            let nl = net.forward(&x).unwrap();
            assert_eq!(fl.dims(), nl.dims());
            assert!(max_rel_diff(&fl, &nl) < 1e-5, "logits {cfg:?}");
        }
    }

    #[test]
    fn a_batch_larger_than_a_chunk_gives_the_features_of_its_images() {
        let dev = Device::Cpu;
        let (net, _) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 2, DType::F32, &dev).unwrap();
        let fast = FastNet::new(&net).unwrap();
        let n = 2 * CHUNK + 1;
        let x = Tensor::rand(0f32, 1f32, (n, 1, 16, 24), &dev).unwrap();
        let all = fast.features(&x).unwrap();
        assert_eq!(all.dims(), &[n, 64, 2, 3]);
        for i in [0, CHUNK, n - 1] {
            let one = fast.features(&x.narrow(0, i, 1).unwrap()).unwrap();
            let d = max_rel_diff(&all.narrow(0, i, 1).unwrap(), &one);
            assert!(d < 1e-6, "image {i}: {d}");
        }
    }

    #[test]
    fn conv_matches_a_direct_sum() {
        let dev = Device::Cpu;
        let (b, cin, h, w, cout) = (2, 3, 5, 4, 2);
        let x = Tensor::rand(-1f32, 1f32, (b, cin, h, w), &dev).unwrap();
        let k = Tensor::rand(-1f32, 1f32, (cout, cin, 3, 3), &dev).unwrap();
        let bias = Tensor::new(&[0.25f32, -0.5], &dev).unwrap();
        let y = conv3x3(
            &x,
            &k.reshape((cout, ())).unwrap(),
            &bias.reshape((1, cout, 1)).unwrap(),
        )
        .unwrap();
        let yv: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let xv: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let kv: Vec<f32> = k.flatten_all().unwrap().to_vec1().unwrap();
        let bv = [0.25f32, -0.5];
        for bi in 0..b {
            for co in 0..cout {
                for i in 0..h {
                    for j in 0..w {
                        let mut s = f64::from(bv[co]);
                        for ci in 0..cin {
                            for kh in 0..3 {
                                for kw in 0..3 {
                                    let (ii, jj) = (i as i64 + kh - 1, j as i64 + kw - 1);
                                    if ii < 0 || jj < 0 || ii >= h as i64 || jj >= w as i64 {
                                        continue;
                                    }
                                    let xi = ((bi * cin + ci) * h + ii as usize) * w + jj as usize;
                                    let ki = ((co * cin + ci) * 3 + kh as usize) * 3 + kw as usize;
                                    s += f64::from(xv[xi]) * f64::from(kv[ki]);
                                }
                            }
                        }
                        let got = f64::from(yv[((bi * cout + co) * h + i) * w + j]);
                        assert!((got - s).abs() < 1e-5, "({bi},{co},{i},{j}): {got} vs {s}");
                    }
                }
            }
        }
    }
}
