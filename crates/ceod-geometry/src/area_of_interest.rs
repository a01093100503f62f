//! [`AreaOfInterest`]: `A_gt` as polygons, built once per mask.

use geo::{Area, MultiPolygon};

use crate::error::{GeometryError, Result};
use crate::mask::Mask;
use crate::pixel_outline::pixel_outline;
use crate::repair::repair_multi_polygon;

/// The area of interest `A_gt` of one image: polygons in image pixel coordinates plus the image
/// size that heat maps are resampled to. Build it once per mask (it is fixed per training image)
/// and reuse it with [`overlap_with_area`](crate::overlap_with_area).
///
/// ```
/// use ceod_geometry::{AreaOfInterest, Mask};
/// // A 3x3 ring with a hole in the middle.
/// let ring = Mask::from_fn(3, 3, |x, y| !(x == 1 && y == 1))?;
/// let aoi = AreaOfInterest::from_mask(&ring);
/// assert_eq!(aoi.area(), 8.0);
/// assert_eq!(aoi.polygons().0[0].interiors().len(), 1);
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AreaOfInterest {
    width: usize,
    height: usize,
    polygons: MultiPolygon<f64>,
    area: f64,
    /// The mask it was traced from, if any: lets the overlap intersect with only the part of the
    /// outline inside the hot region's bounding box (exact, and cheaper).
    raster: Option<Mask>,
}

impl AreaOfInterest {
    /// The exact pixel outline of a mask: the union of its pixel squares, holes kept (see
    /// [`Outline::PixelOutline`](crate::Outline::PixelOutline)). Its area is the pixel count.
    pub fn from_mask(mask: &Mask) -> Self {
        let polygons = pixel_outline(mask);
        let area = polygons.unsigned_area();
        Self {
            width: mask.width(),
            height: mask.height(),
            polygons,
            area,
            raster: Some(mask.clone()),
        }
    }

    /// Polygons over an image of `width × height` pixels (for example annotation polygons).
    /// They are repaired as [`repair_multi_polygon`] describes (self-intersections resolved with
    /// the non-zero winding rule, overlapping polygons united) and clipped to the image
    /// rectangle `[0, width] × [0, height]`, so `|A_gt|` counts only the part inside the image.
    ///
    /// # Errors
    /// [`GeometryError::ZeroSize`] for a zero dimension; [`GeometryError::InvalidShape`] when a
    /// polygon has non-finite coordinates or fewer than three distinct points.
    pub fn new(width: usize, height: usize, polygons: MultiPolygon<f64>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(GeometryError::ZeroSize { width, height });
        }
        let polygons = repair_multi_polygon(&polygons)?;
        let image = geo::Rect::new(
            geo::Coord { x: 0.0, y: 0.0 },
            geo::Coord {
                x: width as f64,
                y: height as f64,
            },
        )
        .to_polygon();
        let polygons = geo::BooleanOps::intersection(&polygons, &image);
        let area = polygons.unsigned_area();
        Ok(Self {
            width,
            height,
            polygons,
            area,
            raster: None,
        })
    }

    /// The polygons of `A_gt` that matter for intersecting with a region inside the integer box
    /// `[x0, x1] × [y0, y1]`: for an area traced from a mask, the exact outline of the mask's
    /// pixels in that window (`A_gt ∩ box`, so `A_d ∩ A_gt` is unchanged for `A_d` inside the
    /// box); otherwise all polygons.
    pub(crate) fn polygons_within(
        &self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    ) -> std::borrow::Cow<'_, MultiPolygon<f64>> {
        use geo::MapCoordsInPlace;
        let Some(mask) = &self.raster else {
            return std::borrow::Cow::Borrowed(&self.polygons);
        };
        let clamp = |v: f64, hi: usize| v.max(0.0).min(hi as f64) as usize;
        let (cx0, cy0) = (
            clamp(x0.floor(), self.width),
            clamp(y0.floor(), self.height),
        );
        let (cx1, cy1) = (clamp(x1.ceil(), self.width), clamp(y1.ceil(), self.height));
        let Some(window) = mask.crop(cx0, cy0, cx1, cy1) else {
            return std::borrow::Cow::Owned(MultiPolygon::new(vec![]));
        };
        let mut polys = pixel_outline(&window);
        let (dx, dy) = (cx0 as f64, cy0 as f64);
        polys.map_coords_in_place(|c| geo::Coord {
            x: c.x + dx,
            y: c.y + dy,
        });
        std::borrow::Cow::Owned(polys)
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The polygons.
    pub fn polygons(&self) -> &MultiPolygon<f64> {
        &self.polygons
    }

    /// `|A_gt|`, with geo's `unsigned_area`.
    pub fn area(&self) -> f64 {
        self.area
    }

    /// Whether the area is empty (`|A_gt| = 0`).
    pub fn is_empty(&self) -> bool {
        self.area == 0.0
    }
}
