//! Each convolution of ceodnet-s at batch 32, 128×128: candle's `conv2d` (+ bias + ReLU) against
//! the fused custom op of `ceod_core::cpu`, forward and forward + backward, side by side.
//!
//! `cargo bench -p ceod-core --bench cpu_conv` (filter e.g. `-- conv2_16x32`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use candle_core::{Device, Tensor, Var};
use ceod_core::cpu::{ConvOptions, conv2d};
use criterion::{Criterion, criterion_group, criterion_main};

fn candle_conv(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    x.conv2d(w, 1, 1, 1, 1)
        .unwrap()
        .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
        .unwrap()
        .relu()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let batch = 32;
    let mut g = c.benchmark_group("ceodnet_s_conv_b32");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (i, &(ci, co, hw)) in [(1, 16, 128), (16, 32, 64), (32, 64, 32), (64, 64, 16)]
        .iter()
        .enumerate()
    {
        let name = format!("conv{}_{ci}x{co}_{hw}", i + 1);
        let x = Tensor::rand(0f32, 1., (batch, ci, hw, hw), &dev).unwrap();
        let w =
            Var::from_tensor(&(Tensor::rand(-0.3f32, 0.3, (co, ci, 3, 3), &dev).unwrap())).unwrap();
        let b = Var::from_tensor(&Tensor::rand(-0.1f32, 0.1, co, &dev).unwrap()).unwrap();
        // The first layer's input is the image batch (no gradient); the others are activations.
        let xv = Var::from_tensor(&x).unwrap();
        let x_in = if i == 0 {
            x.clone()
        } else {
            xv.as_tensor().clone()
        };
        let o = ConvOptions::same_relu();
        g.bench_function(format!("{name}/forward/candle"), |bn| {
            bn.iter(|| candle_conv(&x, &w, &b))
        });
        g.bench_function(format!("{name}/forward/ceod"), |bn| {
            bn.iter(|| conv2d(&x, &w, Some(&b), o).unwrap())
        });
        g.bench_function(format!("{name}/forward_backward/candle"), |bn| {
            bn.iter(|| {
                candle_conv(&x_in, &w, &b)
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
            })
        });
        g.bench_function(format!("{name}/forward_backward/ceod"), |bn| {
            bn.iter(|| {
                conv2d(&x_in, &w, Some(&b), o)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
