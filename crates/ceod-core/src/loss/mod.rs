//! The losses: stable BCE and softmax cross-entropy, and CEOD with its overlap term.

mod bce;
mod cam;
mod ceod;
mod exact;
mod options;
mod soft;

pub use bce::{BceOptions, bce_with_logits, cross_entropy};
pub use ceod::{CeodInput, CeodOutput, CeodParts, Targets, ceod_loss};
pub use exact::exact_overlap_distance;
pub use options::{BinaryCam, CeodOptions, Coefficient, OverlapMode, OverlapSamples, RegionKind};
pub use soft::soft_overlap_distance;
