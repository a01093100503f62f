//! The device helper and `predict`.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module, Tensor};
use ceod_core::{CeodNet, DeviceSpec, ModelConfig, predict};

#[test]
fn device_strings_parse() {
    for (s, want) in [
        ("cpu", DeviceSpec::Cpu),
        ("CUDA", DeviceSpec::Cuda(0)),
        ("cuda:3", DeviceSpec::Cuda(3)),
        ("metal", DeviceSpec::Metal),
        (" auto ", DeviceSpec::Auto),
    ] {
        assert_eq!(s.parse::<DeviceSpec>().unwrap(), want, "{s}");
    }
    for bad in ["cuda:x", "tpu", "", "cuda:-1"] {
        assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
    }
    assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    assert!(ceod_core::device("cpu").unwrap().is_cpu());
    // auto always gives a device: the CPU when no GPU backend is built in
    let auto = ceod_core::device("auto").unwrap();
    if !candle_core::utils::cuda_is_available() && !candle_core::utils::metal_is_available() {
        assert!(auto.is_cpu());
        assert!(matches!(
            ceod_core::device("cuda:0"),
            Err(ceod_core::CoreError::Device { .. })
        ));
        assert!(ceod_core::device("metal").is_err());
    }
}

#[test]
fn predict_binary_is_sigmoid_and_threshold() {
    let (net, _) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 4, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 1., (5, 1, 16, 16), &Device::Cpu).unwrap();
    let logits = net
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let scores: Vec<f32> = logits.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect();
    let mut sorted = scores.clone();
    sorted.sort_by(f32::total_cmp);
    let t = f64::from(sorted[2]); // three samples at or above, two below
    let p = predict(&net, &x, t).unwrap();
    for (i, want) in scores.iter().enumerate() {
        assert!((p.scores[i][0] - want).abs() < 1e-6);
        assert_eq!(p.decisions[i], usize::from(f64::from(p.scores[i][0]) >= t));
    }
    assert_eq!(p.decisions.iter().sum::<usize>(), 3);
    assert!(predict(&net, &x, f64::NAN).is_err());
}

#[test]
fn predict_multiclass_is_softmax_and_argmax() {
    let cfg = ModelConfig {
        num_outputs: 3,
        ..ModelConfig::ceodnet_s()
    };
    let (net, _) = CeodNet::seeded(&cfg, 4, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 1., (4, 1, 16, 16), &Device::Cpu).unwrap();
    let logits = net.forward(&x).unwrap().to_vec2::<f32>().unwrap();
    let p = predict(&net, &x, 0.5).unwrap();
    for (row, (s, d)) in logits.iter().zip(p.scores.iter().zip(&p.decisions)) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
        for (a, b) in s.iter().zip(row) {
            assert!((a - (b - m).exp() / z).abs() < 1e-6);
        }
        let arg = (0..3).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap();
        assert_eq!(*d, arg);
    }
}
