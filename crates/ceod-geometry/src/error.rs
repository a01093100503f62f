//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `ceod-geometry`. No function of this crate panics on user data;
/// it returns one of these instead.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum GeometryError {
    /// A raster with zero width or zero height.
    #[error("raster of size {width}x{height} is empty (zero width or height)")]
    ZeroSize {
        /// The width given.
        width: usize,
        /// The height given.
        height: usize,
    },
    /// The number of values does not match `width * height`.
    #[error("raster of size {width}x{height} needs {expected} values, got {actual}")]
    SizeMismatch {
        /// The width given.
        width: usize,
        /// The height given.
        height: usize,
        /// `width * height` (or `usize::MAX` when that overflows).
        expected: usize,
        /// The number of values given.
        actual: usize,
    },
    /// A NaN or infinite value in a heat map.
    #[error("heat map value at pixel (x = {x}, y = {y}) is not finite ({value})")]
    NonFinite {
        /// Column of the first offending pixel.
        x: usize,
        /// Row of the first offending pixel.
        y: usize,
        /// The value found.
        value: f32,
    },
    /// A threshold whose parameter is out of range or not finite.
    #[error("invalid threshold: {0}")]
    InvalidThreshold(String),
    /// Concave-hull options that geo cannot use (non-finite or negative).
    #[error("invalid concave hull options: {0}")]
    InvalidOutline(String),
    /// A batch whose heat maps and masks differ in number.
    #[error("batch has {heat_maps} heat maps but {masks} masks")]
    BatchLengthMismatch {
        /// Number of heat maps.
        heat_maps: usize,
        /// Number of masks.
        masks: usize,
    },
    /// An annotation shape that cannot be repaired.
    #[error("shape #{index} (label {label:?}): {problem}")]
    InvalidShape {
        /// Position of the shape in the annotation file (0-based).
        index: usize,
        /// The shape's label.
        label: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An annotation shape type other than `polygon` and `rectangle`.
    #[error(
        "shape #{index} (label {label:?}): unsupported shape_type {shape_type:?} (only polygon and rectangle)"
    )]
    UnsupportedShape {
        /// Position of the shape in the annotation file (0-based).
        index: usize,
        /// The shape's label.
        label: String,
        /// The shape type found.
        shape_type: String,
    },
    /// The annotation file is not LabelMe JSON.
    #[error("not a LabelMe annotation: {0}")]
    LabelMe(String),
}

/// `Result` with [`GeometryError`].
pub type Result<T, E = GeometryError> = std::result::Result<T, E>;

/// `width * height`, checking for zero and overflow against the number of values.
pub(crate) fn check_raster_size(width: usize, height: usize, actual: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(GeometryError::ZeroSize { width, height });
    }
    let expected = width.saturating_mul(height);
    if expected != actual {
        return Err(GeometryError::SizeMismatch {
            width,
            height,
            expected,
            actual,
        });
    }
    Ok(())
}
