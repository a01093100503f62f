//! `WeightInit`: Kaiming-uniform convolutions (variance 2/fan_in, zero biases) against PyTorch's
//! default (variance 1/(3·fan_in)), checked by the sample statistics of the drawn weights and by
//! the signal that reaches the target layer.

#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Tensor};
use ceod_core::{CeodNet, ModelConfig, WeightInit};
use ceod_gradcam::CamModel;

fn stats(t: &Tensor) -> (f64, f64, usize) {
    let v: Vec<f64> = t
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap();
    let n = v.len();
    let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
    let var = v.iter().map(|x| x * x).sum::<f64>() / n as f64;
    (var, max, n)
}

#[test]
fn kaiming_convolutions_have_variance_two_over_fan_in_and_zero_biases() {
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = CeodNet::seeded_with(
        &cfg,
        7,
        WeightInit::KaimingUniform,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let (def, _) = CeodNet::seeded(&cfg, 7, DType::F32, &Device::Cpu).unwrap();
    for ((name, t), (_, d)) in net.named_tensors().iter().zip(def.named_tensors()) {
        let fan_in: usize = if t.rank() > 1 {
            t.dims()[1..].iter().product()
        } else {
            0
        };
        let (var, max, n) = stats(t);
        if name.ends_with(".bias") {
            assert_eq!(max, 0.0, "{name}");
            continue;
        }
        let (want_var, bound) = if name.starts_with("conv") {
            (2.0 / fan_in as f64, (6.0 / fan_in as f64).sqrt())
        } else {
            (1.0 / (3.0 * fan_in as f64), 1.0 / (fan_in as f64).sqrt())
        };
        assert!(max <= bound * (1.0 + 1e-6), "{name}: {max} > {bound}");
        // the sample variance of n uniform draws: relative standard error sqrt(0.8 / n)
        let tol = 4.0 * (0.8 / n as f64).sqrt();
        assert!(
            ((var - want_var) / want_var).abs() < tol,
            "{name}: var {var} vs {want_var}"
        );
        // and the default init draws the smaller weights: 1/(3 fan_in)
        let (dvar, _, _) = stats(&d);
        if name.starts_with("conv") {
            assert!(
                (var / dvar - 6.0).abs() < 6.0 * 2.0 * tol,
                "{name}: ratio {}",
                var / dvar
            );
        }
    }
}

#[test]
fn kaiming_keeps_the_signal_to_the_target_layer() {
    let cfg = ModelConfig::ceodnet_s();
    let x = Tensor::rand(0f32, 1., (2, 1, 64, 64), &Device::Cpu).unwrap();
    let ms = |init| {
        let (net, _) = CeodNet::seeded_with(&cfg, 3, init, DType::F32, &Device::Cpu).unwrap();
        let a = net.features(&x).unwrap();
        a.sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (k, d) = (
        ms(WeightInit::KaimingUniform),
        ms(WeightInit::PyTorchDefault),
    );
    // four conv + ReLU blocks: about 6^4 = 1296 apart in the second moment (biases aside)
    assert!(k / d > 100.0, "kaiming {k}, default {d}");
    // the seeded default is unchanged: seeded == seeded_with(PyTorchDefault)
    let (a, _) = CeodNet::seeded(&cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let (b, _) = CeodNet::seeded_with(
        &cfg,
        3,
        WeightInit::PyTorchDefault,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    for ((_, p), (_, q)) in a.named_tensors().iter().zip(b.named_tensors()) {
        let diff = (p - q).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}
