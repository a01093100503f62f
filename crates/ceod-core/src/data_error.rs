//! The error type of preprocessing, masks, manifests and the synthetic generator.

use std::path::PathBuf;

/// What went wrong while reading, decoding or preparing data.
///
/// Every variant that concerns a file names it; those that concern a line of a manifest name
/// the line too (1-based, counting the header as line 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file does not exist.
    #[error("{}: file not found", path.display())]
    Missing {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// The file exists but could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be decoded as an image.
    #[error("{}: not a decodable image: {message}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A mask's size differs from the size of its image (checked before any resize).
    #[error(
        "mask {} is {}x{} but its image {} is {}x{}",
        mask.display(), mask_size.0, mask_size.1, image.display(), image_size.0, image_size.1
    )]
    MaskSize {
        /// The image file.
        image: PathBuf,
        /// The image's `(width, height)`.
        image_size: (u32, u32),
        /// The mask file.
        mask: PathBuf,
        /// The mask's `(width, height)`.
        mask_size: (u32, u32),
    },
    /// A mask file that cannot be used (a LabelMe JSON without the `overlap` feature, a bad
    /// LabelMe document, an unknown extension).
    #[error("mask {}: {message}", path.display())]
    Mask {
        /// The mask file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A malformed manifest: bad CSV, a missing column, a bad label or split.
    #[error("{}:{line}: {message}", path.display())]
    Manifest {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line where the record starts (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A dataset folder that does not have the expected layout.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The folder (or the file in it) at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Invalid settings (of a `Preprocess`, a split or the generator).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A tensor operation failed while building a batch.
    #[error("building a batch: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl DataError {
    /// Maps an I/O error on `path` to [`DataError::Missing`] or [`DataError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::Missing { path }
        } else {
            Self::Io { path, source }
        }
    }
}
