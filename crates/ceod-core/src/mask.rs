//! Binary area-of-interest masks at an image's native size.

use std::path::Path;

use image::DynamicImage;

use crate::data_error::DataError;
use crate::preprocess::{decode, to_planes};

/// A binary mask: `height × width` values, 1 inside the area of interest, 0 outside.
///
/// A mask file is either an image or a LabelMe JSON document (extension `.json`).
///
/// - **Image masks** (PNG, or any format [`decode`](crate::preprocess::decode) reads): each
///   pixel is converted to a grey value in `[0, 1]` exactly as images are
///   ([`Preprocess`](crate::Preprocess): 8-bit by `1/255`, 16-bit by `1/65535`, colour and
///   palette by BT.601 luma, alpha composited over black, so transparent is outside) and is
///   inside when that value is `≥ 0.5`. For 8-bit grey this is the rule "pixel ≥ 128"; for
///   16-bit grey it is "pixel ≥ 32768", exactly the 16-bit values that become ≥ 128 when
///   reduced to 8 bits (by `v >> 8` or by rounding `v / 257`).
/// - **LabelMe JSON** (needs the `overlap` feature, which brings `ceod-geometry`): the
///   polygons of its `shapes`, in image pixel coordinates, rasterised at `imageWidth ×
///   imageHeight`; a pixel is inside when its centre is inside a polygon. Without the feature
///   such a mask is a clear error.
///
/// ```
/// use ceod_core::Mask;
/// use image::{DynamicImage, GrayImage};
///
/// let img = GrayImage::from_raw(4, 1, vec![0, 127, 128, 255]).unwrap();
/// let m = Mask::from_image(&DynamicImage::ImageLuma8(img));
/// assert_eq!(m.data(), &[0, 0, 1, 1]);
/// assert_eq!(m.resize_nearest(2, 1).data(), &[0, 1]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Mask {
    /// A mask from row-major 0/1 values (any non-zero value counts as 1).
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self, DataError> {
        if data.len() != width as usize * height as usize {
            return Err(DataError::Config(format!(
                "mask data has {} values, {width}x{height} needs {}",
                data.len(),
                width as usize * height as usize
            )));
        }
        let data = data.into_iter().map(|v| u8::from(v != 0)).collect();
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// A mask with every pixel inside.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![1; width as usize * height as usize],
        }
    }

    /// Binarises a decoded image (the rule is in the [`Mask`] docs).
    pub fn from_image(img: &DynamicImage) -> Self {
        let grey = to_planes(img, 1);
        Self {
            width: img.width(),
            height: img.height(),
            data: grey.iter().map(|&v| u8::from(v >= 0.5)).collect(),
        }
    }

    /// Reads a mask file: an image, or a LabelMe JSON (`.json`) rasterised at the size its
    /// document states. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        if is_json(path) {
            labelme(path, None)
        } else {
            Ok(Self::from_image(&decode(path)?))
        }
    }

    /// Reads the mask of the image `image_path`, whose size is `image_size` (`(width,
    /// height)`), and checks that the sizes agree; a mismatch is [`DataError::MaskSize`]
    /// naming both files and sizes. A LabelMe document without `imageWidth`/`imageHeight` is
    /// rasterised at `image_size`.
    pub fn load_for_image(
        mask_path: impl AsRef<Path>,
        image_path: impl AsRef<Path>,
        image_size: (u32, u32),
    ) -> Result<Self, DataError> {
        let path = mask_path.as_ref();
        let mask = if is_json(path) {
            labelme(path, Some(image_size))?
        } else {
            Self::from_image(&decode(path)?)
        };
        if mask.size() != image_size {
            return Err(DataError::MaskSize {
                image: image_path.as_ref().to_path_buf(),
                image_size,
                mask: path.to_path_buf(),
                mask_size: mask.size(),
            });
        }
        Ok(mask)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)`.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The row-major 0/1 values.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Number of pixels inside.
    pub fn count(&self) -> usize {
        self.data.iter().map(|&v| usize::from(v)).sum()
    }

    /// Nearest-neighbour resize with half-pixel centres: output pixel `(x, y)` takes source
    /// pixel `(floor((x + 0.5)·w/W), floor((y + 0.5)·h/H))`. The result stays binary.
    pub fn resize_nearest(&self, width: u32, height: u32) -> Self {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let cols = nearest_index(self.width as usize, width as usize);
        let rows = nearest_index(self.height as usize, height as usize);
        let sw = self.width as usize;
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for &r in &rows {
            let row = &self.data[r * sw..(r + 1) * sw];
            data.extend(cols.iter().map(|&c| row[c]));
        }
        Self {
            width,
            height,
            data,
        }
    }
}

fn nearest_index(src: usize, dst: usize) -> Vec<usize> {
    (0..dst)
        .map(|i| {
            // Integer form of floor((i + 0.5) * src / dst): exact, no rounding drift.
            (((2 * i + 1) * src) / (2 * dst)).min(src.saturating_sub(1))
        })
        .collect()
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

#[cfg(not(feature = "overlap"))]
fn labelme(path: &Path, _size: Option<(u32, u32)>) -> Result<Mask, DataError> {
    Err(DataError::Mask {
        path: path.to_path_buf(),
        message: "LabelMe JSON masks need ceod-core's `overlap` feature (ceod-geometry); \
                  this build has it off, so convert the mask to a PNG"
            .into(),
    })
}

#[cfg(feature = "overlap")]
fn labelme(path: &Path, size: Option<(u32, u32)>) -> Result<Mask, DataError> {
    let err = |message: String| DataError::Mask {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    // The document's own size wins (so that a mismatch with the image is caught); the
    // image's size is used only when the document has none.
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let dim = |key: &str| {
        doc.get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    let (width, height) = match (dim("imageWidth"), dim("imageHeight"), size) {
        (Some(w), Some(h), _) => (w, h),
        (_, _, Some(s)) => s,
        _ => {
            return Err(err(
                "LabelMe document without imageWidth/imageHeight and no image to take the size from"
                    .into(),
            ));
        }
    };
    let options = ceod_geometry::LabelMeOptions {
        image_size: Some((width as usize, height as usize)),
        ..Default::default()
    };
    let aoi = ceod_geometry::parse_labelme_with_options(&text, &options)
        .map_err(|e| err(format!("LabelMe: {e}")))?;
    let raster = aoi.to_mask().map_err(|e| err(format!("LabelMe: {e}")))?;
    let data = raster.values().iter().map(|&v| u8::from(v)).collect();
    Mask::new(width, height, data)
}
