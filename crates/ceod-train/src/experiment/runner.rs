//! `ceod-train experiment CONFIG`: every arm × seed of a config trained with
//! [`run_training_on`] and evaluated on the test split and its variants; the results, tables and
//! the overlay grid written to `<runs-dir>/<name>/`.
//!
//! A run whose folder holds a finished `result.json` is reused (unless `--force`), so an
//! interrupted experiment continues where it stopped. A failing run (bad data, a NaN loss) is
//! recorded as failed and the others go on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use anyhow::Context;
use ceod_core::load_checkpoint;
use ceod_geometry::OverlapOptions;
use image::RgbImage;

use crate::cli::ExperimentArgs;
use crate::commands::{eval_checkpoint, explain_items};
use crate::config::{TrainConfig, UsageError};
use crate::dataset::{Dataset, Item, normalise_from_train};
use crate::experiment::config::{ExperimentConfig, ResolvedArm, experiment_dir, run_name};
use crate::experiment::data::{DataSpec, ExperimentData, build, data_root};
use crate::experiment::grid::{overlay_grid, pick_overlay_items};
use crate::experiment::report::{
    ExperimentReport, Machine, OverlayGrid, RunResult, RunStatus, TestSetMetrics, load_average,
    markdown, overlays_markdown,
};
use crate::progress::{ProgressSink, default_sink};
use crate::render::unique_names;
use crate::run_dir::{clear_run, write_atomic, write_json_atomic};
use crate::train_loop::run_training_on;

/// How an experiment command ended.
#[derive(Debug, Clone)]
pub enum ExperimentOutcome {
    /// Its data is absent: nothing was run (the message says what is missing).
    Skipped(String),
    /// It ran; the report (also written as `results.json`).
    Done(Box<ExperimentReport>),
}

/// The folder under the data root that the data of `spec` reads: [`folder_of_kind`] of its
/// `kind` tag.
pub fn dataset_folder(spec: &DataSpec) -> String {
    let kind = serde_json::to_value(spec)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_string)))
        .unwrap_or_default();
    folder_of_kind(&kind)
}

/// The dataset folder of a data kind: the kind itself, except `casting` (`casting-impeller/`),
/// `decoy-mnist` (`mnist/`) and the `magnetic-tile…` kinds (`magnetic-tile/`).
///
/// ```
/// use ceod_train::experiment::runner::folder_of_kind;
/// assert_eq!(folder_of_kind("casting"), "casting-impeller");
/// assert_eq!(folder_of_kind("decoy-mnist"), "mnist");
/// assert_eq!(folder_of_kind("magnetic-tile"), "magnetic-tile");
/// assert_eq!(folder_of_kind("other"), "other");
/// ```
pub fn folder_of_kind(kind: &str) -> String {
    match kind {
        "casting" | "casting-impeller" => "casting-impeller".into(),
        "decoy-mnist" | "mnist" => "mnist".into(),
        k if k.starts_with("magnetic-tile") => "magnetic-tile".into(),
        k => k.to_string(),
    }
}

/// Keeps at most `n` of `items`: the first `n`, except that every label of `items` stays
/// represented where `n` allows (the last kept items of labels kept more than once give way to
/// the first items of missing labels).
///
/// ```
/// // labels 0 0 0 1: the first two would be one class only
/// let kept = ceod_train::experiment::runner::keep_classes(&[0, 0, 0, 1], 2);
/// assert_eq!(kept, [0, 3]);
/// ```
pub fn keep_classes(labels: &[usize], n: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..labels.len().min(n)).collect();
    let mut classes: Vec<usize> = Vec::new();
    for &l in labels {
        if !classes.contains(&l) {
            classes.push(l);
        }
    }
    for c in classes {
        if kept.iter().any(|&i| labels[i] == c) {
            continue;
        }
        let Some(first) = (0..labels.len()).find(|&i| labels[i] == c) else {
            continue;
        };
        // the last kept item whose label is kept more than once gives way
        let count = |l: usize, kept: &[usize]| kept.iter().filter(|&&i| labels[i] == l).count();
        let Some(pos) = (0..kept.len())
            .rev()
            .find(|&p| count(labels[kept[p]], &kept) > 1)
        else {
            break;
        };
        kept[pos] = first;
    }
    kept.sort_unstable();
    kept
}

fn keep_items(items: &mut Vec<Item>, n: usize) {
    if items.len() <= n {
        return;
    }
    let labels: Vec<usize> = items.iter().map(|it| it.sample.label).collect();
    let keep = keep_classes(&labels, n);
    let old = std::mem::take(items);
    *items = keep
        .into_iter()
        .filter_map(|i| old.get(i).cloned())
        .collect();
}

/// The data of one run, ready to train on: smoke-sized if asked, normalised like `cfg` says
/// (test variants too), and the configuration with the normalisation folded in.
struct Prepared {
    dataset: Dataset,
    variants: Vec<(String, Vec<Item>)>,
    cfg: TrainConfig,
}

fn prepare(
    data: &ExperimentData,
    cfg: &TrainConfig,
    smoke: Option<&crate::experiment::config::SmokeConfig>,
) -> anyhow::Result<Prepared> {
    let mut dataset = data.dataset.clone();
    let mut variants = data.test_variants.clone();
    if let Some(s) = smoke {
        keep_items(&mut dataset.train, s.max_train);
        keep_items(&mut dataset.val, s.max_test);
        keep_items(&mut dataset.test, s.max_test);
        for (_, v) in &mut variants {
            keep_items(v, s.max_test);
        }
    }
    let mut cfg = cfg.clone();
    if cfg.normalise_from_data && !dataset.train.is_empty() {
        // the variants are normalised with the training split's statistics too: pass them
        // through as part of the test split and take them back
        let n_test = dataset.test.len();
        let lens: Vec<usize> = variants.iter().map(|(_, v)| v.len()).collect();
        for (_, v) in &mut variants {
            dataset.test.append(v);
        }
        cfg.preprocess = normalise_from_train(&mut dataset, &cfg.preprocess)?;
        cfg.normalise_from_data = false;
        let mut rest = dataset.test.split_off(n_test);
        for ((_, v), len) in variants.iter_mut().zip(lens) {
            let tail = rest.split_off(len.min(rest.len()));
            *v = std::mem::replace(&mut rest, tail);
        }
    }
    Ok(Prepared {
        dataset,
        variants,
        cfg,
    })
}

/// Builds data once per (data, preprocessing, seed) within a process.
#[derive(Default)]
struct DataCache {
    built: HashMap<(String, u64), Result<Rc<ExperimentData>, String>>,
}

impl DataCache {
    /// Drops the data of `seed` (its runs are done and the overlay grid does not need it).
    fn forget_seed(&mut self, seed: u64) {
        self.built.retain(|(_, s), _| *s != seed);
    }

    fn get(
        &mut self,
        arm: &ResolvedArm,
        cfg: &TrainConfig,
        root: &Path,
        seed: u64,
    ) -> Result<Rc<ExperimentData>, String> {
        let key = (
            format!(
                "{}|{}",
                arm.data_json,
                serde_json::to_string(&cfg.preprocess).unwrap_or_default()
            ),
            seed,
        );
        self.built
            .entry(key)
            .or_insert_with(|| {
                let t0 = Instant::now();
                tracing::info!("building the data: {} (seed {seed})", arm.data.describe());
                let r = build(&arm.data, root, &cfg.preprocess, seed)
                    .map(Rc::new)
                    .map_err(|e| format!("{e:#}"));
                if let Ok(d) = &r {
                    tracing::info!(
                        "data built in {:.1} s: {} train, {} validation, {} test, {} variants, \
                         {} skipped",
                        t0.elapsed().as_secs_f64(),
                        d.dataset.train.len(),
                        d.dataset.val.len(),
                        d.dataset.test.len(),
                        d.test_variants.len(),
                        d.dataset.skipped.len()
                    );
                    for n in &d.notes {
                        println!("  note: {n}");
                    }
                    for (p, why) in &d.dataset.skipped {
                        println!("  skipped: {}: {why}", p.display());
                    }
                }
                r
            })
            .clone()
    }
}

/// Everything a run needs besides its arm and seed.
struct Ctx<'a> {
    cfg: &'a ExperimentConfig,
    config_path: &'a Path,
    exp_dir: PathBuf,
    root: PathBuf,
    device: String,
    smoke: bool,
    force: bool,
    stop_after: Option<usize>,
}

impl Ctx<'_> {
    fn train_config(&self, arm: &ResolvedArm, seed: u64) -> Result<TrainConfig, UsageError> {
        let mut c =
            self.cfg
                .train_config(arm, seed, &self.exp_dir, &self.device, self.config_path)?;
        if self.smoke {
            c.epochs = self.cfg.smoke.epochs;
            c.warmup_epochs = c.warmup_epochs.min(c.epochs.saturating_sub(1));
        }
        Ok(c)
    }

    fn prepared(
        &self,
        cache: &mut DataCache,
        arm: &ResolvedArm,
        seed: u64,
    ) -> anyhow::Result<(Prepared, Rc<ExperimentData>)> {
        let tcfg = self.train_config(arm, seed)?;
        let data = cache
            .get(arm, &tcfg, &self.root, seed)
            .map_err(|e| anyhow::anyhow!("building the data: {e}"))?;
        let smoke = self.smoke.then_some(&self.cfg.smoke);
        Ok((prepare(&data, &tcfg, smoke)?, data))
    }
}

/// Whether `run_dir` holds an unfinished run of exactly `cfg` that can be continued: its
/// `config.json` equals `cfg` and its last checkpoint and loop state are there.
fn can_resume(run_dir: &Path, cfg: &TrainConfig) -> bool {
    let files = crate::run_dir::RunDir {
        root: run_dir.to_path_buf(),
    };
    if !(files.last().is_file() && files.state().is_file()) {
        return false;
    }
    match TrainConfig::load(&files.config()) {
        Ok(saved) if &saved == cfg => true,
        Ok(_) => {
            tracing::info!(
                "{}: the earlier run has another configuration: it is replaced",
                run_dir.display()
            );
            false
        }
        Err(_) => false,
    }
}

/// Trains and evaluates one run; every error becomes a failed result.
fn run_one(
    ctx: &Ctx,
    cache: &mut DataCache,
    arm: &ResolvedArm,
    seed: u64,
    sink: &mut dyn ProgressSink,
) -> RunResult {
    let run_dir = ctx.exp_dir.join(run_name(&arm.name, seed));
    let result_path = run_dir.join("result.json");
    let inputs = serde_json::json!({
        "data": arm.data_json,
        "train": arm.flags,
        "seed": seed,
        "smoke": ctx.smoke.then_some(&ctx.cfg.smoke),
    });
    let earlier = std::fs::read_to_string(&result_path)
        .ok()
        .and_then(|t| serde_json::from_str::<RunResult>(&t).ok())
        .filter(|r| r.status == RunStatus::Ok);
    if let Some(r) = earlier.filter(|_| !ctx.force) {
        if r.inputs == inputs {
            println!(
                "reused: {} (finished: {})",
                run_name(&arm.name, seed),
                result_path.display()
            );
            return RunResult { reused: true, ..r };
        }
        println!(
            "   {}: the config changed since it finished: trained again",
            run_name(&arm.name, seed)
        );
    }
    let t0 = Instant::now();
    let mut result = RunResult {
        arm: arm.name.clone(),
        seed,
        status: RunStatus::Failed,
        error: None,
        wall_seconds: 0.0,
        best_epoch: None,
        epochs: 0,
        test: Vec::new(),
        notes: Vec::new(),
        skipped: 0,
        run_dir: run_dir.clone(),
        reused: false,
        inputs,
    };
    println!(
        "== {} (arm {}, seed {seed}): {}",
        run_dir.display(),
        arm.name,
        arm.data.describe()
    );
    let mut stopped = false;
    let body = (|| -> anyhow::Result<()> {
        if result_path.exists() {
            std::fs::remove_file(&result_path)
                .with_context(|| format!("cannot remove {}", result_path.display()))?;
        }
        let (p, data) = ctx.prepared(cache, arm, seed)?;
        result.notes = data.notes.clone();
        result.skipped = data.dataset.skipped.len();
        result.epochs = p.cfg.epochs;
        // an interrupted run of the same configuration continues from its last epoch; any other
        // earlier run in the folder (or every one, with --force) is replaced
        let resume = !ctx.force && can_resume(&run_dir, &p.cfg);
        if resume {
            println!(
                "   resuming the interrupted run in {} from its last checkpoint",
                run_dir.display()
            );
        } else {
            clear_run(&run_dir)?;
        }
        let device = crate::config::device_of(&p.cfg.device)?;
        let batch = p.cfg.batch_size;
        let out = if resume {
            match run_training_on(&p.cfg, p.dataset.clone(), true, ctx.stop_after, sink) {
                Ok(out) => out,
                Err(e) if e.downcast_ref::<crate::train_loop::NanLoss>().is_none() => {
                    // a checkpoint and loop state that do not agree (killed while saving)
                    tracing::warn!(
                        "{}: cannot continue the earlier run ({e:#}): training it again",
                        run_dir.display()
                    );
                    clear_run(&run_dir)?;
                    run_training_on(&p.cfg, p.dataset, false, ctx.stop_after, sink)?
                }
                Err(e) => return Err(e),
            }
        } else {
            run_training_on(&p.cfg, p.dataset, false, ctx.stop_after, sink)?
        };
        result.best_epoch = out.best_epoch;
        if out.history.len() < p.cfg.epochs {
            stopped = true;
            return Ok(());
        }
        let t_eval = Instant::now();
        let best = out.run_dir.join("best.safetensors");
        let mut sets: Vec<(String, &[Item])> = vec![("test".into(), &out.dataset.test)];
        sets.extend(p.variants.iter().map(|(n, v)| (n.clone(), v.as_slice())));
        for (name, items) in sets {
            if items.is_empty() {
                tracing::warn!("test set `{name}` is empty: not evaluated");
                continue;
            }
            let (metrics, _) = eval_checkpoint(&best, items, batch, &device)
                .with_context(|| format!("evaluating on `{name}`"))?;
            result.test.push(TestSetMetrics { name, metrics });
        }
        // every epoch (also those before a resume) and the final evaluation
        let train_s: f64 = out.history.iter().map(|r| r.seconds).sum();
        result.wall_seconds = train_s + t_eval.elapsed().as_secs_f64();
        Ok(())
    })();
    if result.wall_seconds == 0.0 {
        result.wall_seconds = t0.elapsed().as_secs_f64();
    }
    match body {
        Ok(()) if stopped => {
            result.status = RunStatus::Stopped;
            println!(
                "   stopped after epoch {} of {} (--stop-after): a rerun continues it",
                ctx.stop_after.unwrap_or(0),
                result.epochs
            );
            // no result.json: the run is not finished
            return result;
        }
        Ok(()) => {
            result.status = RunStatus::Ok;
            let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
            for t in &result.test {
                println!(
                    "   {}: accuracy {} AUROC {} energy inside mask {} ({} images)",
                    t.name,
                    f(t.metrics.accuracy),
                    f(t.metrics.auroc),
                    f(t.metrics.energy_share),
                    t.metrics.n
                );
            }
            println!("   done in {:.1} s", result.wall_seconds);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!("{}: failed: {msg}", run_dir.display());
            println!("   FAILED: {msg}");
            result.error = Some(msg);
        }
    }
    let write = std::fs::create_dir_all(&run_dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| write_json_atomic(&result_path, &result));
    if let Err(e) = write {
        tracing::error!("cannot write {}: {e:#}", result_path.display());
    }
    result
}

/// Draws `overlays.png` (and `overlays.md`): per arm, its model of `seed` on the same test images.
fn draw_overlays(
    ctx: &Ctx,
    cache: &mut DataCache,
    arms: &[ResolvedArm],
    runs: &[RunResult],
    seed: u64,
) -> anyhow::Result<Option<OverlayGrid>> {
    if ctx.cfg.overlays == 0 {
        return Ok(None);
    }
    let device = crate::config::device_of(&ctx.device)?;
    let mut rows: Vec<Vec<RgbImage>> = Vec::new();
    let mut info: Vec<(String, Vec<String>)> = Vec::new();
    for arm in arms {
        let Some(run) = runs
            .iter()
            .find(|r| r.arm == arm.name && r.seed == seed && r.status == RunStatus::Ok)
        else {
            continue;
        };
        let (p, _) = ctx.prepared(cache, arm, seed)?;
        let best = run.run_dir.join("best.safetensors");
        let (net, card) = load_checkpoint(&best, &device)
            .with_context(|| format!("loading {}", best.display()))?;
        let labels: Vec<usize> = p.dataset.test.iter().map(|it| it.sample.label).collect();
        let picked: Vec<Item> = pick_overlay_items(&labels, ctx.cfg.overlays)
            .into_iter()
            .filter_map(|i| p.dataset.test.get(i).cloned())
            .collect();
        if picked.is_empty() {
            continue;
        }
        let out = ctx.exp_dir.join("overlays").join(&arm.name);
        explain_items(
            &net,
            &card,
            &picked,
            None,
            &out,
            picked.len(),
            &OverlapOptions::default(),
            &device,
        )?;
        let names = unique_names(&picked.iter().map(|it| it.name.as_str()).collect::<Vec<_>>());
        let mut tiles = Vec::with_capacity(names.len());
        for n in &names {
            let f = out.join(format!("{n}_overlay.png"));
            let img = image::open(&f)
                .with_context(|| format!("reading {}", f.display()))?
                .to_rgb8();
            tiles.push(img);
        }
        rows.push(tiles);
        info.push((arm.name.clone(), names));
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let cell = rows
        .iter()
        .flatten()
        .fold((0, 0), |(w, h), t| (t.width().max(w), t.height().max(h)));
    let grid = overlay_grid(&rows);
    let path = ctx.exp_dir.join("overlays.png");
    let mut png = Vec::new();
    grid.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(&path, &png)?;
    let g = OverlayGrid {
        path,
        seed,
        rows: info,
        cell,
    };
    write_atomic(
        &ctx.exp_dir.join("overlays.md"),
        overlays_markdown(&g).as_bytes(),
    )?;
    Ok(Some(g))
}

/// Runs the experiment of `a`; `command` is the command line for the report.
///
/// ```
/// use clap::Parser;
/// use ceod_train::cli::{Cli, Command};
/// use ceod_train::experiment::{ExperimentOutcome, RunStatus, run_experiment};
///
/// let dir = tempfile::tempdir()?;
/// let config = dir.path().join("tiny.json");
/// std::fs::write(
///     &config,
///     r#"{"name": "tiny", "data": {"kind": "synth", "n_train": 16, "n_val": 8, "n_test": 8},
///         "train": ["--size", "32x32", "--epochs", "1", "--batch-size", "8"],
///         "arms": [{"name": "baseline", "train": ["--omega", "0"]}, {"name": "ceod"}],
///         "overlays": 2}"#,
/// )?;
/// let runs = dir.path().join("runs");
/// let cli = Cli::try_parse_from([
///     "ceod-train".as_ref(), "experiment".as_ref(), config.as_os_str(),
///     "--runs-dir".as_ref(), runs.as_os_str(),
/// ])?;
/// let Command::Experiment(args) = cli.command else { unreachable!() };
/// let ExperimentOutcome::Done(report) = run_experiment(&args, "doc example")? else {
///     panic!("synthetic data is never skipped")
/// };
/// assert_eq!(report.runs.len(), 2);
/// assert!(report.runs.iter().all(|r| r.status == RunStatus::Ok));
/// assert!(runs.join("tiny/results.md").is_file());
/// assert!(runs.join("tiny/overlays.png").is_file());
/// # Ok::<(), anyhow::Error>(())
/// ```
///
/// # Errors
/// A [`UsageError`] for a bad config or flags (exit code 2); an I/O error writing the reports.
/// Runs that fail are not errors: they are in the report as failed.
pub fn run_experiment(a: &ExperimentArgs, command: &str) -> anyhow::Result<ExperimentOutcome> {
    let t0 = Instant::now();
    let mut machine = Machine::now();
    let cfg = ExperimentConfig::load(&a.config)?;
    let arms: Vec<ResolvedArm> = {
        let all: Vec<ResolvedArm> = cfg
            .arms
            .iter()
            .map(|arm| cfg.resolve_for(arm, &a.config, a.smoke))
            .collect::<Result<_, _>>()?;
        match &a.arms {
            None => all,
            Some(want) => {
                for w in want {
                    if !all.iter().any(|r| &r.name == w) {
                        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
                        return Err(UsageError(format!(
                            "--arms: {} has no arm `{w}` (its arms: {})",
                            a.config.display(),
                            names.join(", ")
                        ))
                        .into());
                    }
                }
                all.into_iter().filter(|r| want.contains(&r.name)).collect()
            }
        }
    };
    let mut seeds = a.seeds.clone().unwrap_or_else(|| cfg.seeds.clone());
    if seeds.is_empty() {
        return Err(UsageError("--seeds: give at least one seed".into()).into());
    }
    if a.smoke {
        seeds.truncate(1);
    }
    crate::config::device_of(&a.device)?;
    let root = data_root(a.data_root.as_deref());
    for arm in &arms {
        if arm.data.needs_files() {
            let folder = root.join(dataset_folder(&arm.data));
            if !folder.is_dir() {
                let msg = format!(
                    "skipped: {} needs {} (set --data-root or CEOD_DATA)",
                    cfg.name,
                    folder.display()
                );
                println!("{msg}");
                return Ok(ExperimentOutcome::Skipped(msg));
            }
        }
    }
    let exp_dir = experiment_dir(&a.runs_dir, &cfg.name, a.smoke);
    std::fs::create_dir_all(&exp_dir)
        .with_context(|| format!("cannot create {}", exp_dir.display()))?;
    let ctx = Ctx {
        cfg: &cfg,
        config_path: &a.config,
        exp_dir: exp_dir.clone(),
        root,
        device: a.device.clone(),
        smoke: a.smoke,
        force: a.force,
        stop_after: a.stop_after,
    };
    println!(
        "experiment {}: {} arms × {} seeds into {}{}",
        cfg.name,
        arms.len(),
        seeds.len(),
        exp_dir.display(),
        if a.smoke { " (smoke run)" } else { "" }
    );
    let mut cache = DataCache::default();
    let mut sink = default_sink();
    let mut runs = Vec::new();
    for (k, &seed) in seeds.iter().enumerate() {
        for arm in &arms {
            runs.push(run_one(&ctx, &mut cache, arm, seed, sink.as_mut()));
        }
        // the first seed's data is kept for the overlay grid
        if k > 0 {
            cache.forget_seed(seed);
        }
    }
    let mut overlay_error = None;
    let overlays = match seeds.first() {
        Some(&s) => match draw_overlays(&ctx, &mut cache, &arms, &runs, s) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("the overlay grid failed: {e:#}");
                overlay_error = Some(format!("{e:#}"));
                None
            }
        },
        None => None,
    };
    machine.load_end = load_average();
    let report = ExperimentReport {
        config_path: a.config.clone(),
        config: cfg.clone(),
        command: command.to_string(),
        smoke: a.smoke,
        arms: arms.iter().map(|r| r.name.clone()).collect(),
        seeds,
        machine,
        wall_seconds: t0.elapsed().as_secs_f64(),
        runs,
        overlays,
        overlay_error,
    };
    write_json_atomic(&exp_dir.join("results.json"), &report)?;
    write_atomic(&exp_dir.join("results.md"), markdown(&report).as_bytes())?;
    Ok(ExperimentOutcome::Done(Box::new(report)))
}

/// The subcommand: runs the experiment, prints where its results are; an error (exit code 1)
/// when a run failed.
pub fn experiment_cmd(a: &ExperimentArgs) -> anyhow::Result<()> {
    let command: Vec<String> = std::env::args().collect();
    match run_experiment(a, &command.join(" "))? {
        ExperimentOutcome::Skipped(_) => Ok(()),
        ExperimentOutcome::Done(r) => {
            let dir = experiment_dir(&a.runs_dir, &r.config.name, r.smoke);
            println!("results: {}", dir.join("results.md").display());
            println!("         {}", dir.join("results.json").display());
            if let Some(g) = &r.overlays {
                println!("overlays: {}", g.path.display());
            }
            println!("wall time: {:.1} s", r.wall_seconds);
            let failed = r
                .runs
                .iter()
                .filter(|x| x.status == RunStatus::Failed)
                .count();
            if let Some(e) = &r.overlay_error {
                anyhow::bail!("the overlay grid failed: {e}");
            }
            if failed > 0 {
                anyhow::bail!(
                    "{failed} of {} runs failed (see {})",
                    r.runs.len(),
                    dir.join("results.md").display()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_normalised_like_the_test_split() {
        let cfg = ExperimentConfig::parse(
            r#"{"name": "n", "data": {"kind": "synth", "n_train": 12, "n_val": 4, "n_test": 6},
                "train": ["--size", "32x32", "--normalise"], "arms": [{"name": "a"}]}"#,
            Path::new("n.json"),
        )
        .unwrap();
        let arm = cfg.resolve(&cfg.arms[0], Path::new("n.json")).unwrap();
        let tcfg = cfg
            .train_config(&arm, 0, Path::new("r"), "cpu", Path::new("n.json"))
            .unwrap();
        let mut data = build(&arm.data, Path::new("."), &tcfg.preprocess, 0).unwrap();
        // a variant: the test images again, and a shorter one
        let test = data.dataset.test.clone();
        data.test_variants = vec![
            ("same".into(), test.clone()),
            ("two".into(), test[..2].to_vec()),
        ];
        let smoke = crate::experiment::config::SmokeConfig {
            max_train: 8,
            max_test: 5,
            epochs: 1,
            data: None,
        };
        let p = prepare(&data, &tcfg, Some(&smoke)).unwrap();
        assert_eq!(p.dataset.train.len(), 8);
        assert_eq!(p.dataset.test.len(), 5);
        assert!(!p.cfg.normalise_from_data);
        // the training split's pixels now have mean 0 and standard deviation 1
        let px: Vec<f64> = p
            .dataset
            .train
            .iter()
            .flat_map(|it| it.sample.image.data.iter().map(|&v| f64::from(v)))
            .collect();
        let mean = px.iter().sum::<f64>() / px.len() as f64;
        let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
        assert!(
            mean.abs() < 1e-4 && (var.sqrt() - 1.0).abs() < 1e-3,
            "{mean} {var}"
        );
        // the variants got exactly the test split's transformation
        assert_eq!(p.variants[0].1.len(), 5);
        assert_eq!(p.variants[1].1.len(), 2);
        for (v, t) in p.variants[0].1.iter().zip(&p.dataset.test) {
            assert_eq!(v.sample.image.data, t.sample.image.data);
        }
        for (v, t) in p.variants[1].1.iter().zip(&p.dataset.test) {
            assert_eq!(v.sample.image.data, t.sample.image.data);
        }
        assert_ne!(
            p.dataset.test[0].sample.image.data,
            test[0].sample.image.data
        );
    }

    #[test]
    fn keep_classes_by_hand() {
        assert_eq!(keep_classes(&[0, 1, 0, 1], 10), [0, 1, 2, 3]);
        assert_eq!(keep_classes(&[0, 0, 0, 0, 1, 2], 3), [0, 4, 5]);
        assert_eq!(keep_classes(&[1, 1, 1, 0], 3), [0, 1, 3]);
        // one slot: one class only, the first item
        assert_eq!(keep_classes(&[0, 1], 1), [0]);
        assert_eq!(keep_classes(&[], 3), Vec::<usize>::new());
    }
}
