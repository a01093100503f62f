//! The stable BCE with logits and the softmax cross-entropy against their closed forms.

use candle_core::{DType, Device, Tensor, Var};
use ceod_core::{BceOptions, bce_with_logits, cross_entropy};

/// Per element, in f64: `−[p·t·log σ(x) + (1 − t)·log(1 − σ(x))]`, with `log σ(x)` written
/// as `−log1p(exp(−x))` for x ≥ 0 and `x − log1p(exp(x))` otherwise.
fn closed_form(x: f64, t: f64, p: f64) -> f64 {
    let log_sig = |z: f64| {
        if z >= 0.0 {
            -(-z).exp().ln_1p()
        } else {
            z - z.exp().ln_1p()
        }
    };
    -(p * t * log_sig(x) + (1.0 - t) * log_sig(-x))
}

#[test]
fn bce_at_extreme_logits_is_finite_and_exact() {
    let xs = [100.0, -100.0, 100.0, -100.0, 0.0, 17.0, -30.0];
    let ts = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.3];
    for dtype in [DType::F32, DType::F64] {
        for (&x, &t) in xs.iter().zip(&ts) {
            let xt = Tensor::new(&[x], &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let tt = Tensor::new(&[t], &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let got = bce_with_logits(&xt, &tt, &BceOptions::default())
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let want = closed_form(x, t, 1.0);
            let tol = if dtype == DType::F32 {
                1e-6 * want.abs().max(1.0)
            } else {
                1e-12
            };
            assert!(got.is_finite(), "{dtype:?} x={x} t={t}: {got}");
            assert!(
                (got - want).abs() <= tol,
                "{dtype:?} x={x} t={t}: {got} vs {want}"
            );
        }
    }
    // ±100: the loss is exactly 0 on the right side and exactly |x| on the wrong one.
    let x = Tensor::new(&[100f32, -100., 100., -100.], &Device::Cpu).unwrap();
    let t = Tensor::new(&[1f32, 0., 0., 1.], &Device::Cpu).unwrap();
    let each: Vec<f32> = (0..4)
        .map(|i| {
            bce_with_logits(
                &x.narrow(0, i, 1).unwrap(),
                &t.narrow(0, i, 1).unwrap(),
                &BceOptions::default(),
            )
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
        })
        .collect();
    assert_eq!(each, vec![0.0, 0.0, 100.0, 100.0]);
}

#[test]
fn pos_weight_matches_closed_form_and_gradient_is_sigmoid_minus_target() {
    let xs = [-3.0, -0.5, 0.0, 0.0, 1.5, 40.0];
    let ts = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    for p in [1.0, 3.0, 0.25] {
        let x = Var::new(&xs, &Device::Cpu).unwrap();
        let t = Tensor::new(&ts, &Device::Cpu).unwrap();
        let loss = bce_with_logits(
            x.as_tensor(),
            &t,
            &BceOptions {
                pos_weight: Some(p),
            },
        )
        .unwrap();
        let want: f64 = xs
            .iter()
            .zip(&ts)
            .map(|(&x, &t)| closed_form(x, t, p))
            .sum::<f64>()
            / xs.len() as f64;
        let got = loss.to_scalar::<f64>().unwrap();
        assert!((got - want).abs() < 1e-12, "p={p}: {got} vs {want}");
        // d/dx of −[p t log σ + (1 − t) log(1 − σ)] = (1 − t)·σ − p·t·(1 − σ), also at x = 0.
        let g = loss
            .backward()
            .unwrap()
            .get(x.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for ((&x, &t), g) in xs.iter().zip(&ts).zip(g) {
            let s = 1.0 / (1.0 + (-x).exp());
            let want = ((1.0 - t) * s - p * t * (1.0 - s)) / xs.len() as f64;
            assert!(
                (g - want).abs() < 1e-12,
                "p={p} x={x} t={t}: grad {g} vs {want}"
            );
        }
    }
}

#[test]
fn bce_rejects_mismatched_counts() {
    let x = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
    let t = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        bce_with_logits(&x, &t, &BceOptions::default()),
        Err(ceod_core::CoreError::InvalidInput(_))
    ));
}

#[test]
fn cross_entropy_matches_log_softmax_by_hand() {
    let rows = [[2.0f64, -1.0, 0.5], [1000.0, 0.0, -1000.0]];
    let labels = [2u32, 0];
    let x = Tensor::new(&rows, &Device::Cpu).unwrap();
    let t = Tensor::new(&labels, &Device::Cpu).unwrap();
    let got = cross_entropy(&x, &t).unwrap().to_scalar::<f64>().unwrap();
    let want: f64 = rows
        .iter()
        .zip(&labels)
        .map(|(r, &k)| {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            lse - r[k as usize]
        })
        .sum::<f64>()
        / 2.0;
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    let bad = Tensor::new(&[3u32, 0], &Device::Cpu).unwrap();
    assert!(cross_entropy(&x, &bad).is_err());
}
