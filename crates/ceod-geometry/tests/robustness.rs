//! Hostile inputs return errors or documented values, never panic.

#![allow(clippy::unwrap_used)]

use ceod_geometry::{
    AreaOfInterest, Coefficient, GeometryError, HeatMap, Mask, Outline, OverlapOptions, Threshold,
    overlap, overlap_with_area, parse_labelme,
};
use geo::{Area, LineString, MultiPolygon, Polygon};

#[test]
fn extreme_heat_values() {
    let mask = Mask::from_fn(4, 4, |x, _| x < 2).unwrap();
    for v in [f32::MAX, -f32::MAX, f32::MIN_POSITIVE, 1e-40] {
        let heat = HeatMap::new(2, 2, vec![v, 0.0, 0.0, v]).unwrap();
        for threshold in [
            Threshold::default(),
            Threshold::Quantile(0.5),
            Threshold::Otsu,
            Threshold::Absolute(0.0),
        ] {
            for outline in [
                Outline::ComponentHulls,
                Outline::ConvexHull,
                Outline::PixelOutline,
                Outline::concave(),
            ] {
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
                assert!(o.detected <= 16.0 && o.intersection <= o.detected.min(o.mask) + 1e-9);
                let c = o.coefficient(Coefficient::Containment).unwrap();
                assert!((0.0..=1.0).contains(&c));
            }
        }
    }
}

#[test]
fn extreme_annotation_coordinates() {
    for s in [1e300, 1e-300, 1e15] {
        let json = format!(
            r#"{{"shapes": [{{"label": "x", "points": [[0, 0], [{s}, 0], [{s}, {s}]], "shape_type": "polygon"}}],
                "imageWidth": 16, "imageHeight": 16}}"#
        );
        // a valid (if odd) triangle: clipped to the image, or too small to survive snapping
        match parse_labelme(&json) {
            Ok(aoi) => assert!(aoi.area() >= 0.0 && aoi.area() <= 256.0 + 1e-9),
            Err(e) => assert!(
                matches!(e, GeometryError::InvalidShape { index: 0, .. }),
                "{e}"
            ),
        }
    }
    // a coordinate too large for f64 is a JSON error, not a panic
    let json = r#"{"shapes": [{"label": "x", "points": [[0, 0], [1e400, 0], [1, 1]]}], "imageWidth": 4, "imageHeight": 4}"#;
    assert!(parse_labelme(json).is_err());
    // points with one coordinate
    let json = r#"{"shapes": [{"label": "x", "points": [[0], [1, 0], [1, 1]]}], "imageWidth": 4, "imageHeight": 4}"#;
    assert!(matches!(
        parse_labelme(json),
        Err(GeometryError::LabelMe(_))
    ));
}

#[test]
fn area_of_interest_checks_its_input() {
    let nan = Polygon::new(
        LineString::from(vec![(0.0, 0.0), (f64::NAN, 1.0), (1.0, 1.0)]),
        vec![],
    );
    assert!(matches!(
        AreaOfInterest::new(4, 4, MultiPolygon::new(vec![nan])),
        Err(GeometryError::InvalidShape { index: 0, .. })
    ));
    assert!(matches!(
        AreaOfInterest::new(0, 4, MultiPolygon::new(vec![])),
        Err(GeometryError::ZeroSize { .. })
    ));
    // two overlapping squares are united: 4 + 4 − 1
    let a = Polygon::new(
        LineString::from(vec![(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]),
        vec![],
    );
    let b = Polygon::new(
        LineString::from(vec![(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)]),
        vec![],
    );
    let aoi = AreaOfInterest::new(4, 4, MultiPolygon::new(vec![a, b])).unwrap();
    assert!((aoi.area() - 7.0).abs() < 1e-9);
    assert!((aoi.polygons().unsigned_area() - 7.0).abs() < 1e-9);
    // a heat map over a polygon area of interest is resampled to its image size
    let heat = HeatMap::new(2, 2, vec![1.0, 0.0, 0.0, 0.0]).unwrap();
    let o = overlap_with_area(
        &heat,
        &aoi,
        &OverlapOptions {
            outline: Outline::PixelOutline,
            ..Default::default()
        },
    )
    .unwrap();
    // hot: the top-left 2x2 (values 1, .75, .75, .5625): all inside square a
    assert_eq!((o.detected, o.intersection), (4.0, 4.0));
}
