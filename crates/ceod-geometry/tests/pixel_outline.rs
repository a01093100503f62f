//! Exact pixel outlines: areas and intersection areas equal pixel counts exactly, and the
//! polygons are valid (geo's `Validation`), on random and structured masks.

#![allow(clippy::unwrap_used)]

mod common;

use ceod_geometry::{
    AreaOfInterest, Mask, Outline, OverlapOptions, Threshold, overlap, overlap_of_polygons,
};
use common::{count_and, heat_of};
use geo::{Area, Validation};
use proptest::prelude::*;

fn outline(mask: &Mask) -> geo::MultiPolygon<f64> {
    Outline::PixelOutline.outline(mask).unwrap()
}

/// Checks area = count, validity, and that every pixel centre is inside iff the pixel is set
/// (by geo's point-in-polygon, an independent test of the rings' placement).
fn check_mask(mask: &Mask) {
    use geo::Contains;
    let mp = outline(mask);
    assert_eq!(
        mp.unsigned_area(),
        mask.count() as f64,
        "area != count for {mask:?}"
    );
    assert!(
        mp.is_valid(),
        "invalid outline {:?} for {mask:?}",
        mp.validation_errors()
    );
    for y in 0..mask.height() {
        for x in 0..mask.width() {
            let c = geo::Point::new(x as f64 + 0.5, y as f64 + 0.5);
            assert_eq!(
                mp.contains(&c),
                mask.get(x, y),
                "pixel ({x}, {y}) of {mask:?}"
            );
        }
    }
}

fn mask_strategy() -> impl Strategy<Value = Mask> {
    (1usize..=11, 1usize..=11, 0.05f64..0.95).prop_flat_map(|(w, h, p)| {
        proptest::collection::vec(proptest::bool::weighted(p), w * h)
            .prop_map(move |v| Mask::new(w, h, v).unwrap())
    })
}

fn pair_strategy() -> impl Strategy<Value = (Mask, Mask)> {
    (1usize..=10, 1usize..=10, 0.1f64..0.9, 0.1f64..0.9).prop_flat_map(|(w, h, p, q)| {
        (
            proptest::collection::vec(proptest::bool::weighted(p), w * h),
            proptest::collection::vec(proptest::bool::weighted(q), w * h),
        )
            .prop_map(move |(a, b)| (Mask::new(w, h, a).unwrap(), Mask::new(w, h, b).unwrap()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_masks_area_equals_count(mask in mask_strategy()) {
        check_mask(&mask);
    }

    #[test]
    fn random_intersections_equal_counts((a, b) in pair_strategy()) {
        let (pa, pb) = (outline(&a), outline(&b));
        let o = overlap_of_polygons(&pa, &pb);
        prop_assert_eq!(o.intersection, count_and(&a, &b) as f64);
        prop_assert_eq!(o.detected, a.count() as f64);
        prop_assert_eq!(o.mask, b.count() as f64);
        // Through the public pipeline: the 0/1 heat map of `a` against mask `b`.
        let opts = OverlapOptions { threshold: Threshold::Absolute(0.5), outline: Outline::PixelOutline, ..Default::default() };
        let o2 = overlap(&heat_of(&a), &b, &opts).unwrap();
        prop_assert_eq!(o2, o);
    }
}

#[test]
fn checkerboards() {
    for (w, h) in [(1, 1), (2, 2), (3, 3), (8, 8), (7, 4), (1, 9), (9, 1)] {
        for phase in 0..2 {
            let m = Mask::from_fn(w, h, |x, y| (x + y + phase) % 2 == 0).unwrap();
            check_mask(&m);
            // every set pixel is its own 4-component: one square polygon each
            assert_eq!(outline(&m).0.len(), m.count());
        }
    }
}

#[test]
fn rings_with_holes_and_nested_islands() {
    // A 7x7 frame (hole 5x5) with a 3x3 frame inside (hole 1x1): two polygons, one hole each.
    let m = Mask::from_fn(7, 7, |x, y| {
        let d = x.abs_diff(3).max(y.abs_diff(3));
        d == 3 || d == 1
    })
    .unwrap();
    check_mask(&m);
    let mp = outline(&m);
    assert_eq!(mp.0.len(), 2);
    assert!(mp.0.iter().all(|p| p.interiors().len() == 1));
    assert_eq!(m.count(), 24 + 8);

    // A hole touching the outside at one corner only: the hole stays (touching the exterior).
    let m = Mask::new(
        3,
        3,
        vec![true, true, true, true, false, true, true, true, false],
    )
    .unwrap();
    check_mask(&m);
    // A hole made of two diagonal background pixels.
    let m = Mask::from_fn(4, 4, |x, y| !((x, y) == (1, 1) || (x, y) == (2, 2))).unwrap();
    check_mask(&m);
    // A U whose tips touch diagonally (the ring passes the saddle twice and is split there).
    let m = Mask::new(
        4,
        4,
        [
            "####", //
            "#..#", //
            "#.#.", //
            "###.", //
        ]
        .concat()
        .bytes()
        .map(|b| b == b'#')
        .collect(),
    )
    .unwrap();
    check_mask(&m);
}

#[test]
fn one_by_n_and_n_by_one_and_non_square() {
    for n in [1, 2, 5, 64] {
        let row = Mask::from_fn(n, 1, |x, _| x % 3 != 1).unwrap();
        let col = Mask::from_fn(1, n, |_, y| y % 3 != 1).unwrap();
        check_mask(&row);
        check_mask(&col);
    }
    let m = Mask::from_fn(13, 5, |x, y| (x * 7 + y * 3) % 5 < 2).unwrap();
    check_mask(&m);
    let full = Mask::from_fn(6, 2, |_, _| true).unwrap();
    check_mask(&full);
    assert_eq!(outline(&full).0.len(), 1);
    // exterior only corner vertices: a rectangle has 4 (+ the closing one)
    assert_eq!(outline(&full).0[0].exterior().0.len(), 5);
}

#[test]
fn area_of_interest_of_a_mask_has_the_pixel_count() {
    let m = Mask::from_fn(20, 9, |x, y| (x / 3 + y / 2) % 2 == 0).unwrap();
    assert_eq!(AreaOfInterest::from_mask(&m).area(), m.count() as f64);
    assert_eq!(AreaOfInterest::from_mask(&m).to_mask().unwrap(), m);
}
