//! The pieces of a CEOD step that ceod-core adds around the network, side by side in one run:
//!
//! - `pool`: 2×2 max pooling of a conv1-sized activation (8×16×128×128), forward + backward:
//!   candle's `max_pool2d` (whose backward is wrong, DESIGN.md §2), ceod-core's CPU custom op and
//!   its tensor-op version (the path off the CPU);
//! - `loss`: ceodnet-s at batch 8, 1×128×128, forward + backward of BCE alone, of CEOD in `soft`
//!   mode and (with `--features overlap`) in `straight-through` mode (exact polygons from
//!   ceod-geometry): the ratio is the cost of the overlap term.
//!
//! `cargo bench -p ceod-core --bench loss_terms [--features overlap]`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use candle_core::{DType, Device, Module, Tensor, Var};
use ceod_core::{
    BceOptions, CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets,
    bce_with_logits, ceod_loss, max_pool, max_pool_tensor_ops,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn pool(c: &mut Criterion) {
    let x = Var::from_tensor(&Tensor::rand(0f32, 1., (8, 16, 128, 128), &Device::Cpu).unwrap())
        .unwrap();
    let mut g = c.benchmark_group("pool");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("candle_max_pool2d", |b| {
        b.iter(|| {
            x.as_tensor()
                .max_pool2d(2)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        })
    });
    g.bench_function("ceod_custom_op", |b| {
        b.iter(|| {
            max_pool(x.as_tensor(), 2)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        })
    });
    g.bench_function("ceod_tensor_ops", |b| {
        b.iter(|| {
            max_pool_tensor_ops(x.as_tensor(), 2)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        })
    });
    g.finish();
}

fn loss(c: &mut Criterion) {
    let dev = Device::Cpu;
    let (net, _vm) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &dev).unwrap();
    let b = 8;
    let images = Tensor::rand(0f32, 1., (b, 1, 128, 128), &dev).unwrap();
    let labels = Tensor::from_vec((0..b).map(|i| (i % 2) as f32).collect(), b, &dev).unwrap();
    let m: Vec<f32> = (0..b * 128 * 128)
        .map(|i| f32::from(u8::from((i % 128) < 64 && (i / 128) % 128 < 80)))
        .collect();
    let input = CeodInput {
        images: images.clone(),
        targets: Targets::Binary(labels.clone()),
        masks: Some(Tensor::from_vec(m, (b, 128, 128), &dev).unwrap()),
        has_mask: None,
    };
    let mut g = c.benchmark_group("loss_b8");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("bce", |bn| {
        bn.iter(|| {
            let logits = net.forward(&images).unwrap();
            bce_with_logits(&logits, &labels, &BceOptions::default())
                .unwrap()
                .backward()
                .unwrap()
        })
    });
    let soft = CeodOptions {
        mode: OverlapMode::Soft,
        report_exact: false,
        ..Default::default()
    };
    g.bench_function("ceod_soft", |bn| {
        bn.iter(|| {
            ceod_loss(&net, &input, &soft)
                .unwrap()
                .total
                .backward()
                .unwrap()
        })
    });
    if cfg!(feature = "overlap") {
        let st = CeodOptions::default();
        g.bench_function("ceod_straight_through", |bn| {
            bn.iter(|| {
                ceod_loss(&net, &input, &st)
                    .unwrap()
                    .total
                    .backward()
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pool, loss);
criterion_main!(benches);
