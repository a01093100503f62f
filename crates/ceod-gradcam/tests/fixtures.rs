//! Against the independent PyTorch reference (`../shared/fixtures`, made by
//! `../shared/bench-ref/ceod_ref.py`): logits, alpha, raw and normalised CAMs to 1e-4 relative.
//! Skipped, with a message, when the fixtures folder is absent.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use ceod_gradcam::{
    CamModel, CamOptions, GradientSource, NormaliseOptions, Target, cam_to_image, explain,
    train_cam,
};
use support::ceodnet::CeodNetS;
use support::{assert_close, fixtures_dir, max_abs_diff};

const CASES: [(&str, &str); 3] = [
    ("weights.safetensors", "oracle_out.safetensors"),
    ("weights_bce20.safetensors", "oracle_out_bce20.safetensors"),
    ("weights_bce40.safetensors", "oracle_out_bce40.safetensors"),
];

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

#[test]
fn explain_matches_the_pytorch_reference() {
    let Some(dir) = fixtures_dir() else { return };
    let images = load(&dir.join("batch.safetensors"))["images"].clone();
    for (weights, oracle) in CASES {
        let model = CeodNetS::load(&dir.join(weights), &Device::Cpu).unwrap();
        let want = load(&dir.join(oracle));
        let features = model.features(&images).unwrap();
        assert_close(
            &format!("{weights} features"),
            &features,
            &want["features"],
            1e-4,
        );

        let e = explain(&model, &images, &Target::Binary, &CamOptions::default()).unwrap();
        assert_eq!(e.cam.dims(), &[32, 128, 128]);
        assert_close(
            &format!("{weights} logits"),
            &e.logits.squeeze(1).unwrap(),
            &want["logits"],
            1e-4,
        );
        assert_close(
            &format!("{weights} alpha"),
            e.alpha.as_ref().unwrap(),
            &want["alpha"],
            1e-4,
        );
        assert_close(
            &format!("{weights} cam_raw"),
            &e.raw,
            &want["cam_raw"],
            1e-4,
        );
        assert_close(&format!("{weights} cam"), &e.cam, &want["cam"], 1e-4);
    }
}

#[test]
fn channels_last_forward_of_the_support_model_matches_the_reference() {
    // The bench's faster ceodnet-s forward must compute the same features.
    let Some(dir) = fixtures_dir() else { return };
    let images = load(&dir.join("batch.safetensors"))["images"].clone();
    let (weights, oracle) = CASES[1];
    let want = load(&dir.join(oracle));
    for forward in [
        support::ceodnet::Forward::ChannelsLast,
        support::ceodnet::Forward::Cnhw,
    ] {
        let mut model = CeodNetS::load(&dir.join(weights), &Device::Cpu).unwrap();
        model.forward = forward;
        let features = model.features(&images).unwrap();
        assert_close(
            &format!("{forward:?} features"),
            &features,
            &want["features"],
            1e-4,
        );
        let e = explain(&model, &images, &Target::Binary, &CamOptions::default()).unwrap();
        assert_close(&format!("{forward:?} cam"), &e.cam, &want["cam"], 1e-4);
    }
}

#[test]
fn backward_path_matches_the_reference_alpha() {
    // The reference obtains alpha with autograd; so does the backward path (no linear head used).
    let Some(dir) = fixtures_dir() else { return };
    let (weights, oracle) = CASES[1];
    let mut model = CeodNetS::load(&dir.join(weights), &Device::Cpu).unwrap();
    model.expose_linear_head = false;
    let want = load(&dir.join(oracle));
    let o = CamOptions {
        gradients: GradientSource::Backward,
        ..Default::default()
    };
    let e =
        ceod_gradcam::explain_features(&model, &want["features"], &Target::Binary, (128, 128), &o)
            .unwrap();
    assert_close("alpha", e.alpha.as_ref().unwrap(), &want["alpha"], 1e-4);
    assert_close("cam", &e.cam, &want["cam"], 1e-4);
}

#[test]
fn post_processing_of_the_reference_raw_cam_reproduces_its_normalised_cam() {
    // PyTorch's F.interpolate(bilinear, align_corners=False) and amax normalisation against
    // U_h · cam · U_wᵀ and normalise, on the reference's own raw maps.
    let Some(dir) = fixtures_dir() else { return };
    for (_, oracle) in CASES {
        let want = load(&dir.join(oracle));
        let got = cam_to_image(&want["cam_raw"], (128, 128), &NormaliseOptions::default()).unwrap();
        let d = max_abs_diff(&got, &want["cam"]);
        assert!(d < 1e-5, "{oracle}: max |Δ| = {d:e}");
    }
}

#[test]
fn train_mode_on_reference_features_matches_and_reaches_them() {
    let Some(dir) = fixtures_dir() else { return };
    let (weights, oracle) = CASES[1];
    let model = CeodNetS::load(&dir.join(weights), &Device::Cpu).unwrap();
    let want = load(&dir.join(oracle));
    let a = Var::from_tensor(&want["features"]).unwrap();
    let t = train_cam(
        &model,
        a.as_tensor(),
        &Target::Binary,
        &CamOptions::default(),
    )
    .unwrap();
    assert_close("raw", &t.raw, &want["cam_raw"], 1e-4);
    let cam = cam_to_image(&t.raw, (128, 128), &NormaliseOptions::default()).unwrap();
    assert_close("cam", &cam, &want["cam"], 1e-4);
    let g = cam.sum_all().unwrap().backward().unwrap();
    let ga = g.get(a.as_tensor()).unwrap();
    assert_eq!(ga.dtype(), DType::F32);
    assert!(support::values(ga).iter().any(|v| v.abs() > 0.0));
}
