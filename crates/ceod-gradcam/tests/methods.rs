//! The CAM methods: Grad-CAM equals CAM for a GAP + linear head, each method against a direct
//! scalar implementation of its formula, the analytic path against the backward path, batches.
#![allow(clippy::unwrap_used)]

mod support;

use candle_core::{DType, Device, IndexOp, Tensor};
use ceod_gradcam::{
    CamError, CamMethod, CamModel, CamOptions, GRAD_CAM_PLUS_PLUS_EPS, GradientSource, Target,
    XGRAD_CAM_EPS, explain, explain_features, feature_gradients,
};
use support::toy::{GapModel, MlpModel};
use support::{SplitMix64, assert_close, values};

const ALL: [CamMethod; 6] = [
    CamMethod::GradCam,
    CamMethod::GradCamPlusPlus,
    CamMethod::XGradCam,
    CamMethod::HiResCam,
    CamMethod::LayerCam,
    CamMethod::Cam,
];
const GRADIENT_METHODS: [CamMethod; 5] = [
    CamMethod::GradCam,
    CamMethod::GradCamPlusPlus,
    CamMethod::XGradCam,
    CamMethod::HiResCam,
    CamMethod::LayerCam,
];

fn opts(method: CamMethod, gradients: GradientSource) -> CamOptions {
    CamOptions {
        method,
        gradients,
        ..Default::default()
    }
}

/// Non-negative features, as after a ReLU.
fn relu_features(seed: u64, dims: &[usize]) -> Tensor {
    SplitMix64(seed)
        .tensor(dims, 1.0, DType::F64, &Device::Cpu)
        .unwrap()
        .relu()
        .unwrap()
}

/// The raw map of one method written out with loops over plain numbers (B × h × w, flattened).
fn scalar_cam(
    method: CamMethod,
    a: &[f64],
    g: &[f64],
    (b, k, h, w): (usize, usize, usize, usize),
) -> Vec<f64> {
    let hw = h * w;
    let idx = |s: usize, c: usize, p: usize| (s * k + c) * hw + p;
    let mut out = vec![0.0; b * hw];
    for s in 0..b {
        for c in 0..k {
            let sum_a: f64 = (0..hw).map(|p| a[idx(s, c, p)]).sum();
            let channel_weight = match method {
                CamMethod::GradCam => {
                    Some((0..hw).map(|p| g[idx(s, c, p)]).sum::<f64>() / hw as f64)
                }
                CamMethod::GradCamPlusPlus => Some(
                    (0..hw)
                        .map(|p| {
                            let gv = g[idx(s, c, p)];
                            let aij = gv * gv
                                / (2.0 * gv * gv + sum_a * gv * gv * gv + GRAD_CAM_PLUS_PLUS_EPS);
                            gv.max(0.0) * aij
                        })
                        .sum(),
                ),
                CamMethod::XGradCam => Some(
                    (0..hw)
                        .map(|p| g[idx(s, c, p)] * a[idx(s, c, p)])
                        .sum::<f64>()
                        / (sum_a + XGRAD_CAM_EPS),
                ),
                _ => None,
            };
            for p in 0..hw {
                let weight = match method {
                    CamMethod::HiResCam => g[idx(s, c, p)],
                    CamMethod::LayerCam => g[idx(s, c, p)].max(0.0),
                    _ => channel_weight.unwrap(),
                };
                out[s * hw + p] += weight * a[idx(s, c, p)];
            }
        }
    }
    out.iter().map(|v| v.max(0.0)).collect()
}

#[test]
fn grad_cam_equals_cam_for_a_gap_linear_head() {
    let model = GapModel::seeded(31, 1, 6, 3, DType::F64);
    let a = relu_features(32, &[4, 6, 5, 7]);
    for target in [
        Target::Class(2),
        Target::Classes(vec![0, 1, 2, 1]),
        Target::Predicted,
    ] {
        let backward = explain_features(
            &model,
            &a,
            &target,
            (20, 28),
            &opts(CamMethod::GradCam, GradientSource::Backward),
        )
        .unwrap();
        let cam = explain_features(
            &model,
            &a,
            &target,
            (20, 28),
            &opts(CamMethod::Cam, GradientSource::Auto),
        )
        .unwrap();
        assert_eq!(backward.targets, cam.targets);
        assert_close(
            "alpha",
            backward.alpha.as_ref().unwrap(),
            cam.alpha.as_ref().unwrap(),
            1e-14,
        );
        assert_close("raw", &backward.raw, &cam.raw, 1e-13);
        assert_close("cam", &backward.cam, &cam.cam, 1e-12);
        assert!(values(&cam.raw).iter().any(|&v| v > 0.0));
    }
}

#[test]
fn every_method_matches_its_scalar_formula_on_a_nonlinear_head() {
    let dims = (2, 3, 4, 5);
    let model = MlpModel::seeded(41, 1, (3, 4, 5), 6, 3, DType::F64);
    let a = relu_features(42, &[2, 3, 4, 5]);
    let target = Target::Classes(vec![1, 2]);
    let g = feature_gradients(&model, &a, &target).unwrap();
    let (av, gv) = (values(&a), values(&g.gradients));
    for method in GRADIENT_METHODS {
        let e = explain_features(
            &model,
            &a,
            &target,
            (8, 10),
            &CamOptions::with_method(method),
        )
        .unwrap();
        let want = scalar_cam(method, &av, &gv, dims);
        let got = values(&e.raw);
        let scale = want.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(scale > 0.0, "{method}: degenerate test case");
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-12 * scale, "{method}: {x} vs {y}");
        }
        assert_eq!(
            e.alpha.is_some(),
            !matches!(method, CamMethod::HiResCam | CamMethod::LayerCam)
        );
    }
}

#[test]
fn analytic_path_equals_backward_path_for_every_method() {
    let dims = (3, 4, 3, 6);
    let model = GapModel::seeded(51, 1, 4, 2, DType::F64);
    let a = relu_features(52, &[3, 4, 3, 6]);
    let target = Target::Classes(vec![1, 0, 1]);
    let g = feature_gradients(&model, &a, &target).unwrap();
    for method in GRADIENT_METHODS {
        let analytic = explain_features(
            &model,
            &a,
            &target,
            (6, 12),
            &opts(method, GradientSource::Analytic),
        )
        .unwrap();
        let backward = explain_features(
            &model,
            &a,
            &target,
            (6, 12),
            &opts(method, GradientSource::Backward),
        )
        .unwrap();
        assert_close(
            &format!("{method} raw"),
            &analytic.raw,
            &backward.raw,
            1e-12,
        );
        assert_close(
            &format!("{method} cam"),
            &analytic.cam,
            &backward.cam,
            1e-11,
        );
        let want = scalar_cam(method, &values(&a), &values(&g.gradients), dims);
        let want = Tensor::from_vec(want, (3, 3, 6), &Device::Cpu).unwrap();
        assert_close(&format!("{method} scalar"), &analytic.raw, &want, 1e-12);
    }
    // For this head HiResCAM is Grad-CAM, and XGradCAM is Grad-CAM up to sum(A)/(sum(A)+eps).
    let grad = explain_features(&model, &a, &target, (6, 12), &CamOptions::default()).unwrap();
    let hires = explain_features(
        &model,
        &a,
        &target,
        (6, 12),
        &CamOptions::with_method(CamMethod::HiResCam),
    )
    .unwrap();
    let xgrad = explain_features(
        &model,
        &a,
        &target,
        (6, 12),
        &CamOptions::with_method(CamMethod::XGradCam),
    )
    .unwrap();
    assert_close("HiResCAM = Grad-CAM", &hires.raw, &grad.raw, 1e-14);
    assert_close("XGradCAM ≈ Grad-CAM", &xgrad.raw, &grad.raw, 1e-6);
}

#[test]
fn a_batch_gives_what_single_images_give_for_every_method() {
    let model = MlpModel::seeded(61, 2, (2, 3, 4), 5, 3, DType::F64);
    let xs = relu_features(62, &[3, 2, 6, 8]);
    for method in GRADIENT_METHODS {
        let o = CamOptions::with_method(method);
        let batch = explain(&model, &xs, &Target::Predicted, &o).unwrap();
        for s in 0..3 {
            let one = explain(&model, &xs.i(s..s + 1).unwrap(), &Target::Predicted, &o).unwrap();
            assert_eq!(one.targets[0], batch.targets[s]);
            assert_close(
                &format!("{method} raw"),
                &batch.raw.i(s..s + 1).unwrap(),
                &one.raw,
                1e-13,
            );
            assert_close(
                &format!("{method} cam"),
                &batch.cam.i(s..s + 1).unwrap(),
                &one.cam,
                1e-12,
            );
            assert_close(
                "logits",
                &batch.logits.i(s..s + 1).unwrap(),
                &one.logits,
                1e-14,
            );
        }
    }
}

#[test]
fn an_all_negative_map_gives_zeros_never_nan() {
    // Positive features and a negative weight: sum_k alpha_k A_k < 0 everywhere.
    let mut model = GapModel::seeded(71, 1, 3, 1, DType::F32);
    model.weight = Tensor::new(&[[-1f32, -0.5, -2.0]], &Device::Cpu).unwrap();
    let xs = (relu_features(72, &[2, 3, 4, 4])
        .to_dtype(DType::F32)
        .unwrap()
        + 0.1)
        .unwrap();
    for method in ALL {
        for gradients in [GradientSource::Auto, GradientSource::Backward] {
            let e = explain(&model, &xs, &Target::Binary, &opts(method, gradients)).unwrap();
            assert_eq!(e.cam.dims(), &[2, 4, 4]);
            assert!(
                values(&e.raw).iter().all(|&v| v == 0.0),
                "{method}: raw not zero"
            );
            assert!(
                values(&e.cam).iter().all(|&v| v == 0.0),
                "{method}: cam not zero"
            );
        }
    }
}

#[test]
fn frozen_ceodnet_weights_give_cams_through_the_backward_path() {
    let mut model = support::ceodnet::CeodNetS::seeded(5, 1, DType::F32, &Device::Cpu).unwrap();
    assert!(!model.fc_w.is_variable() && !model.convs[0].0.is_variable());
    let xs = SplitMix64(6)
        .tensor(&[2, 1, 32, 48], 1.0, DType::F32, &Device::Cpu)
        .unwrap()
        .abs()
        .unwrap();
    let analytic = explain(&model, &xs, &Target::Binary, &CamOptions::default()).unwrap();
    model.expose_linear_head = false;
    let backward = explain(&model, &xs, &Target::Binary, &CamOptions::default()).unwrap();
    assert_eq!(backward.raw.dims(), &[2, 4, 6]);
    assert_eq!(backward.cam.dims(), &[2, 32, 48]);
    assert_close(
        "alpha",
        backward.alpha.as_ref().unwrap(),
        analytic.alpha.as_ref().unwrap(),
        1e-5,
    );
    assert_close("cam", &backward.cam, &analytic.cam, 1e-4);
    assert_close("logits", &backward.logits, &analytic.logits, 1e-6);
}

#[test]
fn cam_without_a_linear_head_is_an_error() {
    let model = MlpModel::seeded(1, 1, (2, 2, 2), 3, 2, DType::F64);
    let a = relu_features(2, &[1, 2, 2, 2]);
    for (o, method) in [
        (opts(CamMethod::Cam, GradientSource::Auto), CamMethod::Cam),
        (
            opts(CamMethod::Cam, GradientSource::Backward),
            CamMethod::Cam,
        ),
        (
            opts(CamMethod::LayerCam, GradientSource::Analytic),
            CamMethod::LayerCam,
        ),
    ] {
        match explain_features(&model, &a, &Target::Class(0), (4, 4), &o) {
            Err(CamError::NoLinearHead { method: m }) => assert_eq!(m, method),
            other => panic!("expected NoLinearHead, got {other:?}"),
        }
    }
    assert!(model.linear_head().is_none());
}
