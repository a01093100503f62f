//! The experiment config file (`experiments/<name>.json`): what to train (arms × seeds) on which
//! data, read strictly (unknown fields are errors) and resolved into `train` configurations with
//! the same flags as `ceod-train train`.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cli::{Cli, Command, TrainArgs};
use crate::config::{TrainConfig, UsageError};
use crate::experiment::data::DataSpec;

/// The flags that choose the data: an experiment's data comes from its `data` object.
pub const DATA_FLAGS: [&str; 3] = ["--data", "--mvtec", "--synth"];

/// The flags the runner sets itself (one run folder per arm and seed, the device of the
/// command line).
pub const RUNNER_FLAGS: [&str; 7] = [
    "--seed",
    "--name",
    "--runs-dir",
    "--device",
    "--resume",
    "--force",
    "--stop-after",
];

/// The `smoke` object: how `--smoke` scales the experiment down to seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmokeConfig {
    /// At most this many training images (the first after the split, both classes kept).
    pub max_train: usize,
    /// At most this many validation, test and test-variant images each.
    pub max_test: usize,
    /// Epochs of every run.
    pub epochs: usize,
    /// Fields merged into every arm's data (after the arm's own) in a smoke run, so that the
    /// builder reads fewer files (for example `{"n_train": 64, "n_test": 32}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        Self {
            max_train: 48,
            max_test: 16,
            epochs: 1,
            data: None,
        }
    }
}

/// One arm: a variant of the base training (flags appended to the base flags, later ones win)
/// and optionally of the data (fields merged into the base `data` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmConfig {
    /// The arm's name: a plain folder name (its runs are `<name>-s<seed>`).
    pub name: String,
    /// `train` flags appended to the base flags.
    #[serde(default)]
    pub train: Vec<String>,
    /// Fields merged into the base `data` object (the arm's value wins; objects merge
    /// recursively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// An experiment config as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The experiment's name: its outputs go to `<runs-dir>/<name>/`.
    pub name: String,
    /// What the experiment shows, in words.
    #[serde(default)]
    pub description: String,
    /// The base data object (a [`DataSpec`], tagged by `kind`), before the arms' fields.
    pub data: Map<String, Value>,
    /// `ceod-train train` flags shared by every arm (no data flags, no `--seed`, `--name`,
    /// `--runs-dir`, `--device`).
    #[serde(default)]
    pub train: Vec<String>,
    /// The arms, in report order.
    pub arms: Vec<ArmConfig>,
    /// The seeds (each arm runs once per seed).
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// How many test images the overlay grid shows per arm.
    #[serde(default = "default_overlays")]
    pub overlays: usize,
    /// The `--smoke` scale.
    #[serde(default)]
    pub smoke: SmokeConfig,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

fn default_overlays() -> usize {
    8
}

/// A usage error that names the config file.
fn err(file: &Path, msg: impl std::fmt::Display) -> UsageError {
    UsageError(format!("{}: {msg}", file.display()))
}

/// Merges `over` into `base`: objects merge key by key (recursively), anything else in `over`
/// replaces what `base` has.
///
/// ```
/// use serde_json::json;
/// let mut a = json!({"kind": "synth", "n_train": 8, "x": {"a": 1, "b": 2}});
/// ceod_train::experiment::config::merge_json(&mut a, &json!({"n_train": 16, "x": {"b": 3}}));
/// assert_eq!(a, json!({"kind": "synth", "n_train": 16, "x": {"a": 1, "b": 3}}));
/// ```
pub fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The first flag of `flags` that is one of `names` (as `--flag` or `--flag=value`).
fn find_flag<'a>(flags: &'a [String], names: &[&str]) -> Option<&'a str> {
    flags.iter().map(String::as_str).find(|f| {
        names
            .iter()
            .any(|n| f == n || f.strip_prefix(n).is_some_and(|rest| rest.starts_with('=')))
    })
}

/// An arm resolved: its merged data and its `train` flags, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedArm {
    /// The arm's name.
    pub name: String,
    /// The merged data object.
    pub data_json: Value,
    /// The data it describes.
    pub data: DataSpec,
    /// The base flags followed by the arm's.
    pub flags: Vec<String>,
}

impl ExperimentConfig {
    /// Reads and checks `path`; every error is a [`UsageError`] naming the file (and the arm
    /// or field).
    pub fn load(path: &Path) -> Result<Self, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(path, format!("cannot read the experiment config: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of a config; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, UsageError> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| err(path, e))?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), UsageError> {
        let plain = |s: &str| {
            !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\']) && !s.contains(' ')
        };
        if !plain(&self.name) {
            return Err(err(
                path,
                format!("`name` `{}` must be a plain folder name", self.name),
            ));
        }
        if self.arms.is_empty() {
            return Err(err(path, "`arms` is empty: give at least one arm"));
        }
        if self.seeds.is_empty() {
            return Err(err(path, "`seeds` is empty: give at least one seed"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.seeds {
            if !seen.insert(*s) {
                return Err(err(path, format!("`seeds` lists seed {s} twice")));
            }
        }
        if self.smoke.max_train == 0 || self.smoke.max_test == 0 || self.smoke.epochs == 0 {
            return Err(err(
                path,
                "`smoke.max_train`, `smoke.max_test` and `smoke.epochs` must be at least 1",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.arms {
            if !plain(&a.name) {
                return Err(err(
                    path,
                    format!("arm name `{}` must be a plain folder name", a.name),
                ));
            }
            if !names.insert(a.name.as_str()) {
                return Err(err(path, format!("arm `{}` is listed twice", a.name)));
            }
        }
        let check = |flags: &[String], field: &str| -> Result<(), UsageError> {
            if let Some(f) = find_flag(flags, &DATA_FLAGS) {
                return Err(err(
                    path,
                    format!(
                        "`{field}` holds the data flag `{f}`: an experiment's data comes from \
                         its `data` object"
                    ),
                ));
            }
            if let Some(f) = find_flag(flags, &RUNNER_FLAGS) {
                return Err(err(
                    path,
                    format!(
                        "`{field}` holds `{f}`, which the experiment runner sets itself (seeds \
                         come from `seeds`, run folders from the arm names, the device from \
                         `--device`)"
                    ),
                ));
            }
            Ok(())
        };
        check(&self.train, "train")?;
        for a in &self.arms {
            check(&a.train, &format!("arms[{}].train", a.name))?;
        }
        // every arm resolves: its data and its flags
        for a in &self.arms {
            let r = self.resolve(a, path)?;
            self.train_config(&r, 0, Path::new("runs"), "cpu", path)?;
            if self.smoke.data.is_some() {
                self.resolve_for(a, path, true)?;
            }
        }
        Ok(())
    }

    /// The arm's merged data and flags.
    pub fn resolve(&self, arm: &ArmConfig, path: &Path) -> Result<ResolvedArm, UsageError> {
        self.resolve_for(arm, path, false)
    }

    /// The arm's merged data and flags; for a smoke run (`smoke`) with `smoke.data` merged in
    /// last.
    pub fn resolve_for(
        &self,
        arm: &ArmConfig,
        path: &Path,
        smoke: bool,
    ) -> Result<ResolvedArm, UsageError> {
        let mut data = Value::Object(self.data.clone());
        if let Some(d) = &arm.data {
            merge_json(&mut data, &Value::Object(d.clone()));
        }
        let smoke_data = self.smoke.data.as_ref().filter(|_| smoke);
        if let Some(d) = smoke_data {
            merge_json(&mut data, &Value::Object(d.clone()));
        }
        let spec: DataSpec = serde_json::from_value(data.clone()).map_err(|e| {
            err(
                path,
                format!(
                    "`data` (merged with arm `{}`'s{}): {e}",
                    arm.name,
                    if smoke_data.is_some() {
                        " and `smoke.data`"
                    } else {
                        ""
                    }
                ),
            )
        })?;
        let mut flags = self.train.clone();
        flags.extend(arm.train.iter().cloned());
        Ok(ResolvedArm {
            name: arm.name.clone(),
            data_json: data,
            data: spec,
            flags,
        })
    }

    /// The `train` arguments of one run: `arm`'s flags (later flags win over earlier ones), with
    /// the runner's seed, name, runs folder and device.
    pub fn train_args(
        &self,
        arm: &ResolvedArm,
        seed: u64,
        runs_dir: &Path,
        device: &str,
        path: &Path,
    ) -> Result<TrainArgs, UsageError> {
        let mut argv: Vec<String> = vec![
            "ceod-train".into(),
            "train".into(),
            // a placeholder data source: the data is built by the experiment
            "--synth".into(),
            "1".into(),
        ];
        argv.extend(arm.flags.iter().cloned());
        argv.extend([
            "--seed".into(),
            seed.to_string(),
            "--name".into(),
            run_name(&arm.name, seed),
            "--runs-dir".into(),
            runs_dir.display().to_string(),
            "--device".into(),
            device.to_string(),
        ]);
        let command = Cli::command().mut_subcommand("train", |c| c.args_override_self(true));
        let matches = command.try_get_matches_from(argv).map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").trim();
            err(
                path,
                format!(
                    "arm `{}`: the train flags: {}",
                    arm.name,
                    first.strip_prefix("error: ").unwrap_or(first)
                ),
            )
        })?;
        let cli = Cli::from_arg_matches(&matches)
            .map_err(|e| err(path, format!("arm `{}`: {e}", arm.name)))?;
        match cli.command {
            Command::Train(a) => Ok(*a),
            _ => Err(err(
                path,
                "internal: the train flags did not parse as `train`",
            )),
        }
    }

    /// The training configuration of one run (its `data` is the experiment record).
    pub fn train_config(
        &self,
        arm: &ResolvedArm,
        seed: u64,
        runs_dir: &Path,
        device: &str,
        path: &Path,
    ) -> Result<TrainConfig, UsageError> {
        let args = self.train_args(arm, seed, runs_dir, device, path)?;
        let mut cfg = TrainConfig::from_args(&args)
            .map_err(|e| err(path, format!("arm `{}`: {e}", arm.name)))?;
        cfg.data = crate::config::DataSource::Experiment {
            config: path.to_path_buf(),
            description: format!(
                "{}: arm {}, {}, seed {seed}",
                self.name,
                arm.name,
                arm.data.describe()
            ),
        };
        Ok(cfg)
    }
}

/// The run folder name of an arm and a seed: `<arm>-s<seed>`.
pub fn run_name(arm: &str, seed: u64) -> String {
    format!("{arm}-s{seed}")
}

/// The outputs folder of an experiment: `<runs-dir>/<name>` (`<name>-smoke` for `--smoke`).
pub fn experiment_dir(runs_dir: &Path, name: &str, smoke: bool) -> PathBuf {
    if smoke {
        runs_dir.join(format!("{name}-smoke"))
    } else {
        runs_dir.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{
        "name": "t",
        "data": {"kind": "synth", "n_train": 16, "n_val": 8, "n_test": 8},
        "train": ["--size", "32x32", "--omega", "1", "--epochs", "3"],
        "arms": [
            {"name": "baseline", "train": ["--omega", "0"]},
            {"name": "big", "data": {"n_train": 32}}
        ],
        "seeds": [0, 1]
    }"#;

    fn parse(text: &str) -> Result<ExperimentConfig, UsageError> {
        ExperimentConfig::parse(text, Path::new("x.json"))
    }

    #[test]
    fn arms_override_base_flags_and_merge_data() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.overlays, 8);
        assert_eq!(c.smoke, SmokeConfig::default());
        let p = Path::new("x.json");
        let base = c.resolve(&c.arms[0], p).unwrap();
        let cfg = c
            .train_config(&base, 1, Path::new("r/t"), "cpu", p)
            .unwrap();
        assert_eq!(cfg.loss.omega, 0.0);
        assert_eq!(cfg.epochs, 3);
        assert_eq!(cfg.seed, 1);
        assert_eq!(cfg.run_dir, Path::new("r/t/baseline-s1"));
        assert_eq!(
            base.data,
            DataSpec::Synth {
                n_train: 16,
                n_val: 8,
                n_test: 8
            }
        );
        let big = c.resolve(&c.arms[1], p).unwrap();
        let cfg = c.train_config(&big, 0, Path::new("r"), "cpu", p).unwrap();
        assert_eq!(cfg.loss.omega, 1.0);
        assert_eq!(
            big.data,
            DataSpec::Synth {
                n_train: 32,
                n_val: 8,
                n_test: 8
            }
        );
    }

    #[test]
    fn smoke_data_is_merged_last_in_smoke_runs_only() {
        let c = parse(&BASE.replace(
            "\"seeds\"",
            "\"smoke\": {\"data\": {\"n_train\": 4}}, \"seeds\"",
        ))
        .unwrap();
        let p = Path::new("x.json");
        let n_train = |r: ResolvedArm| match r.data {
            DataSpec::Synth { n_train, .. } => n_train,
            #[allow(unreachable_patterns)]
            _ => 0,
        };
        assert_eq!(n_train(c.resolve_for(&c.arms[1], p, false).unwrap()), 32);
        assert_eq!(n_train(c.resolve_for(&c.arms[1], p, true).unwrap()), 4);
        assert_eq!(c.smoke.max_train, 48);
        let e = parse(&BASE.replace(
            "\"seeds\"",
            "\"smoke\": {\"data\": {\"n_trian\": 4}}, \"seeds\"",
        ))
        .unwrap_err();
        assert!(e.0.contains("smoke.data") && e.0.contains("n_trian"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let e = parse(&BASE.replace("\"seeds\"", "\"sedes\"")).unwrap_err();
        assert!(e.0.contains("x.json") && e.0.contains("sedes"), "{e}");
        let e = parse(&BASE.replace("\"--epochs\", \"3\"", "\"--synth\", \"3\"")).unwrap_err();
        assert!(e.0.contains("--synth") && e.0.contains("`train`"), "{e}");
        let e = parse(&BASE.replace("[\"--omega\", \"0\"]", "[\"--seed=3\"]")).unwrap_err();
        assert!(e.0.contains("--seed=3") && e.0.contains("baseline"), "{e}");
        let e = parse(&BASE.replace("[\"--omega\", \"0\"]", "[\"--omegaa\", \"0\"]")).unwrap_err();
        assert!(e.0.contains("--omegaa") && e.0.contains("baseline"), "{e}");
        let e = parse(&BASE.replace("\"n_train\": 32", "\"n_trian\": 32")).unwrap_err();
        assert!(e.0.contains("n_trian") && e.0.contains("big"), "{e}");
        let e = parse(&BASE.replace("\"big\"", "\"baseline\"")).unwrap_err();
        assert!(e.0.contains("twice"), "{e}");
        let e = parse(&BASE.replace("[0, 1]", "[]")).unwrap_err();
        assert!(e.0.contains("seeds"), "{e}");
    }
}
