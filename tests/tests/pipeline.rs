//! Cross-crate scenario: a ceod-core model, its Grad-CAM from ceod-gradcam, and the exact overlap
//! term that ceod-core computes through ceod-geometry, checked against plain pixel counting.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Tensor};
use ceod_core::synth::{SynthConfig, generate};
use ceod_core::{
    CeodNet, CeodOptions, Coefficient, ModelConfig, RegionKind, exact_overlap_distance,
};
use ceod_gradcam::{CamOptions, Target, explain};

/// With the exact pixel outline as `A_d` and the containment coefficient, the overlap distance is
/// `1 - #(hot pixels inside the mask) / #(hot pixels)`: countable without any polygon.
#[test]
fn exact_term_on_a_gradcam_map_equals_pixel_counting_on_non_square_images() {
    let (w, h) = (80usize, 64usize);
    let cfg = SynthConfig {
        width: w as u32,
        height: h as u32,
        n: 6,
        seed: 7,
        ..SynthConfig::default()
    };
    let samples = generate(&cfg).unwrap();
    let dev = Device::Cpu;
    let (net, _vars) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 3, DType::F32, &dev).unwrap();

    let mut pixels = Vec::new();
    let mut masks = Vec::new();
    for s in &samples {
        pixels.extend_from_slice(&s.image);
        masks.extend(s.mask.iter().map(|&m| f32::from(m)));
    }
    let b = samples.len();
    let xs = Tensor::from_vec(pixels, (b, 1, h, w), &dev).unwrap();
    let masks_t = Tensor::from_vec(masks.clone(), (b, h, w), &dev).unwrap();

    let explanation = explain(&net, &xs, &Target::Binary, &CamOptions::default()).unwrap();
    assert_eq!(
        explanation.cam.dims(),
        &[b, h, w],
        "a 64-row × 80-column map"
    );

    let options = CeodOptions {
        coefficient: Coefficient::Containment,
        region: RegionKind::PixelOutline,
        ..CeodOptions::default()
    };
    let distances = exact_overlap_distance(&explanation.cam, &masks_t, &options).unwrap();

    let cam = explanation
        .cam
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let threshold = options.threshold as f32;
    let mut some_partial = false;
    assert_eq!(distances.len(), b);
    for (i, distance) in distances.iter().enumerate() {
        let range = i * h * w..(i + 1) * h * w;
        let hot: Vec<bool> = cam[range.clone()].iter().map(|&v| v >= threshold).collect();
        let n_hot = hot.iter().filter(|&&x| x).count();
        let n_inside = hot
            .iter()
            .zip(&masks[range])
            .filter(|&(&hot, &m)| hot && m > 0.5)
            .count();
        let expected = if n_hot == 0 {
            1.0
        } else {
            1.0 - n_inside as f64 / n_hot as f64
        };
        let got = distance.expect("every synthetic sample has a non-empty mask");
        assert!(
            (got - expected).abs() < 1e-9,
            "sample {i}: exact distance {got}, pixel counting {expected} ({n_inside}/{n_hot})"
        );
        some_partial |= expected > 0.0 && expected < 1.0;
    }
    assert!(
        some_partial,
        "the scenario should include a heat map that is partly inside the product"
    );
}
