//! The generator's purpose, measured with the real model: ceodnet-s trained with BCE alone on
//! the training split learns the decoy shortcut (right about as often as the decoy agrees with
//! the label, ~95 %), and is at chance on the test split, rejecting good parts that carry a
//! decoy and missing defects without one.
//!
//! It trains for 200 Adam steps (about 3-4 minutes on 2 CPU cores), so it is ignored by default:
//! `cargo test -p ceod-core --test synth_shortcut -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ceod_core::data::{Batch, LoadedSample, Split, SplitMix64};
use ceod_core::synth::{SynthConfig, SynthSample, generate};
use ceod_core::{CeodNet, ModelConfig, Preprocess, bce_with_logits, channel_stats};

/// Accuracy per cell (label, has decoy): `[right, total]`.
fn cells(net: &CeodNet, loaded: &[LoadedSample], raw: &[SynthSample]) -> [[usize; 2]; 4] {
    let mut cells = [[0usize; 2]; 4];
    for (chunk, rchunk) in loaded.chunks(50).zip(raw.chunks(50)) {
        let b = Batch::from_loaded(chunk, &Device::Cpu).unwrap();
        let logits: Vec<f32> = net
            .forward(&b.images)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (x, r) in logits.iter().zip(rchunk) {
            let k = r.label * 2 + usize::from(r.decoy.is_some());
            cells[k][1] += 1;
            cells[k][0] += usize::from(usize::from(*x > 0.0) == r.label);
        }
    }
    cells
}

fn accuracy(c: &[[usize; 2]; 4]) -> f64 {
    c.iter().map(|x| x[0]).sum::<usize>() as f64 / c.iter().map(|x| x[1]).sum::<usize>() as f64
}

#[test]
#[ignore = "trains a CNN for minutes; run with --ignored"]
fn bce_alone_learns_the_decoy_shortcut() {
    let dev = Device::Cpu;
    let train = generate(&SynthConfig {
        n: 512,
        seed: 1,
        ..SynthConfig::default()
    })
    .unwrap();
    let test = generate(&SynthConfig {
        n: 400,
        seed: 1,
        split: Split::Test,
        ..SynthConfig::default()
    })
    .unwrap();
    // 64x64 inputs normalised with the training set's statistics (with raw [0, 1] inputs the
    // network stays at the constant prediction for these 200 steps)
    let raw = Preprocess {
        width: 64,
        height: 64,
        ..Preprocess::default()
    };
    let images: Vec<_> = train
        .iter()
        .map(|s| s.to_loaded(&raw).unwrap().image)
        .collect();
    let (mean, std) = channel_stats(&images).unwrap();
    println!("training set mean {mean:?} std {std:?}");
    let pre = Preprocess { mean, std, ..raw };
    let lt: Vec<_> = train.iter().map(|s| s.to_loaded(&pre).unwrap()).collect();
    let le: Vec<_> = test.iter().map(|s| s.to_loaded(&pre).unwrap()).collect();

    let (net, vm) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &dev).unwrap();
    let params = ParamsAdamW {
        lr: 1e-3,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vm.all_vars(), params).unwrap();
    let mut rng = SplitMix64::new(0);
    for step in 0..200 {
        let mut idx: Vec<usize> = (0..lt.len()).collect();
        rng.shuffle(&mut idx);
        let items: Vec<_> = idx[..32].iter().map(|&i| lt[i].clone()).collect();
        let b = Batch::from_loaded(&items, &dev).unwrap();
        let loss = bce_with_logits(
            &net.forward(&b.images).unwrap(),
            &b.labels,
            &Default::default(),
        )
        .unwrap();
        opt.backward_step(&loss).unwrap();
        if step % 25 == 0 {
            println!("step {step} bce {:.4}", loss.to_scalar::<f32>().unwrap());
        }
    }
    let (ct, ce) = (cells(&net, &lt, &train), cells(&net, &le, &test));
    let show = |name: &str, c: &[[usize; 2]; 4]| {
        println!(
            "{name}: accuracy {:.3}; right/total: good without decoy {}/{}, good with decoy {}/{}, \
             defect without decoy {}/{}, defect with decoy {}/{}",
            accuracy(c),
            c[0][0],
            c[0][1],
            c[1][0],
            c[1][1],
            c[2][0],
            c[2][1],
            c[3][0],
            c[3][1]
        );
    };
    show("train", &ct);
    show("test", &ce);
    assert!(accuracy(&ct) > 0.85, "the shortcut was not learned");
    assert!(
        accuracy(&ce) < 0.65,
        "the test split did not expose the shortcut"
    );
    // the decoy drives the decision: good parts with a decoy rejected, clean defects missed
    assert!((ce[1][0] as f64) < 0.3 * ce[1][1] as f64);
    assert!((ce[2][0] as f64) < 0.3 * ce[2][1] as f64);
}
