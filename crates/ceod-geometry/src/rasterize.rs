//! Polygons to a [`Mask`]: pixel inside iff its centre is inside.

use geo::MultiPolygon;

use crate::area_of_interest::AreaOfInterest;
use crate::error::Result;
use crate::mask::Mask;

/// Rasterizes polygons to a `width × height` mask: pixel `(x, y)` is inside iff its centre
/// `(x + 0.5, y + 0.5)` is inside the polygons by the even-odd rule over all rings (for valid
/// polygons: inside the exterior and outside every hole). A centre exactly on an edge follows the
/// top-left rule: on a left or top edge it is inside, on a right or bottom edge outside — so a
/// rectangle with integer corners gives exactly its pixels, and two polygons that share an edge
/// never both claim a pixel.
///
/// ```
/// use ceod_geometry::rasterize;
/// use geo::{MultiPolygon, Rect, coord};
/// let rect = Rect::new(coord! { x: 1.0, y: 0.0 }, coord! { x: 3.0, y: 2.0 }).to_polygon();
/// let mask = rasterize(&MultiPolygon::new(vec![rect]), 4, 2)?;
/// assert_eq!(mask.values(), &[false, true, true, false, false, true, true, false]);
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// [`GeometryError::ZeroSize`](crate::GeometryError::ZeroSize) for a zero dimension.
pub fn rasterize(polygons: &MultiPolygon<f64>, width: usize, height: usize) -> Result<Mask> {
    let mut values = vec![false; width.saturating_mul(height)];
    let mut crossings: Vec<f64> = Vec::new();
    let rings: Vec<_> = polygons
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .collect();
    for y in 0..height {
        let yc = y as f64 + 0.5;
        crossings.clear();
        for ring in &rings {
            for line in ring.lines() {
                let (a, b) = (line.start, line.end);
                // Half-open in y: an edge counts for yc in [min y, max y).
                if (a.y <= yc && yc < b.y) || (b.y <= yc && yc < a.y) {
                    crossings.push(a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y));
                }
            }
        }
        crossings.sort_unstable_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            // Centres x + 0.5 in [x_enter, x_exit).
            let first = (pair[0] - 0.5).ceil().max(0.0);
            let end = (pair[1] - 0.5).ceil().min(width as f64);
            if end > first {
                let row = &mut values[y * width..(y + 1) * width];
                for v in &mut row[first as usize..end as usize] {
                    *v = true;
                }
            }
        }
    }
    Mask::new(width, height, values)
}

impl AreaOfInterest {
    /// The area of interest as a mask of its image size, by [`rasterize`] (pixel inside iff its
    /// centre is inside).
    ///
    /// # Errors
    /// As [`rasterize`] (not for an area built by this crate: its size is non-zero).
    pub fn to_mask(&self) -> Result<Mask> {
        rasterize(self.polygons(), self.width(), self.height())
    }
}
