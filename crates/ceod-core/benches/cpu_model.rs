//! ceodnet-s on the CPU, candle's kernels against the fast path of `ceod_core::cpu`, side by side:
//! inference (no gradient), the BCE training step and the CEOD (soft) training step, each at
//! batch 1 and 32, 1×128×128 — the rows of `../shared/bench-ref/ANCHORS.md`.
//!
//! `cargo bench -p ceod-core --bench cpu_model` (filter e.g. `-- b32`). The batch is
//! `../shared/fixtures/batch.safetensors` when present (`CEOD_FIXTURES` overrides the folder),
//! else synthetic conveyor images. Both nets share one set of seeded weights; the "candle" net is
//! the model as it was before the fast path (candle `conv2d` + bias + ReLU, the same max pool).
//! A training step is forward, loss, backward and an Adam step (lr 1e-3, no weight decay).
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

#[path = "support/batch.rs"]
mod support;
use support::batch;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, Optimizer, ParamsAdamW};
use ceod_core::cpu::{ConvOptions, conv2d};
use ceod_core::{
    BceOptions, CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets,
    bce_with_logits, ceod_loss, max_pool,
};
use ceod_gradcam::{CamModel, LinearHead};
use criterion::{Criterion, criterion_group, criterion_main};

/// ceodnet-s written out, on candle's kernels or on the fast ones.
struct Net {
    convs: Vec<(Tensor, Tensor)>,
    pool: Vec<bool>,
    fc: Linear,
    fast: bool,
}

impl Net {
    fn new(net: &CeodNet, fast: bool, trainable: bool) -> Self {
        let t: Vec<Tensor> = net
            .named_tensors()
            .into_iter()
            .map(|(_, t)| if trainable { t } else { t.detach() })
            .collect();
        let n = t.len() / 2 - 1;
        Self {
            convs: (0..n)
                .map(|i| (t[2 * i].clone(), t[2 * i + 1].clone()))
                .collect(),
            pool: net.config().pool.clone(),
            fc: Linear::new(t[2 * n].clone(), Some(t[2 * n + 1].clone())),
            fast,
        }
    }
}

impl CamModel for Net {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = xs.clone();
        for ((w, b), &p) in self.convs.iter().zip(&self.pool) {
            x = if self.fast {
                let o = if p {
                    ConvOptions::same_relu_pool(2)
                } else {
                    ConvOptions::same_relu()
                };
                conv2d(&x, w, Some(b), o)?
            } else {
                let y = x
                    .conv2d(w, 1, 1, 1, 1)?
                    .broadcast_add(&b.reshape((1, (), 1, 1))?)?
                    .relu()?;
                if p { max_pool(&y, 2)? } else { y }
            };
        }
        Ok(x)
    }

    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.mean((2, 3))?.apply(&self.fc)
    }

    fn linear_head(&self) -> Option<LinearHead> {
        Some(LinearHead {
            weight: self.fc.weight().clone(),
            bias: self.fc.bias().cloned(),
        })
    }
}

impl Module for Net {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.head(&self.features(xs)?)
    }
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let (images, masks, labels) = batch(&dev);
    let mut g = c.benchmark_group("ceodnet_s_128");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    for bsz in [1usize, 32] {
        let x = images.narrow(0, 0, bsz).unwrap();
        let input = CeodInput {
            images: x.clone(),
            targets: Targets::Binary(labels.narrow(0, 0, bsz).unwrap()),
            masks: Some(masks.narrow(0, 0, bsz).unwrap()),
            has_mask: None,
        };
        for (kernels, fast) in [("candle", false), ("ceod", true)] {
            let (net, varmap) =
                CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &dev).unwrap();
            let infer = Net::new(&net, fast, false);
            g.bench_function(format!("forward/b{bsz}/{kernels}"), |bn| {
                bn.iter(|| infer.forward(&x).unwrap())
            });

            let train = Net::new(&net, fast, true);
            let params = ParamsAdamW {
                weight_decay: 0.0,
                ..Default::default()
            };
            let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params).unwrap();
            let bce = BceOptions::default();
            let Targets::Binary(t) = &input.targets else {
                unreachable!()
            };
            g.bench_function(format!("train_bce/b{bsz}/{kernels}"), |bn| {
                bn.iter(|| {
                    let loss = bce_with_logits(&train.forward(&x).unwrap(), t, &bce).unwrap();
                    opt.backward_step(&loss).unwrap();
                })
            });
            let opts = CeodOptions {
                mode: OverlapMode::Soft,
                report_exact: false,
                ..Default::default()
            };
            g.bench_function(format!("train_ceod_soft/b{bsz}/{kernels}"), |bn| {
                bn.iter(|| {
                    let out = ceod_loss(&train, &input, &opts).unwrap();
                    opt.backward_step(&out.total).unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
