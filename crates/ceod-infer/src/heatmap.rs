//! Heat maps for `--cam-out`: the CAM brought to the source image's size, a colour map, the
//! overlay PNG and the `.npy` files.
//!
//! A CAM of `h × w` cells covers the model input (`W × H`); the source image lies inside it at
//! its [`Placement`] (all of it for `stretch`, the centred content for `letterbox`). A source
//! pixel `u` (centre `u + 0.5`) sits at model-input coordinate `x0 + (u + 0.5)·cw/sw` and at
//! feature coordinate `that · w/W`; the map is sampled there bilinearly with half-pixel centres
//! and edge clamping. For `stretch` this is exactly PyTorch's `interpolate(mode="bilinear",
//! align_corners=False)` from `h × w` to the image size.

use std::path::{Path, PathBuf};

use ceod_core::preprocess::Placement;
use image::{DynamicImage, Rgb, RgbImage};

use crate::npy;

/// A CAM at feature resolution, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureCam {
    /// The values (`height × width`), not normalised.
    pub data: Vec<f32>,
    /// Rows `h`.
    pub height: usize,
    /// Columns `w`.
    pub width: usize,
}

/// For each of `n` output samples: `(i0, i1, t)` with the value `(1-t)·v[i0] + t·v[i1]`, for
/// output sample `u` at source coordinate `offset + (u + 0.5)·scale` (in units of source cells),
/// half-pixel centres, clamped to the edges.
fn axis_weights(n: usize, src: usize, offset: f64, scale: f64) -> Vec<(usize, usize, f32)> {
    let last = src.saturating_sub(1);
    (0..n)
        .map(|u| {
            let c = (offset + (u as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (c.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            let t = if i1 == i0 {
                0.0
            } else {
                (c - i0 as f64) as f32
            };
            (i0, i1, t)
        })
        .collect()
}

/// The CAM sampled at every pixel of the `src_width × src_height` source image (row-major).
///
/// `input_size` is the model input `(W, H)` and `place` the image content inside it.
///
/// ```
/// use ceod_core::preprocess::Placement;
/// use ceod_infer::heatmap::{FeatureCam, cam_at_image_size};
/// // 1×2 map [0, 1] over a 4×4 input, stretched onto an 8×1 image: PyTorch's
/// // interpolate(size=(1, 8), mode="bilinear", align_corners=False) gives these values.
/// let cam = FeatureCam { data: vec![0.0, 1.0], height: 1, width: 2 };
/// let place = Placement { x: 0, y: 0, width: 4, height: 4 };
/// let up = cam_at_image_size(&cam, (4, 4), place, 8, 1);
/// assert_eq!(up, vec![0.0, 0.0, 0.125, 0.375, 0.625, 0.875, 1.0, 1.0]);
/// ```
pub fn cam_at_image_size(
    cam: &FeatureCam,
    input_size: (u32, u32),
    place: Placement,
    src_width: u32,
    src_height: u32,
) -> Vec<f32> {
    let (iw, ih) = (
        f64::from(input_size.0.max(1)),
        f64::from(input_size.1.max(1)),
    );
    let (sw, sh) = (src_width.max(1) as usize, src_height.max(1) as usize);
    // Feature cells per model-input pixel, and model-input pixels per source pixel.
    let (fx, fy) = (cam.width as f64 / iw, cam.height as f64 / ih);
    let (px, py) = (
        f64::from(place.width) / sw as f64,
        f64::from(place.height) / sh as f64,
    );
    let xs = axis_weights(sw, cam.width, f64::from(place.x) * fx, px * fx);
    let ys = axis_weights(sh, cam.height, f64::from(place.y) * fy, py * fy);
    let mut out = Vec::with_capacity(sw * sh);
    if cam.data.len() != cam.width * cam.height || cam.data.is_empty() {
        out.resize(sw * sh, 0.0);
        return out;
    }
    // Rows first (h × sw), then columns.
    let mut rows = vec![0f32; cam.height * sw];
    for (r, out_row) in rows.chunks_exact_mut(sw).enumerate() {
        let src = &cam.data[r * cam.width..(r + 1) * cam.width];
        for (o, &(i0, i1, t)) in out_row.iter_mut().zip(&xs) {
            *o = src[i0] * (1.0 - t) + src[i1] * t;
        }
    }
    for &(j0, j1, t) in &ys {
        let (a, b) = (&rows[j0 * sw..(j0 + 1) * sw], &rows[j1 * sw..(j1 + 1) * sw]);
        out.extend(a.iter().zip(b).map(|(&p, &q)| p * (1.0 - t) + q * t));
    }
    out
}

/// `values / (max + 1e-8)`, with negative values (none after the CAM's ReLU) clamped to 0; an
/// all-zero map stays zero.
pub fn normalise(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(0f32, f32::max);
    values.iter().map(|&v| v.max(0.0) / (max + 1e-8)).collect()
}

/// The jet colour map at `t ∈ [0, 1]` (blue → cyan → yellow → red), as 8-bit RGB.
///
/// ```
/// use ceod_infer::heatmap::jet;
/// assert_eq!(jet(0.0), [0, 0, 128]);
/// assert_eq!(jet(0.5), [128, 255, 128]);
/// assert_eq!(jet(1.0), [128, 0, 0]);
/// ```
pub fn jet(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let ramp = |x: f32| (1.5 - (4.0 * t - x).abs()).clamp(0.0, 1.0);
    let to8 = |v: f32| (v * 255.0).round() as u8;
    [to8(ramp(3.0)), to8(ramp(2.0)), to8(ramp(1.0))]
}

/// The overlay: the image (as 8-bit RGB) blended half and half with the jet colours of the
/// normalised map (`norm` at image size, row-major).
pub fn overlay(image: &DynamicImage, norm: &[f32]) -> RgbImage {
    let base = image.to_rgb8();
    let (w, h) = base.dimensions();
    let mut out = RgbImage::new(w, h);
    for (i, (px, o)) in base.pixels().zip(out.pixels_mut()).enumerate() {
        let c = jet(norm.get(i).copied().unwrap_or(0.0));
        let mix = |a: u8, b: u8| (u16::from(a) + u16::from(b)).div_ceil(2) as u8;
        *o = Rgb([mix(px[0], c[0]), mix(px[1], c[1]), mix(px[2], c[2])]);
    }
    out
}

/// The files written for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct CamFiles {
    /// The overlay PNG (image size).
    pub overlay_png: PathBuf,
    /// The raw CAM at feature resolution, `h × w` float32.
    pub feature_npy: PathBuf,
    /// The raw CAM at image size, `H × W` float32.
    pub image_npy: PathBuf,
}

impl CamFiles {
    /// The three paths for the base name `base` in `dir`: `<base>.overlay.png`,
    /// `<base>.cam.npy` and `<base>.cam_image.npy`.
    pub fn in_dir(dir: &Path, base: &str) -> Self {
        Self {
            overlay_png: dir.join(format!("{base}.overlay.png")),
            feature_npy: dir.join(format!("{base}.cam.npy")),
            image_npy: dir.join(format!("{base}.cam_image.npy")),
        }
    }
}

/// Errors writing the heat-map files.
#[derive(Debug, thiserror::Error)]
pub enum HeatmapError {
    /// An `.npy` file.
    #[error(transparent)]
    Npy(#[from] npy::NpyError),
    /// The overlay PNG.
    #[error("overlay png: {0}")]
    Image(#[from] image::ImageError),
    /// Writing the overlay PNG.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Writes the overlay and both `.npy` files for one image, each atomically.
pub fn write_cam_files(
    files: &CamFiles,
    image: &DynamicImage,
    cam: &FeatureCam,
    input_size: (u32, u32),
    place: Placement,
) -> Result<(), HeatmapError> {
    let (sw, sh) = (image.width(), image.height());
    let full = cam_at_image_size(cam, input_size, place, sw, sh);
    npy::write_f32(&files.feature_npy, &[cam.height, cam.width], &cam.data)?;
    npy::write_f32(&files.image_npy, &[sh as usize, sw as usize], &full)?;
    let mut png = std::io::Cursor::new(Vec::new());
    overlay(image, &normalise(&full)).write_to(&mut png, image::ImageFormat::Png)?;
    crate::atomic::write_bytes(&files.overlay_png, png.get_ref()).map_err(|source| {
        HeatmapError::Io {
            path: files.overlay_png.clone(),
            source,
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force bilinear sampling with half-pixel centres, straight from the definition.
    fn sample(cam: &FeatureCam, x: f64, y: f64) -> f64 {
        let c = |v: f64, n: usize| (v - 0.5).clamp(0.0, (n - 1) as f64);
        let (cx, cy) = (c(x, cam.width), c(y, cam.height));
        let (x0, y0) = (cx.floor() as usize, cy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(cam.width - 1), (y0 + 1).min(cam.height - 1));
        let (tx, ty) = (cx - x0 as f64, cy - y0 as f64);
        let v = |i: usize, j: usize| f64::from(cam.data[j * cam.width + i]);
        (1.0 - ty) * ((1.0 - tx) * v(x0, y0) + tx * v(x1, y0))
            + ty * ((1.0 - tx) * v(x0, y1) + tx * v(x1, y1))
    }

    fn test_cam() -> FeatureCam {
        let (h, w) = (3, 5);
        FeatureCam {
            data: (0..h * w).map(|i| ((i * 7) % 11) as f32).collect(),
            height: h,
            width: w,
        }
    }

    #[test]
    fn stretch_matches_brute_force_on_non_square_sizes() {
        let cam = test_cam();
        let place = Placement {
            x: 0,
            y: 0,
            width: 40,
            height: 24,
        };
        let (sw, sh) = (17u32, 9u32);
        let up = cam_at_image_size(&cam, (40, 24), place, sw, sh);
        for v in 0..sh as usize {
            for u in 0..sw as usize {
                let fx = (u as f64 + 0.5) * cam.width as f64 / f64::from(sw);
                let fy = (v as f64 + 0.5) * cam.height as f64 / f64::from(sh);
                let want = sample(&cam, fx, fy);
                let got = f64::from(up[v * sw as usize + u]);
                assert!((got - want).abs() < 1e-5, "({u},{v}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn letterbox_maps_through_the_content_placement() {
        let cam = test_cam();
        // A 20×10 image letterboxed into a 40×24 input: content 40×20 at y = 2.
        let place = Placement {
            x: 0,
            y: 2,
            width: 40,
            height: 20,
        };
        let up = cam_at_image_size(&cam, (40, 24), place, 20, 10);
        for v in 0..10usize {
            for u in 0..20usize {
                let ix = (u as f64 + 0.5) * 2.0;
                let iy = 2.0 + (v as f64 + 0.5) * 2.0;
                let want = sample(&cam, ix * 5.0 / 40.0, iy * 3.0 / 24.0);
                let got = f64::from(up[v * 20 + u]);
                assert!((got - want).abs() < 1e-5, "({u},{v}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn same_size_is_the_identity() {
        let cam = test_cam();
        let place = Placement {
            x: 0,
            y: 0,
            width: 5,
            height: 3,
        };
        assert_eq!(cam_at_image_size(&cam, (5, 3), place, 5, 3), cam.data);
    }

    #[test]
    fn normalise_keeps_zero_maps_zero() {
        assert_eq!(normalise(&[0.0, 0.0]), vec![0.0, 0.0]);
        let n = normalise(&[1.0, 4.0]);
        assert!((n[1] - 1.0).abs() < 1e-6 && (n[0] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn overlay_is_the_half_blend() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 1, Rgb([200, 100, 0])));
        let o = overlay(&img, &[0.0, 1.0]);
        // jet(0) = (0, 0, 128), jet(1) = (128, 0, 0); rounded half sums.
        assert_eq!(o.get_pixel(0, 0).0, [100, 50, 64]);
        assert_eq!(o.get_pixel(1, 0).0, [164, 50, 0]);
    }
}
