//! [`Outline`]: the polygon drawn around hot pixels.

use geo::{ConcaveHull, Coord, MultiPoint, MultiPolygon, Polygon};

use crate::components::{Components, Connectivity};
use crate::error::{GeometryError, Result};
use crate::heat_map::HeatMap;
use crate::hull::{
    component_hulls, components_hulls, mask_hull, ring_polygon, runs_hull, union_of_rings,
    union_polygons,
};
use crate::mask::Mask;
use crate::pixel_outline::pixel_outline;
use crate::threshold::Threshold;

/// Which polygon `A_d` is drawn around the hot pixels. All four cover every hot pixel square, in
/// image pixel coordinates, and are empty exactly when no pixel is hot. A hull over pixel
/// corners always has area `>= 1` (a single pixel is its unit square; a row of `n` pixels is an
/// `n × 1` rectangle), so there is no zero-area outline.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Outline {
    /// The union of the convex hulls (over pixel corners) of each 8-connected component of hot
    /// pixels (the default).
    #[default]
    ComponentHulls,
    /// One convex hull around all hot pixels (the PyTorch reference's `A_d`).
    ConvexHull,
    /// The exact pixel outline: the union of the hot pixel squares, holes kept.
    PixelOutline,
    /// geo's concave hull (`ConcaveHull::concave_hull_with_options`) of the corners of the
    /// boundary pixels of each 8-connected component, united; its options as in geo
    /// (`concavity` 2.0 and `length_threshold` 0.0 by default, see [`Outline::concave`]).
    ConcaveHull {
        /// Relative concavity: lower is more concave, infinity gives the convex hull.
        concavity: f64,
        /// Edges shorter than this are not refined further.
        length_threshold: f64,
    },
}

impl Outline {
    /// [`Outline::ConcaveHull`] with geo's default options.
    pub fn concave() -> Self {
        Outline::ConcaveHull {
            concavity: 2.0,
            length_threshold: 0.0,
        }
    }

    /// Checks the concave-hull options.
    ///
    /// # Errors
    /// [`GeometryError::InvalidOutline`] for a NaN or non-positive concavity, or a NaN or
    /// negative length threshold.
    pub fn validate(&self) -> Result<()> {
        if let Outline::ConcaveHull {
            concavity,
            length_threshold,
        } = *self
        {
            if concavity.is_nan() || concavity <= 0.0 {
                return Err(GeometryError::InvalidOutline(format!(
                    "concavity {concavity} must be > 0"
                )));
            }
            if length_threshold.is_nan() || length_threshold < 0.0 {
                return Err(GeometryError::InvalidOutline(format!(
                    "length threshold {length_threshold} must be >= 0"
                )));
            }
        }
        Ok(())
    }

    /// The polygon around the inside pixels of `hot`, in pixel coordinates.
    ///
    /// ```
    /// use ceod_geometry::{Mask, Outline};
    /// use geo::Area;
    /// // Two diagonal pixels: component hulls = one hexagon (8-connected, area 3),
    /// // the pixel outline = the two squares (area 2).
    /// let hot = Mask::from_fn(2, 2, |x, y| x == y)?;
    /// assert_eq!(Outline::ComponentHulls.outline(&hot)?.unsigned_area(), 3.0);
    /// assert_eq!(Outline::PixelOutline.outline(&hot)?.unsigned_area(), 2.0);
    /// # Ok::<(), ceod_geometry::GeometryError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Outline::validate`].
    pub fn outline(&self, hot: &Mask) -> Result<MultiPolygon<f64>> {
        self.validate()?;
        Ok(match *self {
            Outline::ComponentHulls => union_of_rings(&component_hulls(hot)),
            Outline::ConvexHull => {
                let ring = mask_hull(hot);
                MultiPolygon::new(if ring.len() >= 3 {
                    vec![ring_polygon(&ring)]
                } else {
                    vec![]
                })
            }
            Outline::PixelOutline => pixel_outline(hot),
            Outline::ConcaveHull {
                concavity,
                length_threshold,
            } => concave_hulls(hot, concavity, length_threshold),
        })
    }
}

impl Outline {
    /// The outline of the pixels of `map` that are `>= level` (none for `None`); the hulls come
    /// straight from the runs of hot values, without building a mask.
    pub(crate) fn outline_of_level(
        &self,
        map: &HeatMap,
        level: Option<f32>,
    ) -> Result<MultiPolygon<f64>> {
        self.validate()?;
        match *self {
            Outline::ComponentHulls | Outline::ConvexHull => {
                let (runs, row_start) =
                    Components::runs_of_values(map.values(), map.width(), level);
                Ok(if *self == Outline::ConvexHull {
                    let ring = runs_hull(&runs, &row_start);
                    MultiPolygon::new(if ring.len() >= 3 {
                        vec![ring_polygon(&ring)]
                    } else {
                        vec![]
                    })
                } else {
                    let comps = Components::label_runs(runs, row_start, Connectivity::Eight);
                    union_of_rings(&components_hulls(&comps))
                })
            }
            _ => self.outline(&Threshold::mask_at(map, level)?),
        }
    }
}

/// Per 8-connected component: geo's concave hull of the corners of its boundary pixels (those
/// with a 4-neighbour outside the component or the image); then their union.
fn concave_hulls(hot: &Mask, concavity: f64, length_threshold: f64) -> MultiPolygon<f64> {
    let comps = Components::label(hot, Connectivity::Eight);
    let mut points: Vec<Vec<Coord<f64>>> = vec![Vec::new(); comps.count];
    for (run, &label) in comps.runs.iter().zip(&comps.labels) {
        let y = run.y as usize;
        for x in run.x0 as usize..run.x1 as usize {
            let boundary = x == run.x0 as usize
                || x + 1 == run.x1 as usize
                || y == 0
                || !hot.get(x, y - 1)
                || !hot.get(x, y + 1);
            if boundary {
                let (fx, fy) = (x as f64, y as f64);
                points[label as usize].extend_from_slice(&[
                    Coord { x: fx, y: fy },
                    Coord { x: fx + 1.0, y: fy },
                    Coord { x: fx, y: fy + 1.0 },
                    Coord {
                        x: fx + 1.0,
                        y: fy + 1.0,
                    },
                ]);
            }
        }
    }
    let polys: Vec<Polygon<f64>> = points
        .into_iter()
        .map(|mut pts| {
            pts.sort_unstable_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
            pts.dedup();
            let mp: MultiPoint<f64> = pts.into_iter().map(geo::Point::from).collect();
            mp.concave_hull_with_options(
                geo::algorithm::concave_hull::ConcaveHullOptions::default()
                    .concavity(concavity)
                    .length_threshold(length_threshold),
            )
        })
        .collect();
    union_polygons(polys)
}
