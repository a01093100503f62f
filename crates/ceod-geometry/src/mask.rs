//! [`Mask`]: a binary raster (area of interest or hot pixels).

use crate::error::{Result, check_raster_size};

/// A binary raster: `width × height` booleans, row-major, pixel `(x, y)` at `y * width + x`,
/// covering the square `[x, x+1) × [y, y+1)`.
///
/// ```
/// use ceod_geometry::Mask;
/// // A PNG mask's grey levels: pixel >= 128 is inside.
/// let mask = Mask::from_bytes(2, 2, &[0, 128, 255, 127], 128)?;
/// assert_eq!(mask.values(), &[false, true, true, false]);
/// assert_eq!(mask.count(), 2);
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mask {
    width: usize,
    height: usize,
    values: Vec<bool>,
}

impl Mask {
    /// A mask from row-major booleans.
    ///
    /// # Errors
    /// [`GeometryError::ZeroSize`](crate::GeometryError::ZeroSize) for a zero dimension,
    /// [`GeometryError::SizeMismatch`](crate::GeometryError::SizeMismatch) when
    /// `values.len() != width * height`.
    pub fn new(width: usize, height: usize, values: Vec<bool>) -> Result<Self> {
        check_raster_size(width, height, values.len())?;
        Ok(Self {
            width,
            height,
            values,
        })
    }

    /// A mask from a byte raster (for example the grey levels of a PNG): pixel inside iff its
    /// byte is `>= threshold`. Masks stored as PNG use `threshold = 128`.
    ///
    /// # Errors
    /// As [`Mask::new`].
    pub fn from_bytes(width: usize, height: usize, bytes: &[u8], threshold: u8) -> Result<Self> {
        check_raster_size(width, height, bytes.len())?;
        Ok(Self {
            width,
            height,
            values: bytes.iter().map(|&b| b >= threshold).collect(),
        })
    }

    /// A mask whose pixel `(x, y)` is `f(x, y)`.
    ///
    /// ```
    /// use ceod_geometry::Mask;
    /// let diagonal = Mask::from_fn(3, 3, |x, y| x == y)?;
    /// assert_eq!(diagonal.count(), 3);
    /// # Ok::<(), ceod_geometry::GeometryError>(())
    /// ```
    ///
    /// # Errors
    /// [`GeometryError::ZeroSize`](crate::GeometryError::ZeroSize) for a zero dimension.
    pub fn from_fn(
        width: usize,
        height: usize,
        mut f: impl FnMut(usize, usize) -> bool,
    ) -> Result<Self> {
        check_raster_size(width, height, width.saturating_mul(height))?;
        let mut values = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                values.push(f(x, y));
            }
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

    /// The pixels, row-major.
    pub fn values(&self) -> &[bool] {
        &self.values
    }

    /// The pixel at column `x`, row `y`; `false` outside the mask.
    pub fn get(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.height && self.values[y * self.width + x]
    }

    /// Row `y` of the mask.
    pub(crate) fn row(&self, y: usize) -> &[bool] {
        &self.values[y * self.width..(y + 1) * self.width]
    }

    /// The window `[x0, x1) × [y0, y1)` as a mask of its own (clamped to the mask).
    pub(crate) fn crop(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> Option<Mask> {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let mut values = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            values.extend_from_slice(&self.row(y)[x0..x1]);
        }
        Some(Mask {
            width: x1 - x0,
            height: y1 - y0,
            values,
        })
    }

    /// Number of pixels inside (`true`).
    pub fn count(&self) -> usize {
        self.values.iter().filter(|&&v| v).count()
    }

    /// Whether no pixel is inside.
    pub fn is_empty(&self) -> bool {
        !self.values.iter().any(|&v| v)
    }
}
