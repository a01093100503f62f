//! The validated run configuration (ripgrep style: raw flags in [`Args`], checked here once).

use std::path::PathBuf;
use std::time::Duration;

use ceod_core::DeviceSpec;

use crate::cli::Args;
use crate::record::Format;

/// The largest `--batch` accepted (a guard against typos that would allocate gigabytes).
pub const MAX_BATCH: usize = 4096;

/// A flag value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// Neither INPUTs nor `--watch`.
    #[error("no input: give image files, directories, `-` (paths on stdin) or --watch DIR")]
    NoInput,
    /// `--threshold` outside `[0, 1]` or not a number.
    #[error("--threshold must be a probability in [0, 1], got {0}")]
    Threshold(f64),
    /// `--batch` of 0 or above [`MAX_BATCH`].
    #[error("--batch must be between 1 and {MAX_BATCH}, got {0}")]
    Batch(usize),
    /// `--watch-interval-ms` of 0.
    #[error("--watch-interval-ms must be at least 1")]
    WatchInterval,
    /// `--timeout` negative or not finite.
    #[error("--timeout must be a non-negative number of seconds, got {0}")]
    Timeout(f64),
    /// `--max-files 0`.
    #[error("--max-files must be at least 1")]
    MaxFiles,
    /// A `--device` string that does not parse.
    #[error("--device: {0}")]
    Device(String),
}

/// Everything a run needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The checkpoint path.
    pub model: PathBuf,
    /// Command-line inputs (files, directories, `-`).
    pub inputs: Vec<PathBuf>,
    /// The watched directory, if any.
    pub watch: Option<PathBuf>,
    /// Time between polls of the watched directory.
    pub watch_interval: Duration,
    /// Take the files already in the watched directory at start too.
    pub watch_existing: bool,
    /// Stop after this many records.
    pub max_files: Option<usize>,
    /// Stop watching after this long.
    pub timeout: Option<Duration>,
    /// The record format.
    pub format: Format,
    /// A threshold overriding the model card's.
    pub threshold: Option<f64>,
    /// Images per forward pass.
    pub batch: usize,
    /// Where CAM overlays and `.npy` files go.
    pub cam_out: Option<PathBuf>,
    /// The compute device.
    pub device: DeviceSpec,
}

impl Config {
    /// Checks the flags.
    ///
    /// ```
    /// use clap::Parser;
    /// use ceod_infer::{Args, Config};
    /// let args = Args::parse_from(["ceod-infer", "--model", "m.safetensors", "--batch", "32", "imgs/"]);
    /// let cfg = Config::from_args(args).unwrap();
    /// assert_eq!(cfg.batch, 32);
    /// let bad = Args::parse_from(["ceod-infer", "--model", "m.safetensors", "--threshold", "1.5", "a.png"]);
    /// assert!(Config::from_args(bad).is_err());
    /// ```
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        if args.inputs.is_empty() && args.watch.is_none() {
            return Err(ConfigError::NoInput);
        }
        if let Some(t) = args.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(ConfigError::Threshold(t));
        }
        if args.batch == 0 || args.batch > MAX_BATCH {
            return Err(ConfigError::Batch(args.batch));
        }
        if args.watch_interval_ms == 0 {
            return Err(ConfigError::WatchInterval);
        }
        if args.max_files == Some(0) {
            return Err(ConfigError::MaxFiles);
        }
        let timeout = match args.timeout {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(ConfigError::Timeout(s)),
        };
        let device = args
            .device
            .parse::<DeviceSpec>()
            .map_err(|e| ConfigError::Device(e.to_string()))?;
        Ok(Self {
            model: args.model,
            inputs: args.inputs,
            watch: args.watch,
            watch_interval: Duration::from_millis(args.watch_interval_ms),
            watch_existing: args.watch_existing,
            max_files: args.max_files,
            timeout,
            format: args.format,
            threshold: args.threshold,
            batch: args.batch,
            cam_out: args.cam_out,
            device,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["ceod-infer", "-m", "m.safetensors"];
        v.extend_from_slice(extra);
        Config::from_args(Args::try_parse_from(v).unwrap())
    }

    #[test]
    fn defaults() {
        let c = parse(&["a.png"]).unwrap();
        assert_eq!(c.batch, 1);
        assert_eq!(c.format, Format::Json);
        assert_eq!(c.threshold, None);
        assert_eq!(c.device, DeviceSpec::Auto);
        assert_eq!(c.watch_interval, Duration::from_millis(200));
        assert_eq!(c.inputs, vec![PathBuf::from("a.png")]);
    }

    #[test]
    fn every_bad_value_is_refused() {
        assert_eq!(parse(&[]), Err(ConfigError::NoInput));
        assert_eq!(
            parse(&["--threshold", "-0.1", "a"]),
            Err(ConfigError::Threshold(-0.1))
        );
        assert!(matches!(
            parse(&["--threshold", "NaN", "a"]),
            Err(ConfigError::Threshold(_))
        ));
        assert_eq!(parse(&["--batch", "0", "a"]), Err(ConfigError::Batch(0)));
        assert_eq!(
            parse(&["--batch", "5000", "a"]),
            Err(ConfigError::Batch(5000))
        );
        assert_eq!(
            parse(&["--watch-interval-ms", "0", "--watch", "d"]),
            Err(ConfigError::WatchInterval)
        );
        assert_eq!(
            parse(&["--max-files", "0", "a"]),
            Err(ConfigError::MaxFiles)
        );
        assert_eq!(
            parse(&["--timeout", "-1", "a"]),
            Err(ConfigError::Timeout(-1.0))
        );
        assert!(matches!(
            parse(&["--device", "tpu", "a"]),
            Err(ConfigError::Device(_))
        ));
    }

    #[test]
    fn good_values_pass_through() {
        let c = parse(&[
            "--watch",
            "d",
            "--timeout",
            "1.5",
            "--max-files",
            "3",
            "--threshold",
            "0.25",
            "--format",
            "csv",
            "--device",
            "cuda:1",
            "--cam-out",
            "cams",
        ])
        .unwrap();
        assert_eq!(c.watch, Some(PathBuf::from("d")));
        assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.max_files, Some(3));
        assert_eq!(c.threshold, Some(0.25));
        assert_eq!(c.format, Format::Csv);
        assert_eq!(c.device, DeviceSpec::Cuda(1));
        assert_eq!(c.cam_out, Some(PathBuf::from("cams")));
    }
}
