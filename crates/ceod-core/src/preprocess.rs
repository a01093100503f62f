//! One preprocessing path for training, evaluation and inference.
//!
//! [`Preprocess`] turns a decoded image into the model's input, a `C×H×W` `f32` buffer:
//!
//! 1. **Pixel values** are scaled to `[0, 1]`: 8-bit samples by `1/255`, 16-bit samples by
//!    `1/65535` (never reduced to 8 bits first), float samples are kept as they are.
//! 2. **Alpha** is composited over black: a pixel becomes `colour · alpha`. A fully
//!    transparent pixel is therefore 0, the same as a mask pixel that is outside the area of
//!    interest ([`Mask`] uses the same rule).
//! 3. **Channels**: grey from colour is ITU-R BT.601 luma, `Y = 0.299 R + 0.587 G + 0.114 B`
//!    (PIL's `convert("L")` weights; torchvision's `rgb_to_grayscale` uses 0.2989 for red, a
//!    difference below 1e-4; the `image` crate's own `to_luma` uses BT.709 weights and is not
//!    used here). RGB from grey repeats the grey value in all three channels.
//!    Palette images are expanded to RGB(A) by the decoder.
//! 4. **Resize** with a separable triangle (bilinear) filter with half-pixel centres that
//!    widens its support when it shrinks an image (antialiased, like PIL's `BILINEAR` and
//!    torchvision's `resize(antialias=True)`; both agree with it to 2e-6 in
//!    `tests/preprocess_reference.rs`). [`Resize::Stretch`] scales each axis to the
//!    target; [`Resize::Letterbox`] keeps the aspect ratio, centres the content and pads with
//!    `fill`. Masks go through exactly the same geometry with a nearest-neighbour rule
//!    ([`Preprocess::prepare_mask`]).
//! 5. **Normalise** per channel: `(v − mean[c]) / std[c]` (the padding too).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::data_error::DataError;
use crate::mask::Mask;

/// How an image is brought to the model's input size.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Resize {
    /// Scale each axis independently to the target size (aspect ratio not kept).
    #[default]
    Stretch,
    /// Keep the aspect ratio, centre the scaled image and pad the rest with `fill`
    /// (a value in `[0, 1]` before normalisation, applied to every channel).
    Letterbox {
        /// Padding value in `[0, 1]` (before normalisation).
        fill: f32,
    },
}

/// The preprocessing of the model: input size, channels, resize rule, normalisation.
///
/// It is stored in the checkpoint's model card, so inference uses exactly what training used.
///
/// ```
/// use ceod_core::{Preprocess, Resize};
/// use image::{DynamicImage, GrayImage, Luma};
///
/// let pre = Preprocess { width: 8, height: 4, resize: Resize::Letterbox { fill: 0.0 }, ..Preprocess::default() };
/// // A 4×4 white image letterboxed into 8×4: a 4×4 white square centred, black on both sides.
/// let img = DynamicImage::ImageLuma8(GrayImage::from_pixel(4, 4, Luma([255])));
/// let x = pre.apply(&img)?;
/// assert_eq!((x.channels, x.height, x.width), (1, 4, 8));
/// assert_eq!(&x.data[..8], &[0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
/// assert_eq!((x.content.x, x.content.width), (2, 4));
/// # Ok::<(), ceod_core::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Model input width in pixels.
    pub width: u32,
    /// Model input height in pixels.
    pub height: u32,
    /// Input channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Resize rule.
    pub resize: Resize,
    /// Per-channel mean subtracted after scaling pixels to `[0, 1]` (length `channels`, or 1).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after subtracting the mean (length `channels`, or 1).
    pub std: Vec<f32>,
}

impl Default for Preprocess {
    /// 128×128 grey, stretched, mean 0 and std 1 (pixel values in `[0, 1]`, like the fixtures).
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            channels: 1,
            resize: Resize::Stretch,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }
}

/// Where the image content lies inside the model input (the rest is letterbox padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Left column of the content.
    pub x: u32,
    /// Top row of the content.
    pub y: u32,
    /// Content width in model-input pixels.
    pub width: u32,
    /// Content height in model-input pixels.
    pub height: u32,
}

/// An image ready for the model: `channels × height × width` values, row-major per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedImage {
    /// The values, `C×H×W`, normalised.
    pub data: Vec<f32>,
    /// Number of channels `C`.
    pub channels: usize,
    /// Height `H` (the model input height).
    pub height: usize,
    /// Width `W` (the model input width).
    pub width: usize,
    /// `(width, height)` of the decoded source image.
    pub source_size: (u32, u32),
    /// Where the source content lies in the model input.
    pub content: Placement,
}

/// A binary mask at the model's input size (`height × width`, 1 = inside the area of interest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMask {
    /// The values, 0 or 1, row-major.
    pub data: Vec<u8>,
    /// Height (the model input height).
    pub height: usize,
    /// Width (the model input width).
    pub width: usize,
}

impl Preprocess {
    /// Checks the settings: a non-zero size, 1 or 3 channels, `mean`/`std` of length 1 or
    /// `channels`, every `std` finite and positive, a finite `fill`.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.width == 0 || self.height == 0 {
            return Err(DataError::Config(format!(
                "preprocess size must be positive, got {}x{}",
                self.width, self.height
            )));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(DataError::Config(format!(
                "preprocess channels must be 1 (grey) or 3 (rgb), got {}",
                self.channels
            )));
        }
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != self.channels {
                return Err(DataError::Config(format!(
                    "preprocess {name} must have 1 or {} values, got {}",
                    self.channels,
                    v.len()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(DataError::Config(format!(
                    "preprocess {name} must be finite, got {v:?}"
                )));
            }
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err(DataError::Config(format!(
                "preprocess std must be positive, got {:?}",
                self.std
            )));
        }
        if let Resize::Letterbox { fill } = self.resize
            && !fill.is_finite()
        {
            return Err(DataError::Config(format!(
                "letterbox fill must be finite, got {fill}"
            )));
        }
        Ok(())
    }

    /// Where a `src_width × src_height` image lands in the model input.
    ///
    /// Stretch: the whole input. Letterbox: scaled by `min(W/w, H/h)`, the scaled size rounded
    /// to the nearest pixel (at least 1), centred (the left/top offset rounded down).
    pub fn placement(&self, src_width: u32, src_height: u32) -> Placement {
        match self.resize {
            Resize::Stretch => Placement {
                x: 0,
                y: 0,
                width: self.width,
                height: self.height,
            },
            Resize::Letterbox { .. } => {
                let (w, h) = (f64::from(src_width.max(1)), f64::from(src_height.max(1)));
                let scale = (f64::from(self.width) / w).min(f64::from(self.height) / h);
                let cw = ((w * scale).round() as u32).clamp(1, self.width);
                let ch = ((h * scale).round() as u32).clamp(1, self.height);
                Placement {
                    x: (self.width - cw) / 2,
                    y: (self.height - ch) / 2,
                    width: cw,
                    height: ch,
                }
            }
        }
    }

    /// Decodes the image file at `path` and prepares it ([`Preprocess::apply`]).
    ///
    /// Errors name the file: missing, unreadable, not decodable.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<PreparedImage, DataError> {
        let img = decode(path.as_ref())?;
        self.apply(&img)
    }

    /// Prepares a decoded image: scale to `[0, 1]`, alpha over black, channels, resize,
    /// normalise (see the [module docs](self)).
    pub fn apply(&self, img: &DynamicImage) -> Result<PreparedImage, DataError> {
        self.validate()?;
        let (sw, sh) = (img.width(), img.height());
        if sw == 0 || sh == 0 {
            return Err(DataError::Config(format!("empty image {sw}x{sh}")));
        }
        let planes = to_planes(img, self.channels);
        let place = self.placement(sw, sh);
        let (w, h) = (self.width as usize, self.height as usize);
        let fill = match self.resize {
            Resize::Stretch => 0.0,
            Resize::Letterbox { fill } => fill,
        };
        let mut data = vec![fill; self.channels * w * h];
        let (cw, ch) = (place.width as usize, place.height as usize);
        let hw = triangle_weights(sw as usize, cw);
        let vw = triangle_weights(sh as usize, ch);
        let plane_len = sw as usize * sh as usize;
        for c in 0..self.channels {
            let src = &planes[c * plane_len..(c + 1) * plane_len];
            let resized = resize_plane(src, sw as usize, sh as usize, &hw, &vw);
            let out = &mut data[c * w * h..(c + 1) * w * h];
            for (r, row) in resized.chunks_exact(cw).enumerate() {
                let start = (place.y as usize + r) * w + place.x as usize;
                out[start..start + cw].copy_from_slice(row);
            }
            let mean = self.mean[if self.mean.len() == 1 { 0 } else { c }];
            let std = self.std[if self.std.len() == 1 { 0 } else { c }];
            if mean != 0.0 || std != 1.0 {
                for v in out.iter_mut() {
                    *v = (*v - mean) / std;
                }
            }
        }
        Ok(PreparedImage {
            data,
            channels: self.channels,
            height: h,
            width: w,
            source_size: (sw, sh),
            content: place,
        })
    }

    /// Brings a mask (at its image's native size) to the model input with the same geometry
    /// as [`Preprocess::apply`] gives its image, by nearest neighbour with half-pixel centres
    /// (output pixel `i` takes source pixel `floor((i + 0.5) · src / dst)`); letterbox padding
    /// is outside (0). The result stays binary.
    pub fn prepare_mask(&self, mask: &Mask) -> Result<PreparedMask, DataError> {
        self.validate()?;
        let place = self.placement(mask.width(), mask.height());
        let small = mask.resize_nearest(place.width, place.height);
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = vec![0u8; w * h];
        let cw = place.width as usize;
        for (r, row) in small.data().chunks_exact(cw).enumerate() {
            let start = (place.y as usize + r) * w + place.x as usize;
            data[start..start + cw].copy_from_slice(row);
        }
        Ok(PreparedMask {
            data,
            height: h,
            width: w,
        })
    }

    /// Loads the mask at `mask_path` for the image `image_path` of size `image_size`
    /// (`(width, height)`), checks that both sizes agree (an error names both files and sizes)
    /// and prepares it ([`Preprocess::prepare_mask`]).
    pub fn load_mask(
        &self,
        mask_path: impl AsRef<Path>,
        image_path: impl AsRef<Path>,
        image_size: (u32, u32),
    ) -> Result<PreparedMask, DataError> {
        let mask = Mask::load_for_image(mask_path, image_path, image_size)?;
        self.prepare_mask(&mask)
    }

    /// Loads an image and, if given, its mask: the one path used by training and evaluation.
    pub fn load_with_mask(
        &self,
        image_path: impl AsRef<Path>,
        mask_path: Option<&Path>,
    ) -> Result<(PreparedImage, Option<PreparedMask>), DataError> {
        let image_path = image_path.as_ref();
        let img = decode(image_path)?;
        let prepared = self.apply(&img)?;
        let mask = match mask_path {
            Some(m) => Some(self.load_mask(m, image_path, (img.width(), img.height()))?),
            None => None,
        };
        Ok((prepared, mask))
    }
}

impl PreparedImage {
    /// Stacks prepared images into one `B×C×H×W` `f32` tensor on `device`.
    ///
    /// All images must have the same shape and there must be at least one.
    pub fn stack(images: &[PreparedImage], device: &Device) -> Result<Tensor, DataError> {
        let first = images
            .first()
            .ok_or_else(|| DataError::Config("cannot stack an empty list of images".into()))?;
        let shape = (first.channels, first.height, first.width);
        let mut flat = Vec::with_capacity(images.len() * first.data.len());
        for (i, im) in images.iter().enumerate() {
            if (im.channels, im.height, im.width) != shape || im.data.len() != first.data.len() {
                return Err(DataError::Config(format!(
                    "image {i} is {}x{}x{}, image 0 is {}x{}x{}",
                    im.channels, im.height, im.width, shape.0, shape.1, shape.2
                )));
            }
            flat.extend_from_slice(&im.data);
        }
        Ok(Tensor::from_vec(
            flat,
            (images.len(), shape.0, shape.1, shape.2),
            device,
        )?)
    }
}

impl PreparedMask {
    /// Stacks masks into one `B×H×W` `f32` tensor of 0/1 values on `device`; `None` becomes an
    /// all-zero (empty) mask, which the loss treats as "no overlap term" for that sample.
    /// `height`/`width` give the shape when every entry is `None`.
    pub fn stack(
        masks: &[Option<&PreparedMask>],
        height: usize,
        width: usize,
        device: &Device,
    ) -> Result<Tensor, DataError> {
        if masks.is_empty() {
            return Err(DataError::Config(
                "cannot stack an empty list of masks".into(),
            ));
        }
        let mut flat = vec![0f32; masks.len() * height * width];
        for (i, m) in masks.iter().enumerate() {
            if let Some(m) = m {
                if (m.height, m.width) != (height, width) || m.data.len() != height * width {
                    return Err(DataError::Config(format!(
                        "mask {i} is {}x{}, expected {height}x{width}",
                        m.height, m.width
                    )));
                }
                let out = &mut flat[i * height * width..(i + 1) * height * width];
                for (o, &v) in out.iter_mut().zip(&m.data) {
                    *o = f32::from(v);
                }
            }
        }
        Ok(Tensor::from_vec(
            flat,
            (masks.len(), height, width),
            device,
        )?)
    }
}

/// Per-channel mean and standard deviation (population) of prepared images, for
/// [`Preprocess::mean`] / [`Preprocess::std`]: prepare the training images with mean 0 and
/// std 1, measure, then normalise with the result. Every image must have the same channel count.
///
/// ```
/// use ceod_core::{channel_stats, Preprocess};
/// use image::{DynamicImage, GrayImage};
///
/// let pre = Preprocess { width: 2, height: 1, ..Preprocess::default() };
/// let img = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
/// let x = pre.apply(&DynamicImage::ImageLuma8(img))?;
/// let (mean, std) = channel_stats(&[x])?;
/// assert_eq!((mean, std), (vec![0.5], vec![0.5]));
/// # Ok::<(), ceod_core::DataError>(())
/// ```
pub fn channel_stats(images: &[PreparedImage]) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    let c = images
        .first()
        .map(|im| im.channels)
        .ok_or_else(|| DataError::Config("channel statistics of no images".into()))?;
    let mut sum = vec![0f64; c];
    let mut sq = vec![0f64; c];
    let mut count = 0usize;
    for (i, im) in images.iter().enumerate() {
        if im.channels != c || im.data.len() != c * im.height * im.width {
            return Err(DataError::Config(format!(
                "image {i} has {} channels, image 0 has {c}",
                im.channels
            )));
        }
        let plane = im.height * im.width;
        for (k, chunk) in im.data.chunks_exact(plane.max(1)).enumerate().take(c) {
            for &v in chunk {
                sum[k] += f64::from(v);
                sq[k] += f64::from(v) * f64::from(v);
            }
        }
        count += plane;
    }
    let n = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - m * m).max(0.0)).sqrt() as f32)
        .collect();
    Ok((mean.into_iter().map(|m| m as f32).collect(), std))
}

/// Decodes an image file, guessing the format from its content (not its extension).
///
/// Errors name the file: [`DataError::Missing`], [`DataError::Io`], [`DataError::Decode`].
pub fn decode(path: impl AsRef<Path>) -> Result<DynamicImage, DataError> {
    let path = path.as_ref();
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        return Err(DataError::Decode {
            path: path.to_path_buf(),
            message: "unknown image format".into(),
        });
    }
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::IoError(io) => DataError::io(path, io),
        other => DataError::Decode {
            path: PathBuf::from(path),
            message: other.to_string(),
        },
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::Decode {
            path: path.to_path_buf(),
            message: format!("the image is empty ({}x{})", img.width(), img.height()),
        });
    }
    Ok(img)
}

/// Converts a decoded image to `channels` planes (`C×h×w`) of values in `[0, 1]` at its
/// native size: 8-bit by `1/255`, 16-bit by `1/65535`, alpha over black, BT.601 luma.
pub(crate) fn to_planes(img: &DynamicImage, channels: usize) -> Vec<f32> {
    use DynamicImage as D;
    let n = img.width() as usize * img.height() as usize;
    match img {
        D::ImageLuma8(b) => planes_from(b.as_raw(), 1, 255.0, channels, n),
        D::ImageLumaA8(b) => planes_from(b.as_raw(), 2, 255.0, channels, n),
        D::ImageRgb8(b) => planes_from(b.as_raw(), 3, 255.0, channels, n),
        D::ImageRgba8(b) => planes_from(b.as_raw(), 4, 255.0, channels, n),
        D::ImageLuma16(b) => planes_from(b.as_raw(), 1, 65535.0, channels, n),
        D::ImageLumaA16(b) => planes_from(b.as_raw(), 2, 65535.0, channels, n),
        D::ImageRgb16(b) => planes_from(b.as_raw(), 3, 65535.0, channels, n),
        D::ImageRgba16(b) => planes_from(b.as_raw(), 4, 65535.0, channels, n),
        D::ImageRgb32F(b) => planes_from(b.as_raw(), 3, 1.0, channels, n),
        D::ImageRgba32F(b) => planes_from(b.as_raw(), 4, 1.0, channels, n),
        other => planes_from(other.to_rgba32f().as_raw(), 4, 1.0, channels, n),
    }
}

fn planes_from<T: Copy + Into<f32>>(
    raw: &[T],
    cpp: usize,
    scale: f32,
    channels: usize,
    n: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; channels * n];
    for (i, px) in raw.chunks_exact(cpp).take(n).enumerate() {
        let v = |k: usize| px[k].into() / scale;
        let (r, g, b, a) = match cpp {
            1 => (v(0), v(0), v(0), 1.0),
            2 => (v(0), v(0), v(0), v(1)),
            3 => (v(0), v(1), v(2), 1.0),
            _ => (v(0), v(1), v(2), v(3)),
        };
        if channels == 1 {
            let y = if cpp <= 2 {
                r
            } else {
                0.299 * r + 0.587 * g + 0.114 * b
            };
            out[i] = y * a;
        } else {
            out[i] = r * a;
            out[n + i] = g * a;
            out[2 * n + i] = b * a;
        }
    }
    out
}

/// For each output index: the first source index and the normalised weights of the
/// antialiased triangle filter (support `max(1, src/dst)` source pixels, half-pixel centres).
pub(crate) fn triangle_weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    let support = scale.max(1.0);
    (0..dst)
        .map(|i| {
            let centre = (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(src);
            let mut w: Vec<f64> = (lo..hi)
                .map(|k| (1.0 - ((k as f64 + 0.5 - centre) / support).abs()).max(0.0))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|x| *x /= sum);
            } else {
                // Unreachable for src, dst >= 1 (the nearest pixel is within half a pixel);
                // fall back to the nearest pixel.
                w = vec![0.0; hi - lo];
                if let Some(first) = w.first_mut() {
                    *first = 1.0;
                }
            }
            (lo, w.into_iter().map(|x| x as f32).collect())
        })
        .collect()
}

fn resize_plane(
    src: &[f32],
    sw: usize,
    sh: usize,
    hw: &[(usize, Vec<f32>)],
    vw: &[(usize, Vec<f32>)],
) -> Vec<f32> {
    let (dw, dh) = (hw.len(), vw.len());
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    // Horizontal pass: sh rows × dw columns.
    let mut tmp = vec![0f32; sh * dw];
    for (row, out) in src.chunks_exact(sw).zip(tmp.chunks_exact_mut(dw)) {
        for (o, (lo, w)) in out.iter_mut().zip(hw) {
            *o = row[*lo..*lo + w.len()]
                .iter()
                .zip(w)
                .map(|(a, b)| a * b)
                .sum();
        }
    }
    // Vertical pass: dh rows × dw columns.
    let mut out = vec![0f32; dh * dw];
    for (orow, (lo, w)) in out.chunks_exact_mut(dw).zip(vw) {
        for (k, &wk) in w.iter().enumerate() {
            let srow = &tmp[(lo + k) * dw..(lo + k + 1) * dw];
            for (o, s) in orow.iter_mut().zip(srow) {
                *o += wk * s;
            }
        }
    }
    out
}
