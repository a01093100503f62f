//! CLI tests: the built binary on a model saved through ceod-core and generated images.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use ceod_core::{
    CeodNet, ModelCard, ModelConfig, PreparedImage, Preprocess, Resize, predict, save_checkpoint,
};
use image::{GrayImage, Luma, Rgb, RgbImage};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ceod-infer");

/// A non-square model input (multiples of 8: the feature map of ceodnet-s is 6 × 8).
fn preprocess() -> Preprocess {
    Preprocess {
        width: 64,
        height: 48,
        ..Preprocess::default()
    }
}

/// Saves a seeded ceodnet-s with `pre` and `threshold` in its card; returns the path.
fn save_model(dir: &Path, name: &str, pre: Preprocess, threshold: f64) -> PathBuf {
    save_seeded_model(dir, name, pre, threshold, 11)
}

fn save_seeded_model(
    dir: &Path,
    name: &str,
    pre: Preprocess,
    threshold: f64,
    seed: u64,
) -> PathBuf {
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = CeodNet::seeded(&cfg, seed, DType::F32, &Device::Cpu).unwrap();
    let mut card = ModelCard::new(cfg, pre);
    card.threshold = threshold;
    let path = dir.join(name);
    save_checkpoint(&path, &net, &card).unwrap();
    path
}

/// A grey image with a bright disc whose place and size depend on `k` (so scores differ).
fn write_png(path: &Path, k: u32, w: u32, h: u32) {
    let (cx, cy, r) = ((7 * k + 5) % w, (5 * k + 3) % h, 3 + k % 7);
    let img = GrayImage::from_fn(w, h, |x, y| {
        let d2 = (x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2);
        let bg = ((x * 3 + y * k) % 64) as u8;
        Luma([if d2 <= (r * r) as i64 { 250 } else { bg }])
    });
    img.save(path).unwrap();
}

fn images(dir: &Path, n: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|k| {
            let p = dir.join(format!("img{k:02}.png"));
            write_png(&p, k, 80 + 4 * k, 60 + 2 * k);
            p
        })
        .collect()
}

/// ceod-core's scores for `paths` in batches of `batch` (the eval path).
fn core_scores(model: &Path, paths: &[PathBuf], batch: usize) -> Vec<f32> {
    let (net, card) = ceod_core::load_checkpoint(model, &Device::Cpu).unwrap();
    let mut out = Vec::new();
    for chunk in paths.chunks(batch) {
        let prepared: Vec<PreparedImage> = chunk
            .iter()
            .map(|p| card.preprocess.load(p).unwrap())
            .collect();
        let xs = PreparedImage::stack(&prepared, &Device::Cpu).unwrap();
        let p = predict(&net, &xs, card.threshold).unwrap();
        out.extend(p.scores.iter().map(|s| s[0]));
    }
    out
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn json_records_have_every_field_and_scores_equal_core_predict() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 5);
    let model0 = save_model(dir.path(), "probe.safetensors", preprocess(), 0.5);
    let scores = core_scores(&model0, &imgs, 1);
    // The card's threshold sits between the scores: some parts good, some rejected.
    let mut sorted = scores.clone();
    sorted.sort_by(f32::total_cmp);
    assert!(
        sorted[0] < sorted[4],
        "the images must give different scores: {sorted:?}"
    );
    let threshold = f64::from(sorted[1] + sorted[2]) / 2.0;
    let model = save_model(dir.path(), "line3.safetensors", preprocess(), threshold);
    let args: Vec<&str> = ["--model", s(&model)]
        .into_iter()
        .chain(imgs.iter().map(|p| s(p)))
        .collect();
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 5);
    let bytes = std::fs::read(&model).unwrap();
    let id = ceod_infer::model_id::model_id(&model, &bytes);
    assert!(
        id.starts_with("line3@") && id.len() == "line3@".len() + 12,
        "{id}"
    );
    for ((r, p), &want) in recs.iter().zip(&imgs).zip(&scores) {
        assert_eq!(r["path"], s(p));
        let got = r["score"].as_f64().unwrap() as f32;
        assert!(
            (got - want).abs() <= 1e-6,
            "{}: the infer path and the eval path disagree: {got} vs {want}",
            p.display()
        );
        let decision = if f64::from(want) >= threshold {
            "defect"
        } else {
            "good"
        };
        assert_eq!(r["decision"], decision);
        assert_eq!(r["threshold"].as_f64().unwrap(), threshold);
        assert_eq!(r["model"], id.as_str());
        assert!(r["ms"].as_f64().unwrap() > 0.0);
        assert!(r.get("error").is_none());
    }
    assert_eq!(recs.iter().filter(|r| r["decision"] == "defect").count(), 3);
}

#[test]
fn batches_give_core_predict_scores_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 7);
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let want = core_scores(&model, &imgs, 3);
    let single = core_scores(&model, &imgs, 1);
    let out = run(
        &[
            "--model",
            s(&model),
            "--batch",
            "3",
            s(&dir.path().join("imgs")),
        ],
        None,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let got: Vec<f32> = records(&out)
        .iter()
        .map(|r| r["score"].as_f64().unwrap() as f32)
        .collect();
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-6, "batch 3: {a} vs core's {b}");
    }
    for (a, b) in got.iter().zip(&single) {
        assert!((a - b).abs() < 1e-5, "batch 3 vs batch 1: {a} vs {b}");
    }
}

#[test]
fn exit_codes_follow_the_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 2);
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let d = s(&dir.path().join("imgs")).to_string();
    let all_good = run(&["--model", s(&model), "--threshold", "1", &d], None);
    assert_eq!(all_good.status.code(), Some(0), "{}", stderr(&all_good));
    assert!(records(&all_good).iter().all(|r| r["decision"] == "good"));
    let all_bad = run(&["--model", s(&model), "--threshold", "0", &d], None);
    assert_eq!(all_bad.status.code(), Some(1));
    assert!(
        records(&all_bad)
            .iter()
            .all(|r| r["decision"] == "defect" && r["threshold"] == 0.0)
    );
    // A missing input: its own record, the others go on, exit 2.
    let missing = dir.path().join("nope.png");
    let out = run(
        &[
            "--model",
            s(&model),
            "--threshold",
            "1",
            s(&missing),
            s(&imgs[0]),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["decision"], "error");
    assert!(recs[0]["score"].is_null());
    assert_eq!(recs[0]["path"], s(&missing));
    assert!(
        recs[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot open")
    );
    assert_eq!(recs[1]["decision"], "good");
    // Bad flags, no input.
    assert_eq!(run(&["--model", s(&model)], None).status.code(), Some(2));
    assert_eq!(
        run(&["--model", s(&model), "--batch", "0", &d], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["--model", s(&model), "--threshold", "2", &d], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["--model", s(&model), "--bogus", &d], None)
            .status
            .code(),
        Some(2)
    );
    let help = run(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("ANY input that could not be processed")
    );
}

#[test]
fn a_corrupt_image_in_the_middle_of_a_directory_is_its_own_record() {
    let dir = tempfile::tempdir().unwrap();
    let imgs_dir = dir.path().join("imgs");
    let imgs = images(&imgs_dir, 3);
    // img01 is replaced by a truncated PNG; a text file is skipped (not an image extension).
    let bytes = std::fs::read(&imgs[1]).unwrap();
    std::fs::write(&imgs[1], &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(imgs_dir.join("notes.txt"), "not an image").unwrap();
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let out = run(&["--model", s(&model), "--batch", "4", s(&imgs_dir)], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    let paths: Vec<&str> = recs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, imgs.iter().map(|p| s(p)).collect::<Vec<_>>());
    assert_eq!(recs[1]["decision"], "error");
    assert!(recs[1]["error"].as_str().unwrap().contains("img01.png"));
    let want = core_scores(&model, &[imgs[0].clone(), imgs[2].clone()], 1);
    for (r, w) in [&recs[0], &recs[2]].iter().zip(want) {
        assert!(r.get("error").is_none());
        let got = r["score"].as_f64().unwrap() as f32;
        assert!((got - w).abs() < 1e-5, "{got} vs {w}");
    }
}

#[test]
fn a_list_of_paths_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 3);
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let list = format!(
        "{}\n\n{}\n{}\n",
        s(&imgs[2]),
        s(&imgs[0]),
        s(&dir.path().join("gone.png"))
    );
    let out = run(
        &["--model", s(&model), "--threshold", "1", s(&imgs[1]), "-"],
        Some(&list),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    let paths: Vec<&str> = recs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    let gone = dir.path().join("gone.png");
    assert_eq!(paths, vec![s(&imgs[1]), s(&imgs[2]), s(&imgs[0]), s(&gone)]);
    assert_eq!(recs[3]["decision"], "error");
    assert!(recs[..3].iter().all(|r| r["decision"] == "good"));
}

#[test]
fn watch_picks_up_a_file_written_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("incoming");
    std::fs::create_dir(&watched).unwrap();
    // A file already there is not taken.
    write_png(&watched.join("old.png"), 1, 40, 30);
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let mut child = Command::new(BIN)
        .args([
            "--model",
            s(&model),
            "--watch",
            s(&watched),
            "--watch-interval-ms",
            "20",
            "--max-files",
            "2",
            "--timeout",
            "30",
            "--threshold",
            "1",
            "-v",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the watcher to start before writing.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap();
        if line.contains("watching") {
            break;
        }
    }
    // One frame written in place, one written elsewhere and renamed in.
    let direct = watched.join("frame1.png");
    write_png(&direct, 2, 64, 48);
    let staged = dir.path().join("frame2.png");
    write_png(&staged, 3, 64, 48);
    let renamed = watched.join("sub").join("frame2.png");
    std::fs::create_dir(watched.join("sub")).unwrap();
    std::fs::rename(&staged, &renamed).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "watch did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    let mut paths: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    paths.sort();
    assert_eq!(paths, vec![s(&direct).to_string(), s(&renamed).to_string()]);
    let want = core_scores(&model, std::slice::from_ref(&direct), 1)[0];
    let rec: Value =
        serde_json::from_str(stdout.lines().find(|l| l.contains("frame1.png")).unwrap()).unwrap();
    assert!((rec["score"].as_f64().unwrap() as f32 - want).abs() < 1e-5);
}

#[test]
fn watch_stops_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let t0 = Instant::now();
    let out = run(
        &[
            "--model",
            s(&model),
            "--watch",
            s(dir.path()),
            "--timeout",
            "0.3",
        ],
        None,
    );
    // No file seen before the timeout: nothing processed, an error (exit 2) with a warning.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to process"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Watching a missing directory is an error.
    let out = run(
        &["--model", s(&model), "--watch", s(&dir.path().join("nope"))],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn files_that_are_not_ceod_checkpoints_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 1);
    let img = s(&imgs[0]);
    // An image as the model.
    let out = run(&["--model", img, img], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a valid safetensors file"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // Plain weights without a model card.
    let plain = dir.path().join("plain.safetensors");
    let t = candle_core::Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&std::collections::HashMap::from([("w", t)]), &plain).unwrap();
    let out = run(&["--model", s(&plain), img], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no `ceod` model card"),
        "{}",
        stderr(&out)
    );
    // A card of an unknown format version (same length: the header size is unchanged).
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let bytes = std::fs::read(&model).unwrap();
    let needle = b"format_version\\\":1";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut future = bytes.clone();
    future[at + needle.len() - 1] = b'7';
    let v7 = dir.path().join("v7.safetensors");
    std::fs::write(&v7, future).unwrap();
    let out = run(&["--model", s(&v7), img], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("format version 7 is not supported"),
        "{}",
        stderr(&out)
    );
    // A missing model file.
    let out = run(
        &["--model", s(&dir.path().join("none.safetensors")), img],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("none.safetensors"));
}

#[test]
fn csv_and_text_formats() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = images(&dir.path().join("imgs"), 2);
    let model = save_model(dir.path(), "m.safetensors", preprocess(), 0.5);
    let out = run(
        &[
            "--model",
            s(&model),
            "--format",
            "csv",
            "--threshold",
            "0",
            s(&imgs[0]),
            s(&imgs[1]),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], ceod_infer::record::CSV_HEADER);
    assert_eq!(lines.len(), 3);
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[0], s(&imgs[0]));
    let want = core_scores(&model, &imgs[..1], 1)[0];
    assert!((fields[1].parse::<f32>().unwrap() - want).abs() <= 1e-6);
    assert_eq!(fields[2], "defect");
    let out = run(
        &[
            "--model",
            s(&model),
            "--format",
            "text",
            "--threshold",
            "1",
            s(&imgs[0]),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("good ") && text.trim_end().ends_with(s(&imgs[0])),
        "{text}"
    );
}

#[test]
fn cam_out_writes_overlay_and_raw_cams_at_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let imgs_dir = dir.path().join("imgs");
    std::fs::create_dir(&imgs_dir).unwrap();
    // A colour image, letterboxed by the card: 90×40 into 64×48.
    let img_path = imgs_dir.join("part.png");
    RgbImage::from_fn(90, 40, |x, y| Rgb([(x * 2) as u8, (y * 5) as u8, 128]))
        .save(&img_path)
        .unwrap();
    let pre = Preprocess {
        resize: Resize::Letterbox { fill: 0.0 },
        ..preprocess()
    };
    // The first seed whose CAM of this image is not zero everywhere (a zero CAM tests little).
    let (model, raw) = (0..50u64)
        .find_map(|seed| {
            let model = save_seeded_model(dir.path(), "m.safetensors", pre.clone(), 0.5, seed);
            let (net, card) = ceod_core::load_checkpoint(&model, &Device::Cpu).unwrap();
            let prepared = card.preprocess.load(&img_path).unwrap();
            let xs = PreparedImage::stack(std::slice::from_ref(&prepared), &Device::Cpu).unwrap();
            let opts = ceod_gradcam::CamOptions::default();
            let e = ceod_gradcam::explain(&net, &xs, &ceod_gradcam::Target::Binary, &opts).unwrap();
            let raw = e.raw.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            raw.iter().any(|&v| v > 0.0).then_some((model, raw))
        })
        .unwrap();
    let cams = dir.path().join("cams");
    let out = run(
        &["--model", s(&model), "--cam-out", s(&cams), s(&img_path)],
        None,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let recs = records(&out);
    let png = PathBuf::from(recs[0]["cam_png"].as_str().unwrap());
    assert_eq!(png, cams.join("part.overlay.png"));
    let overlay = image::open(&png).unwrap();
    assert_eq!((overlay.width(), overlay.height()), (90, 40));
    let parse = |p: PathBuf| ceod_infer::npy::decode_f32(&std::fs::read(p).unwrap()).unwrap();
    let (fshape, fcam) = parse(cams.join("part.cam.npy"));
    let (ishape, icam) = parse(cams.join("part.cam_image.npy"));
    assert_eq!(fshape, vec![6, 8]);
    assert_eq!(ishape, vec![40, 90]);
    // The feature-resolution CAM is ceod-gradcam's explain on the same input.
    let (_, card) = ceod_core::load_checkpoint(&model, &Device::Cpu).unwrap();
    let prepared = card.preprocess.load(&img_path).unwrap();
    let scale = raw.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "a CAM that is zero everywhere tests nothing");
    for (a, b) in fcam.iter().zip(&raw) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
    // The image-size CAM is the feature CAM brought through the letterbox placement.
    let fc = ceod_infer::heatmap::FeatureCam {
        data: fcam,
        height: 6,
        width: 8,
    };
    let up = ceod_infer::heatmap::cam_at_image_size(&fc, (64, 48), prepared.content, 90, 40);
    assert_eq!(up, icam);
    // The score with --cam-out is the score without it.
    let plain = records(&run(&["--model", s(&model), s(&img_path)], None));
    assert_eq!(plain[0]["score"], recs[0]["score"]);
}
