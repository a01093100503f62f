//! Mask files: thresholds, formats, size checks, and the LabelMe path.
#![allow(clippy::unwrap_used)]

use ceod_core::{DataError, Mask, Preprocess};
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, RgbaImage};

#[test]
fn eight_bit_masks_are_inside_from_128() {
    let img = GrayImage::from_raw(5, 1, vec![0, 1, 127, 128, 255]).unwrap();
    assert_eq!(
        Mask::from_image(&DynamicImage::ImageLuma8(img)).data(),
        &[0, 0, 0, 1, 1]
    );
}

#[test]
fn sixteen_bit_masks_are_inside_from_32768() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m16.png");
    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_raw(5, 1, vec![0, 255, 32767, 32768, 65535]).unwrap();
    img.save(&p).unwrap();
    // 255 would be "inside" if the 16-bit value were clipped to 8 bits: it is not.
    assert_eq!(Mask::load(&p).unwrap().data(), &[0, 0, 0, 1, 1]);
    // the same pixels as the 8-bit rule after reducing to 8 bits, by >> 8 and by rounding
    for v in [32767u16, 32768, 32895, 32896] {
        let inside = u32::from(v) * 65535 >= 32768 * 65535;
        assert_eq!(v >> 8 >= 128, inside);
        assert_eq!((u32::from(v) + 128) / 257 >= 128, inside);
    }
}

#[test]
fn rgba_masks_use_luma_and_transparency_is_outside() {
    let img = RgbaImage::from_raw(
        4,
        1,
        vec![
            255, 255, 255, 255, 255, 255, 255, 0, 255, 255, 255, 100, 0, 255, 0, 255,
        ],
    )
    .unwrap();
    // white opaque in; white transparent out; white at alpha 100/255 < 0.5 out;
    // green opaque: luma 0.587 in
    let m = Mask::from_image(&DynamicImage::ImageRgba8(img));
    assert_eq!(m.data(), &[1, 0, 0, 1]);
}

#[test]
fn nearest_resize_by_hand() {
    let m = Mask::new(4, 1, vec![0, 1, 1, 0]).unwrap();
    // down: output i takes floor((i + .5) * 2) = 1, 3
    assert_eq!(m.resize_nearest(2, 1).data(), &[1, 0]);
    // up: output i takes floor((i + .5) * 2 / 5) = 0, 0, 1, 1, 1
    let m = Mask::new(2, 1, vec![1, 0]).unwrap();
    assert_eq!(m.resize_nearest(5, 1).data(), &[1, 1, 0, 0, 0]);
    assert_eq!(m.resize_nearest(2, 3).data(), &[1, 0, 1, 0, 1, 0]);
    assert!(Mask::new(2, 2, vec![1]).is_err());
    assert_eq!(Mask::new(2, 1, vec![7, 0]).unwrap().data(), &[1, 0]);
}

#[test]
fn a_mask_of_another_size_names_both_files_and_sizes() {
    let d = tempfile::tempdir().unwrap();
    let (ip, mp) = (d.path().join("img.png"), d.path().join("img_mask.png"));
    GrayImage::new(5, 4).save(&ip).unwrap();
    GrayImage::new(4, 4).save(&mp).unwrap();
    let e = Preprocess::default()
        .load_with_mask(&ip, Some(&mp))
        .unwrap_err();
    assert!(
        matches!(
            e,
            DataError::MaskSize {
                image_size: (5, 4),
                mask_size: (4, 4),
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    for needle in [
        ip.display().to_string(),
        mp.display().to_string(),
        "5x4".into(),
        "4x4".into(),
    ] {
        assert!(msg.contains(&needle), "`{msg}` lacks `{needle}`");
    }
    // a missing mask names the mask
    let gone = d.path().join("gone.png");
    let e = Preprocess::default()
        .load_with_mask(&ip, Some(&gone))
        .unwrap_err();
    assert!(
        matches!(e, DataError::Missing { .. }) && e.to_string().contains("gone.png"),
        "{e}"
    );
}

#[test]
fn image_and_mask_load_together() {
    let d = tempfile::tempdir().unwrap();
    let (ip, mp) = (d.path().join("a.png"), d.path().join("a_mask.png"));
    GrayImage::from_pixel(8, 8, Luma([200])).save(&ip).unwrap();
    let mut mask = GrayImage::new(8, 8);
    for y in 0..4 {
        for x in 0..8 {
            mask.put_pixel(x, y, Luma([255]));
        }
    }
    mask.save(&mp).unwrap();
    let pre = Preprocess {
        width: 4,
        height: 4,
        ..Preprocess::default()
    };
    let (img, m) = pre.load_with_mask(&ip, Some(&mp)).unwrap();
    assert_eq!(img.data.len(), 16);
    assert_eq!(m.unwrap().data, [[1u8; 8], [0u8; 8]].concat());
}

#[cfg(not(feature = "overlap"))]
#[test]
fn labelme_without_the_overlap_feature_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.json");
    std::fs::write(&p, r#"{"shapes": [], "imageWidth": 4, "imageHeight": 4}"#).unwrap();
    let e = Mask::load(&p).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("a.json") && msg.contains("overlap"), "{msg}");
}

#[cfg(feature = "overlap")]
#[test]
fn labelme_polygons_are_rasterised_by_pixel_centres() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.json");
    // A rectangle [1, 3) x [0, 2) and a triangle (5,0) (8.2,0) (5,3.2); no pixel centre lies
    // on an edge, so a brute-force centre test gives the expected mask.
    let json = r#"{"shapes": [
        {"label": "a", "shape_type": "rectangle", "points": [[1, 0], [3, 2]]},
        {"label": "b", "shape_type": "polygon", "points": [[5, 0], [8.2, 0], [5, 3.2]]}
      ], "imageWidth": 10, "imageHeight": 4}"#;
    std::fs::write(&p, json).unwrap();
    let m = Mask::load(&p).unwrap();
    assert_eq!(m.size(), (10, 4));
    // brute force: centre inside rectangle or strictly inside the triangle x>5, y>0, x+y<8.2
    let mut want = [0u8; 40];
    for y in 0..4 {
        for x in 0..10 {
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            let rect = (1.0..3.0).contains(&cx) && (0.0..2.0).contains(&cy);
            let tri = cx > 5.0 && cy > 0.0 && cx + cy < 8.2;
            want[y * 10 + x] = u8::from(rect || tri);
        }
    }
    assert_eq!(m.data(), &want[..]);
    // checked against the image size like a PNG mask
    let e = Mask::load_for_image(&p, d.path().join("img.png"), (12, 4)).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::MaskSize {
                mask_size: (10, 4),
                ..
            }
        ),
        "{e:?}"
    );
    // without a size in the document, the image's size is used
    let q = d.path().join("b.json");
    std::fs::write(
        &q,
        r#"{"shapes": [{"label": "a", "shape_type": "rectangle", "points": [[0, 0], [2, 1]]}]}"#,
    )
    .unwrap();
    let m = Mask::load_for_image(&q, d.path().join("img.png"), (3, 2)).unwrap();
    assert_eq!(m.data(), &[1, 1, 0, 0, 0, 0]);
    assert!(Mask::load(&q).is_err());
    // a broken document names the file
    std::fs::write(&q, "{ not json").unwrap();
    assert!(Mask::load(&q).unwrap_err().to_string().contains("b.json"));
}
