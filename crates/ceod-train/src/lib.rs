//! `ceod-train`: the researcher's binary over `ceod-core`, as a library of its pieces.
//!
//! The binary (`src/main.rs`) is glue: flags ([`cli`]) → validated configuration ([`config`]) →
//! these pieces, kept apart in the style of burn-train: the training loop ([`train_loop`], one
//! step in [`step`]), the metrics ([`metrics`], [`evaluate`]), the checkpoint policy
//! ([`checkpoint_policy`], with the resumable loop state in [`state`]), the progress sink
//! ([`progress`]), and the reporting (run folder [`run_dir`], curves [`plot`], overlays
//! [`render`]). The subcommands themselves are in [`commands`]; [`experiment`] runs a whole
//! comparison (arms × seeds) from one config, on data built at run time.
//!
//! Conventions are ceod-core's: images `B × C × H × W`, masks `B × H × W` (1 inside the area of
//! interest), pixel `(x, y)` covers `[x, x+1) × [y, y+1)`. A binary model (one output) has labels
//! 0 (good) / 1 (defect) and calls a sample a defect when `sigmoid(logit) ≥ threshold`; a model
//! with `C ≥ 2` outputs has class-index labels `0..C`, softmax cross-entropy and the CAM of the
//! true class.

#![warn(missing_docs)]

pub mod adamw;
pub mod checkpoint_policy;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod evaluate;
pub mod experiment;
pub mod metrics;
pub mod npy;
pub mod out_guard;
pub mod plot;
pub mod progress;
pub mod render;
pub mod rng;
pub mod run_dir;
pub mod schedule;
pub mod state;
pub mod step;
pub mod train_loop;
