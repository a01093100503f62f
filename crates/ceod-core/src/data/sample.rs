//! A labelled sample: an image file, its label, and optionally its mask, split and group.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which part of a dataset a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data (model selection, threshold calibration).
    Val,
    /// Held-out test data.
    Test,
}

impl Split {
    /// The name used in manifests: `train`, `val`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Split::from_str`]: the text that is not a split name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a split (train, val, test)")]
pub struct ParseSplitError(pub String);

impl FromStr for Split {
    type Err = ParseSplitError;

    /// Case-insensitive `train`, `val`/`valid`/`validation`, `test`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Train),
            "val" | "valid" | "validation" => Ok(Split::Val),
            "test" | "testing" => Ok(Split::Test),
            _ => Err(ParseSplitError(s.to_string())),
        }
    }
}

/// One labelled image of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The image file.
    pub image: PathBuf,
    /// The label: 0 (good) / 1 (defect), or a class index.
    pub label: usize,
    /// The area-of-interest mask (PNG or LabelMe JSON), if any.
    pub mask: Option<PathBuf>,
    /// The split, if the dataset fixes it.
    pub split: Option<Split>,
    /// The group (for example one physical part photographed several times): samples of one
    /// group are never put on both sides of a split.
    pub group: Option<String>,
}

impl Sample {
    /// A sample with no mask, split or group.
    pub fn new(image: impl Into<PathBuf>, label: usize) -> Self {
        Self {
            image: image.into(),
            label,
            mask: None,
            split: None,
            group: None,
        }
    }
}
