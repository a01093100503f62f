//! The max pool: forward, finite-difference backward, the first-maximum tie rule, and the
//! agreement of the CPU custom op with the tensor-op version used off the CPU.

use candle_core::{DType, Device, Tensor, Var};
use ceod_core::{max_pool, max_pool_tensor_ops};

/// A deterministic pseudo-random vector (LCG), values in [0, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Brute-force pooling with the first maximum per window (row-major), floor mode.
fn brute(
    v: &[f64],
    (b, c, h, w): (usize, usize, usize, usize),
    k: usize,
) -> (Vec<f64>, Vec<usize>) {
    let (oh, ow) = (h / k, w / k);
    let (mut out, mut arg) = (vec![], vec![]);
    for p in 0..b * c {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = p * h * w + i * k * w + j * k;
                for di in 0..k {
                    for dj in 0..k {
                        let idx = p * h * w + (i * k + di) * w + j * k + dj;
                        if v[idx] > v[best] {
                            best = idx;
                        }
                    }
                }
                out.push(v[best]);
                arg.push(best);
            }
        }
    }
    (out, arg)
}

#[test]
fn forward_matches_brute_force_including_floor_mode() {
    for (dims, k) in [((2, 3, 6, 8), 2), ((1, 2, 7, 5), 2), ((1, 1, 9, 9), 3)] {
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let v = values(n, 7);
        let x = Tensor::from_vec(v.clone(), dims, &Device::Cpu).unwrap();
        let (want, _) = brute(&v, dims, k);
        for y in [
            max_pool(&x, k).unwrap(),
            max_pool_tensor_ops(&x, k).unwrap(),
        ] {
            assert_eq!(y.dims(), &[dims.0, dims.1, dims.2 / k, dims.3 / k]);
            assert_eq!(y.flatten_all().unwrap().to_vec1::<f64>().unwrap(), want);
        }
    }
}

#[test]
fn backward_matches_central_finite_differences() {
    let dims = (2, 2, 6, 6);
    let n = 2 * 2 * 6 * 6;
    let v = values(n, 11);
    let weights = Tensor::from_vec(values(2 * 2 * 3 * 3, 5), (2, 2, 3, 3), &Device::Cpu).unwrap();
    let f = |x: &Tensor| {
        max_pool(x, 2)
            .unwrap()
            .mul(&weights)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let x = Var::from_tensor(&Tensor::from_vec(v.clone(), dims, &Device::Cpu).unwrap()).unwrap();
    let g = f(x.as_tensor())
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let h = 1e-6;
    for i in 0..n {
        let mut p = v.clone();
        p[i] += h;
        let mut m = v.clone();
        m[i] -= h;
        let fp = f(&Tensor::from_vec(p, dims, &Device::Cpu).unwrap())
            .to_scalar::<f64>()
            .unwrap();
        let fm = f(&Tensor::from_vec(m, dims, &Device::Cpu).unwrap())
            .to_scalar::<f64>()
            .unwrap();
        let fd = (fp - fm) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-8, "element {i}: fd {fd} vs {}", g[i]);
    }
}

/// Ties: the whole gradient goes to the first maximum in row-major order within the window.
#[test]
fn ties_send_the_gradient_to_the_first_maximum() {
    // window 1: all equal → top-left; window 2: [[1, 3], [3, 2]] → the top-right 3.
    let x = Tensor::new(&[[[[5f32, 5., 1., 3.], [5., 5., 3., 2.]]]], &Device::Cpu).unwrap();
    for pool in [max_pool, max_pool_tensor_ops] {
        let v = Var::from_tensor(&x).unwrap();
        let y = pool(v.as_tensor(), 2).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![5., 3.]
        );
        let g = y
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
            .get(v.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(g, vec![1., 0., 0., 1., 0., 0., 0., 0.]);
    }
}

/// The two implementations agree, forward and backward, on inputs full of ties (small integers).
#[test]
fn custom_op_and_tensor_ops_agree_on_ties() {
    let dims = (2, 3, 8, 6);
    let v: Vec<f32> = values(2 * 3 * 8 * 6, 3)
        .iter()
        .map(|u| (u * 3.0).floor() as f32)
        .collect();
    let x = Tensor::from_vec(v.clone(), dims, &Device::Cpu).unwrap();
    let up = Tensor::from_vec(values(2 * 3 * 4 * 3, 9), (2, 3, 4, 3), &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let mut grads = vec![];
    for pool in [max_pool, max_pool_tensor_ops] {
        let var = Var::from_tensor(&x).unwrap();
        let y = pool(var.as_tensor(), 2).unwrap();
        let g = y.mul(&up).unwrap().sum_all().unwrap().backward().unwrap();
        grads.push((
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            g.get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
        ));
    }
    assert_eq!(grads[0], grads[1]);
    // and both route to the brute-force first maximum
    let vd: Vec<f64> = v.iter().map(|&a| a as f64).collect();
    let (_, mut arg) = brute(&vd, dims, 2);
    arg.sort_unstable();
    let nonzero: Vec<usize> = grads[0]
        .1
        .iter()
        .enumerate()
        .filter(|(_, g)| **g != 0.0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(nonzero, arg);
}

#[test]
fn nan_propagates_on_cpu_and_bad_windows_are_errors() {
    let x = Tensor::new(&[[[[1f32, f32::NAN], [3., 2.]]]], &Device::Cpu).unwrap();
    assert!(
        max_pool(&x, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
            .is_nan()
    );
    assert!(max_pool(&x, 3).is_err());
    assert!(max_pool(&x, 0).is_err());
    assert!(max_pool(&Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap(), 2).is_err());
}
