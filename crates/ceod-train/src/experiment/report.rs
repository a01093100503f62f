//! What an experiment reports: per-run results (`result.json`), the experiment's
//! `results.json`, and its markdown tables (`results.md`, `mean ± std` over seeds).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::evaluate::EvalMetrics;
use crate::experiment::config::ExperimentConfig;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Trained and evaluated.
    Ok,
    /// Its data, its training or its evaluation failed (the message is in `error`).
    Failed,
    /// Stopped before its last epoch (`--stop-after`): not evaluated; a rerun continues it.
    Stopped,
}

/// The metrics of one run on one test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSetMetrics {
    /// `test` (the main test split) or the name of a test variant.
    pub name: String,
    /// The metrics of `best.safetensors` on it.
    pub metrics: EvalMetrics,
}

/// One run (an arm and a seed): what `result.json` in its folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The arm.
    pub arm: String,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub status: RunStatus,
    /// The error of a failed run.
    #[serde(default)]
    pub error: Option<String>,
    /// Wall time of the run, seconds: its epochs (training and validation, also those before a
    /// resume) and the final evaluation; data building (shared by arms) is not included. For a
    /// failed run, the time until it failed.
    pub wall_seconds: f64,
    /// The epoch of `best.safetensors` (1-based).
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Epochs trained.
    #[serde(default)]
    pub epochs: usize,
    /// Metrics per test set, in report order.
    #[serde(default)]
    pub test: Vec<TestSetMetrics>,
    /// The data builder's notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Files the data builder skipped.
    #[serde(default)]
    pub skipped: usize,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Whether this invocation reused a finished `result.json` instead of training.
    #[serde(default)]
    pub reused: bool,
    /// What the run was made from: the arm's merged data object, its `train` flags, the seed
    /// and the smoke scale (`null` for a full run). A finished run is reused only when these
    /// are unchanged.
    #[serde(default)]
    pub inputs: serde_json::Value,
}

/// The machine an experiment ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores available to the process.
    pub cores: usize,
    /// The CPU model (`/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// The 1, 5 and 15 minute load averages at the start (`/proc/loadavg`), if readable.
    pub load_start: Option<[f64; 3]>,
    /// The load averages at the end.
    pub load_end: Option<[f64; 3]>,
}

impl Machine {
    /// The machine now (load at the start; `load_end` is filled in later).
    pub fn now() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            load_start: load_average(),
            load_end: None,
        }
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), `None` where unreadable.
pub fn load_average() -> Option<[f64; 3]> {
    let t = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = t.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The experiment's `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// The config file.
    pub config_path: PathBuf,
    /// The config as read.
    pub config: ExperimentConfig,
    /// The command line.
    pub command: String,
    /// Whether this was a `--smoke` run.
    pub smoke: bool,
    /// The arms run (in report order; `--arms` may select some).
    pub arms: Vec<String>,
    /// The seeds run.
    pub seeds: Vec<u64>,
    /// The machine and its load.
    pub machine: Machine,
    /// Wall time of the whole command, seconds.
    pub wall_seconds: f64,
    /// Every run, seed by seed, arm by arm.
    pub runs: Vec<RunResult>,
    /// The overlay grid (`overlays.png`) and what it shows, when it was drawn.
    pub overlays: Option<OverlayGrid>,
    /// Why the overlay grid could not be drawn (the command then exits with code 1).
    #[serde(default)]
    pub overlay_error: Option<String>,
}

/// What the overlay grid shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlayGrid {
    /// The image file.
    pub path: PathBuf,
    /// The seed whose models are shown.
    pub seed: u64,
    /// Per row: the arm and the names of the test images in its columns.
    pub rows: Vec<(String, Vec<String>)>,
    /// Cell size in pixels (width, height).
    pub cell: (u32, u32),
}

/// Mean and sample standard deviation (`None` for a single value) of `v`; `None` when empty.
///
/// ```
/// use ceod_train::experiment::report::mean_std;
/// assert_eq!(mean_std(&[]), None);
/// assert_eq!(mean_std(&[2.0]), Some((2.0, None)));
/// // (1 + 3) / 2 = 2; ((1-2)² + (3-2)²) / (2-1) = 2
/// assert_eq!(mean_std(&[1.0, 3.0]), Some((2.0, Some(2f64.sqrt()))));
/// ```
pub fn mean_std(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() == 1 {
        return Some((mean, None));
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, Some(var.sqrt())))
}

/// A table cell: `mean ± std` with `digits` decimals, the value alone for one seed, `-` for none.
pub fn cell(v: &[f64], digits: usize) -> String {
    match mean_std(v) {
        None => "-".into(),
        Some((m, None)) => format!("{m:.digits$}"),
        Some((m, Some(s))) => format!("{m:.digits$} ± {s:.digits$}"),
    }
}

/// The metric columns of the tables: (JSON field of [`EvalMetrics`], header).
pub const METRIC_COLUMNS: [(&str, &str); 7] = [
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("auroc", "AUROC"),
    ("energy_share", "energy inside mask"),
    ("overlap_d", "overlap distance"),
    ("pointing_game", "pointing game"),
    ("hot_share", "hot share"),
];

/// The value of field `key` of `m` (through its JSON form, so fields added later are found).
fn metric(m: &EvalMetrics, key: &str) -> Option<f64> {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.get(key).and_then(serde_json::Value::as_f64))
}

/// Whether `EvalMetrics` has field `key` at all.
fn has_field(key: &str) -> bool {
    serde_json::to_value(EvalMetrics::default())
        .ok()
        .is_some_and(|v| v.get(key).is_some())
}

fn fmt_load(l: Option<[f64; 3]>) -> String {
    l.map_or_else(
        || "unknown".into(),
        |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"),
    )
}

/// The test-set names of `runs` in order of first appearance.
pub fn test_set_names(runs: &[RunResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for t in &r.test {
            if !names.contains(&t.name) {
                names.push(t.name.clone());
            }
        }
    }
    names
}

/// `results.md`: per test set a table (rows = arms, `mean ± std` over the seeds that finished),
/// then the failures, the notes, the overlay grid, the command and the machine.
pub fn markdown(r: &ExperimentReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}{}\n",
        r.config.name,
        if r.smoke { " (smoke run)" } else { "" }
    );
    if !r.config.description.is_empty() {
        let _ = writeln!(s, "{}\n", r.config.description);
    }
    if r.smoke {
        let m = &r.config.smoke;
        let _ = writeln!(
            s,
            "Smoke run (`--smoke`): at most {} training and {} validation, test and test-variant \
             images each, epochs: {}, the first seed only. Not a result.\n",
            m.max_train, m.max_test, m.epochs
        );
    }
    let seeds: Vec<String> = r.seeds.iter().map(u64::to_string).collect();
    let _ = writeln!(
        s,
        "Arms: {}; seeds: {} (cells are mean ± sample std over the seeds whose run finished; \
         one value where one seed).\n",
        r.arms.join(", "),
        seeds.join(", ")
    );
    let columns: Vec<(&str, &str)> = METRIC_COLUMNS
        .iter()
        .copied()
        .filter(|(k, _)| has_field(k))
        .collect();
    for set in test_set_names(&r.runs) {
        let n: Vec<String> = {
            let mut ns: Vec<usize> = r
                .runs
                .iter()
                .flat_map(|run| run.test.iter().filter(|t| t.name == set))
                .map(|t| t.metrics.n)
                .collect();
            ns.dedup();
            ns.iter().map(usize::to_string).collect()
        };
        let _ = writeln!(s, "## {set} ({} images)\n", n.join("/"));
        let _ = write!(s, "| arm | runs |");
        for (_, h) in &columns {
            let _ = write!(s, " {h} |");
        }
        let _ = writeln!(s, " wall time (s) |");
        let _ = writeln!(s, "|---|---|{}---|", "---|".repeat(columns.len()));
        for arm in &r.arms {
            let runs: Vec<&RunResult> = r.runs.iter().filter(|x| &x.arm == arm).collect();
            let ok: Vec<&RunResult> = runs
                .iter()
                .copied()
                .filter(|x| x.status == RunStatus::Ok)
                .collect();
            let _ = write!(s, "| {arm} | {}/{} ok |", ok.len(), runs.len());
            for (k, _) in &columns {
                let v: Vec<f64> = ok
                    .iter()
                    .filter_map(|x| x.test.iter().find(|t| t.name == set))
                    .filter_map(|t| metric(&t.metrics, k))
                    .collect();
                let _ = write!(s, " {} |", cell(&v, 3));
            }
            let w: Vec<f64> = ok.iter().map(|x| x.wall_seconds).collect();
            let _ = writeln!(s, " {} |", cell(&w, 1));
        }
        let _ = writeln!(s);
    }
    let failed: Vec<&RunResult> = r
        .runs
        .iter()
        .filter(|x| x.status == RunStatus::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "## Failed runs\n");
        for f in failed {
            let _ = writeln!(
                s,
                "- {} seed {}: failed: {}",
                f.arm,
                f.seed,
                f.error.as_deref().unwrap_or("(no message)")
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Runs\n");
    for x in &r.runs {
        let _ = writeln!(
            s,
            "- `{}`: {}, best epoch {} of {}, {:.1} s{}, {} skipped files",
            x.run_dir.display(),
            match x.status {
                RunStatus::Ok => "ok",
                RunStatus::Failed => "FAILED",
                RunStatus::Stopped => "stopped before its last epoch (rerun to continue)",
            },
            x.best_epoch.map_or("-".into(), |e| e.to_string()),
            x.epochs,
            x.wall_seconds,
            if x.reused { " (reused)" } else { "" },
            x.skipped,
        );
    }
    let _ = writeln!(s);
    // the data builders' notes, once per distinct set (arms and seeds often share their data)
    let mut groups: Vec<(&[String], Vec<String>)> = Vec::new();
    for x in r.runs.iter().filter(|x| !x.notes.is_empty()) {
        let run = format!("{}-s{}", x.arm, x.seed);
        match groups.iter_mut().find(|(n, _)| *n == x.notes.as_slice()) {
            Some((_, runs)) => runs.push(run),
            None => groups.push((&x.notes, vec![run])),
        }
    }
    if !groups.is_empty() {
        let _ = writeln!(s, "## Data notes\n");
        for (notes, runs) in groups {
            let _ = writeln!(s, "{}:\n", runs.join(", "));
            for n in notes {
                let _ = writeln!(s, "- {n}");
            }
            let _ = writeln!(s);
        }
    }
    if let Some(e) = &r.overlay_error {
        let _ = writeln!(s, "## Overlays\n\nThe overlay grid failed: {e}\n");
    }
    if let Some(g) = &r.overlays {
        let _ = writeln!(
            s,
            "## Overlays\n\n`{}`: one row per arm (seed {}), the same test images in the \
             columns (see `overlays.md`).\n",
            g.path.display(),
            g.seed
        );
    }
    let _ = writeln!(s, "## Command and machine\n");
    let _ = writeln!(s, "- command: `{}`", r.command);
    let _ = writeln!(s, "- config: `{}`", r.config_path.display());
    let _ = writeln!(s, "- machine: {} cores, {}", r.machine.cores, r.machine.cpu);
    let _ = writeln!(
        s,
        "- load average (1, 5, 15 min): {} at the start, {} at the end",
        fmt_load(r.machine.load_start),
        fmt_load(r.machine.load_end)
    );
    let _ = writeln!(s, "- total wall time: {:.1} s", r.wall_seconds);
    s
}

/// `overlays.md`: which row of `overlays.png` is which arm, which images are in the columns.
pub fn overlays_markdown(g: &OverlayGrid) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "# Overlay grid\n\n`{}`: one row per arm, models of seed {}; cells of {}×{} pixels \
         with a 4-pixel gap. Each cell is the Grad-CAM overlay of `ceod-train explain`: the \
         heat map over the image, the mask outline and the hot polygons.\n\n",
        g.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        g.seed,
        g.cell.0,
        g.cell.1
    );
    let same = g.rows.windows(2).all(|w| w[0].1 == w[1].1);
    if same && let Some((_, names)) = g.rows.first() {
        let _ = writeln!(
            s,
            "Columns (test images, left to right): {}\n",
            names.join(", ")
        );
    }
    let _ = writeln!(s, "| row | arm | images |\n|---|---|---|");
    for (i, (arm, names)) in g.rows.iter().enumerate() {
        let _ = writeln!(s, "| {} | {arm} | {} |", i + 1, names.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_by_hand() {
        assert_eq!(cell(&[], 3), "-");
        assert_eq!(cell(&[0.5], 3), "0.500");
        // mean 0.6, sample variance ((0.1)² + (0.1)²) / 1 = 0.02, std 0.1414
        assert_eq!(cell(&[0.5, 0.7], 3), "0.600 ± 0.141");
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        // (2.25 + 0.25 + 0.25 + 2.25) / 3
        assert!((s.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn metric_reads_fields_by_name() {
        let m = EvalMetrics {
            auroc: Some(0.75),
            ..EvalMetrics::default()
        };
        assert_eq!(metric(&m, "auroc"), Some(0.75));
        assert_eq!(metric(&m, "accuracy"), None);
        assert_eq!(metric(&m, "no_such_field"), None);
        assert!(has_field("auroc") && !has_field("no_such_field"));
    }
}
