//! [`HeatMap`]: a finite `f32` grid in image coordinates.

use crate::error::{GeometryError, Result, check_raster_size};
use crate::resize::bilinear_resize;

/// A heat map (for example a class activation map): `width × height` finite `f32` values, row-major,
/// value `(x, y)` (column `x`, row `y`) at index `y * width + x`.
///
/// Pixel `(x, y)` covers the square `[x, x+1) × [y, y+1)` of image coordinates. A map at feature
/// resolution (say 16×16) is brought to the image size with [`HeatMap::resized`] (bilinear,
/// half-pixel centres, PyTorch's `align_corners=False`); [`overlap`](crate::overlap()) does that
/// by itself when the sizes differ.
///
/// ```
/// use ceod_geometry::HeatMap;
/// let map = HeatMap::new(3, 2, vec![0.0, 0.5, 1.0, 0.25, 0.75, 0.0])?;
/// assert_eq!(map.get(2, 0), Some(1.0));
/// assert_eq!(map.get(0, 1), Some(0.25));
/// assert!(HeatMap::new(3, 2, vec![0.0; 5]).is_err()); // 5 values for 3x2
/// assert!(HeatMap::new(1, 1, vec![f32::NAN]).is_err());
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl HeatMap {
    /// A heat map from row-major values.
    ///
    /// # Errors
    /// [`GeometryError::ZeroSize`] for a zero dimension, [`GeometryError::SizeMismatch`] when
    /// `values.len() != width * height`, [`GeometryError::NonFinite`] for a NaN or infinity.
    pub fn new(width: usize, height: usize, values: Vec<f32>) -> Result<Self> {
        check_raster_size(width, height, values.len())?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(GeometryError::NonFinite {
                x: i % width,
                y: i / width,
                value: values[i],
            });
        }
        Ok(Self {
            width,
            height,
            values,
        })
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The values, row-major, by value.
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    /// The value at column `x`, row `y`, or `None` outside the map.
    pub fn get(&self, x: usize, y: usize) -> Option<f32> {
        (x < self.width && y < self.height).then(|| self.values[y * self.width + x])
    }

    /// The largest value.
    pub fn max(&self) -> f32 {
        self.values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The smallest value.
    pub fn min(&self) -> f32 {
        self.values.iter().copied().fold(f32::INFINITY, f32::min)
    }

    /// The map resampled to `width × height` by bilinear interpolation with half-pixel centres,
    /// exactly as PyTorch's `F.interpolate(mode="bilinear", align_corners=False)` (no antialiasing):
    /// output pixel `i` samples the input at `(i + 0.5) · in / out − 0.5`, clamped at 0 and at the
    /// last input pixel. Computed in `f32` in PyTorch's order of operations. Returns a clone when
    /// the size is unchanged.
    ///
    /// ```
    /// use ceod_geometry::HeatMap;
    /// let small = HeatMap::new(2, 1, vec![0.0, 1.0])?;
    /// let big = small.resized(4, 1)?;
    /// assert_eq!(big.values(), &[0.0, 0.25, 0.75, 1.0]);
    /// # Ok::<(), ceod_geometry::GeometryError>(())
    /// ```
    ///
    /// # Errors
    /// [`GeometryError::ZeroSize`] for a zero target dimension.
    pub fn resized(&self, width: usize, height: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(GeometryError::ZeroSize { width, height });
        }
        if width == self.width && height == self.height {
            return Ok(self.clone());
        }
        let values = bilinear_resize(&self.values, self.width, self.height, width, height);
        Ok(Self {
            width,
            height,
            values,
        })
    }

    /// [`HeatMap::resized`] and the maximum of the result, in one pass.
    pub(crate) fn resized_with_max(&self, width: usize, height: usize) -> Result<(Self, f32)> {
        if width == 0 || height == 0 {
            return Err(GeometryError::ZeroSize { width, height });
        }
        let (values, max) = crate::resize::bilinear_resize_with_max(
            &self.values,
            self.width,
            self.height,
            width,
            height,
        );
        Ok((
            Self {
                width,
                height,
                values,
            },
            max,
        ))
    }
}
