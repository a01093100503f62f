//! The CEOD loss, the `CeodNet` model, preprocessing, the one-file checkpoint and prediction.
//!
//! ceod-core is what training (`ceod-train`) and inference (`ceod-infer`) share:
//!
//! - [`CeodNet`] with its serialisable [`ModelConfig`] (preset `ceodnet-s`), split at its target
//!   layer for class activation maps ([`ceod_gradcam::CamModel`]);
//! - the losses: stable [`bce_with_logits`] (with `pos_weight`), softmax [`cross_entropy`], and
//!   [`ceod_loss`] = CE + omega · mean_i w_i · overlap_d_i with the modes `exact`, `soft` and
//!   `straight-through` and the coefficients `paper`, `containment`, `iou` and `energy`;
//! - the checkpoint: ONE `.safetensors` file whose header metadata key `ceod` holds the JSON
//!   [`ModelCard`] ([`save_checkpoint`], [`load_checkpoint`]);
//! - [`predict`]: scores and decisions for a batch;
//! - [`device`]: `cpu`, `cuda:N`, `metal` or `auto`.
//!
//! # Conventions
//!
//! - Pixel `(x, y)` (column, row) covers the square `[x, x+1) × [y, y+1)`; polygons are in image
//!   pixel coordinates. A feature-map cell `(i, j)` of an `h × w` map over an `H × W` image
//!   covers `[j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h)`; images need not be square.
//! - The CAM in the loss comes from ceod-gradcam's train mode with `alpha` held constant: it is
//!   upsampled bilinearly with half-pixel centres (PyTorch `align_corners=False`) as two matrix
//!   products and normalised by its maximum, `cam / (max + 1e-8)`, an all-zero map staying zero.
//!   The maximum is in the graph and splits its gradient evenly among tied maxima (PyTorch's
//!   rule).
//! - Tensors: images `B × C × H × W`, masks `B × H × W` (1 inside the area of interest), logits
//!   `B × num_outputs`; parameter names and layouts are PyTorch's (`conv1.weight`, …, `fc.bias`).
//! - Max pooling sends each window's gradient to its first maximum in row-major order
//!   ([`max_pool`]); candle's own `max_pool2d` backward is wrong in 0.11.1.
//!
//! # Features
//!
//! - `overlap` (off by default): the exact polygon overlap term from `ceod-geometry` (and `geo`).
//!   Without it the `soft` mode works and the `exact` and `straight-through` modes return
//!   [`CoreError::OverlapFeatureDisabled`]; inference never needs it.
//! - `cuda`, `cudnn`, `metal`, `mkl`, `accelerate`: candle's backends, forwarded.
#![warn(missing_docs)]

pub mod cpu;
pub mod data;
mod data_error;
mod mask;
pub mod preprocess;
pub mod synth;

pub use data_error::DataError;
pub use mask::Mask;
pub use preprocess::{Placement, PreparedImage, PreparedMask, Preprocess, Resize, channel_stats};

mod checkpoint;
mod device;
mod error;
mod loss;
mod model;
mod pool;
mod predict;

pub use checkpoint::{
    CARD_KEY, FORMAT_VERSION, ModelCard, Provenance, load_checkpoint, load_checkpoint_trainable,
    load_pytorch_weights, read_model_card, save_checkpoint,
};
pub use device::{DeviceSpec, device};
pub use error::{CheckpointError, CoreError};
pub use loss::{
    BceOptions, BinaryCam, CeodInput, CeodOptions, CeodOutput, CeodParts, Coefficient, OverlapMode,
    OverlapSamples, RegionKind, Targets, bce_with_logits, ceod_loss, cross_entropy,
    exact_overlap_distance, soft_overlap_distance,
};
pub use model::{CeodNet, ModelConfig, WeightInit};
pub use pool::{max_pool, max_pool_tensor_ops};
pub use predict::{Predictions, predict};
