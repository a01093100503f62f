//! Class activation maps from candle's backward pass.
//!
//! Candle has no forward hooks, so a model exposes its target layer by implementing
//! [`CamModel`]: `features(x) -> A` and `head(A) -> logits`.

mod model;

pub use model::{CamModel, LinearHead};
