//! Decoding and channel conversion: every value is compared with a hand calculation.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ceod_core::{DataError, Mask, Preprocess};
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba, RgbaImage};

/// No resize: the model size equals the image size, so values are the converted pixels.
fn native(w: u32, h: u32, channels: usize) -> Preprocess {
    Preprocess {
        width: w,
        height: h,
        channels,
        mean: vec![0.0],
        std: vec![1.0],
        ..Preprocess::default()
    }
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}");
    }
}

/// Writes a palette PNG with the `png` crate (the `image` crate cannot write one).
fn write_palette_png(
    path: &Path,
    w: u32,
    h: u32,
    palette: &[[u8; 3]],
    trns: Option<&[u8]>,
    idx: &[u8],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
    if let Some(t) = trns {
        enc.set_trns(t.to_vec());
    }
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(idx).unwrap();
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn grey8_scaled_by_1_over_255() {
    let img = GrayImage::from_raw(3, 1, vec![0, 51, 255]).unwrap();
    let x = native(3, 1, 1)
        .apply(&DynamicImage::ImageLuma8(img))
        .unwrap();
    close(&x.data, &[0.0, 0.2, 1.0], 1e-7);
}

#[test]
fn grey16_png_keeps_16_bit_precision() {
    // 1000 and 1100 both round to the 8-bit value 4 (1000/257 = 3.9, 1100/257 = 4.3): they
    // must stay distinct and exact, scaled by 1/65535.
    let d = tmp();
    let p = d.path().join("g16.png");
    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_raw(4, 1, vec![0, 1000, 1100, 65535]).unwrap();
    img.save(&p).unwrap();
    let x = native(4, 1, 1).load(&p).unwrap();
    close(
        &x.data,
        &[0.0, 1000.0 / 65535.0, 1100.0 / 65535.0, 1.0],
        1e-7,
    );
    assert!(x.data[2] - x.data[1] > 1e-3);
}

#[test]
fn rgb_to_grey_is_bt601_luma() {
    let img = RgbImage::from_raw(3, 1, vec![255, 0, 0, 0, 255, 0, 10, 20, 30]).unwrap();
    let x = native(3, 1, 1)
        .apply(&DynamicImage::ImageRgb8(img))
        .unwrap();
    let luma = (0.299 * 10.0 + 0.587 * 20.0 + 0.114 * 30.0) / 255.0;
    close(&x.data, &[0.299, 0.587, luma], 1e-6);
}

#[test]
fn grey_to_rgb_repeats_and_rgb_stays_planar() {
    let img = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
    let x = native(2, 1, 3)
        .apply(&DynamicImage::ImageLuma8(img))
        .unwrap();
    close(&x.data, &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], 0.0);

    let img = RgbImage::from_raw(2, 1, vec![255, 0, 51, 0, 102, 255]).unwrap();
    let x = native(2, 1, 3)
        .apply(&DynamicImage::ImageRgb8(img))
        .unwrap();
    // planes: R = [1, 0], G = [0, 0.4], B = [0.2, 1]
    close(&x.data, &[1.0, 0.0, 0.0, 0.4, 0.2, 1.0], 1e-6);
}

#[test]
fn alpha_is_composited_over_black() {
    let img = RgbaImage::from_raw(
        3,
        1,
        vec![255, 255, 255, 0, 255, 255, 255, 255, 200, 100, 50, 51],
    )
    .unwrap();
    let x = native(3, 1, 3)
        .apply(&DynamicImage::ImageRgba8(img))
        .unwrap();
    let a = 51.0 / 255.0;
    close(
        &x.data,
        &[
            0.0,
            1.0,
            200.0 / 255.0 * a, // R
            0.0,
            1.0,
            100.0 / 255.0 * a, // G
            0.0,
            1.0,
            50.0 / 255.0 * a, // B
        ],
        1e-6,
    );
    let la = ImageBuffer::<LumaA<u8>, _>::from_raw(2, 1, vec![255, 0, 255, 128]).unwrap();
    let x = native(2, 1, 1)
        .apply(&DynamicImage::ImageLumaA8(la))
        .unwrap();
    close(&x.data, &[0.0, 128.0 / 255.0], 1e-6);
}

#[test]
fn rgb16_and_rgba16_scaled_by_1_over_65535() {
    let img: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_raw(1, 1, vec![65535, 300, 0]).unwrap();
    let x = native(1, 1, 3)
        .apply(&DynamicImage::ImageRgb16(img))
        .unwrap();
    close(&x.data, &[1.0, 300.0 / 65535.0, 0.0], 1e-7);
    let img: ImageBuffer<Rgba<u16>, Vec<u16>> =
        ImageBuffer::from_raw(1, 1, vec![65535, 65535, 65535, 32768]).unwrap();
    let x = native(1, 1, 1)
        .apply(&DynamicImage::ImageRgba16(img))
        .unwrap();
    close(&x.data, &[32768.0 / 65535.0], 1e-6);
}

#[test]
fn palette_png_is_expanded_with_its_transparency() {
    let d = tmp();
    let p = d.path().join("pal.png");
    let palette = [[0, 0, 0], [255, 255, 255], [255, 0, 0]];
    // index 1 (white) is half transparent via tRNS
    write_palette_png(&p, 3, 1, &palette, Some(&[255, 128, 255]), &[0, 1, 2]);
    let x = native(3, 1, 1).load(&p).unwrap();
    close(&x.data, &[0.0, 128.0 / 255.0, 0.299], 1e-6);
    let m = Mask::load(&p).unwrap();
    assert_eq!(m.data(), &[0, 1, 0]); // 128/255 >= 0.5; red's luma 0.299 < 0.5
}

#[test]
fn jpeg_decodes_close_to_its_source() {
    let d = tmp();
    let p = d.path().join("flat.jpg");
    GrayImage::from_pixel(16, 16, Luma([100])).save(&p).unwrap();
    let x = native(16, 16, 1).load(&p).unwrap();
    for v in &x.data {
        assert!((v - 100.0 / 255.0).abs() < 3.0 / 255.0, "{v}");
    }
}

#[test]
fn format_is_guessed_from_content() {
    let d = tmp();
    let p = d.path().join("really_a_png.jpg");
    let mut bytes = std::io::Cursor::new(Vec::new());
    GrayImage::from_pixel(2, 2, Luma([255]))
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    std::fs::write(&p, bytes.into_inner()).unwrap();
    let x = native(2, 2, 1).load(&p).unwrap();
    close(&x.data, &[1.0; 4], 0.0);
}

fn message_names(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "`{msg}` does not name {}",
        path.display()
    );
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let d = tmp();
    let missing: PathBuf = d.path().join("nope.png");
    let e = Preprocess::default().load(&missing).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
    message_names(&e, &missing);
    assert!(e.to_string().contains("not found"));

    let text = d.path().join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let e = Preprocess::default().load(&text).unwrap_err();
    assert!(matches!(e, DataError::Decode { .. }), "{e:?}");
    message_names(&e, &text);

    let trunc = d.path().join("trunc.png");
    let mut bytes = std::io::Cursor::new(Vec::new());
    GrayImage::from_pixel(64, 64, Luma([7]))
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    let bytes = bytes.into_inner();
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let e = Preprocess::default().load(&trunc).unwrap_err();
    message_names(&e, &trunc);
}

#[test]
fn invalid_settings_are_rejected() {
    let img = DynamicImage::ImageLuma8(GrayImage::new(4, 4));
    let bad = [
        Preprocess {
            channels: 2,
            ..Preprocess::default()
        },
        Preprocess {
            width: 0,
            ..Preprocess::default()
        },
        Preprocess {
            std: vec![0.0],
            ..Preprocess::default()
        },
        Preprocess {
            mean: vec![0.0, 0.0],
            ..Preprocess::default()
        },
        Preprocess {
            resize: ceod_core::Resize::Letterbox { fill: f32::NAN },
            ..Preprocess::default()
        },
    ];
    for p in bad {
        assert!(matches!(p.apply(&img), Err(DataError::Config(_))), "{p:?}");
    }
}

#[test]
fn normalisation_per_channel() {
    let img = RgbImage::from_raw(1, 1, vec![255, 0, 51]).unwrap();
    let pre = Preprocess {
        mean: vec![0.5, 0.25, 0.0],
        std: vec![0.5, 0.25, 0.1],
        ..native(1, 1, 3)
    };
    let x = pre.apply(&DynamicImage::ImageRgb8(img)).unwrap();
    close(&x.data, &[1.0, -1.0, 2.0], 1e-5);
}

#[test]
fn serde_round_trip_of_the_model_card_part() {
    let pre = Preprocess {
        resize: ceod_core::Resize::Letterbox { fill: 0.25 },
        channels: 3,
        mean: vec![0.1, 0.2, 0.3],
        std: vec![1.0, 2.0, 3.0],
        ..Preprocess::default()
    };
    let json = serde_json::to_string(&pre).unwrap();
    assert!(json.contains("\"letterbox\""), "{json}");
    let back: Preprocess = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pre);
}

#[test]
fn channel_stats_by_hand() {
    // two RGB pixels per image, two images: R = 0, 1, 1, 1 → mean 0.75, std sqrt(0.1875)
    let a = RgbImage::from_raw(2, 1, vec![0, 0, 255, 255, 0, 255]).unwrap();
    let b = RgbImage::from_raw(2, 1, vec![255, 0, 255, 255, 0, 255]).unwrap();
    let pre = native(2, 1, 3);
    let xs = [
        pre.apply(&DynamicImage::ImageRgb8(a)).unwrap(),
        pre.apply(&DynamicImage::ImageRgb8(b)).unwrap(),
    ];
    let (mean, std) = ceod_core::channel_stats(&xs).unwrap();
    close(&mean, &[0.75, 0.0, 1.0], 1e-6);
    close(&std, &[0.1875f32.sqrt(), 0.0, 0.0], 1e-6);
    let grey = native(2, 1, 1)
        .apply(&DynamicImage::ImageLuma8(GrayImage::new(2, 1)))
        .unwrap();
    assert!(ceod_core::channel_stats(&[xs[0].clone(), grey]).is_err());
    assert!(ceod_core::channel_stats(&[]).is_err());
}
