//! Grad-CAM in explain mode for a batch of 32 single-channel 128×128 images on ceodnet-s
//! (DESIGN.md §3), the workload of `../shared/bench-ref` rows 3 and 3b.
//!
//! `cargo bench -p ceod-gradcam`; weights from `../shared/fixtures/weights_bce20.safetensors`
//! when present (else a seeded init: the timing does not depend on the values).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use ceod_gradcam::{
    CamModel, CamOptions, NormaliseOptions, Target, cam_to_image, explain, explain_features,
};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use support::ceodnet::{CeodNetS, Forward};

fn model_and_batch() -> (CeodNetS, Tensor) {
    let dev = Device::Cpu;
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let weights = dir.join("weights_bce20.safetensors");
    let batch = dir.join("batch.safetensors");
    if weights.is_file() && batch.is_file() {
        let model = CeodNetS::load(&weights, &dev).unwrap();
        let images = candle_core::safetensors::load(&batch, &dev).unwrap()["images"].clone();
        (model, images)
    } else {
        eprintln!(
            "fixtures not found in {}: seeded weights and images",
            dir.display()
        );
        let model = CeodNetS::seeded(0, 1, DType::F32, &dev).unwrap();
        let images = support::SplitMix64(1)
            .tensor(&[32, 1, 128, 128], 1.0, DType::F32, &dev)
            .unwrap()
            .abs()
            .unwrap();
        (model, images)
    }
}

fn bench(c: &mut Criterion) {
    let (model, xs) = model_and_batch();
    let opts = CamOptions::default();
    let mut g = c.benchmark_group("gradcam_b32_1x128x128");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(3));

    let mut cnhw = model.clone();
    cnhw.forward = Forward::Cnhw;
    let mut cnhw_backward = cnhw.clone();
    cnhw_backward.expose_linear_head = false;
    g.bench_function("explain, conv2d forward, analytic alpha", |b| {
        b.iter(|| explain(&model, &xs, &Target::Binary, &opts).unwrap())
    });
    g.bench_function("explain, CNHW forward, analytic alpha", |b| {
        b.iter(|| explain(&cnhw, &xs, &Target::Binary, &opts).unwrap())
    });
    g.bench_function("explain, CNHW forward, backward to A", |b| {
        b.iter(|| explain(&cnhw_backward, &xs, &Target::Binary, &opts).unwrap())
    });
    g.bench_function("features only, CNHW forward", |b| {
        b.iter(|| cnhw.features(&xs).unwrap())
    });
    let a = cnhw.features(&xs).unwrap();
    g.bench_function("cam from features, analytic alpha", |b| {
        b.iter(|| explain_features(&cnhw, &a, &Target::Binary, (128, 128), &opts).unwrap())
    });
    g.bench_function("cam from features, backward to A", |b| {
        b.iter(|| explain_features(&cnhw_backward, &a, &Target::Binary, (128, 128), &opts).unwrap())
    });
    let raw = explain_features(&cnhw, &a, &Target::Binary, (128, 128), &opts)
        .unwrap()
        .raw;
    g.bench_function("upsample + normalise", |b| {
        b.iter(|| cam_to_image(&raw, (128, 128), &NormaliseOptions::default()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
