//! The crate's error type.

use crate::method::CamMethod;

/// Everything that can go wrong while computing a class activation map.
#[derive(Debug, thiserror::Error)]
pub enum CamError {
    /// An error from candle (device, dtype, shape mismatch inside an operation).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A tensor does not have the shape the operation needs.
    #[error("{what}: expected {expected}, got shape {got:?}")]
    Shape {
        /// Which tensor.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape it has.
        got: Vec<usize>,
    },

    /// The number of per-sample targets differs from the batch size.
    #[error("{got} targets given for a batch of {expected}: give one class per sample")]
    TargetCount {
        /// The batch size.
        expected: usize,
        /// The number of targets given.
        got: usize,
    },

    /// A target class index does not exist in the model's output.
    #[error(
        "target class {class} of sample {sample} is out of range: the model has {classes} logits"
    )]
    TargetOutOfRange {
        /// The sample's index in the batch.
        sample: usize,
        /// The requested class.
        class: usize,
        /// The number of logits the head returns.
        classes: usize,
    },

    /// [`Target::Binary`](crate::Target::Binary) was asked of a model with more than one logit.
    #[error("the binary target needs a head with exactly one logit, this one has {classes}")]
    NotBinary {
        /// The number of logits the head returns.
        classes: usize,
    },

    /// The method needs the analytic form, but the model's head is not global average pool + linear.
    #[error(
        "{method} needs a global-average-pool + linear head, but `CamModel::linear_head` returned None"
    )]
    NoLinearHead {
        /// The method (or gradient source) that needed it.
        method: CamMethod,
    },

    /// An interpolation size of zero.
    #[error("bilinear upsampling needs positive sizes, got {n_in} -> {n_out}")]
    EmptySize {
        /// The input length.
        n_in: usize,
        /// The output length.
        n_out: usize,
    },
}

/// Result with [`CamError`].
pub type Result<T> = std::result::Result<T, CamError>;
