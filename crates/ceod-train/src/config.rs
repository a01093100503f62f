//! The resolved training configuration: raw flags → validated, serialisable data saved in the
//! run folder (`config.json`), from which `--resume` rebuilds the run.

use std::path::{Path, PathBuf};

use ceod_core::{
    BinaryCam, CeodOptions, Coefficient, ModelConfig, OverlapMode, OverlapSamples, Preprocess,
    RegionKind, Resize, WeightInit,
};
use serde::{Deserialize, Serialize};

use crate::adamw::AdamWParams;
use crate::cli::{
    BinaryCamArg, CoefficientArg, DataArgs, InitArg, InputArgs, ModeArg, OutlineArg, OverlapOnArg,
    ScheduleArg, SelectMetric, TrainArgs,
};
use crate::schedule::LrSchedule;

/// A configuration error: the flags or the config file make no valid run (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// The candle device of a `--device` value (`cpu`, `cuda:N`, `metal`); an unknown or
/// unavailable device is a usage error.
pub fn device_of(spec: &str) -> Result<candle_core::Device, UsageError> {
    ceod_core::device(spec).map_err(|e| UsageError(format!("--device {spec}: {e}")))
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// A manifest CSV.
    Manifest {
        /// The CSV file.
        path: PathBuf,
    },
    /// An MVTec-style folder.
    Mvtec {
        /// The folder.
        root: PathBuf,
    },
    /// The embedded synthetic conveyor generator (train, validation and test splits).
    Synth {
        /// Training images.
        n_train: usize,
        /// Validation images (drawn like the training data).
        n_val: usize,
        /// Test images (decoys independent of the label).
        n_test: usize,
        /// Seed of the generator.
        seed: u64,
    },
    /// Data built in memory by an experiment (`ceod-train experiment`): real images with masks
    /// derived or decoys painted at run time. Only a record: such a run is trained with
    /// [`run_training_on`](crate::train_loop::run_training_on), which is given the data.
    Experiment {
        /// The experiment config file.
        config: PathBuf,
        /// What the data is, in words (dataset, setting, seed).
        description: String,
    },
}

impl DataSource {
    /// The source named by the data flags, or `None` when none is given.
    pub fn from_args(args: &DataArgs, seed: u64) -> Option<Self> {
        if let Some(p) = &args.data {
            Some(Self::Manifest { path: p.clone() })
        } else if let Some(r) = &args.mvtec {
            Some(Self::Mvtec { root: r.clone() })
        } else {
            args.synth.map(|n| Self::Synth {
                n_train: n,
                n_val: (n / 4).max(8),
                n_test: (n / 2).max(8),
                seed,
            })
        }
    }
}

/// The largest model input side accepted by `--size` (pixels).
pub const MAX_SIDE: u32 = 8192;

/// The largest in-memory image cache a dataset may need: `n · H · W · C · 4` bytes (decoded
/// images are kept as f32 at the model input size) must not exceed 8 GiB.
pub const MAX_CACHE_BYTES: u64 = 8 << 30;

/// A usage error when `n` images at the input size of `pre` need a cache larger than
/// [`MAX_CACHE_BYTES`].
pub fn check_cache(n: usize, pre: &Preprocess) -> Result<(), UsageError> {
    let bytes =
        n as u128 * u128::from(pre.width) * u128::from(pre.height) * pre.channels as u128 * 4;
    if bytes > u128::from(MAX_CACHE_BYTES) {
        return usage(format!(
            "{n} images of {}x{}x{} need {:.1} GiB of image cache; at most {} GiB is allowed: \
             use fewer images or a smaller --size",
            pre.width,
            pre.height,
            pre.channels,
            bytes as f64 / f64::from(1u32 << 30),
            MAX_CACHE_BYTES >> 30
        ));
    }
    Ok(())
}

/// Parses `WxH` (or a single `N` for a square); each side is at least 1 and at most
/// [`MAX_SIDE`].
pub fn parse_size(s: &str) -> Result<(u32, u32), UsageError> {
    let bad = || {
        UsageError(format!(
            "--size must be WIDTHxHEIGHT (like 128x96), got `{s}`"
        ))
    };
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (
            w.trim().parse().map_err(|_| bad())?,
            h.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let n = s.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if w == 0 || h == 0 {
        return Err(bad());
    }
    if w > MAX_SIDE || h > MAX_SIDE {
        return usage(format!(
            "--size {w}x{h}: each side must be at most {MAX_SIDE} pixels"
        ));
    }
    Ok((w, h))
}

/// The values of `--mean` or `--std`: finite, one broadcast to every channel or one per channel;
/// `default` when the flag is absent.
fn normalisation_values(
    flag: &str,
    values: Option<&[f32]>,
    default: f32,
    channels: usize,
) -> Result<Vec<f32>, UsageError> {
    let Some(v) = values else {
        return Ok(vec![default]);
    };
    if v.len() != 1 && v.len() != channels {
        return usage(format!(
            "{flag} needs one value or one per channel ({channels}), got {}",
            v.len()
        ));
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return usage(format!("{flag} values must be finite, got {x}"));
    }
    Ok(v.to_vec())
}

/// The preprocessing from the input flags.
pub fn preprocess_from(input: &InputArgs) -> Result<Preprocess, UsageError> {
    let (width, height) = parse_size(&input.size)?;
    let pre = Preprocess {
        width,
        height,
        channels: input.channels,
        resize: if input.letterbox {
            Resize::Letterbox { fill: 0.0 }
        } else {
            Resize::Stretch
        },
        mean: normalisation_values("--mean", input.mean.as_deref(), 0.0, input.channels)?,
        std: normalisation_values("--std", input.std.as_deref(), 1.0, input.channels)?,
    };
    if let Some(s) = pre.std.iter().find(|s| **s <= 0.0) {
        return usage(format!("--std must be > 0, got {s}"));
    }
    pre.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(pre)
}

/// The region kind of an outline flag.
pub fn region_of(outline: OutlineArg) -> RegionKind {
    match outline {
        OutlineArg::ComponentHulls => RegionKind::ComponentHulls,
        OutlineArg::ConvexHull => RegionKind::SingleHull,
        OutlineArg::PixelOutline => RegionKind::PixelOutline,
        OutlineArg::ConcaveHull => RegionKind::ConcaveHull {
            concavity: 2.0,
            length_threshold: 0.0,
        },
    }
}

/// The core coefficient of a flag.
pub fn coefficient_of(c: CoefficientArg) -> Coefficient {
    match c {
        CoefficientArg::Paper => Coefficient::Paper,
        CoefficientArg::Containment => Coefficient::Containment,
        CoefficientArg::Iou => Coefficient::Iou,
        CoefficientArg::Energy => Coefficient::Energy,
    }
}

/// Everything a training run depends on; saved as `config.json` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Name of the run.
    pub name: String,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The data.
    pub data: DataSource,
    /// Preprocessing (model input size, channels, resize, normalisation).
    pub preprocess: Preprocess,
    /// The architecture.
    pub model: ModelConfig,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Seed of the weights, the split, shuffling and augmentation.
    pub seed: u64,
    /// AdamW hyper-parameters (`lr` is the base rate).
    pub optimiser: AdamWParams,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// The lowest learning rate of the cosine schedule.
    pub min_lr: f64,
    /// Epochs at omega 0 before the overlap term is switched on.
    pub warmup_epochs: usize,
    /// The loss: `omega`, mode, coefficient, hot threshold, outline, `pos_weight`.
    pub loss: CeodOptions,
    /// Decision threshold on the defect probability.
    pub decision_threshold: f32,
    /// Random horizontal flips.
    pub flip_h: bool,
    /// Random vertical flips.
    pub flip_v: bool,
    /// Share of the training data held out for validation when the data fixes no validation split.
    pub val_fraction: f64,
    /// The validation metric that picks `best`.
    pub select: SelectMetric,
    /// How the weights are initialised (PyTorch's default unless `--init` says otherwise).
    #[serde(default)]
    pub init: WeightInit,
    /// The device (`cpu`, `cuda:N`, `metal`).
    pub device: String,
    /// Whether the normalisation is still to be computed from the training split (it is then
    /// folded into `preprocess` and this is set to false before `config.json` is written).
    #[serde(default)]
    pub normalise_from_data: bool,
}

impl TrainConfig {
    /// Resolves and validates the flags of `train` (not `--resume`, which reads `config.json`).
    pub fn from_args(a: &TrainArgs) -> Result<Self, UsageError> {
        let Some(data) = DataSource::from_args(&a.data, a.seed) else {
            return usage(
                "train needs data: --data CSV, --mvtec DIR or --synth N (or --resume RUN_DIR)",
            );
        };
        let preprocess = preprocess_from(&a.input)?;
        let mut model = match &a.model_config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    UsageError(format!("cannot read the model config {}: {e}", p.display()))
                })?;
                serde_json::from_str::<ModelConfig>(&text)
                    .map_err(|e| UsageError(format!("model config {}: {e}", p.display())))?
            }
            None => ModelConfig::preset(&a.preset).map_err(|e| UsageError(e.to_string()))?,
        };
        if a.model_config.is_none() {
            model.in_channels = preprocess.channels;
        }
        let schedule = match a.schedule {
            ScheduleArg::Cosine => LrSchedule::Cosine,
            ScheduleArg::Constant => LrSchedule::Constant,
            ScheduleArg::Step => LrSchedule::Step {
                every: a.step_every,
                gamma: a.step_gamma,
            },
        };
        let mut loss = CeodOptions {
            omega: a.omega,
            mode: match a.mode {
                ModeArg::Exact => OverlapMode::Exact,
                ModeArg::Soft => OverlapMode::Soft,
                ModeArg::StraightThrough => OverlapMode::StraightThrough,
            },
            coefficient: coefficient_of(a.coefficient),
            threshold: a.hot_threshold,
            region: region_of(a.outline),
            samples: match a.overlap_on {
                OverlapOnArg::All => OverlapSamples::All,
                OverlapOnArg::Positives => OverlapSamples::PositivesOnly,
            },
            binary_cam: match a.binary_cam {
                BinaryCamArg::Logit => BinaryCam::Logit,
                BinaryCamArg::TrueClass => BinaryCam::TrueClass,
            },
            ..CeodOptions::default()
        };
        loss.bce.pos_weight = a.pos_weight;
        let cfg = Self {
            name: a.name.clone(),
            run_dir: a.runs_dir.join(&a.name),
            data,
            preprocess,
            model,
            epochs: a.epochs,
            batch_size: a.batch_size,
            seed: a.seed,
            optimiser: AdamWParams {
                lr: a.lr,
                weight_decay: a.weight_decay,
                ..AdamWParams::default()
            },
            schedule,
            min_lr: a.min_lr,
            warmup_epochs: a.warmup_epochs,
            loss,
            decision_threshold: a.threshold,
            flip_h: a.flip_h,
            flip_v: a.flip_v,
            val_fraction: a.val_fraction,
            select: a.select,
            init: match a.init {
                InitArg::Pytorch => WeightInit::PyTorchDefault,
                InitArg::Kaiming => WeightInit::KaimingUniform,
            },
            device: a.device.clone(),
            normalise_from_data: a.input.normalise,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a saved `config.json`.
    pub fn load(path: &Path) -> Result<Self, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the configuration describes a run.
    pub fn validate(&self) -> Result<(), UsageError> {
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name == ".." {
            return usage(format!(
                "the run name `{}` must be a plain folder name",
                self.name
            ));
        }
        if self.epochs == 0 {
            return usage("--epochs must be at least 1");
        }
        if self.batch_size == 0 {
            return usage("--batch-size must be at least 1");
        }
        if !finite_pos(self.optimiser.lr) {
            return usage(format!("--lr must be positive, got {}", self.optimiser.lr));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.optimiser.lr) {
            return usage(format!("--min-lr must be in [0, lr], got {}", self.min_lr));
        }
        if !(self.optimiser.weight_decay.is_finite() && self.optimiser.weight_decay >= 0.0) {
            return usage("--weight-decay must be >= 0");
        }
        if let LrSchedule::Step { every, gamma } = self.schedule
            && (every == 0 || !finite_pos(gamma))
        {
            return usage("--step-every must be >= 1 and --step-gamma > 0");
        }
        if !(self.loss.omega.is_finite() && self.loss.omega >= 0.0) {
            return usage(format!("--omega must be >= 0, got {}", self.loss.omega));
        }
        if !(self.loss.threshold > 0.0 && self.loss.threshold < 1.0) {
            return usage(format!(
                "--hot-threshold must be in (0, 1), got {}",
                self.loss.threshold
            ));
        }
        if !(self.decision_threshold > 0.0 && self.decision_threshold < 1.0) {
            return usage(format!(
                "--threshold must be in (0, 1), got {}",
                self.decision_threshold
            ));
        }
        if let Some(p) = self.loss.bce.pos_weight
            && !finite_pos(p)
        {
            return usage(format!("--pos-weight must be positive, got {p}"));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return usage(format!(
                "--val-fraction must be in [0, 1), got {}",
                self.val_fraction
            ));
        }
        self.model
            .validate()
            .map_err(|e| UsageError(e.to_string()))?;
        self.preprocess
            .validate()
            .map_err(|e| UsageError(e.to_string()))?;
        if self.model.num_outputs == 0 {
            return usage("the model config needs num_outputs >= 1");
        }
        if self.model.num_outputs > 1 && self.loss.bce.pos_weight.is_some() {
            return usage(format!(
                "--pos-weight weights the BCE of a binary model; this model has {} outputs \
                 (softmax cross-entropy)",
                self.model.num_outputs
            ));
        }
        if self.model.in_channels != self.preprocess.channels {
            return usage(format!(
                "the model takes {} input channels, the preprocessing gives {}",
                self.model.in_channels, self.preprocess.channels
            ));
        }
        let (h, w) = self.model.feature_size(
            self.preprocess.height as usize,
            self.preprocess.width as usize,
        );
        if h == 0 || w == 0 {
            return usage(format!(
                "the input {}x{} is too small for the model's pools",
                self.preprocess.width, self.preprocess.height
            ));
        }
        if let DataSource::Synth {
            n_train,
            n_val,
            n_test,
            ..
        } = self.data
        {
            if n_train == 0 {
                return usage("--synth needs at least 1 image");
            }
            check_cache(
                n_train.saturating_add(n_val).saturating_add(n_test),
                &self.preprocess,
            )?;
        }
        Ok(())
    }

    /// The loss options of `epoch` (0-based): omega 0 during the warm-up.
    pub fn loss_at(&self, epoch: usize) -> CeodOptions {
        let mut o = self.loss;
        if epoch < self.warmup_epochs {
            o.omega = 0.0;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<TrainConfig, UsageError> {
        let mut argv = vec!["ceod-train", "train"];
        argv.extend_from_slice(extra);
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        match cli.command {
            crate::cli::Command::Train(a) => TrainConfig::from_args(&a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("128x96").unwrap(), (128, 96));
        assert_eq!(parse_size("64").unwrap(), (64, 64));
        assert!(parse_size("0x4").is_err());
        assert!(parse_size("abc").is_err());
        assert_eq!(parse_size("8192x1").unwrap(), (8192, 1));
        assert!(parse_size("8193x1").is_err());
        assert!(parse_size("100000x100000").is_err());
    }

    #[test]
    fn flags_resolve_and_round_trip_through_json() {
        let cfg = parse(&[
            "--synth",
            "40",
            "--size",
            "32x48",
            "--omega",
            "2",
            "--warmup-epochs",
            "1",
        ])
        .unwrap();
        assert_eq!((cfg.preprocess.width, cfg.preprocess.height), (32, 48));
        assert_eq!(cfg.loss_at(0).omega, 0.0);
        assert_eq!(cfg.loss_at(1).omega, 2.0);
        assert_eq!(
            cfg.data,
            DataSource::Synth {
                n_train: 40,
                n_val: 10,
                n_test: 20,
                seed: 0
            }
        );
        let back: TrainConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn mean_and_std_reach_the_preprocessing() {
        let cfg = parse(&["--synth", "8", "--mean", "0.25", "--std", "0.5"]).unwrap();
        assert_eq!(cfg.preprocess.mean, vec![0.25]);
        assert_eq!(cfg.preprocess.std, vec![0.5]);
        let cfg = parse(&[
            "--synth",
            "8",
            "--channels",
            "3",
            "--mean",
            "0.1,0.2,0.3",
            "--std=0.5,0.25,2",
        ])
        .unwrap();
        assert_eq!(cfg.preprocess.mean, vec![0.1, 0.2, 0.3]);
        assert_eq!(cfg.preprocess.std, vec![0.5, 0.25, 2.0]);
        let cfg = parse(&["--synth", "8"]).unwrap();
        assert_eq!(cfg.preprocess.mean, vec![0.0]);
        assert_eq!(cfg.preprocess.std, vec![1.0]);
    }

    #[test]
    fn oversized_caches_are_usage_errors() {
        let pre = Preprocess {
            width: 1024,
            height: 1024,
            ..Preprocess::default()
        };
        // 1024·1024·1·4 bytes = 4 MiB an image: 2048 images are exactly 8 GiB
        assert!(check_cache(2048, &pre).is_ok());
        assert!(check_cache(2049, &pre).is_err());
        assert!(check_cache(usize::MAX, &pre).is_err());
        // --synth N also caches N/4 validation and N/2 test images
        assert!(parse(&["--synth", "1000000000"]).is_err());
        assert!(parse(&["--synth", "1000", "--size", "32x32"]).is_ok());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(parse(&[]).unwrap_err().0.contains("needs data"));
        assert!(parse(&["--synth", "8", "--epochs", "0"]).is_err());
        assert!(parse(&["--synth", "8", "--threshold", "1.5"]).is_err());
        assert!(parse(&["--synth", "8", "--omega=-1"]).is_err());
        assert!(parse(&["--synth", "8", "--pos-weight", "0"]).is_err());
        assert!(parse(&["--synth", "8", "--preset", "nope"]).is_err());
        assert!(parse(&["--synth", "8", "--std", "0"]).is_err());
        assert!(parse(&["--synth", "8", "--std=-1"]).is_err());
        assert!(parse(&["--synth", "8", "--mean", "nan"]).is_err());
        assert!(parse(&["--synth", "8", "--mean", "inf"]).is_err());
        assert!(parse(&["--synth", "8", "--mean", "0.1,0.2"]).is_err());
        // 4x4 input through three 2x2 pools leaves nothing
        assert!(parse(&["--synth", "8", "--size", "4x4"]).is_err());
    }
}
