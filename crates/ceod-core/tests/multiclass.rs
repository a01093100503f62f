//! CEOD for a softmax model (CAM of each sample's true class), and a model without a linear
//! head (alpha from the backward pass) giving the same loss and gradients as with one.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module, Tensor};
use ceod_core::{
    CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, OverlapSamples, Targets, ceod_loss,
    cross_entropy,
};
use ceod_gradcam::{CamModel, CamOptions, Target, explain};

fn small(outputs: usize) -> ModelConfig {
    ModelConfig {
        in_channels: 1,
        widths: vec![4, 6],
        pool: vec![true, false],
        pool_size: 2,
        num_outputs: outputs,
    }
}

fn masks(b: usize, h: usize, w: usize) -> Tensor {
    let v: Vec<f32> = (0..b * h * w)
        .map(|i| {
            let (s, y, x) = (i / (h * w), (i / w) % h, i % w);
            f32::from(u8::from(x >= s * 2 && x < s * 2 + w / 2 && y < h / 2))
        })
        .collect();
    Tensor::from_vec(v, (b, h, w), &Device::Cpu).unwrap()
}

#[test]
fn softmax_ceod_uses_the_true_class_cam() {
    let cfg = small(3);
    let (net, _) = CeodNet::seeded(&cfg, 21, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 1., (4, 1, 16, 12), &Device::Cpu).unwrap();
    let classes = [2u32, 0, 1, 2];
    let input = CeodInput {
        images: x.clone(),
        targets: Targets::Classes(Tensor::new(&classes, &Device::Cpu).unwrap()),
        masks: Some(masks(4, 16, 12)),
        has_mask: None,
    };
    let opts = CeodOptions {
        mode: OverlapMode::Soft,
        report_exact: false,
        ..Default::default()
    };
    let out = ceod_loss(&net, &input, &opts).unwrap();
    let logits = net.forward(&x).unwrap();
    let ce = cross_entropy(&logits, &Tensor::new(&classes, &Device::Cpu).unwrap()).unwrap();
    assert!((out.parts.ce - f64::from(ce.to_scalar::<f32>().unwrap())).abs() < 1e-6);
    // the CAM equals ceod-gradcam's explain mode for the same classes
    let targets = Target::Classes(classes.iter().map(|&c| c as usize).collect());
    let e = explain(&net, &x, &targets, &CamOptions::default()).unwrap();
    let a = out
        .cam
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = e.cam.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-6, "cam differs from explain() by {worst}");
    // positives only: class 0 is the negative class
    let pos = CeodOptions {
        samples: OverlapSamples::PositivesOnly,
        ..opts
    };
    let out = ceod_loss(&net, &input, &pos).unwrap();
    assert_eq!(out.parts.weights, vec![1.0, 0.0, 1.0, 1.0]);
    // binary targets on a 3-output model are refused
    let wrong = CeodInput {
        targets: Targets::Binary(Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap()),
        ..input
    };
    assert!(ceod_loss(&net, &wrong, &opts).is_err());
}

/// The same network, seen without its `linear_head`: ceod-gradcam then takes alpha from a
/// backward pass through the head, which must agree with the analytic constant.
struct Hidden<'a>(&'a CeodNet);

impl CamModel for Hidden<'_> {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.0.features(xs)
    }
    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        self.0.head(a)
    }
}

#[test]
fn backward_alpha_equals_analytic_alpha() {
    let cfg = small(1);
    let (net, vm) = CeodNet::seeded(&cfg, 8, DType::F64, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f64, 1., (3, 1, 16, 16), &Device::Cpu).unwrap();
    let input = CeodInput {
        images: x,
        targets: Targets::Binary(Tensor::new(&[1f64, 0., 1.], &Device::Cpu).unwrap()),
        masks: Some(masks(3, 16, 16).to_dtype(DType::F64).unwrap()),
        has_mask: None,
    };
    let opts = CeodOptions {
        mode: OverlapMode::Soft,
        report_exact: false,
        ..Default::default()
    };
    let a = ceod_loss(&net, &input, &opts).unwrap();
    let b = ceod_loss(&Hidden(&net), &input, &opts).unwrap();
    assert!((a.parts.total - b.parts.total).abs() < 1e-12);
    let (ga, gb) = (a.total.backward().unwrap(), b.total.backward().unwrap());
    for var in vm.all_vars() {
        let p = ga
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let q = gb
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (u, v) in p.iter().zip(&q) {
            assert!((u - v).abs() < 1e-12, "{u} vs {v}");
        }
    }
}
