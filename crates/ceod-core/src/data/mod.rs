//! Datasets: samples, manifest CSVs, MVTec folders, splits and parallel batch loading.

mod csv;
mod loader;
mod manifest;
mod mvtec;
mod rng;
mod sample;
mod split;

pub use loader::{Batch, BatchLoader, LoadedBatch, LoadedSample, load_samples};
pub use manifest::{Manifest, ManifestOptions};
pub use mvtec::{IMAGE_EXTENSIONS, is_image, read_mvtec};
pub use rng::SplitMix64;
pub use sample::{ParseSplitError, Sample, Split};
pub use split::{SplitOptions, Splits, split_samples};
