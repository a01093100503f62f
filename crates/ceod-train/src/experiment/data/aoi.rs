//! An area-of-interest mask derived from a grey image at run time ([`derive_aoi`]).
//!
//! The rule, in order:
//!
//! 1. **Threshold** by Otsu's method: ceod-geometry's [`Threshold::Otsu`] on the grey values (a
//!    256-bin histogram over `[min, max]`); a pixel is *bright* iff its value is at or above
//!    the level.
//! 2. **Polarity**: which side is the object. [`Polarity::Auto`] takes the side that covers
//!    most of the image border as background (ties: the bright side is background), so a
//!    dark part on a light table and a light part on a dark table both come out right;
//!    [`Polarity::Bright`] / [`Polarity::Dark`] fix it (needed when the object itself fills
//!    most of the border, as a tile cropped to the frame).
//! 3. **Closing** (optional, `closing_radius > 0`): a dilation then an erosion by a
//!    `(2r + 1) × (2r + 1)` square; outside the image counts as background for the dilation
//!    and as object for the erosion, so the closing never eats into the image border.
//! 4. **Largest component** of the object pixels ([`AoiConnectivity`], eight by default);
//!    ties go to the component met first in raster order. Specks and other pieces go.
//! 5. **Holes filled** (optional, on by default): every non-object pixel that cannot be
//!    reached from the image border through non-object pixels becomes object (the background
//!    is connected with the complementary connectivity: four when the object is
//!    eight-connected and vice versa, so a diagonal gap in a ring does not let it leak).
//!
//! The result is an error when it is empty or covers less than `min_fraction` of the image.
//!
//! ```
//! use ceod_train::experiment::data::aoi::{derive_aoi, AoiRule};
//! // A dark 4×4 square on a light 8×8 background, with one light pixel (a hole) inside.
//! let (w, h) = (8usize, 8usize);
//! let mut px = vec![220u8; w * h];
//! for y in 2..6 {
//!     for x in 2..6 {
//!         px[y * w + x] = 30;
//!     }
//! }
//! px[3 * w + 3] = 220;
//! let m = derive_aoi(&px, w, h, &AoiRule::default())?;
//! assert_eq!(m.count(), 16); // the square, its hole filled
//! # Ok::<(), ceod_train::experiment::data::aoi::AoiError>(())
//! ```

use std::collections::VecDeque;

use ceod_core::Mask;
use ceod_geometry::{GeometryError, HeatMap, Threshold};
use serde::{Deserialize, Serialize};

/// Which side of the Otsu threshold is the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Polarity {
    /// The side covering most of the image border is background.
    #[default]
    Auto,
    /// The object is bright (at or above the threshold).
    Bright,
    /// The object is dark (below the threshold).
    Dark,
}

/// Which neighbours connect two object pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AoiConnectivity {
    /// Edge neighbours only.
    Four,
    /// Edge and corner neighbours.
    #[default]
    Eight,
}

/// The options of [`derive_aoi`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AoiRule {
    /// Which side of the threshold is the object (default [`Polarity::Auto`]).
    pub polarity: Polarity,
    /// Connectivity of the object's components (default eight).
    pub connectivity: AoiConnectivity,
    /// Fill the holes of the kept component (default `true`).
    pub fill_holes: bool,
    /// Radius of the square closing before the component is chosen; 0 (default) = none.
    pub closing_radius: u32,
    /// The smallest share of the image the result may cover, in `[0, 1]` (default 0: only an
    /// empty result is an error).
    pub min_fraction: f64,
}

impl Default for AoiRule {
    fn default() -> Self {
        Self {
            polarity: Polarity::Auto,
            connectivity: AoiConnectivity::Eight,
            fill_holes: true,
            closing_radius: 0,
            min_fraction: 0.0,
        }
    }
}

/// Why no area of interest could be derived.
#[derive(Debug, thiserror::Error)]
pub enum AoiError {
    /// The pixel buffer does not match the size, or the size is zero.
    #[error("a {width}x{height} image needs {} pixels, got {len}", width * height)]
    Size {
        /// Width given.
        width: usize,
        /// Height given.
        height: usize,
        /// Pixels given.
        len: usize,
    },
    /// An option out of range.
    #[error("invalid area-of-interest rule: {0}")]
    Rule(String),
    /// The rule left no object, or too small a one.
    #[error("the derived area of interest is {area} of {total} pixels (needs at least {min})")]
    TooSmall {
        /// Pixels in the result.
        area: usize,
        /// Pixels in the image.
        total: usize,
        /// The least accepted (at least 1).
        min: usize,
    },
    /// The threshold computation failed.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
}

/// What [`derive_aoi_detailed`] found besides the mask (for reports and figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AoiStats {
    /// The Otsu level: object/background split at `value >= level` (bright side).
    pub level: f32,
    /// Whether the object was the bright side.
    pub object_bright: bool,
    /// Object components after the closing.
    pub components: usize,
    /// Pixels added by hole filling.
    pub holes_filled: usize,
    /// Pixels of the result.
    pub area: usize,
}

/// The area of interest of a row-major `width × height` grey image by the module's rule.
///
/// # Errors
/// [`AoiError::Size`] for a buffer that does not match the size or a zero size,
/// [`AoiError::Rule`] for `min_fraction` outside `[0, 1]`, [`AoiError::TooSmall`] when the
/// result is empty or smaller than `min_fraction` of the image.
pub fn derive_aoi(
    pixels: &[u8],
    width: usize,
    height: usize,
    rule: &AoiRule,
) -> Result<Mask, AoiError> {
    derive_aoi_detailed(pixels, width, height, rule).map(|(m, _)| m)
}

/// [`derive_aoi`] on an 8-bit grey image.
///
/// # Errors
/// As [`derive_aoi`].
pub fn derive_aoi_image(img: &image::GrayImage, rule: &AoiRule) -> Result<Mask, AoiError> {
    derive_aoi(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        rule,
    )
}

/// [`derive_aoi`] with what it found on the way.
///
/// # Errors
/// As [`derive_aoi`].
pub fn derive_aoi_detailed(
    pixels: &[u8],
    width: usize,
    height: usize,
    rule: &AoiRule,
) -> Result<(Mask, AoiStats), AoiError> {
    let total = width * height;
    if width == 0 || height == 0 || pixels.len() != total {
        return Err(AoiError::Size {
            width,
            height,
            len: pixels.len(),
        });
    }
    if !(0.0..=1.0).contains(&rule.min_fraction) {
        return Err(AoiError::Rule(format!(
            "min_fraction {} is not in [0, 1]",
            rule.min_fraction
        )));
    }
    let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
    let map = HeatMap::new(width, height, values)?;
    let level = Threshold::Otsu.level(&map)?.unwrap_or(f32::INFINITY);
    let bright: Vec<bool> = pixels.iter().map(|&p| f32::from(p) >= level).collect();
    let object_bright = match rule.polarity {
        Polarity::Bright => true,
        Polarity::Dark => false,
        Polarity::Auto => {
            let (on, n) = border_count(&bright, width, height);
            // the majority of the border is background; ties: bright is background
            2 * on < n
        }
    };
    let mut obj: Vec<bool> = bright.iter().map(|&b| b == object_bright).collect();
    if rule.closing_radius > 0 {
        let r = rule.closing_radius as usize;
        obj = square_filter(&obj, width, height, r, true);
        obj = square_filter(&obj, width, height, r, false);
    }
    let eight = rule.connectivity == AoiConnectivity::Eight;
    let (labels, sizes) = label_components(&obj, width, height, eight);
    let components = sizes.len();
    let mut keep = vec![false; total];
    if let Some(best) = (0..sizes.len()).max_by(|&a, &b| sizes[a].cmp(&sizes[b]).then(b.cmp(&a))) {
        for (k, &l) in keep.iter_mut().zip(&labels) {
            *k = l == best as u32 + 1;
        }
    }
    let mut holes_filled = 0;
    if rule.fill_holes {
        let before = keep.iter().filter(|&&v| v).count();
        keep = fill_holes(&keep, width, height, !eight);
        holes_filled = keep.iter().filter(|&&v| v).count() - before;
    }
    let area = keep.iter().filter(|&&v| v).count();
    let min = ((rule.min_fraction * total as f64).ceil() as usize).max(1);
    if area < min {
        return Err(AoiError::TooSmall { area, total, min });
    }
    let mask = Mask::new(
        width as u32,
        height as u32,
        keep.iter().map(|&v| u8::from(v)).collect(),
    )
    .map_err(|e| AoiError::Rule(e.to_string()))?;
    Ok((
        mask,
        AoiStats {
            level,
            object_bright,
            components,
            holes_filled,
            area,
        },
    ))
}

/// `(set pixels on the border, border pixels)`.
fn border_count(v: &[bool], w: usize, h: usize) -> (usize, usize) {
    let (mut on, mut n) = (0, 0);
    for y in 0..h {
        for x in 0..w {
            if y == 0 || y + 1 == h || x == 0 || x + 1 == w {
                n += 1;
                on += usize::from(v[y * w + x]);
            }
        }
    }
    (on, n)
}

/// Dilation (`max = true`, outside = false) or erosion (`max = false`, outside = true) by a
/// `(2r + 1)²` square, separably: rows, then columns.
fn square_filter(v: &[bool], w: usize, h: usize, r: usize, max: bool) -> Vec<bool> {
    let pass = |src: &[bool], len: usize, count: usize, at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![false; src.len()];
        for line in 0..count {
            for i in 0..len {
                let lo = i.saturating_sub(r);
                let hi = (i + r).min(len - 1);
                // outside the image: false for the dilation, true for the erosion (neutral)
                let mut acc = !max;
                for j in lo..=hi {
                    let s = src[at(line, j)];
                    acc = if max { acc | s } else { acc & s };
                }
                out[at(line, i)] = acc;
            }
        }
        out
    };
    let rows = pass(v, w, h, &|y, x| y * w + x);
    pass(&rows, h, w, &|x, y| y * w + x)
}

/// The neighbours of `(x, y)` (4 or 8).
fn neighbours(x: usize, y: usize, w: usize, h: usize, eight: bool) -> impl Iterator<Item = usize> {
    const D4: [(isize, isize); 4] = [(1, 0), (-1, 0), (0, 1), (0, -1)];
    const D8: [(isize, isize); 8] = [
        (1, 0),
        (-1, 0),
        (0, 1),
        (0, -1),
        (1, 1),
        (1, -1),
        (-1, 1),
        (-1, -1),
    ];
    let d: &'static [(isize, isize)] = if eight { &D8 } else { &D4 };
    d.iter().filter_map(move |&(dx, dy)| {
        let nx = x.checked_add_signed(dx)?;
        let ny = y.checked_add_signed(dy)?;
        (nx < w && ny < h).then_some(ny * w + nx)
    })
}

/// Component labels (0 = not set, `k + 1` = component `k`, numbered in raster order of their
/// first pixel) and the component sizes.
fn label_components(v: &[bool], w: usize, h: usize, eight: bool) -> (Vec<u32>, Vec<usize>) {
    let mut labels = vec![0u32; v.len()];
    let mut sizes = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..v.len() {
        if !v[start] || labels[start] != 0 {
            continue;
        }
        sizes.push(0usize);
        let id = sizes.len() as u32;
        labels[start] = id;
        queue.push_back(start);
        let mut n = 0;
        while let Some(p) = queue.pop_front() {
            n += 1;
            for q in neighbours(p % w, p / w, w, h, eight) {
                if v[q] && labels[q] == 0 {
                    labels[q] = id;
                    queue.push_back(q);
                }
            }
        }
        if let Some(s) = sizes.last_mut() {
            *s = n;
        }
    }
    (labels, sizes)
}

/// `v` with every unset pixel not reachable from the border through unset pixels (with
/// `eight`-connectivity) set.
fn fill_holes(v: &[bool], w: usize, h: usize, eight: bool) -> Vec<bool> {
    let mut outside = vec![false; v.len()];
    let mut queue = VecDeque::new();
    for y in 0..h {
        for x in 0..w {
            let p = y * w + x;
            if (y == 0 || y + 1 == h || x == 0 || x + 1 == w) && !v[p] && !outside[p] {
                outside[p] = true;
                queue.push_back(p);
            }
        }
    }
    while let Some(p) = queue.pop_front() {
        for q in neighbours(p % w, p / w, w, h, eight) {
            if !v[q] && !outside[q] {
                outside[q] = true;
                queue.push_back(q);
            }
        }
    }
    outside.iter().map(|&o| !o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 40;
    const H: usize = 30;

    /// A `W × H` image of `bg` with pixels inside `f` set to `fg`.
    fn image(bg: u8, fg: u8, f: impl Fn(f64, f64) -> bool) -> Vec<u8> {
        let mut px = vec![bg; W * H];
        for y in 0..H {
            for x in 0..W {
                if f(x as f64 + 0.5, y as f64 + 0.5) {
                    px[y * W + x] = fg;
                }
            }
        }
        px
    }

    fn disc(cx: f64, cy: f64, r: f64) -> impl Fn(f64, f64) -> bool {
        move |x, y| (x - cx).powi(2) + (y - cy).powi(2) <= r * r
    }

    fn count(f: impl Fn(f64, f64) -> bool) -> usize {
        (0..W * H)
            .filter(|&p| f((p % W) as f64 + 0.5, (p / W) as f64 + 0.5))
            .count()
    }

    #[test]
    fn dark_disc_on_light_background() {
        let inside = disc(20.0, 15.0, 9.0);
        let px = image(210, 40, &inside);
        let (m, st) = derive_aoi_detailed(&px, W, H, &AoiRule::default()).unwrap();
        assert!(!st.object_bright);
        assert_eq!(m.count(), count(&inside));
        for p in 0..W * H {
            assert_eq!(
                m.data()[p] == 1,
                inside((p % W) as f64 + 0.5, (p / W) as f64 + 0.5)
            );
        }
    }

    #[test]
    fn ring_hole_is_filled_only_when_asked() {
        let ring = |x: f64, y: f64| disc(20.0, 15.0, 11.0)(x, y) && !disc(20.0, 15.0, 5.0)(x, y);
        let px = image(200, 50, ring);
        let filled = derive_aoi(&px, W, H, &AoiRule::default()).unwrap();
        assert_eq!(filled.count(), count(disc(20.0, 15.0, 11.0)));
        let open = derive_aoi(
            &px,
            W,
            H,
            &AoiRule {
                fill_holes: false,
                ..AoiRule::default()
            },
        )
        .unwrap();
        assert_eq!(open.count(), count(ring));
    }

    #[test]
    fn specks_are_removed() {
        let main = disc(15.0, 15.0, 8.0);
        let specks = [(33usize, 3usize), (36, 25), (2, 27)];
        let mut px = image(230, 20, &main);
        for &(x, y) in &specks {
            px[y * W + x] = 20;
        }
        let (m, st) = derive_aoi_detailed(&px, W, H, &AoiRule::default()).unwrap();
        assert_eq!(st.components, 1 + specks.len());
        assert_eq!(m.count(), count(&main));
        for &(x, y) in &specks {
            assert_eq!(m.data()[y * W + x], 0);
        }
    }

    #[test]
    fn polarity_auto_follows_the_border_and_fixed_overrides_it() {
        // light disc on a dark background: auto finds the light disc
        let inside = disc(20.0, 15.0, 9.0);
        let px = image(30, 200, &inside);
        let (m, st) = derive_aoi_detailed(&px, W, H, &AoiRule::default()).unwrap();
        assert!(st.object_bright);
        assert_eq!(m.count(), count(&inside));
        // fixed dark: the background (it touches the border, so it is the largest dark
        // component; with holes filled it covers everything)
        let dark = AoiRule {
            polarity: Polarity::Dark,
            fill_holes: false,
            ..AoiRule::default()
        };
        assert_eq!(
            derive_aoi(&px, W, H, &dark).unwrap().count(),
            W * H - count(&inside)
        );
        // a bright object that fills the border (a tile cropped to the frame with a dark
        // notch inside at the left edge): auto would call it background, Bright keeps it
        let notch = |x: f64, y: f64| x < 6.0 && (10.0..20.0).contains(&y);
        let tile = image(210, 40, notch);
        let bright = AoiRule {
            polarity: Polarity::Bright,
            ..AoiRule::default()
        };
        let m = derive_aoi(&tile, W, H, &bright).unwrap();
        // the notch touches the border: not a hole, stays outside
        assert_eq!(m.count(), W * H - count(notch));
        let auto = derive_aoi(&tile, W, H, &AoiRule::default()).unwrap();
        assert_eq!(auto.count(), count(notch));
    }

    #[test]
    fn eight_and_four_connectivity_differ_on_a_diagonal() {
        // two dark squares touching at one corner; the first is larger
        let a = |x: f64, y: f64| (5.0..15.0).contains(&x) && (5.0..15.0).contains(&y);
        let b = |x: f64, y: f64| (15.0..22.0).contains(&x) && (15.0..22.0).contains(&y);
        let px = image(220, 10, |x, y| a(x, y) || b(x, y));
        let eight = derive_aoi(&px, W, H, &AoiRule::default()).unwrap();
        assert_eq!(eight.count(), 100 + 49);
        let four = AoiRule {
            connectivity: AoiConnectivity::Four,
            ..AoiRule::default()
        };
        assert_eq!(derive_aoi(&px, W, H, &four).unwrap().count(), 100);
    }

    #[test]
    fn closing_bridges_a_gap_but_keeps_the_border() {
        // two dark bars 2 px apart: without closing the larger bar, with radius 1 both plus
        // the gap between them
        let a = |x: f64, y: f64| (5.0..20.0).contains(&x) && (10.0..20.0).contains(&y);
        let b = |x: f64, y: f64| (22.0..35.0).contains(&x) && (10.0..20.0).contains(&y);
        let px = image(220, 10, |x, y| a(x, y) || b(x, y));
        assert_eq!(
            derive_aoi(&px, W, H, &AoiRule::default()).unwrap().count(),
            150
        );
        let closed = AoiRule {
            closing_radius: 1,
            ..AoiRule::default()
        };
        assert_eq!(derive_aoi(&px, W, H, &closed).unwrap().count(), 300);
        // an object touching the image edge keeps its border pixels after a closing
        let edge = |x: f64, _y: f64| x < 10.0;
        let px = image(220, 10, edge);
        let closed = AoiRule {
            closing_radius: 2,
            polarity: Polarity::Dark,
            ..AoiRule::default()
        };
        assert_eq!(derive_aoi(&px, W, H, &closed).unwrap().count(), count(edge));
    }

    #[test]
    fn empty_results_and_bad_input_are_errors() {
        // constant image: everything is "bright", auto makes it background: nothing left
        let px = vec![128u8; W * H];
        assert!(matches!(
            derive_aoi(&px, W, H, &AoiRule::default()),
            Err(AoiError::TooSmall { area: 0, .. })
        ));
        assert!(matches!(
            derive_aoi(&px[1..], W, H, &AoiRule::default()),
            Err(AoiError::Size { .. })
        ));
        assert!(matches!(
            derive_aoi(&[], 0, 0, &AoiRule::default()),
            Err(AoiError::Size { .. })
        ));
        // a disc of 1/10 of the image fails a min_fraction of 0.5
        let inside = disc(20.0, 15.0, 6.0);
        let px = image(210, 40, &inside);
        let rule = AoiRule {
            min_fraction: 0.5,
            ..AoiRule::default()
        };
        assert!(matches!(
            derive_aoi(&px, W, H, &rule),
            Err(AoiError::TooSmall { .. })
        ));
        let bad = AoiRule {
            min_fraction: 1.5,
            ..AoiRule::default()
        };
        assert!(matches!(
            derive_aoi(&px, W, H, &bad),
            Err(AoiError::Rule(_))
        ));
    }

    #[test]
    fn otsu_split_of_noisy_two_level_image() {
        // values 40±10 inside, 200±10 outside, deterministic "noise": the split recovers it
        let inside = disc(20.0, 15.0, 10.0);
        let mut px = image(200, 40, &inside);
        for (i, p) in px.iter_mut().enumerate() {
            let n = ((i * 7919) % 21) as i32 - 10;
            *p = (i32::from(*p) + n).clamp(0, 255) as u8;
        }
        let m = derive_aoi(&px, W, H, &AoiRule::default()).unwrap();
        assert_eq!(m.count(), count(&inside));
    }
}
