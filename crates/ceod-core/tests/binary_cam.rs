//! `BinaryCam::TrueClass`: a good sample's training map is the CAM of the negated logit,
//! checked against the map computed by hand from the features and the head's weights.

use candle_core::{DType, Device, Tensor};
use ceod_core::{
    BinaryCam, CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets, ceod_loss,
};
use ceod_gradcam::CamModel;

/// `ReLU(sign · sum_k (w_k / (h·w)) A_k)` normalised by its maximum (plus eps), per sample, by
/// loops over plain numbers.
fn cam_by_hand(a: &[Vec<Vec<Vec<f32>>>], w: &[f32], signs: &[f64], eps: f64) -> Vec<Vec<f64>> {
    a.iter()
        .zip(signs)
        .map(|(sample, &sign)| {
            let (h, wd) = (sample[0].len(), sample[0][0].len());
            let n = (h * wd) as f64;
            let mut map = vec![0f64; h * wd];
            for (k, ch) in sample.iter().enumerate() {
                for i in 0..h {
                    for j in 0..wd {
                        map[i * wd + j] += f64::from(w[k]) / n * f64::from(ch[i][j]);
                    }
                }
            }
            let map: Vec<f64> = map.iter().map(|v| (sign * v).max(0.0)).collect();
            let max = map.iter().cloned().fold(0.0, f64::max);
            map.iter().map(|v| v / (max + eps)).collect()
        })
        .collect()
}

#[test]
fn a_good_sample_gets_the_cam_of_the_negated_logit() {
    let dev = Device::Cpu;
    let (net, _vm) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 3, DType::F32, &dev).unwrap();
    let images = Tensor::rand(0f32, 1., (3, 1, 32, 32), &dev).unwrap();
    let features = net.features(&images).unwrap();
    let (_, _, h, w) = features.dims4().unwrap();
    let a: Vec<Vec<Vec<Vec<f32>>>> = (0..3)
        .map(|i| features.get(i).unwrap().to_vec3::<f32>().unwrap())
        .collect();
    let head = net.linear_head().unwrap();
    let wv: Vec<f32> = head.weight.flatten_all().unwrap().to_vec1().unwrap();
    let labels = [1f32, 0., 0.];
    let input = CeodInput {
        images,
        targets: Targets::Binary(Tensor::new(&labels, &dev).unwrap()),
        masks: Some(Tensor::ones((3, h, w), DType::F32, &dev).unwrap()),
        has_mask: None,
    };
    for (mode, signs) in [
        (BinaryCam::Logit, [1.0, 1.0, 1.0]),
        (BinaryCam::TrueClass, [1.0, -1.0, -1.0]),
    ] {
        let opts = CeodOptions {
            mode: OverlapMode::Soft,
            binary_cam: mode,
            ..Default::default()
        };
        let out = ceod_loss(&net, &input, &opts).unwrap();
        let cam = out.cam.unwrap().to_dtype(DType::F64).unwrap();
        let want = cam_by_hand(&a, &wv, &signs, opts.norm_eps);
        for (i, want) in want.iter().enumerate() {
            let got: Vec<f64> = cam
                .get(i)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for (g, e) in got.iter().zip(want) {
                assert!((g - e).abs() < 1e-5, "{mode:?} sample {i}: {g} vs {e}");
            }
        }
    }
}

#[test]
fn the_true_class_map_is_differentiable_in_the_backbone() {
    let dev = Device::Cpu;
    let (net, vm) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 4, DType::F32, &dev).unwrap();
    let input = CeodInput {
        images: Tensor::rand(0f32, 1., (2, 1, 32, 32), &dev).unwrap(),
        targets: Targets::Binary(Tensor::new(&[0f32, 0.], &dev).unwrap()),
        masks: Some(Tensor::ones((2, 32, 32), DType::F32, &dev).unwrap()),
        has_mask: None,
    };
    let opts = CeodOptions {
        mode: OverlapMode::Soft,
        binary_cam: BinaryCam::TrueClass,
        omega: 1.0,
        ..Default::default()
    };
    // the overlap part alone: its gradient reaches conv1 through the signed map
    let out = ceod_loss(&net, &input, &opts).unwrap();
    let grads = out.overlap.backward().unwrap();
    let vars = vm.all_vars();
    assert!(vars.iter().any(|v| grads.get(v).is_some_and(|g| {
        g.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0
    })));
}
