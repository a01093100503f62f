//! Inference throughput of the `ceod-infer` engine on ceodnet-s, 128×128 grey (DESIGN.md §3): the
//! workload of `../shared/bench-ref` row 5 (PyTorch `model(x)` under `no_grad`, B = 1 and 32).
//!
//! - `forward/b1`, `forward/b32`: [`Engine::classify`] on prepared images: forward pass, sigmoid,
//!   decisions (PyTorch's row 5 measures the forward pass alone);
//! - `file_to_decision/b1`, `file_to_decision/b32`: PNG decoding and the card's preprocessing
//!   included (what the binary does per batch);
//! - `cam/b32`: `--cam-out`'s explain mode (features, CAM, scores; no file writing).
//!
//! `cargo bench -p ceod-infer --bench infer`; `benches/side_by_side.sh` runs it next to the
//! PyTorch reference. The weights are a seeded init (the timing does not depend on the values).
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use candle_core::{DType, Device};
use ceod_core::data::Split;
use ceod_core::synth::{SynthConfig, generate};
use ceod_core::{
    CeodNet, DeviceSpec, ModelCard, ModelConfig, PreparedImage, Preprocess, save_checkpoint,
};
use ceod_infer::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn setup() -> (tempfile::TempDir, Engine, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = CeodNet::seeded(&cfg, 0, DType::F32, &Device::Cpu).unwrap();
    let model = dir.path().join("ceodnet-s.safetensors");
    save_checkpoint(&model, &net, &ModelCard::new(cfg, Preprocess::default())).unwrap();
    let samples = generate(&SynthConfig::for_split(Split::Test, 32, 7)).unwrap();
    let paths: Vec<PathBuf> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.path().join(format!("{i:02}.png"));
            s.to_gray_image().save(&p).unwrap();
            p
        })
        .collect();
    let engine = Engine::load(&model, DeviceSpec::Cpu, None).unwrap();
    (dir, engine, paths)
}

fn bench(c: &mut Criterion) {
    let (_dir, engine, paths) = setup();
    let prepared: Vec<PreparedImage> = paths
        .iter()
        .map(|p| engine.prepare(p, false).unwrap().prepared)
        .collect();
    let mut g = c.benchmark_group("infer");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    for b in [1usize, 32] {
        g.throughput(Throughput::Elements(b as u64));
        g.bench_function(format!("forward/b{b}"), |bench| {
            bench.iter(|| engine.classify(&prepared[..b], false).unwrap())
        });
        g.bench_function(format!("file_to_decision/b{b}"), |bench| {
            bench.iter(|| {
                let batch: Vec<PreparedImage> = paths[..b]
                    .iter()
                    .map(|p| engine.prepare(p, false).unwrap().prepared)
                    .collect();
                engine.classify(&batch, false).unwrap()
            })
        });
    }
    g.throughput(Throughput::Elements(32));
    g.bench_function("cam/b32", |bench| {
        bench.iter(|| engine.classify(&prepared, true).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
