//! LabelMe annotations and the rasterizer, against areas and pixel counts worked out by hand.

#![allow(clippy::unwrap_used)]

use ceod_geometry::{
    AreaOfInterest, GeometryError, HeatMap, LabelMeOptions, Mask, Outline, OverlapOptions,
    Threshold, overlap_with_area, parse_labelme, parse_labelme_with_options, rasterize,
};
use geo::{Area, MultiPolygon, polygon};

fn file(shapes: &str) -> String {
    format!(
        r#"{{"version": "5.4.1", "flags": {{}}, "shapes": [{shapes}], "imagePath": "a.png", "imageData": null, "imageHeight": 8, "imageWidth": 12}}"#
    )
}

#[test]
fn polygons_and_rectangles_form_the_area_of_interest() {
    let json = file(
        r#"{"label": "a", "points": [[1, 1], [5, 1], [5, 4], [1, 4]], "group_id": null, "shape_type": "polygon", "flags": {}},
           {"label": "b", "points": [[9, 7], [7, 2]], "shape_type": "rectangle"},
           {"label": "c", "points": [[4, 3], [8, 3], [8, 5], [4, 5]]}"#,
    );
    let aoi = parse_labelme(&json).unwrap();
    assert_eq!((aoi.width(), aoi.height()), (12, 8));
    // a: 4x3 = 12; b: x 7..9, y 2..7 = 10; c: 4x2 = 8; a∩c: x 4..5, y 3..4 = 1; b∩c: x 7..8, y 3..5 = 2
    assert!((aoi.area() - (12.0 + 10.0 + 8.0 - 1.0 - 2.0)).abs() < 1e-9);
    // integer corners: the raster has exactly the area's pixels
    assert_eq!(aoi.to_mask().unwrap().count(), 27);
    // only label "b"
    let only_b = parse_labelme_with_options(
        &json,
        &LabelMeOptions {
            labels: Some(vec!["b".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    assert!((only_b.area() - 10.0).abs() < 1e-9);
}

#[test]
fn shapes_beyond_the_image_are_clipped() {
    let json = file(
        r#"{"label": "edge", "points": [[-2, -2], [4, -2], [4, 3], [-2, 3]], "shape_type": "polygon"}"#,
    );
    let aoi = parse_labelme(&json).unwrap();
    assert!((aoi.area() - 12.0).abs() < 1e-9); // [0, 4] x [0, 3]
}

#[test]
fn errors_name_the_shape() {
    let two_points = file(
        r#"{"label": "ok", "points": [[0,0],[2,0],[0,2]]}, {"label": "thin", "points": [[0, 0], [3, 3], [0, 0]], "shape_type": "polygon"}"#,
    );
    match parse_labelme(&two_points) {
        Err(GeometryError::InvalidShape {
            index: 1,
            label,
            problem,
        }) => {
            assert_eq!(label, "thin");
            assert!(problem.contains("fewer than 3"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    let line =
        file(r#"{"label": "line", "points": [[0, 0], [1, 1], [2, 2]], "shape_type": "polygon"}"#);
    assert!(matches!(
        parse_labelme(&line),
        Err(GeometryError::InvalidShape { index: 0, .. })
    ));
    let flat_rect =
        file(r#"{"label": "r", "points": [[1, 1], [5, 1]], "shape_type": "rectangle"}"#);
    assert!(matches!(
        parse_labelme(&flat_rect),
        Err(GeometryError::InvalidShape { index: 0, .. })
    ));
    let three_corner_rect =
        file(r#"{"label": "r", "points": [[1, 1], [5, 1], [5, 5]], "shape_type": "rectangle"}"#);
    assert!(matches!(
        parse_labelme(&three_corner_rect),
        Err(GeometryError::InvalidShape { index: 0, .. })
    ));
    let circle = file(r#"{"label": "round", "points": [[4, 4], [6, 4]], "shape_type": "circle"}"#);
    match parse_labelme(&circle) {
        Err(GeometryError::UnsupportedShape {
            index: 0,
            label,
            shape_type,
        }) => {
            assert_eq!((label.as_str(), shape_type.as_str()), ("round", "circle"));
        }
        other => panic!("{other:?}"),
    }
    let skipped = parse_labelme_with_options(
        &circle,
        &LabelMeOptions {
            skip_unsupported: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(skipped.is_empty());
    assert!(matches!(
        parse_labelme("{not json"),
        Err(GeometryError::LabelMe(_))
    ));
    assert!(matches!(
        parse_labelme(r#"{"shapes": []}"#),
        Err(GeometryError::LabelMe(_))
    ));
    let sized = parse_labelme_with_options(
        r#"{"shapes": []}"#,
        &LabelMeOptions {
            image_size: Some((3, 2)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((sized.width(), sized.height(), sized.area()), (3, 2, 0.0));
}

#[test]
fn bowtie_annotation_is_repaired_and_used() {
    let json = file(
        r#"{"label": "bow", "points": [[0, 0], [8, 6], [8, 0], [0, 6]], "shape_type": "polygon"}"#,
    );
    let aoi = parse_labelme(&json).unwrap();
    assert_eq!(aoi.polygons().0.len(), 2);
    assert!((aoi.area() - 24.0).abs() < 1e-9);
    // A heat map hot on the top-left 4x3 quarter: its hull meets the top triangle (0,0)-(8,0)-(4,3)
    // in the triangle (0,0)-(4,0)-(4,3) of area 6.
    let heat = HeatMap::new(
        12,
        8,
        (0..96)
            .map(|i| if i % 12 < 4 && i / 12 < 3 { 1.0 } else { 0.0 })
            .collect(),
    )
    .unwrap();
    let opts = OverlapOptions {
        threshold: Threshold::Absolute(0.5),
        outline: Outline::PixelOutline,
        ..Default::default()
    };
    let o = overlap_with_area(&heat, &aoi, &opts).unwrap();
    assert!((o.intersection - 6.0).abs() < 1e-9, "{}", o.intersection);
    assert_eq!((o.detected, o.mask), (12.0, aoi.area()));
}

#[test]
fn rasterizer_uses_pixel_centres() {
    // A rectangle with half-pixel corners: [0.5, 2.5] x [0.5, 1.5] holds the centres (0.5|1.5|2.5, 0.5|1.5)
    // that are >= the left/top edge and < the right/bottom edge: x centres 0.5, 1.5 (2.5 is on the
    // right edge: out), y centre 0.5 (1.5 on the bottom edge: out) -> pixels (0,0) and (1,0).
    let r = polygon![(x: 0.5, y: 0.5), (x: 2.5, y: 0.5), (x: 2.5, y: 1.5), (x: 0.5, y: 1.5)];
    let m = rasterize(&MultiPolygon::new(vec![r]), 4, 3).unwrap();
    assert_eq!(m, Mask::from_fn(4, 3, |x, y| y == 0 && x < 2).unwrap());
    // A square with a square hole: 6x6 minus 2x2
    let holed = polygon![
        exterior: [(x: 1.0, y: 1.0), (x: 7.0, y: 1.0), (x: 7.0, y: 7.0), (x: 1.0, y: 7.0)],
        interiors: [[(x: 3.0, y: 3.0), (x: 5.0, y: 3.0), (x: 5.0, y: 5.0), (x: 3.0, y: 5.0)]],
    ];
    let m = rasterize(&MultiPolygon::new(vec![holed.clone()]), 8, 8).unwrap();
    assert_eq!(m.count(), 32);
    assert_eq!(m.count() as f64, holed.unsigned_area());
    assert!(!m.get(3, 3) && m.get(2, 3) && !m.get(0, 0));
    // Round trip: mask -> exact outline -> raster is the identity.
    let mask = Mask::from_fn(9, 7, |x, y| (x * 3 + y * 5) % 7 < 3).unwrap();
    let aoi = AreaOfInterest::from_mask(&mask);
    assert_eq!(rasterize(aoi.polygons(), 9, 7).unwrap(), mask);
    // A triangle: centres strictly below the diagonal x + y = 4 of (0,0)-(4,0)-(0,4): x + y <= 2
    let t = polygon![(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 0.0, y: 4.0)];
    let m = rasterize(&MultiPolygon::new(vec![t]), 5, 5).unwrap();
    assert_eq!(m, Mask::from_fn(5, 5, |x, y| x + y <= 2).unwrap());
}
