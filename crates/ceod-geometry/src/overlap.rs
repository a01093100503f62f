//! The overlap of the hot region `A_d` and the area of interest `A_gt` (Eq. 1–3).

use geo::{Area, BooleanOps, BoundingRect, MultiPolygon};

use crate::area_of_interest::AreaOfInterest;
use crate::error::Result;
use crate::heat_map::HeatMap;
use crate::mask::Mask;
use crate::outline::Outline;
use crate::threshold::Threshold;

/// How the overlap coefficient normalises `|A_d ∩ A_gt|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coefficient {
    /// `|A_d ∩ A_gt| / min(|A_d|, |A_gt|)`: Szymkiewicz–Simpson, Eq. 1 exactly as published.
    /// It is 1 whenever either region contains the other, so a map hot everywhere costs nothing.
    Paper,
    /// `|A_d ∩ A_gt| / |A_d|`: the share of the hot region inside the area of interest (the
    /// default).
    #[default]
    Containment,
    /// `|A_d ∩ A_gt| / |A_d ∪ A_gt|`: intersection over union.
    Iou,
}

/// The three areas of one image, in square pixels, all from geo (`unsigned_area` of the
/// polygons and of their boolean intersection).
///
/// Degenerate cases, decided once (DESIGN.md §2): an empty `A_gt` has **no value**
/// (`coefficient` and `distance` return `None`; in the loss the sample has no overlap term);
/// an empty `A_d` (no hot pixel) with a non-empty `A_gt` has coefficient 0, distance 1, under every
/// [`Coefficient`]. Coefficients are clamped to `[0, 1]` (i_overlay's snapping can leave an
/// intersection a few 1e-8 larger than the smaller area).
///
/// ```
/// use ceod_geometry::{Coefficient, Overlap};
/// let o = Overlap { intersection: 2.0, detected: 8.0, mask: 4.0 };
/// assert_eq!(o.coefficient(Coefficient::Paper), Some(0.5));       // 2 / min(8, 4)
/// assert_eq!(o.coefficient(Coefficient::Containment), Some(0.25)); // 2 / 8
/// assert_eq!(o.coefficient(Coefficient::Iou), Some(0.2));          // 2 / (8 + 4 - 2)
/// assert_eq!(o.distance(Coefficient::Paper), Some(0.5));
/// let no_mask = Overlap { intersection: 0.0, detected: 8.0, mask: 0.0 };
/// assert_eq!(no_mask.distance(Coefficient::Paper), None);
/// let nothing_hot = Overlap { intersection: 0.0, detected: 0.0, mask: 4.0 };
/// assert_eq!(nothing_hot.distance(Coefficient::Containment), Some(1.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Overlap {
    /// `|A_d ∩ A_gt|`.
    pub intersection: f64,
    /// `|A_d|`, the hot region.
    pub detected: f64,
    /// `|A_gt|`, the area of interest.
    pub mask: f64,
}

impl Overlap {
    /// The overlap coefficient, in `[0, 1]`; `None` for an empty area of interest.
    pub fn coefficient(&self, coefficient: Coefficient) -> Option<f64> {
        if self.mask <= 0.0 {
            return None;
        }
        if self.detected <= 0.0 {
            return Some(0.0);
        }
        let denominator = match coefficient {
            Coefficient::Paper => self.detected.min(self.mask),
            Coefficient::Containment => self.detected,
            Coefficient::Iou => self.detected + self.mask - self.intersection,
        };
        Some((self.intersection / denominator).clamp(0.0, 1.0))
    }

    /// The overlap distance `1 − coefficient` (Eq. 2–3); `None` for an empty area of interest.
    pub fn distance(&self, coefficient: Coefficient) -> Option<f64> {
        self.coefficient(coefficient).map(|c| 1.0 - c)
    }

    /// Intersection over union; `None` for an empty area of interest.
    pub fn iou(&self) -> Option<f64> {
        self.coefficient(Coefficient::Iou)
    }

    /// The share of the hot region inside the area of interest (`|A_d ∩ A_gt| / |A_d|`); `None`
    /// for an empty area of interest, 0 when nothing is hot.
    pub fn inside_share(&self) -> Option<f64> {
        self.coefficient(Coefficient::Containment)
    }
}

/// Options of [`overlap`]. The default — hot at half the maximum, component hulls, containment —
/// follows DESIGN.md §2; [`OverlapOptions::reference`] reproduces the PyTorch reference.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OverlapOptions {
    /// Which pixels are hot (after resampling to the mask size).
    pub threshold: Threshold,
    /// The polygon around them.
    pub outline: Outline,
    /// The coefficient that [`overlap_distance`] and the batch distances use.
    pub coefficient: Coefficient,
}

impl OverlapOptions {
    /// The PyTorch reference's choices on a normalised map (`cam / (max + 1e-8)`):
    /// `Absolute(0.5)`, one convex hull, the paper's coefficient.
    pub fn reference() -> Self {
        Self {
            threshold: Threshold::Absolute(0.5),
            outline: Outline::ConvexHull,
            coefficient: Coefficient::Paper,
        }
    }
}

/// The hot pixels of `heat` at `width × height`: resampled first (bilinear, half-pixel centres)
/// when the sizes differ, then thresholded.
///
/// # Errors
/// As [`Threshold::validate`].
pub fn hot_pixels(
    heat: &HeatMap,
    width: usize,
    height: usize,
    threshold: Threshold,
) -> Result<Mask> {
    if heat.width() == width && heat.height() == height {
        threshold.hot_pixels(heat)
    } else {
        threshold.hot_pixels(&heat.resized(width, height)?)
    }
}

/// The hot region `A_d` of `heat` over a `width × height` image, as polygons.
///
/// # Errors
/// As [`Threshold::validate`] and [`Outline::validate`].
pub fn detected_region(
    heat: &HeatMap,
    width: usize,
    height: usize,
    options: &OverlapOptions,
) -> Result<MultiPolygon<f64>> {
    options.outline.validate()?;
    let resized;
    let (map, max) = if heat.width() == width && heat.height() == height {
        (heat, None)
    } else {
        let (r, max) = heat.resized_with_max(width, height)?;
        resized = r;
        (&resized, Some(max))
    };
    let level = options.threshold.level_with_max(map, max)?;
    options.outline.outline_of_level(map, level)
}

/// The overlap of the hot region of `heat` with `mask` (its exact pixel outline). The heat map is
/// resampled to the mask's size when the sizes differ (a 16×16 map over a 128×96 mask is fine).
///
/// ```
/// use ceod_geometry::{overlap, Coefficient, HeatMap, Mask, OverlapOptions};
/// // Hot: the left half of a 4x4 map; mask: the top half.
/// let heat = HeatMap::new(4, 4, (0..16).map(|i| if i % 4 < 2 { 1.0 } else { 0.0 }).collect())?;
/// let mask = Mask::from_fn(4, 4, |_, y| y < 2)?;
/// let o = overlap(&heat, &mask, &OverlapOptions::default())?;
/// assert_eq!((o.intersection, o.detected, o.mask), (4.0, 8.0, 8.0));
/// assert_eq!(o.distance(Coefficient::Containment), Some(0.5));
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// As [`Threshold::validate`] and [`Outline::validate`].
pub fn overlap(heat: &HeatMap, mask: &Mask, options: &OverlapOptions) -> Result<Overlap> {
    overlap_with_area(heat, &AreaOfInterest::from_mask(mask), options)
}

/// [`overlap`] against a prebuilt area of interest (a mask outline or annotation polygons).
///
/// # Errors
/// As [`overlap`].
pub fn overlap_with_area(
    heat: &HeatMap,
    area: &AreaOfInterest,
    options: &OverlapOptions,
) -> Result<Overlap> {
    let detected = detected_region(heat, area.width(), area.height(), options)?;
    let Some(bbox) = detected.bounding_rect() else {
        return Ok(Overlap {
            intersection: 0.0,
            detected: 0.0,
            mask: area.area(),
        });
    };
    // Only the part of A_gt inside A_d's bounding box can meet A_d.
    let near = area.polygons_within(bbox.min().x, bbox.min().y, bbox.max().x, bbox.max().y);
    let o = overlap_of_polygons(&detected, &near);
    Ok(Overlap {
        mask: area.area(),
        ..o
    })
}

/// The three areas of two (valid) multipolygons with geo's boolean intersection and areas. The
/// intersection is skipped when either is empty or their bounding boxes do not overlap.
pub fn overlap_of_polygons(detected: &MultiPolygon<f64>, mask: &MultiPolygon<f64>) -> Overlap {
    let d_area = detected.unsigned_area();
    let m_area = mask.unsigned_area();
    let disjoint = match (detected.bounding_rect(), mask.bounding_rect()) {
        (Some(a), Some(b)) => {
            a.max().x <= b.min().x
                || b.max().x <= a.min().x
                || a.max().y <= b.min().y
                || b.max().y <= a.min().y
        }
        _ => true,
    };
    let intersection = if disjoint || d_area == 0.0 || m_area == 0.0 {
        0.0
    } else {
        detected.intersection(mask).unsigned_area()
    };
    Overlap {
        intersection,
        detected: d_area,
        mask: m_area,
    }
}

/// `overlap(heat, mask, options)?.distance(options.coefficient)`: the overlap distance with the
/// options' coefficient; `Ok(None)` for an empty mask.
///
/// # Errors
/// As [`overlap`].
pub fn overlap_distance(
    heat: &HeatMap,
    mask: &Mask,
    options: &OverlapOptions,
) -> Result<Option<f64>> {
    Ok(overlap(heat, mask, options)?.distance(options.coefficient))
}
