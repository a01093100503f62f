//! The checkpoint: ONE `.safetensors` file, weights plus the JSON model card in its header.
//!
//! The header metadata key `ceod` holds the [`ModelCard`] as JSON (format version, architecture,
//! preprocessing, decision threshold, class names, provenance), so `ceod-infer` needs nothing
//! else. Tensors are named and laid out as PyTorch's (`conv1.weight`, …, `fc.bias`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};
use safetensors::SafeTensors;
use safetensors::tensor::Metadata;
use serde::{Deserialize, Serialize};

use crate::error::{CheckpointError, CoreError};
use crate::model::{CeodNet, ModelConfig};
use crate::preprocess::Preprocess;

/// The checkpoint format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The header metadata key of the model card.
pub const CARD_KEY: &str = "ceod";

/// Where a model came from: data, training settings, metrics at save.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// The training data (a manifest path, a generator name and seed, …).
    pub dataset: String,
    /// The weight `omega` of the overlap term during training.
    pub omega: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Metrics at save time (`accuracy`, `auroc`, `exact_overlap_d`, …).
    pub metrics: BTreeMap<String, f64>,
    /// Anything else (loss options, git revision, seed, …), free-form.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The model card stored in the checkpoint's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The checkpoint format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The architecture.
    pub model: ModelConfig,
    /// The preprocessing the model was trained with.
    pub preprocess: Preprocess,
    /// The decision threshold on the score (binary models: defect when `sigmoid(logit) ≥ t`).
    pub threshold: f64,
    /// One name per class (`["good", "defect"]` for a binary model).
    pub class_names: Vec<String>,
    /// Training provenance.
    pub provenance: Provenance,
}

impl ModelCard {
    /// A card for `model` with `preprocess`, threshold 0.5, class names `good`/`defect` for a
    /// binary model (`class0`, `class1`, … otherwise) and empty provenance.
    pub fn new(model: ModelConfig, preprocess: Preprocess) -> Self {
        let class_names = if model.num_outputs == 1 {
            vec!["good".into(), "defect".into()]
        } else {
            (0..model.num_outputs)
                .map(|i| format!("class{i}"))
                .collect()
        };
        Self {
            format_version: FORMAT_VERSION,
            model,
            preprocess,
            threshold: 0.5,
            class_names,
            provenance: Provenance::default(),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |source| {
        CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }
}

/// Writes `net`'s weights and `card` to `path` (one `.safetensors` file).
///
/// The file is written to `path.tmp-<pid>`, synced and renamed, so a reader never sees half a
/// checkpoint.
///
/// ```
/// use candle_core::{DType, Device};
/// use ceod_core::{CeodNet, ModelCard, ModelConfig, Preprocess, load_checkpoint, save_checkpoint};
///
/// let cfg = ModelConfig::ceodnet_s();
/// let (net, _) = CeodNet::seeded(&cfg, 3, DType::F32, &Device::Cpu)?;
/// let dir = std::env::temp_dir().join(format!("ceod-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("model.safetensors");
/// save_checkpoint(&path, &net, &ModelCard::new(cfg.clone(), Preprocess::default()))?;
/// let (back, card) = load_checkpoint(&path, &Device::Cpu)?;
/// assert_eq!(back.config(), &cfg);
/// assert_eq!(card.threshold, 0.5);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`CoreError::InvalidInput`] when the card's model config is not the network's;
/// [`CheckpointError::Io`] when writing or renaming fails.
pub fn save_checkpoint(
    path: impl AsRef<Path>,
    net: &CeodNet,
    card: &ModelCard,
) -> Result<(), CoreError> {
    let path = path.as_ref();
    if &card.model != net.config() {
        return Err(CoreError::InvalidInput(
            "the model card's `model` config differs from the network's".into(),
        ));
    }
    let card = ModelCard {
        format_version: FORMAT_VERSION,
        ..card.clone()
    };
    let json = serde_json::to_string(&card).map_err(|source| CheckpointError::InvalidCard {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tensors = Vec::new();
    for (name, t) in net.named_tensors() {
        tensors.push((name, t.detach().to_device(&Device::Cpu)?.contiguous()?));
    }
    let metadata = HashMap::from([(CARD_KEY.to_string(), json)]);
    let bytes =
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
            .map_err(|source| CheckpointError::Format {
                path: path.to_path_buf(),
                source,
            })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> Result<(), CoreError> {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads the model card from a checkpoint's header, without loading the weights.
///
/// # Errors
/// [`CheckpointError::Io`], [`CheckpointError::Format`] (not safetensors, truncated),
/// [`CheckpointError::MissingCard`], [`CheckpointError::UnsupportedVersion`],
/// [`CheckpointError::InvalidCard`].
pub fn read_model_card(path: impl AsRef<Path>) -> Result<ModelCard, CoreError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (_, meta) = parse(path, &bytes)?;
    card_of(path, &meta)
}

/// The validated file (a truncated one fails here) and its header.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<(SafeTensors<'a>, Metadata), CoreError> {
    let format = |source| CheckpointError::Format {
        path: path.to_path_buf(),
        source,
    };
    let st = SafeTensors::deserialize(bytes).map_err(format)?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(format)?;
    Ok((st, meta))
}

fn card_of(path: &Path, meta: &Metadata) -> Result<ModelCard, CoreError> {
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CARD_KEY))
        .ok_or_else(|| CheckpointError::MissingCard {
            path: path.to_path_buf(),
        })?;
    let invalid = |source| CheckpointError::InvalidCard {
        path: path.to_path_buf(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(invalid)?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(CheckpointError::UnsupportedVersion {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            }
            .into());
        }
        None => {
            return Err(CheckpointError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: 0,
                supported: FORMAT_VERSION,
            }
            .into());
        }
    }
    Ok(serde_json::from_value(value).map_err(invalid)?)
}

/// Checks every tensor of the file against `config` (names and shapes, both ways) and builds a
/// `VarMap` of F32 tensors on `device`.
fn weights_of(
    st: &SafeTensors<'_>,
    meta: &Metadata,
    config: &ModelConfig,
    device: &Device,
) -> Result<VarMap, CoreError> {
    config.validate()?;
    let expected = config.parameter_shapes();
    let infos = meta.tensors();
    for (name, shape) in &expected {
        match infos.get(name) {
            None => {
                return Err(CheckpointError::MissingTensor {
                    name: name.clone(),
                    expected: shape.clone(),
                }
                .into());
            }
            Some(info) if &info.shape != shape => {
                return Err(CheckpointError::ShapeMismatch {
                    name: name.clone(),
                    expected: shape.clone(),
                    found: info.shape.clone(),
                }
                .into());
            }
            Some(_) => {}
        }
    }
    let mut names: Vec<&String> = infos.keys().collect();
    names.sort();
    if let Some(extra) = names
        .into_iter()
        .find(|n| !expected.iter().any(|(e, _)| e == *n))
    {
        return Err(CheckpointError::UnexpectedTensor {
            name: extra.clone(),
            found: infos[extra].shape.clone(),
        }
        .into());
    }
    let varmap = VarMap::new();
    {
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| CoreError::InvalidInput("VarMap lock poisoned".into()))?;
        for (name, _) in &expected {
            let view = st
                .tensor(name)
                .map_err(|e| CheckpointError::Tensor(e.into()))?;
            let t = candle_core::safetensors::Load::load(&view, device)
                .map_err(CheckpointError::Tensor)?
                .to_dtype(DType::F32)
                .map_err(CheckpointError::Tensor)?;
            data.insert(
                name.clone(),
                Var::from_tensor(&t).map_err(CheckpointError::Tensor)?,
            );
        }
    }
    Ok(varmap)
}

/// Loads a checkpoint written by [`save_checkpoint`]: the network (F32, on `device`) and its card.
///
/// Every tensor's name and shape is checked against the card's `ModelConfig`; a wrong one is
/// named with both shapes.
///
/// # Errors
/// As [`read_model_card`], plus [`CheckpointError::MissingTensor`],
/// [`CheckpointError::UnexpectedTensor`] and [`CheckpointError::ShapeMismatch`].
pub fn load_checkpoint(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<(CeodNet, ModelCard), CoreError> {
    let (net, _, card) = load_checkpoint_trainable(path, device)?;
    Ok((net, card))
}

/// As [`load_checkpoint`], also returning the `VarMap` that holds the weights (to continue
/// training: hand `varmap.all_vars()` to an optimiser).
///
/// # Errors
/// As [`load_checkpoint`].
pub fn load_checkpoint_trainable(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<(CeodNet, VarMap, ModelCard), CoreError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (st, meta) = parse(path, &bytes)?;
    let card = card_of(path, &meta)?;
    let varmap = weights_of(&st, &meta, &card.model, device)?;
    let net = CeodNet::new(
        &card.model,
        VarBuilder::from_varmap(&varmap, DType::F32, device),
    )?;
    Ok((net, varmap, card))
}

/// Loads a plain weight file without a model card (PyTorch `save_file` of a `state_dict` with
/// the names of [`ModelConfig::parameter_shapes`], such as the fixtures), for tests and research.
///
/// Names and shapes are checked strictly (a missing, unexpected or misshapen tensor is an
/// error); the tensors are converted to F32.
///
/// # Errors
/// [`CheckpointError::Io`], [`CheckpointError::Format`], and the tensor checks of
/// [`load_checkpoint`].
pub fn load_pytorch_weights(
    path: impl AsRef<Path>,
    config: &ModelConfig,
    device: &Device,
) -> Result<(CeodNet, VarMap), CoreError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (st, meta) = parse(path, &bytes)?;
    let varmap = weights_of(&st, &meta, config, device)?;
    let net = CeodNet::new(config, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    Ok((net, varmap))
}
