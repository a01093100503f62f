//! Convex hulls of pixel squares, exactly, in integer corner coordinates.

use geo::{Coord, LineString, MultiPolygon, Polygon};

use crate::components::{Components, Connectivity};
use crate::mask::Mask;

/// A corner of the pixel grid.
pub(crate) type Corner = (i64, i64);

fn cross(o: Corner, a: Corner, b: Corner) -> i64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Andrew's monotone chain: the convex hull of `points` as a ring of strictly convex vertices
/// (collinear points dropped) with positive shoelace area (counter-clockwise in `(x, y)`; on
/// screen, with `y` down, that is clockwise). Fewer than three vertices for degenerate input
/// (all points equal or collinear).
pub(crate) fn convex_hull(points: &mut Vec<Corner>) -> Vec<Corner> {
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points.clone();
    }
    let mut hull: Vec<Corner> = Vec::with_capacity(points.len() + 1);
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop(); // the first point again
    hull
}

/// A closed geo polygon from a ring of corners (no holes).
pub(crate) fn ring_polygon(ring: &[Corner]) -> Polygon<f64> {
    let mut coords: Vec<Coord<f64>> = ring
        .iter()
        .map(|&(x, y)| Coord {
            x: x as f64,
            y: y as f64,
        })
        .collect();
    if let Some(&first) = coords.first() {
        coords.push(first);
    }
    Polygon::new(LineString::new(coords), vec![])
}

/// Twice the signed (shoelace) area of a ring of corners.
pub(crate) fn twice_signed_area(ring: &[Corner]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// The corners that determine the hull of a set of pixels: for each row, the outer corners of
/// its leftmost and rightmost pixel. (Every other corner lies on a horizontal segment between two
/// of these, so the hull is the same.)
fn row_extreme_corners(rows: impl Iterator<Item = (u32, u32, u32)>) -> Vec<Corner> {
    let mut pts = Vec::new();
    for (y, l, r) in rows {
        let (y, l, r) = (i64::from(y), i64::from(l), i64::from(r));
        pts.extend_from_slice(&[(l, y), (l, y + 1), (r, y), (r, y + 1)]);
    }
    pts
}

/// One convex hull around all inside pixels of `mask` (over their corners), as a ring; empty for
/// an empty mask. Always a proper polygon (area >= 1) otherwise.
pub(crate) fn mask_hull(mask: &Mask) -> Vec<Corner> {
    let (runs, row_start) = Components::runs_of(mask);
    runs_hull(&runs, &row_start)
}

/// One convex hull around all runs (over pixel corners).
pub(crate) fn runs_hull(runs: &[crate::components::Run], row_start: &[usize]) -> Vec<Corner> {
    let rows = (0..row_start.len() - 1).filter_map(|y| {
        let row = &runs[row_start[y]..row_start[y + 1]];
        Some((y as u32, row.first()?.x0, row.last()?.x1))
    });
    let mut pts = row_extreme_corners(rows);
    convex_hull(&mut pts)
}

/// The convex hull (over pixel corners) of each 8-connected component of `mask`, as rings, in
/// order of each component's first pixel in raster order.
pub(crate) fn component_hulls(mask: &Mask) -> Vec<Vec<Corner>> {
    components_hulls(&Components::label(mask, Connectivity::Eight))
}

/// The convex hull of each labelled component.
pub(crate) fn components_hulls(comps: &Components) -> Vec<Vec<Corner>> {
    // Per component: the (row, leftmost, rightmost) extremes. Runs come in raster order, so the
    // first run of a component in a row is its leftmost and the last its rightmost.
    let mut extremes: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); comps.count];
    for (run, &label) in comps.runs.iter().zip(&comps.labels) {
        let e = &mut extremes[label as usize];
        match e.last_mut() {
            Some(last) if last.0 == run.y => last.2 = run.x1,
            _ => e.push((run.y, run.x0, run.x1)),
        }
    }
    extremes
        .into_iter()
        .map(|rows| {
            let mut pts = row_extreme_corners(rows.into_iter());
            convex_hull(&mut pts)
        })
        .collect()
}

/// The union of polygons as a multipolygon: polygons whose bounding boxes are pairwise separated
/// (not even touching) are taken as they are; otherwise geo's `unary_union` merges them.
pub(crate) fn union_polygons(polys: Vec<Polygon<f64>>) -> MultiPolygon<f64> {
    use geo::BoundingRect;
    let boxes: Vec<_> = polys.iter().filter_map(|p| p.bounding_rect()).collect();
    let separated = boxes.len() == polys.len()
        && boxes.iter().enumerate().all(|(i, a)| {
            boxes[i + 1..].iter().all(|b| {
                a.max().x < b.min().x
                    || b.max().x < a.min().x
                    || a.max().y < b.min().y
                    || b.max().y < a.min().y
            })
        });
    if separated {
        MultiPolygon::new(polys)
    } else {
        geo::unary_union(&polys)
    }
}

/// The union of hull rings (rings with fewer than three vertices are skipped).
pub(crate) fn union_of_rings(rings: &[Vec<Corner>]) -> MultiPolygon<f64> {
    union_polygons(
        rings
            .iter()
            .filter(|r| r.len() >= 3)
            .map(|r| ring_polygon(r))
            .collect(),
    )
}
