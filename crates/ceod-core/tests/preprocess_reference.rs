//! Resizing compared with Pillow (`Image.resize(BILINEAR)` on a float image) and PyTorch
//! (`interpolate(bilinear, align_corners=False, antialias=True)`), and masks with PyTorch's
//! `nearest-exact`: the values in
//! `preprocess_reference.json` were written by `preprocess_reference.py` with Pillow 13 and
//! torch 2.15.
#![allow(clippy::unwrap_used)]

use ceod_core::{Mask, Preprocess};
use image::{DynamicImage, ImageBuffer, Rgb};

/// The formula image of `preprocess_reference.py`.
fn source(w: usize, h: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            v.push(((x * 7 + y * 13 + (x * y) % 5) % 17) as f32 / 16.0);
        }
    }
    v
}

#[test]
fn resize_matches_pillow_and_torch_antialiased_bilinear() {
    let text = include_str!("preprocess_reference.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let dims = |k: &str| {
            let a = case[k].as_array().unwrap();
            (a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32)
        };
        let ((sw, sh), (dw, dh)) = (dims("src"), dims("dst"));
        // a float image (no quantisation), as RGB with equal channels: grey is then exact
        let src = source(sw as usize, sh as usize);
        let raw: Vec<f32> = src.iter().flat_map(|&v| [v, v, v]).collect();
        let img =
            DynamicImage::ImageRgb32F(ImageBuffer::<Rgb<f32>, _>::from_raw(sw, sh, raw).unwrap());
        let pre = Preprocess {
            width: dw,
            height: dh,
            channels: 3,
            ..Preprocess::default()
        };
        let x = pre.apply(&img).unwrap();
        let plane = &x.data[..(dw * dh) as usize];
        // masks: nearest neighbour with half-pixel centres is torch's `nearest-exact`
        let bits: Vec<u8> = src.iter().map(|&v| u8::from(v >= 0.5)).collect();
        let mask = pre.prepare_mask(&Mask::new(sw, sh, bits).unwrap()).unwrap();
        let want: Vec<u8> = case["nearest"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(mask.data, want, "{sw}x{sh} -> {dw}x{dh} nearest");
        for lib in ["pil", "torch"] {
            let want: Vec<f32> = case[lib]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(want.len(), plane.len());
            let worst = plane
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst < 2e-6,
                "{sw}x{sh} -> {dw}x{dh} vs {lib}: max |diff| {worst}"
            );
        }
    }
}
