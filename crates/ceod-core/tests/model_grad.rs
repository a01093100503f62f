//! `CeodNet`'s gradients against central finite differences (f64), and the overlap term's
//! gradients reaching every convolution.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::VarMap;
use ceod_core::{
    BceOptions, CeodInput, CeodNet, CeodOptions, Coefficient, ModelConfig, OverlapMode, Targets,
    bce_with_logits, ceod_loss,
};

fn lcg(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn small() -> ModelConfig {
    ModelConfig {
        in_channels: 1,
        widths: vec![3, 4, 4],
        pool: vec![true, true, false],
        pool_size: 2,
        num_outputs: 1,
    }
}

fn vars(vm: &VarMap, cfg: &ModelConfig) -> Vec<(String, Var)> {
    let data = vm.data().lock().unwrap();
    cfg.parameter_shapes()
        .into_iter()
        .map(|(n, _)| (n.clone(), data[&n].clone()))
        .collect()
}

/// Checks d loss / d p against central differences for every element of the named parameters.
fn check_fd(loss: &dyn Fn() -> Tensor, params: &[(String, Var)], skip: &[&str], tol: f64) {
    let grads = loss().backward().unwrap();
    let h = 1e-6;
    for (name, var) in params {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let orig = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let shape = var.as_tensor().shape().clone();
        let scale = g.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for i in 0..orig.len() {
            let mut p = orig.clone();
            p[i] += h;
            var.set(&Tensor::from_vec(p, shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let fp = loss().to_scalar::<f64>().unwrap();
            let mut m = orig.clone();
            m[i] -= h;
            var.set(&Tensor::from_vec(m, shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let fm = loss().to_scalar::<f64>().unwrap();
            var.set(&Tensor::from_vec(orig.clone(), shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= tol * scale,
                "{name}[{i}]: analytic {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}

fn batch(b: usize, hw: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
    let x = Tensor::from_vec(lcg(b * hw * hw, seed), (b, 1, hw, hw), &Device::Cpu).unwrap();
    let labels = Tensor::from_vec(
        (0..b).map(|i| (i % 2) as f64).collect::<Vec<_>>(),
        b,
        &Device::Cpu,
    )
    .unwrap();
    // masks: a different rectangle per sample
    let mut m = vec![0f64; b * hw * hw];
    for s in 0..b {
        for y in 0..hw {
            for x in 0..hw {
                if (s + 1..s + 1 + hw / 2).contains(&x) && (1..hw / 2 + 2).contains(&y) {
                    m[s * hw * hw + y * hw + x] = 1.0;
                }
            }
        }
    }
    (
        x,
        labels,
        Tensor::from_vec(m, (b, hw, hw), &Device::Cpu).unwrap(),
    )
}

/// The BCE of `CeodNet` (own pool included): every parameter against finite differences.
#[test]
fn bce_gradients_equal_finite_differences() {
    let cfg = small();
    let (net, vm) = CeodNet::seeded(&cfg, 42, DType::F64, &Device::Cpu).unwrap();
    let (x, labels, _) = batch(2, 8, 1);
    let loss =
        || bce_with_logits(&net.forward(&x).unwrap(), &labels, &BceOptions::default()).unwrap();
    check_fd(&loss, &vars(&vm, &cfg), &[], 1e-6);
}

/// The soft CEOD (cross-entropy + overlap term through the CAM, the normalisation max and the
/// sigmoid): every conv parameter and `fc.bias` against finite differences. `fc.weight` is left
/// out: alpha = `fc.weight`/(h·w) is a constant of the graph by design, which the finite
/// difference does not know.
#[test]
fn soft_ceod_gradients_equal_finite_differences() {
    let cfg = small();
    let (net, vm) = CeodNet::seeded(&cfg, 7, DType::F64, &Device::Cpu).unwrap();
    let (x, labels, masks) = batch(2, 16, 3);
    let input = CeodInput {
        images: x,
        targets: Targets::Binary(labels),
        masks: Some(masks),
        has_mask: None,
    };
    for coefficient in [
        Coefficient::Containment,
        Coefficient::Paper,
        Coefficient::Energy,
    ] {
        let opts = CeodOptions {
            mode: OverlapMode::Soft,
            coefficient,
            temperature: 0.2,
            report_exact: false,
            ..Default::default()
        };
        let loss = || ceod_loss(&net, &input, &opts).unwrap().total;
        check_fd(&loss, &vars(&vm, &cfg), &["fc.weight"], 1e-5);
    }
}

/// The overlap term alone gives a gradient to every conv weight and bias of ceodnet-s, and none
/// to `fc` (alpha = `fc.weight`/(h·w) is a constant; the CAM does not depend on `fc.bias`).
#[test]
fn overlap_term_reaches_every_conv_weight() {
    let cfg = ModelConfig::ceodnet_s();
    let (net, vm) = CeodNet::seeded(&cfg, 5, DType::F32, &Device::Cpu).unwrap();
    let (x, labels, masks) = batch(2, 32, 9);
    let input = CeodInput {
        images: x.to_dtype(DType::F32).unwrap(),
        targets: Targets::Binary(labels.to_dtype(DType::F32).unwrap()),
        masks: Some(masks.to_dtype(DType::F32).unwrap()),
        has_mask: None,
    };
    let opts = CeodOptions {
        mode: OverlapMode::Soft,
        report_exact: false,
        ..Default::default()
    };
    let out = ceod_loss(&net, &input, &opts).unwrap();
    let grads = out.overlap.backward().unwrap();
    for (name, var) in vars(&vm, &cfg) {
        let g = grads.get(&var);
        if name.starts_with("fc.") {
            assert!(g.is_none_or(|g| {
                g.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    == 0.0
            }));
            continue;
        }
        let g = g.unwrap_or_else(|| panic!("no overlap gradient for {name}"));
        let m = g
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(m > 0.0, "{name}: zero overlap gradient");
    }
}

/// ceodnet-s: the shapes of the target layer and the logits, and the seeded init (deterministic,
/// PyTorch's bounds ±1/sqrt(fan_in)).
#[test]
fn ceodnet_s_shapes_and_seeded_init() {
    use ceod_gradcam::CamModel;
    let cfg = ModelConfig::ceodnet_s();
    assert_eq!(cfg.feature_size(128, 96), (16, 12));
    let (net, vm) = CeodNet::seeded(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::zeros((2, 1, 128, 96), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(net.features(&x).unwrap().dims(), &[2, 64, 16, 12]);
    assert_eq!(net.forward(&x).unwrap().dims(), &[2, 1]);
    let (again, _) = CeodNet::seeded(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let (other, _) = CeodNet::seeded(&cfg, 2, DType::F32, &Device::Cpu).unwrap();
    for (((n, a), (_, b)), (_, c)) in net
        .named_tensors()
        .iter()
        .zip(again.named_tensors())
        .zip(other.named_tensors())
    {
        let (a, b, c) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            c.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_eq!(a, b, "{n}: same seed, same weights");
        assert_ne!(a, c, "{n}: another seed, other weights");
    }
    for (name, shape) in cfg.parameter_shapes() {
        let fan_in: usize = if name.starts_with("fc") {
            64
        } else if name.ends_with("weight") {
            shape[1..].iter().product()
        } else {
            cfg.parameter_shapes()
                .iter()
                .find(|(n, _)| *n == name.replace("bias", "weight"))
                .unwrap()
                .1[1..]
                .iter()
                .product()
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let v = vm.data().lock().unwrap()[&name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            v.iter().all(|w| w.abs() <= bound),
            "{name} exceeds ±{bound}"
        );
        if v.len() >= 64 {
            let max = v.iter().fold(0f32, |m, w| m.max(w.abs()));
            assert!(
                max > 0.8 * bound,
                "{name}: values do not fill ±{bound} (max {max})"
            );
        }
    }
    assert!(ModelConfig::preset("ceodnet-s").unwrap() == cfg);
    assert!(ModelConfig::preset("resnet").is_err());
    let bad = ModelConfig {
        pool: vec![true],
        ..cfg
    };
    assert!(bad.validate().is_err());
}

/// `linear_head` is the model's own `fc`, and `head(features(x))` is `forward(x)`.
#[test]
fn cam_model_split_is_consistent() {
    use ceod_gradcam::CamModel;
    let cfg = small();
    let (net, _) = CeodNet::seeded(&cfg, 3, DType::F64, &Device::Cpu).unwrap();
    let (x, _, _) = batch(3, 8, 2);
    let a = net
        .head(&net.features(&x).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let b = net
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    assert_eq!(a, b);
    let head = net.linear_head().unwrap();
    assert_eq!(head.weight.dims(), &[1, 4]);
    // GAP + linear by hand
    let f = net.features(&x).unwrap().mean((2, 3)).unwrap();
    let by_hand = f
        .matmul(&head.weight.t().unwrap())
        .unwrap()
        .broadcast_add(head.bias.as_ref().unwrap())
        .unwrap();
    let c = by_hand.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for (p, q) in a.iter().zip(&c) {
        assert!((p - q).abs() < 1e-12);
    }
}
