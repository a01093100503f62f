//! Shapes that broke geo's boolean operations before i_overlay (georust/geo #1064, #976, #913),
//! and the bowtie annotation. Each is checked against an area worked out by hand.

#![allow(clippy::unwrap_used)]

use ceod_geometry::{AreaOfInterest, overlap_of_polygons, repair_multi_polygon, repair_ring};
use geo::{Area, Coord, LineString, MultiPolygon, Polygon, Rotate};

fn poly(coords: &[(f64, f64)]) -> Polygon<f64> {
    Polygon::new(LineString::from(coords.to_vec()), vec![])
}

/// Consecutive vertices 2e-10 apart (geo #1064's 709799.9999999999 / 709800.0000000001): the
/// rectangle [709800, 710110] x [4535330, 4535890] with a near-duplicate corner, intersected with
/// an axis-aligned rectangle of known overlap.
#[test]
fn near_duplicate_consecutive_vertices() {
    let a = poly(&[
        (709_799.999_999_999_9, 4_535_330.0),
        (709_800.000_000_000_1, 4_535_890.0),
        (710_110.0, 4_535_890.0),
        (710_110.0, 4_535_330.0),
        (709_799.999_999_999_9, 4_535_330.0),
    ]);
    let b = poly(&[
        (710_000.0, 4_535_000.0),
        (710_200.0, 4_535_000.0),
        (710_200.0, 4_535_500.0),
        (710_000.0, 4_535_500.0),
    ]);
    let (ma, mb) = (
        MultiPolygon::new(vec![a.clone()]),
        MultiPolygon::new(vec![b]),
    );
    let o = overlap_of_polygons(&ma, &mb);
    // overlap: x in [710000, 710110], y in [4535330, 4535500] -> 110 * 170
    assert!(
        (o.intersection - 110.0 * 170.0).abs() < 1e-3,
        "{}",
        o.intersection
    );
    assert!((o.detected - 310.0 * 560.0).abs() < 1e-3);
    // and the repair keeps the ring (the two vertices merge), with the same area
    let fixed = repair_ring(&a.exterior().0).unwrap();
    assert!((fixed.unsigned_area() - 310.0 * 560.0).abs() < 1e-3);
    // The same near-duplicates in pixel coordinates.
    let c = poly(&[
        (9.999_999_999_9, 0.0),
        (10.000_000_000_1, 5.0),
        (0.0, 5.0),
        (0.0, 0.0),
    ]);
    let square = poly(&[(5.0, -1.0), (20.0, -1.0), (20.0, 3.0), (5.0, 3.0)]);
    let o = overlap_of_polygons(
        &MultiPolygon::new(vec![c]),
        &MultiPolygon::new(vec![square]),
    );
    assert!((o.intersection - 15.0).abs() < 1e-6, "{}", o.intersection);
}

/// A square and the same square rotated by a small angle about its centre: the intersection is an
/// octagon of area s² (1 − t(1 − t)/(1 + t)), t = tan(θ/2) (each corner loses a right triangle
/// with legs (1 − t)·s/2 and 2t/(1 + t)·s/2).
#[test]
fn square_and_slightly_rotated_square() {
    for (s, theta_deg, offset) in [
        (100.0, 0.05, 0.0),
        (2.0, 1.0, 0.0),
        (128.0, 10.0, 709_800.0),
        (10.0, 45.0, 3.0),
    ] {
        let sq = poly(&[
            (offset, offset),
            (offset + s, offset),
            (offset + s, offset + s),
            (offset, offset + s),
        ]);
        let rotated = sq.rotate_around_centroid(theta_deg);
        let t = (f64::to_radians(theta_deg) / 2.0).tan();
        let expected = s * s * (1.0 - t * (1.0 - t) / (1.0 + t));
        let o = overlap_of_polygons(
            &MultiPolygon::new(vec![sq]),
            &MultiPolygon::new(vec![rotated]),
        );
        assert!(
            (o.intersection - expected).abs() < 1e-6 * s * s,
            "s {s} θ {theta_deg}: {} vs {expected}",
            o.intersection
        );
    }
}

/// A bowtie annotation: two triangles crossing at the centre; repaired into both triangles.
#[test]
fn bowtie_is_repaired_into_two_triangles() {
    let ring: Vec<Coord<f64>> = [(0.0, 0.0), (8.0, 6.0), (8.0, 0.0), (0.0, 6.0)]
        .iter()
        .map(|&(x, y)| Coord { x, y })
        .collect();
    let fixed = repair_ring(&ring).unwrap();
    // crossing at (4, 3): triangles (0,0)-(8,0)-(4,3) and (0,6)-(8,6)-(4,3), each 8·3/2
    assert_eq!(fixed.0.len(), 2);
    assert!((fixed.unsigned_area() - 24.0).abs() < 1e-9);
    let aoi = AreaOfInterest::new(
        8,
        6,
        MultiPolygon::new(vec![Polygon::new(LineString::new(ring), vec![])]),
    )
    .unwrap();
    assert!((aoi.area() - 24.0).abs() < 1e-9);
    // Pixel centres inside, by hand: the top triangle at height yc spans [4yc/3, 8 − 4yc/3):
    // yc = 0.5 → [0.67, 7.33) holds centres 1.5..6.5 (6); 1.5 → [2, 6) (4); 2.5 → [3.33, 4.67) (2);
    // the bottom triangle mirrors it.
    assert_eq!(aoi.to_mask().unwrap().count(), 2 * (6 + 4 + 2));
}

#[test]
fn degenerate_rings_are_rejected_with_a_reason() {
    let c = |v: &[(f64, f64)]| v.iter().map(|&(x, y)| Coord { x, y }).collect::<Vec<_>>();
    assert!(
        repair_ring(&c(&[(0.0, 0.0), (1.0, 1.0)]))
            .unwrap_err()
            .contains("fewer than 3")
    );
    assert!(
        repair_ring(&c(&[(0.0, 0.0), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0)]))
            .unwrap_err()
            .contains("fewer than 3")
    );
    assert!(
        repair_ring(&c(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]))
            .unwrap_err()
            .contains("zero area")
    );
    assert!(
        repair_ring(&c(&[(0.0, 0.0), (f64::NAN, 1.0), (2.0, 0.0)]))
            .unwrap_err()
            .contains("not finite")
    );
    // repeated vertices are dropped: the square keeps its area
    let sq = repair_ring(&c(&[
        (0.0, 0.0),
        (0.0, 0.0),
        (4.0, 0.0),
        (4.0, 4.0),
        (4.0, 4.0),
        (0.0, 4.0),
        (0.0, 0.0),
    ]))
    .unwrap();
    assert_eq!(sq.unsigned_area(), 16.0);
    // a polygon with a hole: exterior minus hole
    let holed = Polygon::new(
        LineString::from(vec![(0.0, 0.0), (6.0, 0.0), (6.0, 6.0), (0.0, 6.0)]),
        vec![LineString::from(vec![
            (1.0, 1.0),
            (3.0, 1.0),
            (3.0, 3.0),
            (1.0, 3.0),
        ])],
    );
    let fixed = repair_multi_polygon(&MultiPolygon::new(vec![holed])).unwrap();
    assert_eq!(fixed.unsigned_area(), 32.0);
}
