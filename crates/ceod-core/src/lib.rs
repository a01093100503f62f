//! The CEOD loss, the model, preprocessing and checkpoints (filled in by the core issue).

pub mod preprocess;

pub use preprocess::{Preprocess, Resize};
