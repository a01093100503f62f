//! CPU time per call of ceodnet-s's forward pass, BCE step and CEOD (soft) step at batch 1 and
//! 32 (1×128×128) on the CPU fast path: the rows of `benches/cpu_model.rs`, timed by the calling
//! thread's CPU time, which a busy machine inflates far less than wall time. Run it single-threaded
//! so that all the work is on the calling thread, beside `benches/cpu_torch.py --threads 1
//! --cpu-time`:
//!
//! ```sh
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 cargo run -p ceod-core --example cpu_time -- [REPS]
//! ```
//!
//! Prints, per row, the median thread CPU time and the median wall time per call (after warm-up
//! calls). The batch is `../shared/fixtures/batch.safetensors` when present (`CEOD_FIXTURES`
//! overrides the folder), else synthetic conveyor images; the model is seeded (seed 0), Adam with
//! lr 1e-3 and no weight decay, as in the bench.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

#[path = "../benches/support/batch.rs"]
mod support;
use support::batch;

use candle_core::{DType, Device, Module};
use candle_nn::{Optimizer, ParamsAdamW};
use ceod_core::{
    BceOptions, CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets,
    bce_with_logits, ceod_loss,
};

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), if readable.
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (c0, w0) = (thread_cpu(), Instant::now());
        f();
        wall.push(w0.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (c0, thread_cpu()) {
            cpu.push((b - a) * 1e3);
        }
    }
    let cpu = if cpu.is_empty() {
        "n/a".to_string()
    } else {
        format!("{:.2} ms", median(cpu))
    };
    println!(
        "ceod {name}: cpu {cpu}, wall median {:.2} ms ({reps} reps, {} threads)",
        median(wall),
        candle_core::utils::get_num_threads()
    );
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dev = Device::Cpu;
    let (images, masks, labels) = batch(&dev);
    for bsz in [1usize, 32] {
        let r = if bsz == 1 { reps * 5 } else { reps };
        let x = images.narrow(0, 0, bsz).unwrap();
        let t = labels.narrow(0, 0, bsz).unwrap();
        let input = CeodInput {
            images: x.clone(),
            targets: Targets::Binary(t.clone()),
            masks: Some(masks.narrow(0, 0, bsz).unwrap()),
            has_mask: None,
        };
        let (net, varmap) =
            CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &dev).unwrap();
        let xd = x.detach();
        time(&format!("forward/b{bsz}"), r, || {
            net.forward(&xd).unwrap();
        });
        let params = ParamsAdamW {
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params.clone()).unwrap();
        let bce = BceOptions::default();
        time(&format!("train_bce/b{bsz}"), r, || {
            let loss = bce_with_logits(&net.forward(&x).unwrap(), &t, &bce).unwrap();
            opt.backward_step(&loss).unwrap();
        });
        let opts = CeodOptions {
            mode: OverlapMode::Soft,
            report_exact: false,
            ..Default::default()
        };
        time(&format!("train_ceod_soft/b{bsz}"), r, || {
            let out = ceod_loss(&net, &input, &opts).unwrap();
            opt.backward_step(&out.total).unwrap();
        });
    }
}
