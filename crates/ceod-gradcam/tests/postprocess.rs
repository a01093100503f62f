//! Post-processing: bilinear upsampling (half-pixel centres) and the per-image max normalisation.
#![allow(clippy::unwrap_used)]

mod support;

use candle_core::{DType, Device, Tensor, Var};
use ceod_gradcam::{
    BilinearUpsampler, CamOptions, NormaliseOptions, Target, TieRule, bilinear_matrix,
    bilinear_weights, explain, image_max, normalise, upsample_bilinear,
};
use support::toy::GapModel;
use support::{SplitMix64, assert_close, values};

/// Bilinear interpolation of one `h × w` map at output pixel `(r, c)` of `out_h × out_w`, written
/// directly from the definition (sample point, four neighbours, clamped at the edges).
fn interpolate_at(
    map: &[f64],
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
    r: usize,
    c: usize,
) -> f64 {
    let source = |i: usize, n_in: usize, n_out: usize| {
        let s = ((i as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0);
        let lo = (s.floor() as usize).min(n_in - 1);
        let hi = (lo + 1).min(n_in - 1);
        (lo, hi, s - lo as f64)
    };
    let (y0, y1, ly) = source(r, h, out_h);
    let (x0, x1, lx) = source(c, w, out_w);
    let at = |y: usize, x: usize| map[y * w + x];
    (1.0 - ly) * ((1.0 - lx) * at(y0, x0) + lx * at(y0, x1))
        + ly * ((1.0 - lx) * at(y1, x0) + lx * at(y1, x1))
}

fn brute_force_upsample(maps: &Tensor, out: (usize, usize)) -> Tensor {
    let (b, h, w) = maps.dims3().unwrap();
    let v = values(maps);
    let mut data = Vec::with_capacity(b * out.0 * out.1);
    for s in 0..b {
        let map = &v[s * h * w..(s + 1) * h * w];
        for r in 0..out.0 {
            for c in 0..out.1 {
                data.push(interpolate_at(map, (h, w), out, r, c));
            }
        }
    }
    Tensor::from_vec(data, (b, out.0, out.1), &Device::Cpu).unwrap()
}

#[test]
fn matrix_upsampling_equals_direct_interpolation_on_non_square_maps() {
    let mut rng = SplitMix64(3);
    for (input, output) in [
        ((12, 20), (96, 160)),
        ((5, 3), (17, 40)),
        ((16, 16), (128, 128)),
        ((7, 9), (7, 9)),
        ((6, 8), (3, 5)),
    ] {
        let maps = rng
            .tensor(&[2, input.0, input.1], 1.0, DType::F64, &Device::Cpu)
            .unwrap();
        let got = upsample_bilinear(&maps, output).unwrap();
        assert_eq!(got.dims(), &[2, output.0, output.1]);
        assert_close(
            &format!("{input:?} -> {output:?}"),
            &got,
            &brute_force_upsample(&maps, output),
            1e-14,
        );
    }
}

#[test]
fn interpolation_matrices_have_unit_rows_and_reproduce_ramps() {
    for (n_in, n_out) in [(16, 128), (3, 7), (20, 160), (5, 5)] {
        let r = bilinear_weights(n_in, n_out).unwrap();
        for i in 0..n_out {
            let row = &r[i * n_in..(i + 1) * n_in];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            assert!(row.iter().all(|&v| v >= 0.0));
            // Away from the clamped edges a ramp x_j = j is reproduced exactly at the sample point.
            let s = (i as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5;
            if s >= 0.0 && s <= (n_in - 1) as f64 {
                let ramp: f64 = row.iter().enumerate().map(|(j, v)| j as f64 * v).sum();
                assert!(
                    (ramp - s).abs() < 1e-12,
                    "{n_in}->{n_out} row {i}: {ramp} vs {s}"
                );
            }
        }
    }
    let u = bilinear_matrix(16, 128, &Device::Cpu).unwrap();
    assert_eq!(u.dims(), &[128, 16]);
    assert_eq!(u.dtype(), DType::F32);
    assert!(bilinear_weights(0, 4).is_err());
}

#[test]
fn a_96_by_160_input_gives_a_96_row_by_160_column_map() {
    let model = GapModel::seeded(5, 8, 2, 1, DType::F64);
    let xs = SplitMix64(6)
        .tensor(&[3, 2, 96, 160], 1.0, DType::F64, &Device::Cpu)
        .unwrap()
        .abs()
        .unwrap();
    let e = explain(&model, &xs, &Target::Binary, &CamOptions::default()).unwrap();
    assert_eq!(e.raw.dims(), &[3, 12, 20]);
    assert_eq!(e.cam.dims(), &[3, 96, 160]);
    // The map is the brute-force interpolation of the raw map, divided by its max (+ eps).
    let up = brute_force_upsample(&e.raw, (96, 160));
    let v = values(&up);
    let n = 96 * 160;
    let want: Vec<f64> = v
        .chunks(n)
        .flat_map(|img| {
            let m = img.iter().cloned().fold(0.0, f64::max);
            img.iter().map(move |x| x / (m + 1e-8)).collect::<Vec<_>>()
        })
        .collect();
    let want = Tensor::from_vec(want, (3, 96, 160), &Device::Cpu).unwrap();
    assert_close("cam", &e.cam, &want, 1e-13);
}

#[test]
fn upsampler_rejects_the_wrong_input_size() {
    let up = BilinearUpsampler::new((4, 6), (8, 12), DType::F32, &Device::Cpu).unwrap();
    assert_eq!((up.input(), up.output()), ((4, 6), (8, 12)));
    let x = Tensor::zeros((2, 6, 4), DType::F32, &Device::Cpu).unwrap();
    assert!(up.upsample(&x).is_err());
}

#[test]
fn upsampling_gradient_equals_finite_differences() {
    // L = sum(c ⊙ upsample(x)) is linear in x, so central differences are exact up to rounding.
    let mut rng = SplitMix64(8);
    let x = Var::from_tensor(
        &rng.tensor(&[2, 3, 4], 1.0, DType::F64, &Device::Cpu)
            .unwrap(),
    )
    .unwrap();
    let c = rng
        .tensor(&[2, 7, 9], 1.0, DType::F64, &Device::Cpu)
        .unwrap();
    let loss = |x: &Tensor| {
        upsample_bilinear(x, (7, 9))
            .unwrap()
            .mul(&c)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let grad = loss(x.as_tensor()).backward().unwrap();
    let got = values(grad.get(x.as_tensor()).unwrap());
    let base = values(x.as_tensor());
    for i in 0..base.len() {
        let shifted = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            values(&loss(
                &Tensor::from_vec(v, (2, 3, 4), &Device::Cpu).unwrap(),
            ))[0]
        };
        let fd = (shifted(1e-3) - shifted(-1e-3)) / 2e-3;
        assert!(
            (fd - got[i]).abs() < 1e-10,
            "element {i}: {} vs {fd}",
            got[i]
        );
    }
}

#[test]
fn normalising_an_all_zero_map_gives_zeros_and_finite_gradients() {
    for ties in [TieRule::Split, TieRule::Full] {
        for eps in [1e-8, 0.0] {
            let x = Var::zeros((2, 3, 5), DType::F32, &Device::Cpu).unwrap();
            let n = normalise(x.as_tensor(), &NormaliseOptions { eps, ties }).unwrap();
            assert!(values(&n).iter().all(|&v| v == 0.0));
            let g = n.sum_all().unwrap().backward().unwrap();
            assert!(
                values(g.get(x.as_tensor()).unwrap())
                    .iter()
                    .all(|v| v.is_finite())
            );
        }
    }
    // Negative values are clamped first: never a negative or infinite output.
    let neg = Tensor::new(&[[[-1f32, -2.], [-3., -4.]]], &Device::Cpu).unwrap();
    assert!(
        values(&normalise(&neg, &NormaliseOptions::default()).unwrap())
            .iter()
            .all(|&v| v == 0.0)
    );
}

#[test]
fn normalisation_divides_by_max_plus_eps() {
    let x = Tensor::new(
        &[[[1f64, 4.], [2., 0.5]], [[3., 0.], [0., 6.]]],
        &Device::Cpu,
    )
    .unwrap();
    let n = values(
        &normalise(
            &x,
            &NormaliseOptions {
                eps: 1e-3,
                ties: TieRule::Split,
            },
        )
        .unwrap(),
    );
    let want = [
        1. / 4.001,
        4. / 4.001,
        2. / 4.001,
        0.5 / 4.001,
        3. / 6.001,
        0.,
        0.,
        6. / 6.001,
    ];
    for (a, b) in n.iter().zip(want) {
        assert!((a - b).abs() < 1e-15);
    }
    assert_eq!(values(&image_max(&x, TieRule::Full).unwrap()), vec![4., 6.]);
}

/// L = sum(c ⊙ x / (max + eps)); by hand, with the max's gradient shared by the `n` tied maxima
/// (`split`) or given to each of them:
/// dL/dx_j = c_j/(M+eps) − [x_j tied] · share · sum(c ⊙ x)/(M+eps)², share = 1/n or 1.
fn tie_gradient_by_hand(x: &[f64], c: &[f64], eps: f64, split: bool) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::MIN, f64::max);
    let tied = x.iter().filter(|&&v| v == m).count() as f64;
    let share = if split { 1.0 / tied } else { 1.0 };
    let s: f64 = x.iter().zip(c).map(|(a, b)| a * b).sum();
    x.iter()
        .zip(c)
        .map(|(&xv, &cv)| {
            cv / (m + eps)
                - if xv == m {
                    share * s / (m + eps).powi(2)
                } else {
                    0.0
                }
        })
        .collect()
}

#[test]
fn tie_rules_split_or_repeat_the_gradient_of_the_max() {
    let data = [1.0, 3.0, 0.5, 3.0, 2.0, 3.0]; // three tied maxima
    let c = [0.3, -1.0, 2.0, 0.7, 1.1, -0.4];
    let eps = 0.01;
    for (ties, split) in [(TieRule::Split, true), (TieRule::Full, false)] {
        let x = Var::from_tensor(
            &Tensor::new(&data, &Device::Cpu)
                .unwrap()
                .reshape((1, 2, 3))
                .unwrap(),
        )
        .unwrap();
        let ct = Tensor::new(&c, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 3))
            .unwrap();
        let n = normalise(x.as_tensor(), &NormaliseOptions { eps, ties }).unwrap();
        assert_eq!(
            values(&n)[1],
            3.0 / 3.01,
            "the forward value is the max, exactly"
        );
        let g = n.mul(&ct).unwrap().sum_all().unwrap().backward().unwrap();
        let got = values(g.get(x.as_tensor()).unwrap());
        let want = tie_gradient_by_hand(&data, &c, eps, split);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{ties:?}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn without_ties_both_rules_equal_finite_differences() {
    let mut rng = SplitMix64(9);
    let base = rng
        .vec(2 * 4 * 5, 1.0)
        .iter()
        .map(|v| v.abs())
        .collect::<Vec<_>>();
    let c = rng
        .tensor(&[2, 4, 5], 1.0, DType::F64, &Device::Cpu)
        .unwrap();
    let loss = |x: &Tensor, ties| {
        values(
            &normalise(x, &NormaliseOptions { eps: 1e-3, ties })
                .unwrap()
                .mul(&c)
                .unwrap()
                .sum_all()
                .unwrap(),
        )[0]
    };
    for ties in [TieRule::Split, TieRule::Full] {
        let x = Var::from_tensor(&Tensor::from_vec(base.clone(), (2, 4, 5), &Device::Cpu).unwrap())
            .unwrap();
        let n = normalise(x.as_tensor(), &NormaliseOptions { eps: 1e-3, ties }).unwrap();
        let g = n.mul(&c).unwrap().sum_all().unwrap().backward().unwrap();
        let got = values(g.get(x.as_tensor()).unwrap());
        for i in 0..base.len() {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                loss(&Tensor::from_vec(v, (2, 4, 5), &Device::Cpu).unwrap(), ties)
            };
            let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
            assert!(
                (fd - got[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{ties:?} element {i}: {} vs {fd}",
                got[i]
            );
        }
    }
}

#[test]
fn candle_max_gives_the_full_gradient_to_every_tie() {
    // The candle 0.11 fact behind TieRule::Split (DESIGN.md §2); if it changes, Full changes too.
    let x = Var::from_tensor(&Tensor::new(&[[2f32, 5., 5.]], &Device::Cpu).unwrap()).unwrap();
    let g = x
        .as_tensor()
        .max_keepdim(1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(values(g.get(x.as_tensor()).unwrap()), vec![0., 1., 1.]);
}
