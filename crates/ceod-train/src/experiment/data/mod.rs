//! The data of an experiment, built in memory at run time from real datasets (masks derived and
//! decoys painted from the images, never written back) or from the synthetic generator.
//!
//! Every data kind is one variant of [`DataSpec`] (the `data` object of an experiment config,
//! tagged by `kind`) and one module here; [`build`] dispatches on it. A builder reads its files
//! under the data root (`--data-root`, else `$CEOD_DATA`, else `../shared/data`), returns the
//! train / validation / test splits as [`Item`]s at the model's input size, and reports every
//! file it could not use in [`Dataset::skipped`] (nothing is dropped silently).

pub mod aoi;
pub mod casting;
pub mod decoy;
pub mod decoy_mnist;
pub mod magnetic_tile;

use std::path::{Path, PathBuf};

use anyhow::Context;
use ceod_core::Preprocess;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Item, load_dataset};

/// The data of an experiment: its splits, extra test variants, and notes for the report.
#[derive(Debug, Clone, Default)]
pub struct ExperimentData {
    /// Train, validation and (main) test splits, and the skipped files.
    pub dataset: Dataset,
    /// Further named test sets evaluated beside `dataset.test` (for example the test images with
    /// a decoy painted on good parts), in report order.
    pub test_variants: Vec<(String, Vec<Item>)>,
    /// Facts for the report: counts, how masks were derived, what was scaled down.
    pub notes: Vec<String>,
}

/// What data an experiment trains and tests on (the `data` object of its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataSpec {
    /// The embedded synthetic conveyor (no files): decoys go with the label in train and
    /// validation, and are independent of it in the test split.
    Synth {
        /// Training images.
        n_train: usize,
        /// Validation images.
        n_val: usize,
        /// Test images.
        n_test: usize,
    },
    /// Decoy MNIST (`mnist/`, Ross et al. 2017): a 4x4 corner patch whose grey level encodes
    /// the label in training and validation and a random digit in test; the area of interest
    /// is the image minus the corners ([`decoy_mnist`]; needs the `mnist` feature).
    DecoyMnist(decoy_mnist::DecoyMnistSpec),
    /// The casting-impeller shortcut test (`casting-impeller/`): the impeller as the area of
    /// interest, derived from each image; a decoy on the background of the defective training
    /// images; test variants clean and decoy-on-good ([`casting`]).
    Casting(casting::CastingSpec),
    /// The Magnetic Tile defects (`magnetic-tile/`), split by near-duplicate group; training
    /// masks the defect masks or the derived tile region; test masks the defect masks
    /// ([`magnetic_tile`]).
    MagneticTile(magnetic_tile::MagneticTileSpec),
}

impl DataSpec {
    /// A short description for logs and the model card.
    pub fn describe(&self) -> String {
        match self {
            Self::Synth {
                n_train,
                n_val,
                n_test,
            } => format!("synthetic conveyor {n_train}/{n_val}/{n_test}"),
            Self::DecoyMnist(m) => m.describe(),
            Self::Casting(c) => c.describe(),
            Self::MagneticTile(t) => t.describe(),
        }
    }

    /// Whether the data needs files under the data root (the experiment is skipped with a
    /// message when they are absent).
    pub fn needs_files(&self) -> bool {
        !matches!(self, Self::Synth { .. })
    }
}

/// Where the real datasets are: `flag`, else `$CEOD_DATA`, else `../shared/data` (relative to
/// the working directory: the workspace root).
pub fn data_root(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("CEOD_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("../shared/data"),
    }
}

/// Builds the data of `spec` at `pre`'s input size; `seed` fixes the split and anything drawn
/// at random (decoy positions), so one seed gives the same data every time.
///
/// # Errors
/// A dataset folder or index file that is missing or malformed (named in the message); an empty
/// training split. Single bad images are not errors: they are in `dataset.skipped`.
pub fn build(
    spec: &DataSpec,
    root: &Path,
    pre: &Preprocess,
    seed: u64,
) -> anyhow::Result<ExperimentData> {
    let _ = root;
    let data = match spec {
        DataSpec::DecoyMnist(m) => decoy_mnist::build(m, root, pre, seed)?,
        DataSpec::Casting(c) => casting::build(c, root, pre, seed)?,
        DataSpec::MagneticTile(t) => magnetic_tile::build(t, root, pre, seed)?,
        DataSpec::Synth {
            n_train,
            n_val,
            n_test,
        } => {
            let source = crate::config::DataSource::Synth {
                n_train: *n_train,
                n_val: *n_val,
                n_test: *n_test,
                seed,
            };
            ExperimentData {
                dataset: load_dataset(&source, pre, seed, 0.0)
                    .context("building the synthetic data")?,
                test_variants: Vec::new(),
                notes: vec![spec.describe()],
            }
        }
    };
    if data.dataset.train.is_empty() {
        anyhow::bail!(
            "{}: the training split is empty ({} files skipped)",
            spec.describe(),
            data.dataset.skipped.len()
        );
    }
    Ok(data)
}
