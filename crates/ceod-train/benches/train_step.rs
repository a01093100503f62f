//! One training step (forward, backward, AdamW) of ceodnet-s on a batch of 32 grey 128×128
//! images — the workload of `../shared/bench-ref` rows 1 and 2: BCE only, and CEOD
//! (straight-through: the exact polygon value, the soft gradient; and soft alone, the
//! reference's own CEOD step).
//!
//! `cargo bench -p ceod-train --bench train_step`; the batch is `../shared/fixtures/batch.safetensors`
//! when present (`CEOD_FIXTURES` overrides the folder), else synthetic conveyor images.
//! `benches/torch_steps.py` times the PyTorch reference's steps on the same machine.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use ceod_core::{CeodNet, CeodOptions, ModelConfig, OverlapMode};
use ceod_train::adamw::{AdamW, AdamWParams};
use ceod_train::dataset::BatchTensors;
use ceod_train::step::train_step;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

fn batch(dev: &Device) -> BatchTensors {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let path = dir.join("batch.safetensors");
    let (images, masks, labels) = if path.is_file() {
        let t = candle_core::safetensors::load(&path, dev).unwrap();
        (
            t["images"].to_dtype(DType::F32).unwrap(),
            t["masks"].to_dtype(DType::F32).unwrap(),
            t["labels"].to_dtype(DType::F32).unwrap(),
        )
    } else {
        eprintln!(
            "fixtures not found in {}: synthetic conveyor images",
            dir.display()
        );
        let cfg = ceod_core::synth::SynthConfig {
            n: 32,
            ..Default::default()
        };
        let s = ceod_core::synth::generate(&cfg).unwrap();
        let img: Vec<f32> = s.iter().flat_map(|x| x.image.clone()).collect();
        let msk: Vec<f32> = s
            .iter()
            .flat_map(|x| x.mask.iter().map(|&m| f32::from(m)))
            .collect();
        let lab: Vec<f32> = s.iter().map(|x| x.label as f32).collect();
        (
            Tensor::from_vec(img, (32, 1, 128, 128), dev).unwrap(),
            Tensor::from_vec(msk, (32, 128, 128), dev).unwrap(),
            Tensor::from_vec(lab, 32, dev).unwrap(),
        )
    };
    let mv = masks
        .flatten_from(1)
        .unwrap()
        .max(1)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let label_values = labels
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|&l| u8::from(l > 0.5))
        .collect();
    let class_values: Vec<usize> = labels
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|&l| usize::from(l > 0.5))
        .collect();
    BatchTensors {
        images,
        masks,
        classes: labels.to_dtype(DType::U32).unwrap(),
        labels,
        has_mask: mv.iter().map(|&m| m > 0.5).collect(),
        label_values,
        class_values,
    }
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let b = batch(&dev);
    let mut g = c.benchmark_group("train_step_b32_128");
    // a step takes seconds: the same number of iterations in every sample
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(20));
    let cases = [
        (
            "bce",
            CeodOptions {
                omega: 0.0,
                ..Default::default()
            },
        ),
        (
            "ceod_straight_through",
            CeodOptions {
                mode: OverlapMode::StraightThrough,
                ..Default::default()
            },
        ),
        (
            "ceod_soft",
            CeodOptions {
                mode: OverlapMode::Soft,
                report_exact: false,
                ..Default::default()
            },
        ),
    ];
    for (name, opts) in cases {
        let (net, varmap) =
            CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &dev).unwrap();
        let vars = varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut opt = AdamW::new(vars, AdamWParams::default()).unwrap();
        g.bench_function(name, |bench| {
            bench.iter(|| train_step(&net, &mut opt, &b, &opts).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
