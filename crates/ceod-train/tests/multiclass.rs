//! Multi-class training end to end: a 3-class model trained through the binary, its metrics and
//! checkpoint card, and labels outside `0..C` skipped with the item named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::{DType, Device};
use ceod_core::data::Split;
use ceod_core::synth::{SynthConfig, SynthSample, generate, write_dataset};
use ceod_core::{CeodNet, ModelConfig};
use ceod_gradcam::{CamOptions, Target, explain};
use ceod_train::dataset::{Dataset, Item};
use ceod_train::evaluate::evaluate;

mod common;
use common::run;

fn samples(split: Split, n: usize) -> Vec<SynthSample> {
    generate(&SynthConfig {
        width: 16,
        height: 16,
        ..SynthConfig::for_split(split, n, 7)
    })
    .unwrap()
}

/// Conveyor images relabelled `i mod classes` (the label is all that matters here), with
/// `extra_label` given to the first training image when set; returns the manifest.
fn dataset(dir: &Path, classes: usize, extra_label: Option<usize>) -> PathBuf {
    let mut all = samples(Split::Train, 18);
    all.extend(samples(Split::Val, 6));
    all.extend(samples(Split::Test, 6));
    for (i, s) in all.iter_mut().enumerate() {
        s.label = i % classes;
    }
    if let Some(l) = extra_label {
        all[0].label = l;
    }
    write_dataset(dir.join("data"), &all).unwrap()
}

fn model_config(dir: &Path, classes: usize) -> PathBuf {
    let cfg = ModelConfig {
        in_channels: 1,
        widths: vec![4, 8],
        pool: vec![true, false],
        pool_size: 2,
        num_outputs: classes,
    };
    let p = dir.join("model.json");
    std::fs::write(&p, serde_json::to_string(&cfg).unwrap()).unwrap();
    p
}

fn train(dir: &Path, manifest: &Path, model: &Path, name: &str) -> Output {
    run(
        &[
            "train",
            "--data",
            manifest.to_str().unwrap(),
            "--model-config",
            model.to_str().unwrap(),
            "--size",
            "16x16",
            "--epochs",
            "2",
            "--batch-size",
            "6",
            "--omega",
            "1",
            "--runs-dir",
            dir.join("runs").to_str().unwrap(),
            "--name",
            name,
        ],
        dir,
    )
}

#[test]
fn three_classes_train_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = dataset(tmp.path(), 3, None);
    let model = model_config(tmp.path(), 3);
    let out = train(tmp.path(), &manifest, &model, "three");
    assert!(out.status.success());
    let run_dir = tmp.path().join("runs/three");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for rec in &lines {
        let val = &rec["val"];
        assert_eq!(val["n"], 6);
        // 3 classes of 2 validation images each: every classification metric is defined
        for k in ["accuracy", "balanced_accuracy", "auroc", "f1", "hot_share"] {
            let v = val[k]
                .as_f64()
                .unwrap_or_else(|| panic!("val.{k} is {}", val[k]));
            assert!((0.0..=1.0).contains(&v), "val.{k} = {v}");
        }
        // softmax cross-entropy of 3 classes, finite and positive
        assert!(val["bce"].as_f64().unwrap() > 0.0);
        assert!(rec["train_loss"].as_f64().unwrap().is_finite());
    }
    // the checkpoint card names the classes 0, 1, 2
    let card = ceod_core::read_model_card(run_dir.join("best.safetensors")).unwrap();
    assert_eq!(card.class_names, vec!["0", "1", "2"]);
    assert_eq!(card.model.num_outputs, 3);
    // eval reads the checkpoint and the 3-class labels
    let out = run(
        &[
            "eval",
            "--model",
            run_dir.join("best.safetensors").to_str().unwrap(),
            "--data",
            manifest.to_str().unwrap(),
            "--json",
        ],
        tmp.path(),
    );
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["metrics"]["n"], 6);
    assert!(report["metrics"]["accuracy"].as_f64().is_some());
    assert!(report["metrics"]["auroc"].as_f64().is_some());
}

#[test]
fn a_label_outside_the_classes_is_skipped_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = dataset(tmp.path(), 3, Some(3));
    let model = model_config(tmp.path(), 3);
    let out = train(tmp.path(), &manifest, &model, "bad");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped files: 1"), "{stdout}");
    // the first training image of write_dataset is train_00000.png
    let line = stdout
        .lines()
        .find(|l| l.contains("train_00000.png"))
        .unwrap_or_else(|| panic!("the bad item is not named: {stdout}"));
    assert!(line.contains("label 3"), "{line}");
    // a binary model refuses a label 2 outright, naming the file
    let manifest = dataset(&tmp.path().join("b"), 3, None);
    let out = run(
        &[
            "train",
            "--data",
            manifest.to_str().unwrap(),
            "--size",
            "16x16",
            "--epochs",
            "1",
            "--runs-dir",
            tmp.path().join("runs").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("label 2 is not 0 or 1"), "{stderr}");
}

#[test]
fn in_memory_items_with_a_label_outside_the_classes_are_skipped() {
    let pre = ceod_core::Preprocess {
        width: 16,
        height: 16,
        ..Default::default()
    };
    let items: Vec<Item> = samples(Split::Train, 6)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut sample = s.to_loaded(&pre).unwrap();
            sample.label = i % 3;
            Item {
                name: format!("item{i}"),
                path: None,
                sample,
            }
        })
        .collect();
    let mut d = Dataset {
        train: items.clone(),
        val: items[..3].to_vec(),
        ..Default::default()
    };
    d.train[4].sample.label = 7;
    let moved = ceod_train::dataset::skip_out_of_range(&mut d, 3);
    assert_eq!(moved, 1);
    assert_eq!(d.train.len(), 5);
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].0, PathBuf::from("train/item4"));
    assert!(d.skipped[0].1.contains("label 7"), "{}", d.skipped[0].1);
    // a binary model keeps everything
    assert_eq!(ceod_train::dataset::skip_out_of_range(&mut d, 1), 0);

    // evaluate: the macro metrics of a 3-class model agree with their definitions on its own
    // softmax outputs, and the heat map is the true class's
    let cfg = ModelConfig {
        in_channels: 1,
        widths: vec![4, 8],
        pool: vec![true, false],
        pool_size: 2,
        num_outputs: 3,
    };
    let (net, _) = CeodNet::seeded(&cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let opts = ceod_core::CeodOptions::default();
    let (m, rs) = evaluate(&net, &d.train, 4, &opts, 0.5, &Device::Cpu).unwrap();
    assert_eq!(rs.len(), 5);
    let right = rs
        .iter()
        .filter(|r| {
            let best = (0..3)
                .max_by(|&a, &b| {
                    r.probabilities[a]
                        .total_cmp(&r.probabilities[b])
                        .then(b.cmp(&a))
                })
                .unwrap();
            best == r.class
        })
        .count();
    assert_eq!(m.accuracy, Some(right as f64 / 5.0));
    for r in &rs {
        let s: f32 = r.probabilities.iter().sum();
        assert!((s - 1.0).abs() < 1e-5);
    }
    // the hot share is that of Grad-CAM of the TRUE class, counted pixel by pixel
    let refs: Vec<&Item> = d.train.iter().collect();
    let b = ceod_train::dataset::make_batch(&refs, &[], &Device::Cpu).unwrap();
    let e = explain(
        &net,
        &b.images,
        &Target::Classes(b.class_values.clone()),
        &CamOptions::default(),
    )
    .unwrap();
    let cam = e.cam.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (i, r) in rs.iter().enumerate() {
        let map = &cam[i * 256..(i + 1) * 256];
        let hot = map
            .iter()
            .filter(|&&v| f64::from(v) >= opts.threshold)
            .count();
        assert_eq!(r.hot_share, Some(hot as f64 / 256.0), "sample {i}");
    }
}
