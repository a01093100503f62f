//! `dy/dA` from the backward path against central finite differences of the head, and targets.
#![allow(clippy::unwrap_used)]

mod support;

use candle_core::{DType, Device, IndexOp, Tensor};
use ceod_gradcam::{CamError, CamModel, Target, feature_gradients};
use support::toy::{GapModel, MlpModel};
use support::{SplitMix64, assert_close, values};

const SHAPE: (usize, usize, usize, usize) = (2, 3, 4, 5);

fn random_features(seed: u64, (b, k, h, w): (usize, usize, usize, usize)) -> Tensor {
    SplitMix64(seed)
        .tensor(&[b, k, h, w], 1.0, DType::F64, &Device::Cpu)
        .unwrap()
}

/// `d logits[b, class] / d A[b, ...]` by central differences of the head on sample `b` alone.
fn finite_difference(model: &MlpModel, a: &Tensor, b: usize, class: usize) -> Vec<f64> {
    let sample = a.i(b..b + 1).unwrap();
    let dims = sample.dims().to_vec();
    let base = values(&sample);
    let eps = 1e-5;
    let logit = |v: &[f64]| {
        let t = Tensor::from_vec(v.to_vec(), dims.as_slice(), &Device::Cpu).unwrap();
        values(&model.head(&t).unwrap())[class]
    };
    (0..base.len())
        .map(|i| {
            let mut plus = base.clone();
            plus[i] += eps;
            let mut minus = base.clone();
            minus[i] -= eps;
            (logit(&plus) - logit(&minus)) / (2.0 * eps)
        })
        .collect()
}

#[test]
fn gradients_equal_central_finite_differences_f64() {
    let (b, k, h, w) = SHAPE;
    let model = MlpModel::seeded(7, 1, (k, h, w), 6, 3, DType::F64);
    let a = random_features(11, SHAPE);
    let targets = vec![2, 0];
    let g = feature_gradients(&model, &a, &Target::Classes(targets.clone())).unwrap();
    assert_eq!(g.gradients.dims(), &[b, k, h, w]);
    assert_eq!(g.targets, targets);
    let got = values(&g.gradients);
    let n = k * h * w;
    let mut worst = 0f64;
    for (s, &class) in targets.iter().enumerate() {
        let fd = finite_difference(&model, &a, s, class);
        let scale = fd.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(scale > 1e-3, "the head must depend on the features");
        for (i, want) in fd.iter().enumerate() {
            worst = worst.max((got[s * n + i] - want).abs() / scale);
        }
    }
    assert!(worst < 1e-8, "backward vs finite differences: {worst:e}");
}

#[test]
fn logits_returned_are_the_heads() {
    let (_, k, h, w) = SHAPE;
    let model = MlpModel::seeded(3, 1, (k, h, w), 5, 4, DType::F64);
    let a = random_features(5, SHAPE);
    let g = feature_gradients(&model, &a, &Target::Class(1)).unwrap();
    assert_close("logits", &g.logits, &model.head(&a).unwrap(), 0.0);
}

#[test]
fn predicted_target_is_the_argmax_and_matches_explicit_classes() {
    let (_, k, h, w) = SHAPE;
    let model = MlpModel::seeded(21, 1, (k, h, w), 6, 4, DType::F64);
    let a = random_features(22, SHAPE);
    let logits = values(&model.head(&a).unwrap());
    let argmax: Vec<usize> = logits
        .chunks(4)
        .map(|row| (0..4).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap())
        .collect();
    let p = feature_gradients(&model, &a, &Target::Predicted).unwrap();
    assert_eq!(p.targets, argmax);
    let e = feature_gradients(&model, &a, &Target::Classes(argmax)).unwrap();
    assert_close("predicted vs explicit", &p.gradients, &e.gradients, 0.0);
}

#[test]
fn a_batch_gives_what_single_samples_give() {
    let shape = (3, 2, 3, 4);
    let model = MlpModel::seeded(8, 1, (2, 3, 4), 5, 3, DType::F64);
    let a = random_features(9, shape);
    let targets = vec![1, 2, 0];
    let batch = feature_gradients(&model, &a, &Target::Classes(targets.clone())).unwrap();
    for (s, &t) in targets.iter().enumerate() {
        let one = feature_gradients(&model, &a.i(s..s + 1).unwrap(), &Target::Class(t)).unwrap();
        assert_close(
            "batch vs single",
            &batch.gradients.i(s..s + 1).unwrap(),
            &one.gradients,
            1e-14,
        );
    }
}

#[test]
fn binary_gap_linear_head_has_constant_gradient_w_over_hw() {
    let model = GapModel::seeded(4, 1, 3, 1, DType::F64);
    let a = random_features(6, (2, 3, 4, 5));
    let g = feature_gradients(&model, &a, &Target::Binary).unwrap();
    let w = values(&model.weight);
    let got = values(&g.gradients);
    for (i, v) in got.iter().enumerate() {
        let k = (i / 20) % 3;
        assert!(
            (v - w[k] / 20.0).abs() < 1e-15,
            "element {i}: {v} vs {}",
            w[k] / 20.0
        );
    }
}

#[test]
fn frozen_weights_still_give_gradients_with_respect_to_the_features() {
    // The toy models hold plain tensors (not Vars): nothing trainable, the gradient is taken with
    // respect to the features' copy.
    let (_, k, h, w) = SHAPE;
    let model = MlpModel::seeded(1, 1, (k, h, w), 4, 2, DType::F64);
    assert!(!model.w1.is_variable());
    let a = random_features(2, SHAPE);
    let g = feature_gradients(&model, &a, &Target::Class(0)).unwrap();
    assert!(values(&g.gradients).iter().any(|v| v.abs() > 1e-6));
    // The input is not modified and not turned into a variable.
    assert!(!a.is_variable());
}

#[test]
fn target_errors_are_typed() {
    let (_, k, h, w) = SHAPE;
    let model = MlpModel::seeded(1, 1, (k, h, w), 4, 3, DType::F64);
    let a = random_features(2, SHAPE);
    assert!(matches!(
        feature_gradients(&model, &a, &Target::Classes(vec![0])),
        Err(CamError::TargetCount {
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        feature_gradients(&model, &a, &Target::Classes(vec![0, 3])),
        Err(CamError::TargetOutOfRange {
            sample: 1,
            class: 3,
            classes: 3
        })
    ));
    assert!(matches!(
        feature_gradients(&model, &a, &Target::Binary),
        Err(CamError::NotBinary { classes: 3 })
    ));
    let flat = a.flatten_from(2).unwrap();
    assert!(matches!(
        feature_gradients(&model, &flat, &Target::Class(0)),
        Err(CamError::Shape {
            what: "features",
            ..
        })
    ));
}
