//! `ceod-train experiment` end to end on `experiments/synth-smoke.json` (`--smoke`): the files
//! it writes, reuse of finished runs, failed runs, usage errors; and every config under
//! `experiments/` run with `--smoke` (issue 7's smoke test; configs whose data is absent skip).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary in the workspace root (where configs name their paths from).
fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ceod-train"))
        .args(args)
        .current_dir(workspace())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "stdout of {args:?}:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// The overlay cell of `ceod-train explain` at a square input of `side` pixels: the image scaled
/// by `128 / side` (between 1 and 8).
fn cell(side: u32) -> u32 {
    side * (128 / side).clamp(1, 8)
}

#[test]
fn smoke_run_writes_results_and_reuses_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().to_str().unwrap();
    let cfg = json(&workspace().join("experiments/synth-smoke.json"));
    let out = run(&[
        "experiment",
        "experiments/synth-smoke.json",
        "--smoke",
        "--runs-dir",
        runs,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let dir = tmp.path().join("synth-smoke-smoke");
    let r = json(&dir.join("results.json"));
    assert_eq!(r["smoke"], true);
    assert_eq!(r["arms"], serde_json::json!(["baseline", "ceod"]));
    // --smoke: the first seed only
    assert_eq!(r["seeds"], serde_json::json!([cfg["seeds"][0]]));
    assert_eq!(r["config"]["name"], "synth-smoke");
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    let max_test = cfg["smoke"]["max_test"].as_u64().unwrap();
    let runs_json = r["runs"].as_array().unwrap();
    assert_eq!(runs_json.len(), 2);
    for (run, arm) in runs_json.iter().zip(["baseline", "ceod"]) {
        assert_eq!(run["arm"], arm);
        assert_eq!(run["status"], "ok", "{run}");
        assert_eq!(run["epochs"], cfg["smoke"]["epochs"]);
        assert_eq!(run["best_epoch"], 1);
        assert!(run["wall_seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(run["skipped"], 0);
        let test = run["test"].as_array().unwrap();
        assert_eq!(test[0]["name"], "test");
        assert_eq!(test[0]["metrics"]["n"].as_u64().unwrap(), max_test);
        let run_dir = dir.join(format!("{arm}-s0"));
        assert!(run_dir.join("best.safetensors").is_file());
        assert_eq!(json(&run_dir.join("result.json"))["arm"], arm);
        // the training saw at most max_train images: steps of the one epoch
        let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
        let step: u64 = serde_json::from_str::<serde_json::Value>(metrics.lines().next().unwrap())
            .unwrap()["step"]
            .as_u64()
            .unwrap();
        let batch = 16;
        let max_train = cfg["smoke"]["max_train"].as_u64().unwrap();
        assert_eq!(step, max_train.div_ceil(batch));
    }
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert!(md.contains("| baseline | 1/1 ok |"), "{md}");
    assert!(md.contains("| ceod | 1/1 ok |"), "{md}");
    assert!(md.contains("AUROC") && md.contains("pointing game"), "{md}");
    // the grid: 2 arms × min(overlays, test images) cells of the 32x32 input, 4-pixel gaps
    let cols = cfg["overlays"].as_u64().unwrap().min(max_test) as u32;
    let img = image::open(dir.join("overlays.png")).unwrap();
    let c = cell(32);
    assert_eq!(
        (img.width(), img.height()),
        (cols * (c + 4) + 4, 2 * (c + 4) + 4)
    );
    let om = std::fs::read_to_string(dir.join("overlays.md")).unwrap();
    assert!(
        om.contains("| 1 | baseline |") && om.contains("| 2 | ceod |"),
        "{om}"
    );

    // a rerun reuses both finished runs; without ceod's result.json (interrupted after its last
    // epoch) ceod is continued: nothing left to train, evaluated again
    let best_b = dir.join("baseline-s0/best.safetensors");
    let best_c = dir.join("ceod-s0/best.safetensors");
    let (tb, tc) = (mtime(&best_b), mtime(&best_c));
    let result_c = json(&dir.join("ceod-s0/result.json"));
    std::fs::remove_file(dir.join("ceod-s0/result.json")).unwrap();
    let out = run(&[
        "experiment",
        "experiments/synth-smoke.json",
        "--smoke",
        "--runs-dir",
        runs,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("reused: baseline-s0"), "{text}");
    assert!(!text.contains("reused: ceod-s0"), "{text}");
    assert!(text.contains("resuming the interrupted run"), "{text}");
    assert_eq!((mtime(&best_b), mtime(&best_c)), (tb, tc));
    assert_eq!(
        json(&dir.join("ceod-s0/result.json"))["test"],
        result_c["test"]
    );
    let r = json(&dir.join("results.json"));
    assert_eq!(r["runs"][0]["reused"], true);
    assert_eq!(r["runs"][1]["reused"], false);

    // --force retrains, --arms selects
    let out = run(&[
        "experiment",
        "experiments/synth-smoke.json",
        "--smoke",
        "--runs-dir",
        runs,
        "--force",
        "--arms",
        "baseline",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).contains("reused"));
    assert!(mtime(&best_b) > tb);
    let r = json(&dir.join("results.json"));
    assert_eq!(r["arms"], serde_json::json!(["baseline"]));
}

/// A config in `dir` from the smoke config with `edit` applied to its JSON.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v = json(&workspace().join("experiments/synth-smoke.json"));
    edit(&mut v);
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

#[test]
fn bad_configs_are_usage_errors_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            edited(tmp.path(), "unknown.json", |v| {
                v["arms"][1]["omgea"] = serde_json::json!(1);
            }),
            "omgea",
        ),
        (
            edited(tmp.path(), "dataflag.json", |v| {
                v["train"]
                    .as_array_mut()
                    .unwrap()
                    .extend(["--mvtec".into(), "x".into()]);
            }),
            "--mvtec",
        ),
        (
            edited(tmp.path(), "badflag.json", |v| {
                v["arms"][0]["train"] = serde_json::json!(["--omega", "zero"]);
            }),
            "baseline",
        ),
        (
            edited(tmp.path(), "baddata.json", |v| {
                v["data"]["n_tset"] = serde_json::json!(3);
            }),
            "n_tset",
        ),
    ];
    for (path, needle) in cases {
        let out = run(&[
            "experiment",
            path.to_str().unwrap(),
            "--smoke",
            "--runs-dir",
            tmp.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle) && err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    let out = run(&[
        "experiment",
        "experiments/synth-smoke.json",
        "--arms",
        "nope",
        "--runs-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn a_failing_run_is_reported_and_the_others_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    // the ceod arm's data has no training image: its build fails
    let cfg = edited(tmp.path(), "fails.json", |v| {
        v["name"] = "fails".into();
        v["arms"][1]["data"] = serde_json::json!({"n_train": 0});
    });
    let out = run(&[
        "experiment",
        cfg.to_str().unwrap(),
        "--smoke",
        "--runs-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let dir = tmp.path().join("fails-smoke");
    let r = json(&dir.join("results.json"));
    assert_eq!(r["runs"][0]["status"], "ok");
    assert_eq!(r["runs"][1]["status"], "failed");
    assert!(r["runs"][1]["error"].as_str().unwrap().contains("empty"));
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert!(md.contains("| ceod | 0/1 ok |"), "{md}");
    assert!(md.contains("ceod seed 0: failed:"), "{md}");
    // the grid has the baseline row only
    let img = image::open(dir.join("overlays.png")).unwrap();
    assert_eq!(img.height(), cell(32) + 8);
}

/// Issue 7's smoke test: every experiment config runs on a handful of images (`--smoke`); those
/// whose data is absent skip with the runner's message.
#[test]
fn every_experiment_config_runs_in_smoke_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let mut configs: Vec<PathBuf> = std::fs::read_dir(workspace().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    configs.sort();
    assert!(!configs.is_empty());
    let empty = tmp.path().join("no-data");
    std::fs::create_dir(&empty).unwrap();
    let mut ran = 0;
    for c in &configs {
        let rel = format!("experiments/{}", c.file_name().unwrap().to_str().unwrap());
        // a model config beside the experiments is not an experiment
        let v = json(c);
        if v.get("arms").is_none() {
            continue;
        }
        let smoke = |root: Option<&Path>| {
            let mut args = vec![
                "experiment",
                rel.as_str(),
                "--smoke",
                "--runs-dir",
                tmp.path().to_str().unwrap(),
            ];
            if let Some(r) = root {
                args.extend(["--data-root", r.to_str().unwrap()]);
            }
            let out = run(&args);
            let skipped = stdout(&out)
                .lines()
                .find(|l| l.starts_with("skipped:"))
                .map(str::to_string);
            (out, skipped)
        };
        let name = v["name"].as_str().unwrap();
        // against an empty data root: a config that needs files skips, naming what it needs
        let (mut out, skipped) = smoke(Some(&empty));
        if let Some(line) = skipped {
            assert_eq!(out.status.code(), Some(0), "{rel}");
            assert!(
                line.starts_with(&format!("skipped: {name} needs {}", empty.display()))
                    && line.contains("--data-root"),
                "{line}"
            );
            // the data root of the tests (CEOD_DATA or ../shared/data)
            let (o, skipped) = smoke(None);
            if let Some(line) = skipped {
                println!("{rel}: {line}");
                assert_eq!(o.status.code(), Some(0));
                continue;
            }
            out = o;
        }
        assert_eq!(out.status.code(), Some(0), "{rel}");
        let r = json(&tmp.path().join(format!("{name}-smoke/results.json")));
        assert!(
            r["runs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["status"] == "ok"),
            "{rel}"
        );
        ran += 1;
    }
    // synth-smoke needs no files: at least it ran
    assert!(ran >= 1);
}

/// metrics.jsonl of a run without the wall-clock field.
fn epochs_of(run: &Path) -> Vec<serde_json::Value> {
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
fn an_interrupted_run_continues_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = edited(tmp.path(), "resume.json", |v| {
        v["name"] = "resume".into();
        v["smoke"]["epochs"] = 2.into();
    });
    let cfg = cfg.to_str().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let args = |runs: &Path, extra: &[&str]| {
        let mut v: Vec<String> = [
            "experiment",
            cfg,
            "--smoke",
            "--arms",
            "ceod",
            "--runs-dir",
            runs.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let go = |v: Vec<String>| run(&v.iter().map(String::as_str).collect::<Vec<_>>());
    // uninterrupted
    assert_eq!(go(args(&a, &[])).status.code(), Some(0));
    // stopped after the first epoch: no result.json, reported as stopped
    let out = go(args(&b, &["--stop-after", "1"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("stopped after epoch 1 of 2"));
    let run_b = b.join("resume-smoke/ceod-s0");
    assert!(!run_b.join("result.json").exists());
    assert_eq!(epochs_of(&run_b).len(), 1);
    let r = json(&b.join("resume-smoke/results.json"));
    assert_eq!(r["runs"][0]["status"], "stopped");
    // the rerun continues from epoch 1 and ends where the uninterrupted run ended
    let out = go(args(&b, &[]));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("resuming the interrupted run"));
    let run_a = a.join("resume-smoke/ceod-s0");
    assert_eq!(epochs_of(&run_b), epochs_of(&run_a));
    let (ra, rb) = (
        json(&run_a.join("result.json")),
        json(&run_b.join("result.json")),
    );
    assert_eq!(ra["test"], rb["test"]);
    assert_eq!(rb["epochs"], 2);
    // a finished run whose config changed is trained again, not reused
    edited(tmp.path(), "resume.json", |v| {
        v["name"] = "resume".into();
        v["smoke"]["epochs"] = 2.into();
        v["arms"][1]["train"]
            .as_array_mut()
            .unwrap()
            .extend(["--lr".into(), "2e-3".into()]);
    });
    let out = go(args(&b, &[]));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("the config changed since it finished"),
        "{text}"
    );
    assert!(
        !text.contains("reused") && !text.contains("resuming"),
        "{text}"
    );
    let rb = json(&run_b.join("result.json"));
    assert_eq!(
        rb["inputs"]["train"].as_array().unwrap().last().unwrap(),
        "2e-3"
    );
    assert_eq!(json(&run_b.join("config.json"))["optimiser"]["lr"], 2e-3);
}
