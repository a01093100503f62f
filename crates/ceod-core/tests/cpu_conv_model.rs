//! `CeodNet` (whose blocks run on `ceod_core::cpu::conv2d` on the CPU) against the same network
//! written with candle's own ops: logits and every parameter's gradient.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Module, Tensor};
use ceod_core::{CeodNet, ModelConfig, max_pool};

/// ceodnet-s from candle's `conv2d`, `broadcast_add`, `relu`, ceod-core's `max_pool`, `mean`, and
/// a matmul, with the network's own parameter tensors.
fn reference(net: &CeodNet, x: &Tensor) -> Tensor {
    let t: Vec<Tensor> = net.named_tensors().into_iter().map(|(_, t)| t).collect();
    let cfg = net.config();
    let mut h = x.clone();
    for (i, &p) in cfg.pool.iter().enumerate() {
        let (w, b) = (&t[2 * i], &t[2 * i + 1]);
        h = h
            .conv2d(w, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
            .unwrap();
        h = h.relu().unwrap();
        if p {
            h = max_pool(&h, cfg.pool_size).unwrap();
        }
    }
    let n = cfg.widths.len();
    let pooled = h.mean((2, 3)).unwrap();
    pooled
        .matmul(&t[2 * n].t().unwrap())
        .unwrap()
        .broadcast_add(&t[2 * n + 1])
        .unwrap()
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a: Vec<f64> = a
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f64> = b
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn ceodnet_logits_and_gradients_equal_candle_ops() {
    let dev = Device::Cpu;
    // Non-square, not a multiple of 8 (every pool floors), batch 1 and 3.
    for (b, h, w) in [(3, 20, 28), (1, 17, 16)] {
        let (net, varmap) =
            CeodNet::seeded(&ModelConfig::ceodnet_s(), 11, DType::F32, &dev).unwrap();
        let x = Tensor::rand(0f32, 1., (b, 1, h, w), &dev).unwrap();
        let ours = net.forward(&x).unwrap();
        let theirs = reference(&net, &x);
        assert!(
            rel_err(&ours, &theirs) <= 1e-5,
            "logits {}",
            rel_err(&ours, &theirs)
        );
        let r = Tensor::rand(-1f32, 1., ours.dims(), &dev).unwrap();
        let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let data = varmap.data().lock().unwrap();
        for (name, var) in data.iter() {
            let (a, t) = (
                g1.get(var.as_tensor()).unwrap(),
                g2.get(var.as_tensor()).unwrap(),
            );
            assert!(rel_err(a, t) <= 1e-5, "{name}: {}", rel_err(a, t));
        }
    }
}
