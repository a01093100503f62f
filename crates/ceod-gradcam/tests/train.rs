//! Train mode: the map is differentiable with respect to the features (weights held constant)
//! and, on the analytic path, with respect to the head.
#![allow(clippy::unwrap_used)]

mod support;

use candle_core::{DType, Device, Tensor, Var};
use ceod_gradcam::{
    CamMethod, CamOptions, GradientSource, NormaliseOptions, Target, cam_to_image,
    explain_features, feature_gradients, train_cam,
};
use support::toy::{GapModel, MlpModel};
use support::{SplitMix64, assert_close, values};

#[test]
fn backward_path_holds_alpha_constant_and_reaches_the_features() {
    let (b, k, h, w) = (2, 3, 4, 5);
    let model = MlpModel::seeded(1, 1, (k, h, w), 6, 2, DType::F64);
    let mut rng = SplitMix64(2);
    let a = Var::from_tensor(
        &rng.tensor(&[b, k, h, w], 1.0, DType::F64, &Device::Cpu)
            .unwrap(),
    )
    .unwrap();
    let c = rng
        .tensor(&[b, h, w], 1.0, DType::F64, &Device::Cpu)
        .unwrap();
    let target = Target::Classes(vec![1, 0]);
    let t = train_cam(&model, a.as_tensor(), &target, &CamOptions::default()).unwrap();
    let grads = t
        .raw
        .mul(&c)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let got = values(grads.get(a.as_tensor()).unwrap());

    // By hand: raw = ReLU(sum_k alpha_k A_k) with alpha constant, so
    // dL/dA_kij = c_ij · alpha_k · [sum_k alpha_k A_k > 0].
    let alpha = values(
        &feature_gradients(&model, a.as_tensor(), &target)
            .unwrap()
            .gradients
            .flatten_from(2)
            .unwrap()
            .mean(2)
            .unwrap(),
    );
    assert_close(
        "alpha",
        t.alpha.as_ref().unwrap(),
        &Tensor::from_vec(alpha.clone(), (b, k), &Device::Cpu).unwrap(),
        1e-14,
    );
    let av = values(a.as_tensor());
    let cv = values(&c);
    let mut active = 0;
    for s in 0..b {
        for p in 0..h * w {
            let pre: f64 = (0..k)
                .map(|ch| alpha[s * k + ch] * av[(s * k + ch) * h * w + p])
                .sum();
            active += usize::from(pre > 0.0);
            for ch in 0..k {
                let want = if pre > 0.0 {
                    cv[s * h * w + p] * alpha[s * k + ch]
                } else {
                    0.0
                };
                let i = (s * k + ch) * h * w + p;
                assert!(
                    (got[i] - want).abs() < 1e-14,
                    "element {i}: {} vs {want}",
                    got[i]
                );
            }
        }
    }
    assert!(
        active > 0 && active < b * h * w,
        "test case must cover both ReLU branches"
    );
    // The same values as explain mode.
    let e = explain_features(
        &model,
        a.as_tensor(),
        &target,
        (h, w),
        &CamOptions::default(),
    )
    .unwrap();
    assert_close("train raw = explain raw", &t.raw, &e.raw, 0.0);
}

/// The soft-term-like loss of the analytic map: L = sum(c ⊙ normalise(upsample(raw))).
fn analytic_loss(model: &GapModel, a: &Tensor, c: &Tensor, method: CamMethod) -> Tensor {
    let o = CamOptions {
        method,
        gradients: GradientSource::Analytic,
        ..Default::default()
    };
    let t = train_cam(model, a, &Target::Class(1), &o).unwrap();
    cam_to_image(&t.raw, (8, 10), &NormaliseOptions::default())
        .unwrap()
        .mul(c)
        .unwrap()
        .sum_all()
        .unwrap()
}

#[test]
fn analytic_path_is_differentiable_in_features_and_head() {
    // alpha = W[target] / (h·w) does not depend on A, so the whole map is a function of (A, W) and
    // its backward must equal central differences in both.
    let (b, k, h, w) = (2, 3, 4, 5);
    let mut rng = SplitMix64(3);
    let mut model = GapModel::seeded(4, 1, k, 2, DType::F64);
    let wv = Var::from_tensor(&model.weight).unwrap();
    model.weight = wv.as_tensor().clone();
    let a = Var::from_tensor(
        &rng.tensor(&[b, k, h, w], 1.0, DType::F64, &Device::Cpu)
            .unwrap()
            .abs()
            .unwrap(),
    )
    .unwrap();
    let c = rng
        .tensor(&[b, 8, 10], 1.0, DType::F64, &Device::Cpu)
        .unwrap();
    let grads = analytic_loss(&model, a.as_tensor(), &c, CamMethod::GradCam)
        .backward()
        .unwrap();
    for (what, var, dims) in [
        ("features", &a, vec![b, k, h, w]),
        ("head weight", &wv, vec![2, k]),
    ] {
        let got = values(grads.get(var.as_tensor()).unwrap());
        let base = values(var.as_tensor());
        let mut nonzero = 0;
        for i in 0..base.len() {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let t = Tensor::from_vec(v, dims.as_slice(), &Device::Cpu).unwrap();
                let (m, x) = if what == "features" {
                    (model.clone(), t)
                } else {
                    (
                        GapModel {
                            weight: t,
                            ..model.clone()
                        },
                        a.as_tensor().clone(),
                    )
                };
                values(&analytic_loss(&m, &x, &c, CamMethod::GradCam))[0]
            };
            let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
            nonzero += usize::from(fd.abs() > 1e-6);
            assert!(
                (fd - got[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{what} {i}: {} vs {fd}",
                got[i]
            );
        }
        assert!(nonzero > 0, "{what}: the loss must depend on it");
    }
}

#[test]
fn every_method_in_train_mode_gives_explain_values_and_a_gradient() {
    let model = GapModel::seeded(5, 1, 3, 2, DType::F64);
    let a = Var::from_tensor(
        &SplitMix64(6)
            .tensor(&[2, 3, 4, 4], 1.0, DType::F64, &Device::Cpu)
            .unwrap()
            .abs()
            .unwrap(),
    )
    .unwrap();
    for method in [
        CamMethod::GradCam,
        CamMethod::GradCamPlusPlus,
        CamMethod::XGradCam,
        CamMethod::HiResCam,
        CamMethod::LayerCam,
        CamMethod::Cam,
    ] {
        for gradients in [GradientSource::Auto, GradientSource::Backward] {
            let o = CamOptions {
                method,
                gradients,
                ..Default::default()
            };
            let t = train_cam(&model, a.as_tensor(), &Target::Predicted, &o).unwrap();
            let e =
                explain_features(&model, a.as_tensor(), &Target::Predicted, (4, 4), &o).unwrap();
            assert_close(&format!("{method}"), &t.raw, &e.raw, 1e-13);
            let g = t.raw.sum_all().unwrap().backward().unwrap();
            assert!(
                g.get(a.as_tensor()).is_some(),
                "{method}: no gradient reaches the features"
            );
        }
    }
}
