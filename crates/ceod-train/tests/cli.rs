//! The binary end to end on tiny generated datasets: files, JSON fields and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ceod_core::data::Split;
use ceod_core::synth::{SynthConfig, SynthSample, generate, write_dataset};

mod common;
use common::run;

fn samples(split: Split, n: usize) -> Vec<SynthSample> {
    generate(&SynthConfig {
        width: 32,
        height: 32,
        ..SynthConfig::for_split(split, n, 3)
    })
    .unwrap()
}

/// A manifest dataset (24 train, 8 val, 8 test images of 32×32) in `dir/data`.
fn dataset(dir: &Path) -> PathBuf {
    let mut all = samples(Split::Train, 24);
    all.extend(samples(Split::Val, 8));
    all.extend(samples(Split::Test, 8));
    write_dataset(dir.join("data"), &all).unwrap()
}

fn train_args<'a>(manifest: &'a str, runs: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--data",
        manifest,
        "--size",
        "32x32",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--runs-dir",
        runs,
        "--name",
        name,
        "--flip-h",
        "--seed",
        "5",
    ]
}

/// metrics.jsonl without the wall-clock field.
fn metrics_of(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn train_eval_explain_and_determinism() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let manifest = dataset(d);
    let m = manifest.to_str().unwrap();
    let runs = d.join("runs");
    let r = runs.to_str().unwrap();

    let out = run(&train_args(m, r, "a"), d);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped files: 0"), "{stdout}");
    let a = runs.join("a");
    for f in [
        "config.json",
        "metrics.jsonl",
        "last.safetensors",
        "best.safetensors",
        "last.state.safetensors",
        "curves/loss.png",
        "curves/validation.png",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    let lines = metrics_of(&a);
    assert_eq!(lines.len(), 2);
    for key in ["train_loss", "train_bce", "train_overlap", "lr", "omega"] {
        assert!(lines[1][key].is_number(), "{key}");
    }
    let val = &lines[1]["val"];
    assert_eq!(val["n"], 8);
    for key in [
        "accuracy",
        "balanced_accuracy",
        "auroc",
        "f1",
        "overlap_d",
        "energy_share",
        "pointing_game",
        "bce",
    ] {
        let v = val[key].as_f64().unwrap_or_else(|| panic!("{key}: {val}"));
        assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["epochs"], 2);
    assert_eq!(cfg["flip_h"], true);

    // the same seed gives the same metrics
    assert_eq!(run(&train_args(m, r, "b"), d).status.code(), Some(0));
    assert_eq!(metrics_of(&runs.join("b")), lines);

    // eval: JSON on stdout and in a file
    let best = a.join("best.safetensors");
    let json_out = d.join("eval.json");
    let out = run(
        &[
            "eval",
            "--model",
            best.to_str().unwrap(),
            "--data",
            m,
            "--json",
            "--out",
            json_out.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["split"], "test");
    assert_eq!(e["metrics"]["n"], 8);
    assert!(e["metrics"]["auroc"].is_number());
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(file, e);
    // the table
    let out = run(
        &[
            "eval",
            "--model",
            best.to_str().unwrap(),
            "--data",
            m,
            "--split",
            "val",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("balanced accuracy"));

    // explain: overlays, GeoJSON and a contact sheet
    let ex = d.join("ex");
    let out = run(
        &[
            "explain",
            "--model",
            best.to_str().unwrap(),
            "--data",
            m,
            "--out",
            ex.to_str().unwrap(),
            "--limit",
            "3",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let overlays = std::fs::read_dir(&ex)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("_overlay.png")
        })
        .count();
    assert_eq!(overlays, 3);
    let sheet = image::open(ex.join("contact_sheet.png")).unwrap();
    // three 128-pixel tiles (32 px scaled by 4) in one row with 4-pixel gaps
    assert_eq!((sheet.width(), sheet.height()), (3 * 132 + 4, 132 + 4));
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("hot_regions.geojson")).unwrap())
            .unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    assert_eq!(g["features"].as_array().unwrap().len(), 3);
    assert_eq!(g["features"][0]["geometry"]["type"], "MultiPolygon");
}

#[test]
fn resume_after_epoch_one_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let manifest = dataset(d);
    let m = manifest.to_str().unwrap();
    let runs = d.join("runs");
    let r = runs.to_str().unwrap();
    assert_eq!(run(&train_args(m, r, "full"), d).status.code(), Some(0));
    let mut part = train_args(m, r, "part");
    part.extend(["--stop-after", "1"]);
    assert_eq!(run(&part, d).status.code(), Some(0));
    assert_eq!(metrics_of(&runs.join("part")).len(), 1);
    let resume = runs.join("part");
    assert_eq!(
        run(&["train", "--resume", resume.to_str().unwrap()], d)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        metrics_of(&runs.join("part")),
        metrics_of(&runs.join("full"))
    );
    // and the final weights are bit-identical
    let w = |p: PathBuf| {
        let bytes = std::fs::read(p).unwrap();
        let t = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu).unwrap();
        let mut v: Vec<(String, Vec<f32>)> = t
            .into_iter()
            .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        w(runs.join("part/last.safetensors")),
        w(runs.join("full/last.safetensors"))
    );
}

/// A `.npy` file (version 1, little-endian f64, C order).
fn write_npy(path: &Path, h: usize, w: usize, data: &[f64]) {
    let mut head = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({h}, {w}), }}");
    while (10 + head.len() + 1) % 64 != 0 {
        head.push(' ');
    }
    head.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(head.len() as u16).to_le_bytes());
    b.extend_from_slice(head.as_bytes());
    for v in data {
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn overlap_of_npy_and_png_and_labelme() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // 8×8 heat map hot in its left half (columns 0..4); the mask is the top half (rows 0..4)
    let heat: Vec<f64> = (0..64).map(|i| if i % 8 < 4 { 1.0 } else { 0.0 }).collect();
    write_npy(&d.join("heat.npy"), 8, 8, &heat);
    let mask = image::GrayImage::from_fn(8, 8, |_, y| image::Luma([if y < 4 { 255 } else { 0 }]));
    mask.save(d.join("mask.png")).unwrap();
    let out = run(&["overlap", "--heat", "heat.npy", "--mask", "mask.png"], d);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // hot region: the 4×8 left half (area 32); mask area 32; intersection the 4×4 top-left = 16
    assert_eq!(v["hot_pixels"], 32);
    assert_eq!(v["intersection"], 16.0);
    assert_eq!(v["detected_area"], 32.0);
    assert_eq!(v["mask_area"], 32.0);
    assert_eq!(v["distance"], 0.5); // containment: 1 − 16/32
    assert_eq!(v["energy_inside"], 0.5);

    // the same mask as a LabelMe polygon, the heat map as a PNG, the paper's coefficient
    let heat_png =
        image::GrayImage::from_fn(8, 8, |x, _| image::Luma([if x < 4 { 255 } else { 0 }]));
    heat_png.save(d.join("heat.png")).unwrap();
    let lm = r#"{"shapes": [{"label": "aoi", "shape_type": "polygon", "points": [[0, 0], [8, 0], [8, 4], [0, 4]]}],
                "imageWidth": 8, "imageHeight": 8}"#;
    std::fs::write(d.join("mask.json"), lm).unwrap();
    let out = run(
        &[
            "overlap",
            "--heat",
            "heat.png",
            "--mask",
            "mask.json",
            "--coefficient",
            "paper",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["coefficient"], "paper");
    assert_eq!(v["distance"], 0.5); // 1 − 16 / min(32, 32)

    // a missing file: exit 1 naming it; a bad flag value: exit 2
    let out = run(&["overlap", "--heat", "nope.npy", "--mask", "mask.png"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.npy"));
    let out = run(
        &[
            "overlap",
            "--heat",
            "heat.npy",
            "--mask",
            "mask.png",
            "--outline",
            "banana",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_input_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let manifest = dataset(d);
    let m = manifest.to_str().unwrap();
    let runs = d.join("runs");
    let r = runs.to_str().unwrap();

    // a missing manifest: exit 1, the file named
    let out = run(
        &[
            "train",
            "--data",
            "missing.csv",
            "--size",
            "32x32",
            "--runs-dir",
            r,
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
    // no data at all, a bad value: usage errors
    assert_eq!(run(&["train", "--runs-dir", r], d).status.code(), Some(2));
    assert_eq!(
        run(&["train", "--data", m, "--epochs", "0", "--runs-dir", r], d)
            .status
            .code(),
        Some(2)
    );

    // an unknown device is a usage error too
    let out = run(
        &[
            "train",
            "--synth",
            "8",
            "--size",
            "32x32",
            "--device",
            "banana",
            "--runs-dir",
            r,
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("banana"));

    // an image that does not decode and a mask of the wrong size are reported and skipped
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    let first_image = rows[1].split(',').next().unwrap().to_string();
    std::fs::write(d.join("data").join(&first_image), b"not a png").unwrap();
    let second_mask = rows[2].split(',').nth(2).unwrap().to_string();
    image::GrayImage::new(16, 16)
        .save(d.join("data").join(&second_mask))
        .unwrap();
    let out = run(
        &[
            "train",
            "--data",
            m,
            "--size",
            "32x32",
            "--epochs",
            "1",
            "--runs-dir",
            r,
            "--name",
            "skip",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped files: 2"), "{stdout}");
    assert!(
        stdout.contains(&first_image) && stdout.contains(&second_mask),
        "{stdout}"
    );

    // a label that is not 0/1 names the file
    let fields: Vec<String> = rows[3].split(',').map(str::to_string).collect();
    let bad_row = format!("{},7,{}", fields[0], fields[2..].join(","));
    rows[3] = bad_row;
    std::fs::write(d.join("data/bad.csv"), rows.join("\n") + "\n").unwrap();
    let out = run(
        &[
            "train",
            "--data",
            "data/bad.csv",
            "--size",
            "32x32",
            "--runs-dir",
            r,
        ],
        d,
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(fields[0].rsplit('/').next().unwrap()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a loss that turns NaN stops the run, naming the epoch and step
    let out = run(
        &[
            "train",
            "--synth",
            "16",
            "--size",
            "32x32",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "1e30",
            "--runs-dir",
            r,
            "--name",
            "nan",
            "--schedule",
            "constant",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at epoch") && err.contains("step"), "{err}");
}

#[test]
fn demo_quick() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = run(&["demo", "--quick", "--runs-dir", "runs"], d);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("demo-baseline")
            && stdout.contains("demo-ceod")
            && stdout.contains("AUROC"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs/demo.json")).unwrap()).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), 2);
    assert_eq!(summary[0]["omega"], 0.0);
    assert!(summary[1]["test"]["energy_share"].is_number());
    assert!(
        d.join("runs/demo-ceod/overlays/contact_sheet.png")
            .is_file()
    );
    assert!(d.join("runs/demo-baseline/best.safetensors").is_file());
    // the decoy-independent validation split (8 images in quick mode) beside the others
    assert_eq!(summary[1]["val_decoys_independent"]["n"], 8);
    assert_eq!(summary[1]["test"]["n"], 16);

    // one model, other synthetic settings, recorded in the run's config
    let out = run(
        &[
            "demo",
            "--quick",
            "--runs-dir",
            "one",
            "--models",
            "ceod",
            "--defect-scale",
            "2",
            "--decoy-correlation",
            "0.5",
        ],
        d,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("one/demo.json")).unwrap()).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), 1);
    assert_eq!(summary[0]["model"], "demo-ceod");
    assert!(!d.join("one/demo-baseline").exists());
    let config = std::fs::read_to_string(d.join("one/demo-ceod/config.json")).unwrap();
    assert!(
        config.contains("defect scale 2") && config.contains("correlation 0.5"),
        "{config}"
    );
    // settings the generator refuses are usage errors
    let out = run(
        &[
            "demo",
            "--quick",
            "--runs-dir",
            "bad",
            "--defect-scale",
            "0",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("defect_scale"));
}

#[test]
fn mvtec_folder_trains_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let root = d.join("mvtec");
    let s = samples(Split::Test, 24);
    let (good, bad): (Vec<_>, Vec<_>) = s.iter().partition(|x| x.label == 0);
    for sub in [
        "train/good",
        "test/good",
        "test/scratch",
        "ground_truth/scratch",
    ] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    for (i, x) in good.iter().enumerate() {
        let folder = if i < 6 { "train/good" } else { "test/good" };
        x.to_gray_image()
            .save(root.join(folder).join(format!("{i:03}.png")))
            .unwrap();
    }
    for (i, x) in bad.iter().enumerate() {
        x.to_gray_image()
            .save(root.join("test/scratch").join(format!("{i:03}.png")))
            .unwrap();
        x.mask_image()
            .save(
                root.join("ground_truth/scratch")
                    .join(format!("{i:03}_mask.png")),
            )
            .unwrap();
    }
    let r = d.join("runs");
    let args = [
        "train",
        "--mvtec",
        root.to_str().unwrap(),
        "--size",
        "32x32",
        "--epochs",
        "1",
        "--runs-dir",
        r.to_str().unwrap(),
        "--name",
        "mv",
    ];
    let out = run(&args, d);
    assert_eq!(out.status.code(), Some(0));
    // train/good has one class only: AUROC is undefined on the held-out part, not a made-up number
    let lines = metrics_of(&r.join("mv"));
    assert!(lines[0]["val"]["n"].as_u64().unwrap() >= 1);
    assert!(lines[0]["val"]["auroc"].is_null());
    let best = r.join("mv/best.safetensors");
    let out = run(
        &[
            "eval",
            "--model",
            best.to_str().unwrap(),
            "--mvtec",
            root.to_str().unwrap(),
            "--json",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["split"], "test");
    assert_eq!(
        e["metrics"]["n"].as_u64().unwrap() as usize,
        good.len() - 6 + bad.len()
    );
    assert_eq!(
        e["metrics"]["n_with_mask"].as_u64().unwrap() as usize,
        bad.len()
    );
    assert!(e["metrics"]["auroc"].is_number());
}

#[test]
fn mean_and_std_reach_config_json_and_bad_values_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = [
        "train",
        "--synth",
        "8",
        "--size",
        "32x32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--runs-dir",
        "runs",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        run(&a, d)
    };
    let out = with(&["--name", "norm", "--mean", "0.25", "--std", "0.5"]);
    assert_eq!(out.status.code(), Some(0));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs/norm/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["preprocess"]["mean"], serde_json::json!([0.25]));
    assert_eq!(cfg["preprocess"]["std"], serde_json::json!([0.5]));
    for bad in [
        &["--std", "0"][..],
        &["--std=-2"],
        &["--mean", "nan"],
        &["--std", "inf"],
        &["--mean", "0.1,0.2"],
    ] {
        let mut extra = vec!["--name", "bad"];
        extra.extend_from_slice(bad);
        let out = with(&extra);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    assert!(!d.join("runs/bad").exists());
}

#[test]
fn train_refuses_an_existing_run_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let args = |epochs: &'static str, extra: &[&'static str]| {
        let mut a = vec![
            "train",
            "--synth",
            "8",
            "--size",
            "32x32",
            "--batch-size",
            "8",
            "--runs-dir",
            "runs",
            "--name",
            "same",
            "--epochs",
            epochs,
        ];
        a.extend_from_slice(extra);
        a
    };
    assert_eq!(run(&args("2", &[]), d).status.code(), Some(0));
    let run_dir = d.join("runs/same");
    let before = std::fs::read(run_dir.join("last.safetensors")).unwrap();
    assert_eq!(metrics_of(&run_dir).len(), 2);
    // a second run of the same name is refused and leaves the first untouched
    let out = run(&args("1", &[]), d);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--resume") && err.contains("--name") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("last.safetensors")).unwrap(),
        before
    );
    assert_eq!(metrics_of(&run_dir).len(), 2);
    // a folder with only a checkpoint in it counts as a run too
    std::fs::create_dir_all(d.join("runs/ckpt")).unwrap();
    std::fs::write(d.join("runs/ckpt/best.safetensors"), &before).unwrap();
    let mut a = args("1", &[]);
    *a.iter_mut().find(|x| **x == "same").unwrap() = "ckpt";
    assert_eq!(run(&a, d).status.code(), Some(2));
    // --force replaces it
    assert_eq!(run(&args("1", &["--force"]), d).status.code(), Some(0));
    assert_eq!(metrics_of(&run_dir).len(), 1);
}

#[test]
fn eval_and_explain_refuse_to_overwrite_their_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let manifest = dataset(d);
    let m = manifest.to_str().unwrap();
    let mut a = train_args(m, "runs", "g");
    a[6] = "1"; // --epochs 1
    assert_eq!(run(&a, d).status.code(), Some(0));
    let model = d.join("runs/g/best.safetensors");
    let model_bytes = std::fs::read(&model).unwrap();
    let manifest_bytes = std::fs::read(&manifest).unwrap();
    let mdl = model.to_str().unwrap();
    let first_image = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let image = d.join("data").join(&first_image);
    let image_bytes = std::fs::read(&image).unwrap();
    let other_spelling = d.join("runs/g/../g/best.safetensors");
    for out in [
        mdl,
        other_spelling.to_str().unwrap(),
        m,
        image.to_str().unwrap(),
    ] {
        let o = run(
            &[
                "eval", "--model", mdl, "--data", m, "--split", "all", "--out", out,
            ],
            d,
        );
        assert_eq!(o.status.code(), Some(2), "eval --out {out}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("input"));
        let o = run(&["explain", "--model", mdl, "--data", m, "--out", out], d);
        assert_eq!(o.status.code(), Some(2), "explain --out {out}");
    }
    assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
    assert_eq!(std::fs::read(&manifest).unwrap(), manifest_bytes);
    assert_eq!(std::fs::read(&image).unwrap(), image_bytes);
    // a fresh path is fine
    let o = run(
        &["eval", "--model", mdl, "--data", m, "--out", "eval.json"],
        d,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(d.join("eval.json").is_file());
}

#[test]
fn explain_keeps_images_that_share_a_stem_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let manifest = dataset(d);
    let m = manifest.to_str().unwrap();
    let mut a = train_args(m, "runs", "s");
    a[6] = "1"; // --epochs 1
    assert_eq!(run(&a, d).status.code(), Some(0));
    // two different images under one file name, in two folders
    let text = std::fs::read_to_string(&manifest).unwrap();
    let images: Vec<&str> = text
        .lines()
        .skip(1)
        .take(2)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    for (i, img) in images.iter().enumerate() {
        let sub = d.join(format!("data/sub{}", i + 1));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(d.join("data").join(img), sub.join("x.png")).unwrap();
    }
    std::fs::write(
        d.join("data/dup.csv"),
        "image,label\nsub1/x.png,0\nsub2/x.png,1\n",
    )
    .unwrap();
    let out = run(
        &[
            "explain",
            "--model",
            "runs/s/best.safetensors",
            "--data",
            "data/dup.csv",
            "--out",
            "ex",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let ex = d.join("ex");
    for f in [
        "x_overlay.png",
        "x-2_overlay.png",
        "x_hot.geojson",
        "x-2_hot.geojson",
    ] {
        assert!(ex.join(f).is_file(), "{f} missing");
    }
    let geo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("hot_regions.geojson")).unwrap())
            .unwrap();
    let props: Vec<(String, String)> = geo["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["properties"]["image"].as_str().unwrap().to_string(),
                f["properties"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        props,
        [
            ("x".to_string(), "sub1/x.png".to_string()),
            ("x-2".to_string(), "sub2/x.png".to_string())
        ]
    );
}

#[test]
fn huge_sizes_and_counts_are_usage_errors_not_aborts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for extra in [
        &["--synth", "8", "--size", "100000x100000"][..],
        &["--synth", "1000000000", "--size", "32x32"],
    ] {
        let mut a = vec!["train", "--runs-dir", "runs"];
        a.extend_from_slice(extra);
        let out = run(&a, d);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("at most"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // eval's --synth goes through the same limit (the checkpoint fixes the size)
    let a = [
        "train",
        "--synth",
        "8",
        "--size",
        "32x32",
        "--epochs",
        "1",
        "--runs-dir",
        "runs",
    ];
    assert_eq!(run(&a, d).status.code(), Some(0));
    let out = run(
        &[
            "eval",
            "--model",
            "runs/run/best.safetensors",
            "--synth",
            "100000000000",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn resume_warns_about_the_flags_it_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let a = [
        "train",
        "--synth",
        "8",
        "--size",
        "32x32",
        "--epochs",
        "1",
        "--runs-dir",
        "runs",
    ];
    assert_eq!(run(&a, d).status.code(), Some(0));
    let out = run(
        &[
            "train", "--resume", "runs/run", "--epochs", "4", "--synth", "16", "--lr=0.1",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("ignored"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(line.ends_with("ignored: --epochs --lr --synth"), "{line}");
    // nothing to warn about with --resume alone
    let out = run(&["train", "--resume", "runs/run"], d);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ignored"));
}

#[test]
fn zero_counts_are_usage_errors_and_help_lists_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for a in [
        &[
            "eval",
            "--model",
            "m.safetensors",
            "--synth",
            "8",
            "--batch-size",
            "0",
        ][..],
        &[
            "explain",
            "--model",
            "m.safetensors",
            "--synth",
            "8",
            "--limit",
            "0",
        ],
        &[
            "explain",
            "--model",
            "m.safetensors",
            "--synth",
            "8",
            "--columns",
            "0",
        ],
    ] {
        let out = run(a, d);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("at least 1"),
            "{a:?}"
        );
    }
    let out = run(&["--help"], d);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    for code in ["0  success", "1  the run", "2  usage error"] {
        assert!(help.contains(code), "{code}: {help}");
    }
}
