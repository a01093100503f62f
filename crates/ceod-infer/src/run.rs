//! A run: inputs (then the watched directory) in batches through the [`Engine`], records out.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::engine::Engine;
use crate::heatmap::{CamFiles, write_cam_files};
use crate::inputs::{Exclude, Input, InputStream};
use crate::record::{Decision, Record, RecordWriter, clean_error};
use crate::watch::{DirWatcher, WatchOptions};
use ceod_core::PreparedImage;
use image::DynamicImage;

/// The counts of a run, and its exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records with decision `good`.
    pub good: usize,
    /// Records with decision `defect`.
    pub defect: usize,
    /// Records with decision `error`.
    pub errors: usize,
}

impl Summary {
    /// 2 if any input could not be processed, else 1 if any part is rejected, else 0.
    ///
    /// ```
    /// use ceod_infer::run::Summary;
    /// assert_eq!(Summary { good: 3, defect: 0, errors: 0 }.exit_code(), 0);
    /// assert_eq!(Summary { good: 3, defect: 1, errors: 0 }.exit_code(), 1);
    /// assert_eq!(Summary { good: 3, defect: 1, errors: 1 }.exit_code(), 2);
    /// ```
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 {
            2
        } else if self.defect > 0 {
            1
        } else {
            0
        }
    }

    /// Records written so far.
    pub fn total(&self) -> usize {
        self.good + self.defect + self.errors
    }

    fn add(&mut self, d: Decision) {
        match d {
            Decision::Good => self.good += 1,
            Decision::Defect => self.defect += 1,
            Decision::Error => self.errors += 1,
        }
    }
}

/// Runs `config` with the process's stdin (for `-`) and stdout.
///
/// # Errors
/// The model cannot be loaded, the device is unavailable, the watched directory or the CAM
/// directory cannot be used, or stdout cannot be written. Inputs that fail are records, not
/// errors.
pub fn run(config: &Config) -> anyhow::Result<Summary> {
    let stdin = Box::new(std::io::stdin().lock());
    let stdout = std::io::stdout().lock();
    run_with(config, stdin, stdout)
}

/// Unique base names for the CAM files of a run: the file stem, then `stem-2`, `stem-3`, …
#[derive(Debug, Default)]
struct CamNames {
    used: HashSet<String>,
}

impl CamNames {
    fn next(&mut self, path: &Path) -> String {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        let mut name = stem.clone();
        let mut n = 1;
        while self.used.contains(&name) {
            n += 1;
            name = format!("{stem}-{n}");
        }
        self.used.insert(name.clone());
        name
    }
}

struct Runner<'a, W: Write> {
    engine: Engine,
    config: &'a Config,
    writer: RecordWriter<W>,
    summary: Summary,
    cam_names: CamNames,
    started: Instant,
    first_decision_logged: bool,
}

impl<W: Write> Runner<'_, W> {
    fn remaining(&self) -> Option<usize> {
        self.config
            .max_files
            .map(|m| m.saturating_sub(self.summary.total()))
    }

    fn done(&self) -> bool {
        self.remaining() == Some(0)
    }

    fn error_record(&self, path: PathBuf, error: String, ms: f64) -> Record {
        Record {
            path,
            score: None,
            decision: Decision::Error,
            threshold: self.engine.threshold(),
            model: self.engine.model_id().to_string(),
            ms,
            cam_png: None,
            error: Some(clean_error(&error)),
        }
    }

    /// Processes one batch of at most `config.batch` items and writes their records.
    fn process(&mut self, items: Vec<Input>) -> anyhow::Result<()> {
        let mut records: Vec<Option<Record>> = Vec::with_capacity(items.len());
        // Per prepared image: its record slot, path, decoded image (for --cam-out), time so far.
        let mut meta: Vec<(usize, PathBuf, Option<DynamicImage>, f64)> = Vec::new();
        let mut inputs: Vec<PreparedImage> = Vec::new();
        let keep_image = self.config.cam_out.is_some();
        for item in items {
            let t0 = Instant::now();
            match item {
                Input::Failed { path, error } => {
                    tracing::warn!(path = %path.display(), %error, "input failed");
                    records.push(Some(self.error_record(path, error, 0.0)));
                }
                Input::File(path) => match self.engine.prepare(&path, keep_image) {
                    Ok(p) => {
                        records.push(None);
                        inputs.push(p.prepared);
                        meta.push((records.len() - 1, p.path, p.image, ms_since(t0)));
                    }
                    Err(e) => {
                        let error = format!("{e:#}");
                        tracing::warn!(path = %path.display(), %error, "cannot read image");
                        records.push(Some(self.error_record(path, error, ms_since(t0))));
                    }
                },
            }
        }
        if !inputs.is_empty() {
            let t0 = Instant::now();
            let result = self.engine.classify(&inputs, keep_image);
            let share = ms_since(t0) / inputs.len() as f64;
            match result {
                Ok(outputs) => {
                    for (((slot, path, image, prep_ms), out), input) in
                        meta.into_iter().zip(outputs).zip(&inputs)
                    {
                        let decision = if out.score.is_nan() {
                            Decision::Error
                        } else if out.defect {
                            Decision::Defect
                        } else {
                            Decision::Good
                        };
                        let mut rec = Record {
                            path,
                            score: Some(out.score),
                            decision,
                            threshold: self.engine.threshold(),
                            model: self.engine.model_id().to_string(),
                            ms: prep_ms + share,
                            cam_png: None,
                            error: (decision == Decision::Error)
                                .then(|| "the model gave a NaN score".to_string()),
                        };
                        if let (Some(dir), Some(cam), Some(img)) =
                            (&self.config.cam_out, &out.cam, &image)
                        {
                            let t1 = Instant::now();
                            let files = CamFiles::in_dir(dir, &self.cam_names.next(&rec.path));
                            let written = write_cam_files(
                                &files,
                                img,
                                cam,
                                self.engine.input_size(),
                                input.content,
                            );
                            match written {
                                Ok(()) => rec.cam_png = Some(files.overlay_png),
                                Err(e) => {
                                    // The decision stands; the missing files are an error of the run.
                                    rec.decision = Decision::Error;
                                    rec.error = Some(clean_error(&format!(
                                        "cannot write the CAM files: {e}"
                                    )));
                                    tracing::error!(path = %rec.path.display(), error = %e, "cannot write the CAM files");
                                }
                            }
                            rec.ms += ms_since(t1);
                        }
                        records[slot] = Some(rec);
                    }
                }
                Err(e) => {
                    let error = format!("inference failed: {e:#}");
                    tracing::error!(%error, "batch failed");
                    for (slot, path, _, prep_ms) in meta {
                        records[slot] =
                            Some(self.error_record(path, error.clone(), prep_ms + share));
                    }
                }
            }
        }
        let records: Vec<Record> = records.into_iter().flatten().collect();
        for r in &records {
            self.summary.add(r.decision);
        }
        self.writer
            .write(&records)
            .context("cannot write the records to stdout")?;
        if !self.first_decision_logged && !records.is_empty() {
            self.first_decision_logged = true;
            tracing::info!(
                ms = ms_since(self.started),
                "first record written (since the run started)"
            );
        }
        Ok(())
    }

    /// Takes batches from `items` until it is exhausted or `max_files` is reached.
    fn drain(&mut self, items: &mut dyn Iterator<Item = Input>) -> anyhow::Result<()> {
        loop {
            let n = self
                .remaining()
                .map_or(self.config.batch, |r| r.min(self.config.batch));
            if n == 0 {
                return Ok(());
            }
            let batch: Vec<Input> = (&mut *items).take(n).collect();
            if batch.is_empty() {
                return Ok(());
            }
            self.process(batch)?;
        }
    }

    /// The warning for `--max-files` cutting the inputs short (`what`: how many, and what).
    fn warn_cut_short(&self, what: &str) {
        let max = self.config.max_files.unwrap_or_default();
        tracing::warn!(
            max_files = max,
            "--max-files {max} reached: {what} not processed"
        );
    }

    fn watch(&mut self, mut watcher: DirWatcher) -> anyhow::Result<()> {
        let deadline = self.config.timeout.map(|t| self.started + t);
        tracing::info!(dir = %watcher.root().display(), "watching");
        loop {
            if self.done() {
                return Ok(());
            }
            let ready = watcher.poll()?;
            if !ready.is_empty() {
                tracing::debug!(n = ready.len(), "new files");
                let mut it = ready.into_iter();
                self.drain(&mut it)?;
                let left = it.count();
                if left > 0 {
                    self.warn_cut_short(&format!("{left} watched files were"));
                }
                continue;
            }
            let now = Instant::now();
            let mut sleep = watcher.interval();
            if let Some(d) = deadline {
                if now >= d {
                    tracing::info!("watch timeout reached");
                    return Ok(());
                }
                sleep = sleep.min(d - now);
            }
            std::thread::sleep(sleep.max(Duration::from_millis(1)));
        }
    }
}

/// The inputs for a message: `none`, or the arguments (`-` named as the list on stdin).
fn describe_inputs(inputs: &[PathBuf]) -> String {
    if inputs.is_empty() {
        return "none given".into();
    }
    inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                "the list on stdin".to_string()
            } else {
                p.display().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs `config` reading `-` lists from `stdin` and writing records to `out`.
///
/// # Errors
/// As [`run`].
pub fn run_with<W: Write>(
    config: &Config,
    stdin: Box<dyn BufRead>,
    out: W,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let engine = Engine::load(&config.model, config.device, config.threshold)?;
    tracing::info!(
        model = engine.model_id(),
        threshold = engine.threshold(),
        ms = ms_since(started),
        "model loaded"
    );
    if let Some(dir) = &config.cam_out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --cam-out directory {}", dir.display()))?;
    }
    // The run's own CAM files are never inputs (canonical paths: the directory exists now).
    let exclude = Exclude::new(config.cam_out.clone());
    // The watcher starts before the inputs are processed: files that appear meanwhile count.
    let watcher = match &config.watch {
        Some(dir) => Some(DirWatcher::new(
            dir,
            WatchOptions {
                interval: config.watch_interval,
                include_existing: config.watch_existing,
                exclude: exclude.clone(),
            },
        )?),
        None => None,
    };
    let mut runner = Runner {
        engine,
        config,
        writer: RecordWriter::new(out, config.format),
        summary: Summary::default(),
        cam_names: CamNames::default(),
        started,
        first_decision_logged: false,
    };
    let mut inputs = InputStream::new(config.inputs.clone(), stdin).excluding(exclude);
    runner.drain(&mut inputs)?;
    if runner.done() {
        let (left, stdin_unread) = inputs.count_rest_without_stdin();
        if left > 0 || stdin_unread {
            let left = if stdin_unread {
                format!("{left} inputs and the rest of the list on stdin (not read) were")
            } else {
                format!("{left} inputs were")
            };
            runner.warn_cut_short(&left);
        }
    }
    match watcher {
        None if runner.summary.total() == 0 => {
            anyhow::bail!(
                "nothing to process: the inputs ({}) hold no image file \
                 (directories are searched for {})",
                describe_inputs(&config.inputs),
                crate::inputs::IMAGE_EXTENSIONS.join(", ")
            );
        }
        None => {}
        Some(w) => {
            let root = w.root().display().to_string();
            runner.watch(w)?;
            if runner.summary.total() == 0 {
                tracing::warn!(dir = %root, "the watch timed out and no file was processed");
                anyhow::bail!(
                    "nothing to process: no image file appeared in --watch {root} before the timeout"
                );
            }
        }
    }
    let s = runner.summary;
    tracing::info!(
        good = s.good,
        defect = s.defect,
        errors = s.errors,
        ms = ms_since(started),
        "done"
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_names_are_unique_per_run() {
        let mut n = CamNames::default();
        assert_eq!(n.next(Path::new("a/001.png")), "001");
        assert_eq!(n.next(Path::new("b/001.png")), "001-2");
        assert_eq!(n.next(Path::new("b/002.png")), "002");
        assert_eq!(n.next(Path::new("c/001.bmp")), "001-3");
        assert_eq!(n.next(Path::new("d/001-2.png")), "001-2-2");
    }
}
