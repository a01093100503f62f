//! `ceod-train`: the researcher's binary over `ceod-core`, as a library of its pieces.
//!
//! The binary (`src/main.rs`) is glue: flags → validated configuration → these pieces. They are
//! kept apart in the style of burn-train: the training loop, the metrics
//! ([`metrics`]), the checkpoint policy, the progress sink ([`progress`]),
//! and the reporting (run folder, curves, tables).

#![warn(missing_docs)]

pub mod adamw;
pub mod metrics;
pub mod npy;
pub mod plot;
pub mod progress;
pub mod rng;
pub mod run_dir;
pub mod schedule;
