//! The fast CPU convolution against candle's own ops (forward, input, kernel and bias gradients)
//! and against central finite differences in f64.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Tensor, Var};
use ceod_core::cpu::{ConvOptions, conv2d};
use ceod_core::max_pool;

/// A small seeded generator (SplitMix64) for the random inputs.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn tensor(&mut self, shape: &[usize], dtype: DType) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.uniform()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }
}

/// `(batch, c_in, h, w, c_out, kh, kw, padding)`: odd sizes, batch 1, non-square, 1×1 maps,
/// kernels larger than the map, rectangular kernels, batches that do not split evenly.
/// `(batch, c_in, h, w, c_out, kh, kw, padding)`.
type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

const SHAPES: &[Case] = &[
    (1, 1, 5, 7, 3, 3, 3, 1),
    (2, 3, 8, 6, 4, 3, 3, 1),
    (3, 2, 9, 9, 5, 3, 3, 0),
    (1, 4, 1, 1, 2, 3, 3, 1),
    (5, 2, 6, 5, 3, 1, 1, 0),
    (2, 2, 4, 3, 2, 2, 3, 2),
    (7, 3, 11, 4, 6, 3, 3, 1),
    // K = C·kh·kw above 27: the im2col + gemm path (below: the direct loops).
    (2, 4, 6, 5, 3, 3, 3, 1),
    (3, 5, 7, 9, 4, 3, 3, 0),
    (1, 8, 5, 4, 3, 3, 3, 1),
    (2, 16, 4, 4, 8, 3, 3, 1),
];

/// candle's conv2d, broadcast bias, ReLU, and ceod-core's `max_pool` (first maximum per window).
fn reference(x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: ConvOptions) -> Tensor {
    let mut y = x.conv2d(w, o.padding, 1, 1, 1).unwrap();
    if let Some(b) = b {
        y = y.broadcast_add(&b.reshape((1, (), 1, 1)).unwrap()).unwrap();
    }
    if o.relu {
        y = y.relu().unwrap();
    }
    match o.pool {
        Some(k) => max_pool(&y, k).unwrap(),
        None => y,
    }
}

/// `max |a − b| / max |b|`.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
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

/// Every epilogue whose pool fits an `oh × ow` output, with the given padding.
fn options(padding: usize, oh: usize, ow: usize) -> Vec<ConvOptions> {
    let mut out = Vec::new();
    for relu in [false, true] {
        for pool in [None, Some(2), Some(3)] {
            if pool.is_none_or(|k| k <= oh && k <= ow) {
                out.push(ConvOptions {
                    padding,
                    relu,
                    pool,
                });
            }
        }
    }
    out
}

fn out_size(h: usize, w: usize, kh: usize, kw: usize, pad: usize) -> (usize, usize) {
    (h + 2 * pad + 1 - kh, w + 2 * pad + 1 - kw)
}

#[test]
fn forward_equals_candle_conv_bias_relu() {
    let mut rng = Rng(1);
    for &(b, ci, h, w, co, kh, kw, pad) in SHAPES {
        for dtype in [DType::F32, DType::F64] {
            let x = rng.tensor(&[b, ci, h, w], dtype);
            let wt = rng.tensor(&[co, ci, kh, kw], dtype);
            let bias = rng.tensor(&[co], dtype);
            let (oh, ow) = out_size(h, w, kh, kw, pad);
            for o in options(pad, oh, ow) {
                for bias in [None, Some(&bias)] {
                    let want = reference(&x, &wt, bias, o);
                    let got = conv2d(&x, &wt, bias, o).unwrap();
                    let e = rel_err(&got, &want);
                    let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                    assert!(
                        e <= tol,
                        "{:?} {o:?} bias {} {dtype:?}: {e}",
                        (b, ci, h, w, co, kh, kw, pad),
                        bias.is_some()
                    );
                }
            }
        }
    }
}

/// Gradients of `sum(conv(x) · r)` for a random `r`, through our op and through candle's.
fn grads(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    r: &Tensor,
    o: ConvOptions,
    ours: bool,
) -> [Tensor; 3] {
    let (xv, wv, bv) = (
        Var::from_tensor(x).unwrap(),
        Var::from_tensor(w).unwrap(),
        Var::from_tensor(b).unwrap(),
    );
    let y = if ours {
        conv2d(xv.as_tensor(), wv.as_tensor(), Some(bv.as_tensor()), o).unwrap()
    } else {
        reference(xv.as_tensor(), wv.as_tensor(), Some(bv.as_tensor()), o)
    };
    let g = (y * r).unwrap().sum_all().unwrap().backward().unwrap();
    [xv, wv, bv].map(|v| g.get(v.as_tensor()).unwrap().clone())
}

#[test]
fn gradients_equal_candle_backward() {
    let mut rng = Rng(2);
    for &(b, ci, h, w, co, kh, kw, pad) in SHAPES {
        let x = rng.tensor(&[b, ci, h, w], DType::F32);
        let wt = rng.tensor(&[co, ci, kh, kw], DType::F32);
        let bias = rng.tensor(&[co], DType::F32);
        let (oh, ow) = out_size(h, w, kh, kw, pad);
        for o in options(pad, oh, ow) {
            let y = reference(&x, &wt, Some(&bias), o);
            let r = rng.tensor(y.dims(), DType::F32);
            let ours = grads(&x, &wt, &bias, &r, o, true);
            let theirs = grads(&x, &wt, &bias, &r, o, false);
            for (name, (a, t)) in ["input", "kernel", "bias"]
                .iter()
                .zip(ours.iter().zip(&theirs))
            {
                let e = rel_err(a, t);
                assert!(
                    e <= 1e-5,
                    "{name} gradient {:?} {o:?}: {e}",
                    (b, ci, h, w, co, kh, kw, pad)
                );
            }
        }
    }
}

#[test]
fn gradients_equal_central_finite_differences_in_f64() {
    let mut rng = Rng(3);
    for &(b, ci, h, w, co, kh, kw, pad) in &[
        (2, 2, 5, 4, 3, 3, 3, 1),
        (1, 1, 3, 6, 2, 3, 2, 0),
        (1, 2, 7, 5, 2, 3, 3, 1),
        (2, 4, 4, 5, 2, 3, 3, 1),
    ] {
        let x = rng.tensor(&[b, ci, h, w], DType::F64);
        let wt = rng.tensor(&[co, ci, kh, kw], DType::F64);
        let bias = rng.tensor(&[co], DType::F64);
        let (oh, ow) = out_size(h, w, kh, kw, pad);
        for o in options(pad, oh, ow) {
            let r = rng.tensor(reference(&x, &wt, None, o).dims(), DType::F64);
            let loss = |x: &Tensor, w: &Tensor, bb: &Tensor| -> f64 {
                (conv2d(x, w, Some(bb), o).unwrap() * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar()
                    .unwrap()
            };
            let analytic = grads(&x, &wt, &bias, &r, o, true);
            let eps = 1e-6;
            let inputs = [&x, &wt, &bias];
            for (which, grad) in analytic.iter().enumerate() {
                let base: Vec<f64> = inputs[which].flatten_all().unwrap().to_vec1().unwrap();
                let g: Vec<f64> = grad.flatten_all().unwrap().to_vec1().unwrap();
                for i in 0..base.len() {
                    let shifted = |d: f64| {
                        let mut v = base.clone();
                        v[i] += d;
                        let t = Tensor::from_vec(v, inputs[which].dims(), &Device::Cpu).unwrap();
                        let mut args = inputs.map(|t| t.clone());
                        args[which] = t;
                        loss(&args[0], &args[1], &args[2])
                    };
                    let fd = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                    assert!(
                        (fd - g[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                        "arg {which} [{i}] {o:?}: fd {fd} vs {}",
                        g[i]
                    );
                }
            }
        }
    }
}

#[test]
fn thread_counts_and_uneven_batch_splits_give_the_same_result() {
    // c_in 2 (K = 18, the direct loops) and 5 (K = 45, im2col + gemm).
    for c_in in [2, 5] {
        let mut rng = Rng(4);
        let x = rng.tensor(&[5, c_in, 7, 6], DType::F64);
        let w = rng.tensor(&[4, c_in, 3, 3], DType::F64);
        let b = rng.tensor(&[4], DType::F64);
        let o = ConvOptions::same_relu_pool(2);
        let r = rng.tensor(&[5, 4, 3, 3], DType::F64);
        let run = |threads: usize, x: &Tensor, r: &Tensor| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = conv2d(x, &w, Some(&b), o).unwrap();
                let [dx, dw, db] = grads(x, &w, &b, r, o, true);
                [y, dx, dw, db]
            })
        };
        let one = run(1, &x, &r);
        for threads in [2, 3, 8] {
            for (a, t) in run(threads, &x, &r).iter().zip(&one) {
                assert!(rel_err(a, t) <= 1e-13, "{threads} threads, c_in {c_in}");
            }
        }
        // Batch 1 on several threads takes the multi-threaded gemm path.
        let (x1, r1) = (x.narrow(0, 0, 1).unwrap(), r.narrow(0, 0, 1).unwrap());
        let one1 = run(1, &x1, &r1);
        for (a, t) in run(3, &x1, &r1).iter().zip(&one1) {
            assert!(rel_err(a, t) <= 1e-13, "batch 1, c_in {c_in}");
        }
        assert!(rel_err(&one1[0], &one[0].narrow(0, 0, 1).unwrap()) <= 1e-13);
    }
}

#[test]
fn batches_smaller_than_the_thread_count_split_channels_exactly() {
    // Fewer images than threads: each image's channels are split over the threads (the column
    // matrix by rows, the gemm and epilogue by output channels, Wᵀ·g and col2im by input
    // channels). Channel counts that do not divide evenly, odd non-square maps, every epilogue,
    // the direct (c_in 2) and the gemm path (c_in 5, 7), against one thread and candle's ops.
    for (c_in, c_out) in [(2, 5), (5, 3), (7, 9)] {
        for batch in [1, 2] {
            let mut rng = Rng(40 + c_in as u64 + 10 * batch as u64);
            let x = rng.tensor(&[batch, c_in, 9, 7], DType::F64);
            let w = rng.tensor(&[c_out, c_in, 3, 3], DType::F64);
            let b = rng.tensor(&[c_out], DType::F64);
            for o in options(1, 9, 7) {
                let dims = reference(&x, &w, Some(&b), o).dims().to_vec();
                let r = rng.tensor(&dims, DType::F64);
                let run = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    pool.install(|| {
                        let y = conv2d(&x, &w, Some(&b), o).unwrap();
                        let [dx, dw, db] = grads(&x, &w, &b, &r, o, true);
                        [y, dx, dw, db]
                    })
                };
                let one = run(1);
                let want = reference(&x, &w, Some(&b), o);
                let [rdx, rdw, rdb] = grads(&x, &w, &b, &r, o, false);
                assert!(rel_err(&one[0], &want) <= 1e-12, "{o:?}");
                for (a, t) in one[1..].iter().zip([&rdx, &rdw, &rdb]) {
                    assert!(rel_err(a, t) <= 1e-12, "{o:?}");
                }
                for threads in [3, 4, 8] {
                    for (i, (a, t)) in run(threads).iter().zip(&one).enumerate() {
                        assert!(
                            rel_err(a, t) <= 1e-13,
                            "output {i}, {threads} threads, batch {batch}, {c_in}->{c_out}, {o:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn non_contiguous_inputs_are_handled() {
    let mut rng = Rng(5);
    // A 2×3×6×5 input stored as 2×3×5×6 and transposed, and a transposed kernel.
    let xt = rng.tensor(&[2, 3, 5, 6], DType::F32);
    let x = xt.transpose(2, 3).unwrap();
    let wt = rng
        .tensor(&[4, 3, 3, 3], DType::F32)
        .transpose(2, 3)
        .unwrap();
    assert!(!x.is_contiguous() && !wt.is_contiguous());
    let o = ConvOptions::same_relu();
    let got = conv2d(&x, &wt, None, o).unwrap();
    let want = reference(&x.contiguous().unwrap(), &wt.contiguous().unwrap(), None, o);
    assert!(rel_err(&got, &want) <= 1e-5);
}

#[test]
fn kernel_gradient_alone_when_the_input_is_not_a_variable() {
    let mut rng = Rng(6);
    let x = rng.tensor(&[3, 1, 9, 8], DType::F32); // an image batch: no gradient wanted
    let w = Var::from_tensor(&rng.tensor(&[4, 1, 3, 3], DType::F32)).unwrap();
    let b = Var::from_tensor(&rng.tensor(&[4], DType::F32)).unwrap();
    let o = ConvOptions::same_relu();
    let g2 = reference(&x, w.as_tensor(), Some(b.as_tensor()), o)
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    // Serial, runs of images, and channels of one image (batch 3 on 8 threads).
    for threads in [1, 2, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let g = pool.install(|| {
            conv2d(&x, w.as_tensor(), Some(b.as_tensor()), o)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        });
        assert!(g.get(&x).is_none());
        for v in [&w, &b] {
            let e = rel_err(
                g.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
            );
            assert!(e <= 1e-5, "{threads} threads: {e:e}");
        }
    }
}

#[test]
fn input_gradient_alone_when_the_kernel_is_frozen() {
    // A frozen kernel and bias (plain tensors): only dx is wanted. On 1, 2 and 3 threads, so that
    // batches run serially, split into runs of images and split by channels on any machine.
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for batch in [1, 2, 5] {
            let mut rng = Rng(60 + batch as u64);
            let x = Var::from_tensor(&rng.tensor(&[batch, 3, 9, 8], DType::F32)).unwrap();
            let w = rng.tensor(&[5, 3, 3, 3], DType::F32);
            let b = rng.tensor(&[5], DType::F32);
            for o in [ConvOptions::same_relu(), ConvOptions::same_relu_pool(2)] {
                let r = |t: Tensor| {
                    let m = Tensor::ones_like(&t).unwrap().cumsum(3).unwrap();
                    (t * m).unwrap().sum_all().unwrap()
                };
                let g = pool.install(|| {
                    r(conv2d(x.as_tensor(), &w, Some(&b), o).unwrap())
                        .backward()
                        .unwrap()
                });
                let g2 = r(reference(x.as_tensor(), &w, Some(&b), o))
                    .backward()
                    .unwrap();
                assert!(g.get(&w).is_none() && g.get(&b).is_none());
                let e = rel_err(
                    g.get(x.as_tensor()).unwrap(),
                    g2.get(x.as_tensor()).unwrap(),
                );
                assert!(e <= 1e-5, "{threads} threads, batch {batch}, {o:?}: {e:e}");
            }
        }
    }
}

#[test]
fn shape_and_dtype_errors() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 2, 4, 4), DType::F32, &dev).unwrap();
    let o = ConvOptions::same_relu();
    let w_bad_c = Tensor::zeros((3, 1, 3, 3), DType::F32, &dev).unwrap();
    assert!(conv2d(&x, &w_bad_c, None, o).is_err());
    let w = Tensor::zeros((3, 2, 3, 3), DType::F32, &dev).unwrap();
    let b_bad = Tensor::zeros(2, DType::F32, &dev).unwrap();
    assert!(conv2d(&x, &w, Some(&b_bad), o).is_err());
    let w_big = Tensor::zeros((3, 2, 7, 7), DType::F32, &dev).unwrap();
    assert!(conv2d(&x, &w_big, None, o).is_err());
    let w64 = Tensor::zeros((3, 2, 3, 3), DType::F64, &dev).unwrap();
    assert!(conv2d(&x, &w64, None, o).is_err());
    assert!(conv2d(&x.flatten_all().unwrap(), &w, None, o).is_err());
}

#[test]
fn pooled_gradient_goes_to_the_first_maximum_of_each_window() {
    // A 1×1 identity kernel: the pool sees the input itself. Windows of 2×2 with ties:
    // [[3, 3], [3, 1]] → top-left; [[0, 2], [2, 2]] → top-right; [[-1, -1], [5, 5]] → bottom-left;
    // the last row and column (odd size) are dropped.
    let x = Tensor::new(
        &[[[
            [3f64, 3., 0., 2., 9.],
            [3., 1., 2., 2., 9.],
            [-1., -1., 4., 7., 9.],
            [5., 5., 7., 4., 9.],
            [9., 9., 9., 9., 9.],
        ]]],
        &Device::Cpu,
    )
    .unwrap();
    let xv = Var::from_tensor(&x).unwrap();
    let w = Tensor::ones((1, 1, 1, 1), DType::F64, &Device::Cpu).unwrap();
    for relu in [false, true] {
        let o = ConvOptions {
            padding: 0,
            relu,
            pool: Some(2),
        };
        let y = conv2d(xv.as_tensor(), &w, None, o).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            vec![3., 2., 5., 7.]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        let dx: Vec<Vec<f64>> = g
            .get(xv.as_tensor())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        // One 1 per window, at the first maximum in row-major order; 0 elsewhere.
        let want = [
            [1., 0., 0., 1., 0.],
            [0., 0., 0., 0., 0.],
            [0., 0., 0., 1., 0.],
            [1., 0., 0., 0., 0.],
            [0.; 5],
        ];
        assert_eq!(dx, want.map(|r| r.to_vec()).to_vec(), "relu {relu}");
    }
    // With the ReLU, a window whose maximum is not positive passes no gradient at all.
    let neg =
        Var::from_tensor(&Tensor::new(&[[[[-1f64, -2.], [-3., -1.]]]], &Device::Cpu).unwrap())
            .unwrap();
    let y = conv2d(
        neg.as_tensor(),
        &w,
        None,
        ConvOptions {
            padding: 0,
            relu: true,
            pool: Some(2),
        },
    )
    .unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    let dx = g
        .get(neg.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    assert_eq!(dx, vec![0.0; 4]);
}

#[test]
fn pool_windows_that_do_not_fit_are_errors() {
    let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    for k in [0, 5, 17] {
        let o = ConvOptions {
            pool: Some(k),
            ..ConvOptions::same_relu()
        };
        assert!(conv2d(&x, &w, None, o).is_err(), "pool {k}");
    }
}

#[test]
fn pool_windows_above_16_run_max_pool_after_the_op() {
    let mut rng = Rng(7);
    let x = Var::from_tensor(&rng.tensor(&[2, 1, 18, 19], DType::F64)).unwrap();
    let w = rng.tensor(&[2, 1, 3, 3], DType::F64);
    let o = ConvOptions::same_relu_pool(17);
    let got = conv2d(x.as_tensor(), &w, None, o).unwrap();
    let want = reference(x.as_tensor(), &w, None, o);
    assert_eq!(got.dims(), &[2, 2, 1, 1]);
    assert!(rel_err(&got, &want) <= 1e-12);
    let g1 = got.sum_all().unwrap().backward().unwrap();
    let g2 = want.sum_all().unwrap().backward().unwrap();
    assert!(
        rel_err(
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap()
        ) <= 1e-12
    );
}
