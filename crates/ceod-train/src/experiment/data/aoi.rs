//! An area-of-interest mask derived from a grey image at run time ([`derive_aoi`]).
//!
//! The rule, in order:
//!
//! 0. **Working size** (optional, `work_size`): an image whose longer side exceeds it is
//!    shrunk (triangle filter) so that its longer side is `work_size`; the steps below run at
//!    that size (radii are in its pixels) and the result is brought back to the image's size by
//!    nearest neighbour.
//! 1. **Threshold**: optionally after a `(2b + 1)²` box mean (`blur_radius = b`), by
//!    [`AoiLevel::Otsu`] (ceod-geometry's [`Threshold::Otsu`] on the grey values, a 256-bin
//!    histogram over `[min, max]`) or [`AoiLevel::MedianFraction`] (`f ×` the median grey
//!    value); a pixel is *bright* iff its value is at or above the level.
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
//! 6. **Convex hull** (optional, `convex_hull`): the pixels whose centre is inside the convex
//!    hull of the object's pixel squares (ceod-geometry's [`Outline::ConvexHull`] and
//!    [`rasterize`]): dents of the outline (a chipped edge) come back in.
//! 7. **Margin** (optional, `margin = m`): a dilation by a `(2m + 1)²` square.
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
use ceod_geometry::{GeometryError, HeatMap, Outline, Threshold, rasterize};
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

/// How the grey level that splits bright from dark is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AoiLevel {
    /// Otsu's threshold of the grey values.
    #[default]
    Otsu,
    /// This fraction of the median grey value (for an object that fills most of the image, whose
    /// own shading Otsu would split).
    MedianFraction(f32),
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
    /// Shrink images whose longer side exceeds this before deriving (default `None`: never).
    pub work_size: Option<u32>,
    /// Radius of the box mean before the threshold; 0 (default) = none.
    pub blur_radius: u32,
    /// The grey level between dark and bright (default Otsu).
    pub level: AoiLevel,
    /// Which side of the threshold is the object (default [`Polarity::Auto`]).
    pub polarity: Polarity,
    /// Connectivity of the object's components (default eight).
    pub connectivity: AoiConnectivity,
    /// Fill the holes of the kept component (default `true`).
    pub fill_holes: bool,
    /// Radius of the square closing before the component is chosen; 0 (default) = none.
    pub closing_radius: u32,
    /// Replace the region by its convex hull (default `false`).
    pub convex_hull: bool,
    /// Radius of the square dilation at the end; 0 (default) = none.
    pub margin: u32,
    /// The smallest share of the image the result may cover, in `[0, 1]` (default 0: only an
    /// empty result is an error).
    pub min_fraction: f64,
}

impl Default for AoiRule {
    fn default() -> Self {
        Self {
            work_size: None,
            blur_radius: 0,
            level: AoiLevel::Otsu,
            polarity: Polarity::Auto,
            connectivity: AoiConnectivity::Eight,
            fill_holes: true,
            closing_radius: 0,
            convex_hull: false,
            margin: 0,
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
    /// The grey level: bright iff `value >= level` (after the box mean, at the working size).
    pub level: f32,
    /// Whether the object was the bright side.
    pub object_bright: bool,
    /// Object components after the closing.
    pub components: usize,
    /// Pixels added by hole filling (at the working size).
    pub holes_filled: usize,
    /// Pixels of the result (at the image's size).
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
    if let AoiLevel::MedianFraction(f) = rule.level
        && !(f.is_finite() && f >= 0.0)
    {
        return Err(AoiError::Rule(format!(
            "median fraction {f} is not finite and >= 0"
        )));
    }
    if rule.work_size == Some(0) {
        return Err(AoiError::Rule("work_size 0".into()));
    }
    // 0. the working size
    let (width0, height0) = (width, height);
    let small;
    let (pixels, width, height) = match rule.work_size {
        Some(ws) if width.max(height) > ws as usize => {
            let s = f64::from(ws) / width.max(height) as f64;
            let nw = ((width as f64 * s).round() as u32).max(1);
            let nh = ((height as f64 * s).round() as u32).max(1);
            let img = image::GrayImage::from_raw(width as u32, height as u32, pixels.to_vec())
                .ok_or_else(|| AoiError::Rule("image buffer".into()))?;
            small = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
            (small.as_raw().as_slice(), nw as usize, nh as usize)
        }
        _ => (pixels, width, height),
    };
    // 1. the threshold
    let mut values: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
    if rule.blur_radius > 0 {
        values = box_mean(&values, width, height, rule.blur_radius as usize);
    }
    let level = match rule.level {
        AoiLevel::Otsu => {
            let map = HeatMap::new(width, height, values.clone())?;
            Threshold::Otsu.level(&map)?.unwrap_or(f32::INFINITY)
        }
        AoiLevel::MedianFraction(f) => {
            let mut sorted = values.clone();
            let mid = sorted.len() / 2;
            let (_, m, _) = sorted.select_nth_unstable_by(mid, f32::total_cmp);
            f * *m
        }
    };
    let bright: Vec<bool> = values.iter().map(|&v| v >= level).collect();
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
    let mut keep = vec![false; width * height];
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
    if rule.convex_hull && keep.iter().any(|&v| v) {
        let m = ceod_geometry::Mask::new(width, height, keep)?;
        let hull = Outline::ConvexHull.outline(&m)?;
        keep = rasterize(&hull, width, height)?.values().to_vec();
    }
    if rule.margin > 0 {
        keep = square_filter(&keep, width, height, rule.margin as usize, true);
    }
    let mut mask = Mask::new(
        width as u32,
        height as u32,
        keep.iter().map(|&v| u8::from(v)).collect(),
    )
    .map_err(|e| AoiError::Rule(e.to_string()))?;
    if (width, height) != (width0, height0) {
        mask = mask.resize_nearest(width0 as u32, height0 as u32);
    }
    let area = mask.count();
    let min = ((rule.min_fraction * total as f64).ceil() as usize).max(1);
    if area < min {
        return Err(AoiError::TooSmall { area, total, min });
    }
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

/// The mean over the `(2r + 1)²` square around each pixel, clipped at the image border
/// (separable, by running sums).
fn box_mean(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let line = |get: &dyn Fn(usize) -> f32, len: usize, out: &mut dyn FnMut(usize, f32)| {
        let mut prefix = vec![0f64; len + 1];
        for i in 0..len {
            prefix[i + 1] = prefix[i] + f64::from(get(i));
        }
        for i in 0..len {
            let (lo, hi) = (i.saturating_sub(r), (i + r + 1).min(len));
            out(i, ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32);
        }
    };
    let mut rows = vec![0f32; v.len()];
    for y in 0..h {
        line(&|x| v[y * w + x], w, &mut |x, m| rows[y * w + x] = m);
    }
    let mut out = vec![0f32; v.len()];
    for x in 0..w {
        line(&|y| rows[y * w + x], h, &mut |y, m| out[y * w + x] = m);
    }
    out
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
    fn convex_hull_restores_a_dent_and_margin_dilates() {
        // a dark rectangle x 10..30, y 5..25 with a light notch x 10..14, y 12..18 cut into its
        // left edge (the notch touches the background, so hole filling cannot restore it)
        let rect = |x: f64, y: f64| (10.0..30.0).contains(&x) && (5.0..25.0).contains(&y);
        let notch = |x: f64, y: f64| (10.0..14.0).contains(&x) && (12.0..18.0).contains(&y);
        let px = image(220, 10, |x, y| rect(x, y) && !notch(x, y));
        let plain = derive_aoi(&px, W, H, &AoiRule::default()).unwrap();
        assert_eq!(plain.count(), 400 - 24);
        let hull = AoiRule {
            convex_hull: true,
            ..AoiRule::default()
        };
        assert_eq!(derive_aoi(&px, W, H, &hull).unwrap().count(), 400);
        // margin 2: the 20 × 20 square grows to 24 × 24 (a square dilation keeps corners)
        let grown = AoiRule {
            convex_hull: true,
            margin: 2,
            ..AoiRule::default()
        };
        assert_eq!(derive_aoi(&px, W, H, &grown).unwrap().count(), 24 * 24);
    }

    #[test]
    fn median_fraction_keeps_a_shaded_object_that_otsu_splits() {
        // a bright "tile" filling the frame with a shading gradient 120..240 left to right and a
        // dark band (30) in the leftmost column beyond it
        let mut px = vec![0u8; W * H];
        for y in 0..H {
            for x in 0..W {
                px[y * W + x] = if x < 1 {
                    30
                } else {
                    (120 + (x - 1) * 120 / (W - 2)) as u8
                };
            }
        }
        let rule = AoiRule {
            level: AoiLevel::MedianFraction(0.5),
            polarity: Polarity::Bright,
            ..AoiRule::default()
        };
        // median ~180: level 90, the tile is everything but the band
        assert_eq!(derive_aoi(&px, W, H, &rule).unwrap().count(), (W - 1) * H);
        // Otsu splits the tile's shading: it keeps less than the tile
        let otsu = AoiRule {
            polarity: Polarity::Bright,
            ..AoiRule::default()
        };
        assert!(derive_aoi(&px, W, H, &otsu).unwrap().count() < (W - 1) * H);
    }

    #[test]
    fn box_mean_matches_direct_sums() {
        let (w, h) = (7, 5);
        let v: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
        let m = box_mean(&v, w, h, 2);
        for y in 0..h {
            for x in 0..w {
                let (mut s, mut n) = (0.0, 0);
                for yy in y.saturating_sub(2)..(y + 3).min(h) {
                    for xx in x.saturating_sub(2)..(x + 3).min(w) {
                        s += v[yy * w + xx];
                        n += 1;
                    }
                }
                assert!((m[y * w + x] - s / n as f32).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn working_size_gives_a_mask_of_the_image_size() {
        // 80 × 60 with a dark disc; derived at working size 40 (half), back at 80 × 60
        let (w, h) = (80usize, 60usize);
        let inside = |x: f64, y: f64| (x - 40.0).powi(2) + (y - 30.0).powi(2) <= 18.0 * 18.0;
        let mut px = vec![210u8; w * h];
        for y in 0..h {
            for x in 0..w {
                if inside(x as f64 + 0.5, y as f64 + 0.5) {
                    px[y * w + x] = 40;
                }
            }
        }
        let rule = AoiRule {
            work_size: Some(40),
            ..AoiRule::default()
        };
        let m = derive_aoi(&px, w, h, &rule).unwrap();
        assert_eq!(m.size(), (80, 60));
        let exact = (0..w * h)
            .filter(|&p| inside((p % w) as f64 + 0.5, (p / w) as f64 + 0.5))
            .count();
        let agree = (0..w * h)
            .filter(|&p| (m.data()[p] == 1) == inside((p % w) as f64 + 0.5, (p / w) as f64 + 0.5))
            .count();
        // only pixels along the circle's edge (circumference ~113 px, 2-px blocks) may differ
        assert!(
            w * h - agree <= 2 * 113,
            "{} differ of {exact}",
            w * h - agree
        );
        assert!(matches!(
            derive_aoi(
                &px,
                w,
                h,
                &AoiRule {
                    work_size: Some(0),
                    ..AoiRule::default()
                }
            ),
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
