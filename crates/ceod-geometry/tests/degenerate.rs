//! Degenerate inputs: no panic, and the documented result.

#![allow(clippy::unwrap_used)]

use ceod_geometry::{
    Coefficient, GeometryError, HeatMap, Mask, Outline, OverlapOptions, Threshold, overlap,
    overlap_batch,
};

const OUTLINES: [Outline; 4] = [
    Outline::ComponentHulls,
    Outline::ConvexHull,
    Outline::PixelOutline,
    Outline::ConcaveHull {
        concavity: 2.0,
        length_threshold: 0.0,
    },
];

fn opts(outline: Outline) -> OverlapOptions {
    OverlapOptions {
        outline,
        ..Default::default()
    }
}

fn square_mask(w: usize, h: usize, x0: usize, y0: usize, s: usize) -> Mask {
    Mask::from_fn(w, h, |x, y| x >= x0 && x < x0 + s && y >= y0 && y < y0 + s).unwrap()
}

#[test]
fn no_hot_pixel_gives_distance_one() {
    // All-zero map: FractionOfMax finds no hot pixel (max <= 0).
    let heat = HeatMap::new(6, 4, vec![0.0; 24]).unwrap();
    let mask = square_mask(6, 4, 1, 1, 2);
    for outline in OUTLINES {
        let o = overlap(&heat, &mask, &opts(outline)).unwrap();
        assert_eq!((o.intersection, o.detected, o.mask), (0.0, 0.0, 4.0));
        for c in [
            Coefficient::Paper,
            Coefficient::Containment,
            Coefficient::Iou,
        ] {
            assert_eq!(o.distance(c), Some(1.0));
        }
    }
    // An absolute threshold above the max: nothing hot either.
    let heat = HeatMap::new(6, 4, vec![0.3; 24]).unwrap();
    let o = overlap(
        &heat,
        &mask,
        &OverlapOptions {
            threshold: Threshold::Absolute(0.5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(o.distance(Coefficient::Paper), Some(1.0));
}

#[test]
fn one_hot_pixel_is_its_unit_square() {
    let mut v = vec![0.0; 35];
    v[2 * 7 + 3] = 1.0; // (x = 3, y = 2)
    let heat = HeatMap::new(7, 5, v).unwrap();
    let inside = square_mask(7, 5, 2, 1, 3); // covers (3, 2)
    let outside = square_mask(7, 5, 4, 3, 2);
    for outline in OUTLINES {
        let o = overlap(&heat, &inside, &opts(outline)).unwrap();
        assert_eq!(
            (o.intersection, o.detected, o.mask),
            (1.0, 1.0, 9.0),
            "{outline:?}"
        );
        assert_eq!(o.distance(Coefficient::Containment), Some(0.0));
        assert_eq!(o.distance(Coefficient::Paper), Some(0.0));
        assert_eq!(o.coefficient(Coefficient::Iou), Some(1.0 / 9.0));
        let o = overlap(&heat, &outside, &opts(outline)).unwrap();
        assert_eq!(o.distance(Coefficient::Containment), Some(1.0));
    }
}

#[test]
fn hot_pixels_on_one_line_have_a_positive_area_hull() {
    // Pixel squares never give a zero-area hull: a row of 5 is a 5x1 rectangle.
    let heat = HeatMap::new(
        8,
        3,
        (0..24)
            .map(|i| if i / 8 == 1 && i % 8 < 5 { 1.0 } else { 0.0 })
            .collect(),
    )
    .unwrap();
    let mask = Mask::from_fn(8, 3, |x, _| x < 2).unwrap();
    for outline in OUTLINES {
        let o = overlap(&heat, &mask, &opts(outline)).unwrap();
        assert_eq!(
            (o.intersection, o.detected, o.mask),
            (2.0, 5.0, 6.0),
            "{outline:?}"
        );
    }
    // A column, and a single-row image (1xN).
    let heat = HeatMap::new(1, 6, vec![1.0; 6]).unwrap();
    let mask = Mask::from_fn(1, 6, |_, y| y >= 4).unwrap();
    for outline in OUTLINES {
        let o = overlap(&heat, &mask, &opts(outline)).unwrap();
        assert_eq!(
            (o.intersection, o.detected, o.mask),
            (2.0, 6.0, 2.0),
            "{outline:?}"
        );
    }
}

#[test]
fn every_pixel_hot_and_constant_maps() {
    let mask = square_mask(5, 4, 0, 0, 2);
    for value in [1.0f32, 0.25, 7.0] {
        let heat = HeatMap::new(5, 4, vec![value; 20]).unwrap();
        for threshold in [
            Threshold::FractionOfMax(0.5),
            Threshold::Quantile(0.9),
            Threshold::Otsu,
        ] {
            for outline in OUTLINES {
                let o = overlap(
                    &heat,
                    &mask,
                    &OverlapOptions {
                        threshold,
                        outline,
                        ..Default::default()
                    },
                )
                .unwrap();
                // everything hot: A_d is the whole image
                assert_eq!(
                    (o.intersection, o.detected, o.mask),
                    (4.0, 20.0, 4.0),
                    "{threshold:?} {outline:?}"
                );
                // the paper's min-denominator flaw: a map hot everywhere costs nothing
                assert_eq!(o.distance(Coefficient::Paper), Some(0.0));
                assert_eq!(o.distance(Coefficient::Containment), Some(1.0 - 4.0 / 20.0));
            }
        }
    }
}

#[test]
fn nan_and_infinity_are_errors() {
    let mut v = vec![0.5f32; 6];
    v[4] = f32::NAN;
    assert!(matches!(
        HeatMap::new(3, 2, v),
        Err(GeometryError::NonFinite { x: 1, y: 1, .. })
    ));
    assert!(matches!(
        HeatMap::new(2, 1, vec![0.0, f32::INFINITY]),
        Err(GeometryError::NonFinite { x: 1, y: 0, .. })
    ));
    assert!(matches!(
        HeatMap::new(0, 3, vec![]),
        Err(GeometryError::ZeroSize { .. })
    ));
    assert!(matches!(
        Mask::new(2, 2, vec![true; 3]),
        Err(GeometryError::SizeMismatch {
            expected: 4,
            actual: 3,
            ..
        })
    ));
    assert!(matches!(
        Mask::new(3, 0, vec![]),
        Err(GeometryError::ZeroSize { .. })
    ));
    let heat = HeatMap::new(1, 1, vec![1.0]).unwrap();
    let mask = Mask::new(1, 1, vec![true]).unwrap();
    for bad in [
        Threshold::FractionOfMax(f32::NAN),
        Threshold::Quantile(1.5),
        Threshold::Absolute(f32::INFINITY),
    ] {
        let r = overlap(
            &heat,
            &mask,
            &OverlapOptions {
                threshold: bad,
                ..Default::default()
            },
        );
        assert!(
            matches!(r, Err(GeometryError::InvalidThreshold(_))),
            "{bad:?}"
        );
    }
    let bad = Outline::ConcaveHull {
        concavity: f64::NAN,
        length_threshold: 0.0,
    };
    assert!(matches!(
        overlap(&heat, &mask, &opts(bad)),
        Err(GeometryError::InvalidOutline(_))
    ));
}

#[test]
fn empty_mask_has_no_value() {
    let heat = HeatMap::new(3, 3, vec![1.0; 9]).unwrap();
    let empty = Mask::new(3, 3, vec![false; 9]).unwrap();
    for outline in OUTLINES {
        let o = overlap(&heat, &empty, &opts(outline)).unwrap();
        assert_eq!((o.intersection, o.detected, o.mask), (0.0, 9.0, 0.0));
        assert_eq!(o.distance(Coefficient::Paper), None);
        assert_eq!(o.coefficient(Coefficient::Containment), None);
        assert_eq!(o.iou(), None);
    }
}

#[test]
fn mask_with_a_hole_around_the_hot_pixels() {
    // Mask: a 9x9 frame of width 3 around a 3x3 hole; hot: the 3x3 hole itself.
    let mask = Mask::from_fn(9, 9, |x, y| !((3..6).contains(&x) && (3..6).contains(&y))).unwrap();
    let heat = HeatMap::new(
        9,
        9,
        (0..81)
            .map(|i| {
                if (3..6).contains(&(i % 9)) && (3..6).contains(&(i / 9)) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect(),
    )
    .unwrap();
    for outline in OUTLINES {
        let o = overlap(&heat, &mask, &opts(outline)).unwrap();
        // The hull of the hot block is the hole exactly: no overlap at all.
        assert_eq!(
            (o.intersection, o.detected, o.mask),
            (0.0, 9.0, 72.0),
            "{outline:?}"
        );
        assert_eq!(o.distance(Coefficient::Paper), Some(1.0));
    }
    // Hot: the hole plus one pixel of the frame on each side of it -> a 5x3 block, 6 of it in the mask.
    let heat = HeatMap::new(
        9,
        9,
        (0..81)
            .map(|i| {
                if (2..7).contains(&(i % 9)) && (3..6).contains(&(i / 9)) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect(),
    )
    .unwrap();
    for outline in OUTLINES {
        let o = overlap(&heat, &mask, &opts(outline)).unwrap();
        assert_eq!(
            (o.intersection, o.detected, o.mask),
            (6.0, 15.0, 72.0),
            "{outline:?}"
        );
    }
}

#[test]
fn batch_length_mismatch_is_an_error() {
    let heat = HeatMap::new(2, 2, vec![1.0; 4]).unwrap();
    let mask = Mask::new(2, 2, vec![true; 4]).unwrap();
    let r = overlap_batch(&[heat.clone(), heat], &[mask], &OverlapOptions::default());
    assert!(matches!(
        r,
        Err(GeometryError::BatchLengthMismatch {
            heat_maps: 2,
            masks: 1
        })
    ));
}
