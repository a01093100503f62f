//! Defect-like decoys painted on the background of an image, outside its area of interest.
//!
//! A decoy is a mark that looks like a casting defect (a dark blow hole or a scratch) but lies
//! on the surface the part rests on, where no defect can be. Painted on the defective training
//! images only it is a shortcut: a classifier may learn "dark mark anywhere ⇒ defect" instead of
//! looking at the part. [`paint_decoy`] places one at random where its whole footprint, widened
//! by a margin, is outside the area of interest and inside the image, so it never touches the
//! part; the same generator state gives the same decoy.
//!
//! ```
//! use ceod_core::Mask;
//! use ceod_core::data::SplitMix64;
//! use ceod_train::experiment::data::decoy::{DecoyOptions, paint_decoy};
//! use image::{GrayImage, Luma};
//!
//! // a light 64×64 background, the area of interest its left half
//! let mut img = GrayImage::from_pixel(64, 64, Luma([200]));
//! let aoi = Mask::new(64, 64, (0..64 * 64).map(|i| u8::from(i % 64 < 32)).collect())?;
//! let opts = DecoyOptions { radius: 5.0, margin: 3, ..DecoyOptions::default() };
//! let placed = paint_decoy(&mut img, &aoi, &opts, &mut SplitMix64::new(1))?.expect("room");
//! assert!(placed.pixels > 0);
//! // every changed pixel is in the right half, outside the area of interest
//! assert!(img.enumerate_pixels().all(|(x, _, p)| p.0[0] == 200 || x >= 32));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ceod_core::Mask;
use ceod_core::data::SplitMix64;
use image::GrayImage;
use serde::{Deserialize, Serialize};

/// Errors of [`paint_decoy`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecoyError {
    /// The image and its area-of-interest mask differ in size.
    #[error("the image is {image:?} but its area-of-interest mask {mask:?}")]
    SizeMismatch {
        /// `(width, height)` of the image.
        image: (u32, u32),
        /// `(width, height)` of the mask.
        mask: (u32, u32),
    },
    /// An option out of range.
    #[error("decoy options: {0}")]
    Options(String),
}

/// The look of a decoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoyShape {
    /// An irregular dark spot (a main disc and two smaller overlapping ones), like a blow hole
    /// or pinhole.
    #[default]
    Blob,
    /// A dark straight stroke of length `2 · radius` and width `radius / 3` (at least 2 px),
    /// like a crack or a scratch.
    Scratch,
}

/// How a decoy is drawn and placed (sizes in pixels of the image it is painted on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoyOptions {
    /// The shape (blob).
    pub shape: DecoyShape,
    /// Radius of the main disc of a blob, half the length of a scratch (8 px: about the size
    /// of the casting set's blow holes in its 300×300 images).
    pub radius: f32,
    /// Grey level at the decoy's core, 0–255 (40: dark, as the holes in the castings).
    pub level: u8,
    /// Clearance between the decoy's footprint and both the area of interest and the image
    /// border (4 px: enough that resizing to the model input does not blur it into the area,
    /// checked pixel by pixel in the tests).
    pub margin: u32,
    /// Random placements tried before giving up (400).
    pub tries: usize,
}

impl Default for DecoyOptions {
    fn default() -> Self {
        Self {
            shape: DecoyShape::Blob,
            radius: 8.0,
            level: 40,
            margin: 4,
            tries: 400,
        }
    }
}

impl DecoyOptions {
    /// Checks the options: a finite radius of at least 1 px, at least one try.
    pub fn validate(&self) -> Result<(), DecoyError> {
        if !self.radius.is_finite() || self.radius < 1.0 {
            return Err(DecoyError::Options(format!(
                "radius must be at least 1 px, got {}",
                self.radius
            )));
        }
        if self.tries == 0 {
            return Err(DecoyError::Options("tries must be at least 1".into()));
        }
        Ok(())
    }

    /// The radius around the centre that holds every pixel the decoy may change: `1.5 ·
    /// radius + 1` (a blob's side discs reach at most `1.4 · radius`, a scratch `radius` plus
    /// half its width; the `+ 1` is the antialiased edge).
    pub fn reach(&self) -> f32 {
        1.5 * self.radius + 1.0
    }
}

/// Where a decoy was painted.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedDecoy {
    /// Centre `(x, y)` in pixels (pixel `(x, y)` covers `[x, x+1) × [y, y+1)`).
    pub centre: (f32, f32),
    /// Number of pixels whose value changed.
    pub pixels: usize,
}

/// One disc of a blob or the stroke of a scratch: its coverage of a pixel centre in `[0, 1]`.
#[derive(Debug, Clone, Copy)]
enum Part {
    Disc {
        cx: f32,
        cy: f32,
        r: f32,
    },
    Stroke {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        half_width: f32,
    },
}

impl Part {
    /// Coverage of the pixel centre `(px, py)`: 1 inside, 0 beyond the edge, linear across
    /// one pixel at the edge (antialiasing).
    fn coverage(self, px: f32, py: f32) -> f32 {
        let (d, edge) = match self {
            Part::Disc { cx, cy, r } => (((px - cx).powi(2) + (py - cy).powi(2)).sqrt(), r),
            Part::Stroke {
                x0,
                y0,
                x1,
                y1,
                half_width,
            } => {
                let (dx, dy) = (x1 - x0, y1 - y0);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (x0 + t * dx, y0 + t * dy);
                (((px - qx).powi(2) + (py - qy).powi(2)).sqrt(), half_width)
            }
        };
        (edge - d + 0.5).clamp(0.0, 1.0)
    }
}

/// Paints one decoy on `img` where its footprint (every pixel within [`DecoyOptions::reach`] of
/// its centre, widened by `margin`) lies inside the image and entirely outside `aoi`. Returns
/// `None`, leaving the image untouched, when `tries` random centres found no such place.
///
/// The decoy darkens: a pixel of value `v` covered by a fraction `a` of the mark becomes
/// `(1 − a) · v + a · level`. Its shape, size jitter (±20 % of the radius) and position come
/// from `rng` alone.
///
/// # Errors
/// [`DecoyError::SizeMismatch`] when `aoi` is not the image's size; [`DecoyError::Options`]
/// for invalid options.
pub fn paint_decoy(
    img: &mut GrayImage,
    aoi: &Mask,
    opts: &DecoyOptions,
    rng: &mut SplitMix64,
) -> Result<Option<PlacedDecoy>, DecoyError> {
    opts.validate()?;
    let (w, h) = img.dimensions();
    if aoi.size() != (w, h) {
        return Err(DecoyError::SizeMismatch {
            image: (w, h),
            mask: aoi.size(),
        });
    }
    let r = opts.radius * (0.8 + 0.4 * rng.next_f64() as f32);
    let clear = 1.5 * r + 1.0 + opts.margin as f32;
    let lo = clear.ceil();
    let (hi_x, hi_y) = (w as f32 - clear, h as f32 - clear);
    if hi_x <= lo || hi_y <= lo {
        return Ok(None);
    }
    let mut centre = None;
    for _ in 0..opts.tries {
        let cx = lo + (hi_x - lo) * rng.next_f64() as f32;
        let cy = lo + (hi_y - lo) * rng.next_f64() as f32;
        if footprint_is_clear(aoi, cx, cy, clear) {
            centre = Some((cx, cy));
            break;
        }
    }
    let Some((cx, cy)) = centre else {
        return Ok(None);
    };
    let parts = shape_parts(opts.shape, cx, cy, r, rng);
    let reach = 1.5 * r + 1.0;
    let level = f32::from(opts.level);
    let mut pixels = 0;
    let (x0, x1) = (
        (cx - reach).floor().max(0.0) as u32,
        ((cx + reach).ceil() as u32).min(w),
    );
    let (y0, y1) = (
        (cy - reach).floor().max(0.0) as u32,
        ((cy + reach).ceil() as u32).min(h),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let a = parts
                .iter()
                .map(|p| p.coverage(px, py))
                .fold(0.0f32, f32::max);
            if a <= 0.0 {
                continue;
            }
            let p = img.get_pixel_mut(x, y);
            let v = f32::from(p.0[0]);
            let out = ((1.0 - a) * v + a * level).round().clamp(0.0, 255.0) as u8;
            if out != p.0[0] {
                p.0[0] = out;
                pixels += 1;
            }
        }
    }
    Ok(Some(PlacedDecoy {
        centre: (cx, cy),
        pixels,
    }))
}

/// Whether every pixel whose centre is within `clear` of `(cx, cy)` is outside `aoi` (the
/// caller keeps the disc inside the image).
fn footprint_is_clear(aoi: &Mask, cx: f32, cy: f32, clear: f32) -> bool {
    let (w, h) = (aoi.width() as usize, aoi.height() as usize);
    let data = aoi.data();
    let y0 = (cy - clear).floor().max(0.0) as usize;
    let y1 = ((cy + clear).ceil() as usize).min(h);
    let x0 = (cx - clear).floor().max(0.0) as usize;
    let x1 = ((cx + clear).ceil() as usize).min(w);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= clear * clear && data[y * w + x] != 0 {
                return false;
            }
        }
    }
    true
}

fn shape_parts(shape: DecoyShape, cx: f32, cy: f32, r: f32, rng: &mut SplitMix64) -> Vec<Part> {
    match shape {
        DecoyShape::Blob => {
            let mut parts = vec![Part::Disc { cx, cy, r }];
            for _ in 0..2 {
                // a side disc of radius 0.4–0.8 r whose centre is at most 0.6 r away: it
                // reaches at most 1.4 r from the centre
                let rr = r * (0.4 + 0.4 * rng.next_f64() as f32);
                let dist = 0.6 * r * rng.next_f64() as f32;
                let ang = std::f32::consts::TAU * rng.next_f64() as f32;
                parts.push(Part::Disc {
                    cx: cx + dist * ang.cos(),
                    cy: cy + dist * ang.sin(),
                    r: rr,
                });
            }
            parts
        }
        DecoyShape::Scratch => {
            let ang = std::f32::consts::PI * rng.next_f64() as f32;
            let (dx, dy) = (r * ang.cos(), r * ang.sin());
            vec![Part::Stroke {
                x0: cx - dx,
                y0: cy - dy,
                x1: cx + dx,
                y1: cy + dy,
                half_width: (r / 6.0).max(1.0),
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// A light `w × h` image with a dark disc of radius `r` at the centre as the area of interest.
    fn disc_scene(w: u32, h: u32, r: f32) -> (GrayImage, Mask) {
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let inside = |x: u32, y: u32| (x as f32 + 0.5 - cx).hypot(y as f32 + 0.5 - cy) <= r;
        let img = GrayImage::from_fn(w, h, |x, y| Luma([if inside(x, y) { 90 } else { 210 }]));
        let data = (0..h)
            .flat_map(|y| (0..w).map(move |x| u8::from(inside(x, y))))
            .collect();
        (img, Mask::new(w, h, data).unwrap())
    }

    fn changed(a: &GrayImage, b: &GrayImage) -> Vec<(u32, u32)> {
        a.enumerate_pixels()
            .filter(|(x, y, p)| b.get_pixel(*x, *y) != *p)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn decoys_stay_off_the_area_of_interest_by_the_margin() {
        for shape in [DecoyShape::Blob, DecoyShape::Scratch] {
            let opts = DecoyOptions {
                shape,
                ..DecoyOptions::default()
            };
            for seed in 0..40 {
                let (clean, aoi) = disc_scene(300, 300, 125.0);
                let mut img = clean.clone();
                let placed = paint_decoy(&mut img, &aoi, &opts, &mut SplitMix64::new(seed))
                    .unwrap()
                    .expect("the corners have room");
                let diff = changed(&clean, &img);
                assert_eq!(diff.len(), placed.pixels);
                assert!(
                    placed.pixels >= 20,
                    "{shape:?} seed {seed}: {}",
                    placed.pixels
                );
                for &(x, y) in &diff {
                    // outside the disc of radius 125 by at least the margin (brute force)
                    let d = (x as f32 + 0.5 - 150.0).hypot(y as f32 + 0.5 - 150.0);
                    assert!(
                        d > 125.0 + opts.margin as f32,
                        "{shape:?} seed {seed}: ({x},{y}) d {d}"
                    );
                    assert!(x >= opts.margin && y >= opts.margin);
                    assert!(x < 300 - opts.margin && y < 300 - opts.margin);
                    // darker than the background, never lighter
                    assert!(img.get_pixel(x, y).0[0] < 210);
                }
                // the darkest pixel reaches the level (the core is fully covered)
                let min = diff.iter().map(|&(x, y)| img.get_pixel(x, y).0[0]).min();
                assert_eq!(min, Some(opts.level));
            }
        }
    }

    #[test]
    fn the_same_generator_state_paints_the_same_decoy() {
        let (clean, aoi) = disc_scene(200, 160, 60.0);
        let opts = DecoyOptions::default();
        let paint = |seed| {
            let mut img = clean.clone();
            paint_decoy(&mut img, &aoi, &opts, &mut SplitMix64::new(seed)).unwrap();
            img
        };
        assert_eq!(paint(5), paint(5));
        assert_ne!(paint(5), paint(6));
    }

    #[test]
    fn no_room_leaves_the_image_untouched() {
        // the area of interest covers everything but a 10-px frame: an 8-px decoy with a
        // 4-px margin cannot fit
        let (w, h) = (100u32, 100u32);
        let data = (0..h)
            .flat_map(|y| {
                (0..w).map(move |x| u8::from((10..90).contains(&x) && (10..90).contains(&y)))
            })
            .collect();
        let aoi = Mask::new(w, h, data).unwrap();
        let clean = GrayImage::from_pixel(w, h, Luma([200]));
        let mut img = clean.clone();
        let out = paint_decoy(
            &mut img,
            &aoi,
            &DecoyOptions::default(),
            &mut SplitMix64::new(0),
        )
        .unwrap();
        assert_eq!(out, None);
        assert_eq!(img, clean);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut img = GrayImage::from_pixel(10, 10, Luma([200]));
        let aoi = Mask::full(10, 11);
        let e = paint_decoy(
            &mut img,
            &aoi,
            &DecoyOptions::default(),
            &mut SplitMix64::new(0),
        );
        assert!(matches!(e, Err(DecoyError::SizeMismatch { .. })));
        let opts = DecoyOptions {
            radius: 0.5,
            ..DecoyOptions::default()
        };
        let e = paint_decoy(
            &mut img,
            &Mask::full(10, 10),
            &opts,
            &mut SplitMix64::new(0),
        );
        assert!(matches!(e, Err(DecoyError::Options(_))));
    }
}
