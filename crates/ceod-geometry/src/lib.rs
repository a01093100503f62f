//! Pixel-space geometry for CEOD: hot regions of heat maps, masks as polygons, and their exact
//! overlap with [`geo`]'s boolean operations and areas.
//!
//! # Conventions
//!
//! - **Pixel squares.** Pixel `(x, y)` — column `x`, row `y` — covers the square
//!   `[x, x+1) × [y, y+1)`. Polygons are in image pixel coordinates (`f64`), `x` to the right,
//!   `y` down. Rasters ([`HeatMap`], [`Mask`]) are row-major: `(x, y)` at index `y · width + x`.
//!   Non-square images are the normal case; nothing assumes `width == height`.
//! - **Resampling.** A heat map at feature resolution (a 16×16 CAM over a W×H image) is first
//!   resampled to W×H bilinearly with half-pixel centres (PyTorch `align_corners=False`), then
//!   thresholded ([`HeatMap::resized`]). A feature cell `(i, j)` of an `h × w` map thus covers
//!   `[j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h)`.
//! - **Hot pixels** ([`Threshold`]): value `>=` a level — a fraction of the max (default 0.5),
//!   a quantile, an absolute value, or Otsu's.
//! - **`A_d`**, the outline of the hot pixels ([`Outline`]): the union of the convex hulls over
//!   pixel corners of each 8-connected component (default), one convex hull, the exact pixel
//!   outline (holes kept; diagonal neighbours are separate squares sharing a corner), or geo's
//!   concave hull. A hull over pixel corners always has area `>= 1`: there is no zero-area
//!   outline, even for hot pixels on one line.
//! - **`A_gt`**, the area of interest ([`AreaOfInterest`]): a mask's exact pixel outline with
//!   holes (area = pixel count), or annotation polygons ([`parse_labelme`]). Invalid rings are
//!   repaired: repeated vertices dropped, self-intersections (a bowtie) resolved by the non-zero
//!   winding rule; fewer than 3 distinct points, zero area or non-finite coordinates are an error
//!   naming the shape ([`repair_ring`]). Polygons become masks with [`rasterize`]: pixel inside iff
//!   its centre is inside.
//! - **Overlap** ([`Overlap`], Eq. 1–3): `|A_d ∩ A_gt|`, `|A_d|`, `|A_gt|` and a [`Coefficient`]:
//!   `Paper` (`/ min`, Szymkiewicz–Simpson), `Containment` (`/ |A_d|`, the default), `Iou`.
//!   Degenerate cases, decided once: an empty `A_gt` has no value (`None`); an empty `A_d` (no hot
//!   pixel) has coefficient 0, distance 1. [`energy_inside`] is the threshold-free share of heat
//!   inside the mask (0/0 → 0, empty mask → `None`).
//!
//! # Example
//!
//! ```
//! use ceod_geometry::{overlap, Coefficient, HeatMap, Mask, OverlapOptions};
//! // A 2x2 feature map over a 4x4 image: only the top-left cell is warm.
//! let cam = HeatMap::new(2, 2, vec![1.0, 0.0, 0.0, 0.0])?;
//! // The area of interest: the top-left 2x2 pixels.
//! let mask = Mask::from_fn(4, 4, |x, y| x < 2 && y < 2)?;
//! let o = overlap(&cam, &mask, &OverlapOptions::default())?;
//! // Upsampled, the values >= 0.5 are the 2x2 top-left pixels (1.0, 0.75, 0.75, 0.5625).
//! assert_eq!((o.intersection, o.detected, o.mask), (4.0, 4.0, 4.0));
//! assert_eq!(o.distance(Coefficient::Containment), Some(0.0));
//! # Ok::<(), ceod_geometry::GeometryError>(())
//! ```
#![warn(missing_docs)]

mod area_of_interest;
mod batch;
mod components;
mod energy;
mod error;
mod heat_map;
mod hull;
mod labelme;
mod mask;
mod outline;
mod overlap;
mod pixel_outline;
mod rasterize;
mod repair;
mod resize;
mod threshold;

pub use area_of_interest::AreaOfInterest;
pub use batch::{overlap_batch, overlap_batch_sequential, overlap_batch_with_areas};
pub use energy::energy_inside;
pub use error::{GeometryError, Result};
pub use heat_map::HeatMap;
pub use labelme::{LabelMeOptions, parse_labelme, parse_labelme_with_options};
pub use mask::Mask;
pub use outline::Outline;
pub use overlap::{
    Coefficient, Overlap, OverlapOptions, detected_region, hot_pixels, overlap, overlap_distance,
    overlap_of_polygons, overlap_with_area,
};
pub use rasterize::rasterize;
pub use repair::{repair_multi_polygon, repair_ring};
pub use threshold::Threshold;

/// geo's geometry types used in this crate's API, re-exported for convenience.
pub use geo::{Coord, LineString, MultiPolygon, Polygon};
