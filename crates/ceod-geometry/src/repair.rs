//! Repair of invalid rings (annotation polygons).

use geo::algorithm::bool_ops::FillRule;
use geo::{Area, BooleanOps, Coord, LineString, MultiPolygon, OpType, Polygon};

use crate::error::{GeometryError, Result};

/// Repairs one ring (a closed or open list of vertices) into valid polygons, or says why it
/// cannot. The rules:
/// 1. a non-finite coordinate is rejected;
/// 2. repeated consecutive vertices (and a closing vertex equal to the first) are dropped;
/// 3. fewer than 3 distinct vertices are rejected;
/// 4. self-intersections (a bowtie, a ring touching itself) are resolved by geo's boolean union
///    (i_overlay) of the ring with nothing under the **non-zero** winding rule: the result is the
///    set of points the drawn outline winds around — a bowtie becomes its two triangles, a ring
///    drawn twice round is the same area once. Vertices closer than i_overlay's snapping grid
///    (about 1e-7 of the extent, e.g. 709799.9999999999 and 709800.0000000001) are merged;
/// 5. a ring with zero area afterwards (all vertices on one line) is rejected.
///
/// # Errors
/// The problem, in words (the caller names the shape).
pub fn repair_ring(vertices: &[Coord<f64>]) -> std::result::Result<MultiPolygon<f64>, String> {
    if let Some(c) = vertices
        .iter()
        .find(|c| !(c.x.is_finite() && c.y.is_finite()))
    {
        return Err(format!("vertex ({}, {}) is not finite", c.x, c.y));
    }
    let mut ring: Vec<Coord<f64>> = Vec::with_capacity(vertices.len() + 1);
    for &c in vertices {
        if ring.last() != Some(&c) {
            ring.push(c);
        }
    }
    while ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    let mut distinct = ring.clone();
    distinct.sort_unstable_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(format!(
            "fewer than 3 distinct vertices ({} given, {} distinct)",
            vertices.len(),
            distinct.len()
        ));
    }
    let polygon = Polygon::new(LineString::new(ring), vec![]);
    let repaired = polygon.boolean_op_with_fill_rule(
        &MultiPolygon::<f64>::new(vec![]),
        OpType::Union,
        FillRule::NonZero,
    );
    if repaired.unsigned_area() == 0.0 {
        return Err("zero area (all vertices on one line)".to_owned());
    }
    Ok(repaired)
}

/// The union of valid multipolygons (geo's `unary_union`).
pub(crate) fn union_all(parts: &[MultiPolygon<f64>]) -> MultiPolygon<f64> {
    match parts {
        [] => MultiPolygon::new(vec![]),
        [one] => one.clone(),
        many => geo::unary_union(many),
    }
}

/// Repairs every polygon of a multipolygon: each ring by [`repair_ring`], each polygon as its
/// repaired exterior minus its repaired holes, then the union of all polygons (overlaps merge).
///
/// ```
/// use ceod_geometry::repair_multi_polygon;
/// use geo::{Area, MultiPolygon, polygon};
/// // A bowtie: two triangles of area 25 each, crossing at (5, 5).
/// let bowtie = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 10.0), (x: 10.0, y: 0.0), (x: 0.0, y: 10.0)];
/// let fixed = repair_multi_polygon(&MultiPolygon::new(vec![bowtie]))?;
/// assert_eq!(fixed.0.len(), 2);
/// assert!((fixed.unsigned_area() - 50.0).abs() < 1e-9);
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// [`GeometryError::InvalidShape`] naming the polygon (its index, an empty label) and the problem.
pub fn repair_multi_polygon(polygons: &MultiPolygon<f64>) -> Result<MultiPolygon<f64>> {
    let mut parts = Vec::with_capacity(polygons.0.len());
    for (index, p) in polygons.0.iter().enumerate() {
        let invalid = |problem: String| GeometryError::InvalidShape {
            index,
            label: String::new(),
            problem,
        };
        let exterior =
            repair_ring(&p.exterior().0).map_err(|e| invalid(format!("exterior: {e}")))?;
        let holes = p
            .interiors()
            .iter()
            .enumerate()
            .map(|(k, h)| repair_ring(&h.0).map_err(|e| invalid(format!("hole {k}: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        parts.push(if holes.is_empty() {
            exterior
        } else {
            exterior.difference(&union_all(&holes))
        });
    }
    Ok(union_all(&parts))
}
