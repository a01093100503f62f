//! `ceod-infer`: the factory-line binary, as a library (the binary is `src/main.rs`).
//!
//! A ceod checkpoint (one `.safetensors` file whose model card decides the preprocessing and the
//! threshold) and images in; one record per image out (JSON lines, CSV or text), and an exit
//! code: 0 every part good, 1 at least one rejected, 2 an error (see [`cli::EXIT_CODES`]).
//!
//! The pieces, in the order a run uses them: [`Args`] (raw flags) → [`Config`] (validated);
//! [`inputs`] (files, directories, `-`) and [`watch`] (a polling directory watcher);
//! [`heatmap`] and [`npy`] for `--cam-out` (written through [`atomic`]); [`record`] for the output; [`model_id`] for the id in
//! every record.
//!
//! It depends on `ceod-core` without its `overlap` feature: no geo, no candle-datasets, no
//! indicatif.
//!
//! The forward pass is ceod-core's `CeodNet`, whose CPU path fuses convolution, bias, ReLU and
//! pooling (`ceod_core::cpu`); the infer path and the eval path run the same code.
#![warn(missing_docs)]

pub mod atomic;
pub mod cli;
pub mod config;
pub mod engine;
pub mod heatmap;
pub mod inputs;
pub mod model_id;
pub mod npy;
pub mod record;
pub mod run;
pub mod watch;

pub use cli::Args;
pub use config::{Config, ConfigError};
pub use engine::Engine;
pub use record::{Decision, Format, Record, RecordWriter};
pub use run::{Summary, run, run_with};
