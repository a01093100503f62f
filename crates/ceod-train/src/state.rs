//! The loop state saved next to `last.safetensors` so `--resume` continues exactly.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint_policy::BestTracker;
use crate::evaluate::EvalMetrics;
use crate::rng::SplitMix64;

/// The metadata key of the loop state in the state file's header.
pub const STATE_KEY: &str = "ceod_train_state";

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Omega of the epoch (0 during the warm-up).
    pub omega: f64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean training BCE.
    pub train_bce: f64,
    /// Mean training overlap term (before omega).
    pub train_overlap: f64,
    /// Validation metrics.
    pub val: EvalMetrics,
    /// Whether this epoch's checkpoint became `best`.
    pub best: bool,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// Where the loop is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub global_step: usize,
    /// The shuffling/augmentation generator.
    pub rng: SplitMix64,
    /// The best checkpoint so far.
    pub best: BestTracker,
    /// Every finished epoch's record.
    pub history: Vec<EpochRecord>,
}

/// Writes the optimiser moments and the loop state, atomically.
pub fn save_state(
    path: &Path,
    moments: &HashMap<String, Tensor>,
    state: &LoopState,
) -> anyhow::Result<()> {
    let json = serde_json::to_string(state)?;
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(moments.len());
    for (k, t) in moments {
        tensors.push((k.clone(), t.detach().to_device(&Device::Cpu)?.contiguous()?));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = HashMap::from([(STATE_KEY.to_string(), json)]);
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .context("serialising the optimiser state")?;
    crate::run_dir::write_atomic(path, &bytes)
}

/// Reads what [`save_state`] wrote.
pub fn load_state(
    path: &Path,
    device: &Device,
) -> anyhow::Result<(HashMap<String, Tensor>, LoopState)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the loop state {}", path.display()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{} is not a safetensors file", path.display()))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_KEY))
        .with_context(|| format!("{} has no `{STATE_KEY}` metadata", path.display()))?;
    let state: LoopState = serde_json::from_str(json)
        .with_context(|| format!("{}: bad loop state", path.display()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .with_context(|| format!("{}: bad tensors", path.display()))?;
    Ok((tensors, state))
}
