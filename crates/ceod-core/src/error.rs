//! The errors of the model, loss, checkpoint, prediction and device parts of ceod-core.

use std::path::PathBuf;

/// An error of the CEOD loss, the model, prediction or the device helper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A tensor operation failed (shapes, dtypes, devices, backend).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The class activation map (ceod-gradcam) failed.
    #[error(transparent)]
    Cam(#[from] ceod_gradcam::CamError),
    /// A [`ModelConfig`](crate::ModelConfig) that cannot describe a network.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// Inputs of the loss or of prediction that do not fit together.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An overlap mode that needs the exact polygon term, in a build without the `overlap` feature.
    #[error(
        "the `{mode}` overlap mode needs the exact polygon term: build ceod-core with the `overlap` feature, or use the `soft` mode"
    )]
    OverlapFeatureDisabled {
        /// The mode that was asked for.
        mode: &'static str,
    },
    /// The exact overlap (ceod-geometry) failed for one sample.
    #[error("exact overlap of sample {sample}: {message}")]
    Geometry {
        /// Index of the sample in the batch.
        sample: usize,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A device string that cannot be parsed, or a device this build or machine does not have.
    #[error("device `{spec}`: {message}")]
    Device {
        /// The device as asked for.
        spec: String,
        /// Why it is not available.
        message: String,
    },
}

/// An error while saving or loading a checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, corrupt or not safetensors at all).
    #[error("{}: not a valid safetensors file: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The safetensors error.
        source: safetensors::SafeTensorError,
    },
    /// The header has no `ceod` model card: the file is plain weights, not a ceod checkpoint.
    #[error(
        "{}: no `ceod` model card in the header metadata (plain weights? use `load_pytorch_weights`)",
        path.display()
    )]
    MissingCard {
        /// The file.
        path: PathBuf,
    },
    /// The model card is not valid JSON for a [`ModelCard`](crate::ModelCard).
    #[error("{}: invalid model card: {source}", path.display())]
    InvalidCard {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The card's format version is not one this build reads.
    #[error("{}: checkpoint format version {found} is not supported (this build reads {supported})", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
    /// A tensor the model needs is not in the file.
    #[error("missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// The tensor name.
        name: String,
        /// Its expected shape.
        expected: Vec<usize>,
    },
    /// The file has a tensor the model does not have.
    #[error("unexpected tensor `{name}` (shape {found:?}): the model has no such parameter")]
    UnexpectedTensor {
        /// The tensor name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
    },
    /// A tensor whose shape differs from the model's.
    #[error("tensor `{name}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The tensor name.
        name: String,
        /// The shape the model config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The tensors could not be serialised or turned into candle tensors.
    #[error("tensor data: {0}")]
    Tensor(#[from] candle_core::Error),
}
