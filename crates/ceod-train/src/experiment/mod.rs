//! Experiments: one config file reruns a whole comparison (arms × seeds) on one dataset and
//! writes its table and figures (`ceod-train experiment CONFIG`).
//!
//! [`config`] reads the file (`experiments/<name>.json`), [`data`] builds the data in memory,
//! [`runner`] trains and evaluates every run (reusing finished ones), [`report`] writes
//! `results.json` and `results.md`, and [`grid`] the overlay grid `overlays.png`.

pub mod config;
pub mod data;
pub mod grid;
pub mod report;
pub mod runner;

pub use config::{ArmConfig, ExperimentConfig, SmokeConfig};
pub use report::{ExperimentReport, RunResult, RunStatus};
pub use runner::{ExperimentOutcome, run_experiment};
