//! ceod-core against the PyTorch reference (`../shared/fixtures/`, made by
//! `../shared/bench-ref/ceod_ref.py`): logits, CAMs, soft and exact overlap distances, BCE and
//! CEOD, their gradients, and the weights after one Adam step, for given weights and a batch.
//!
//! Tolerances: 1e-4 relative to the largest magnitude of each reference tensor (scalars: relative
//! to the value), the exact overlap distance to 1e-6 on the oracle's own CAM. The fixtures' own
//! options are used: `paper` coefficient, one convex hull, threshold 0.5, T = 0.05, omega 1.
//!
//! The folder is located as `../shared/fixtures` relative to the workspace root, or by the
//! `CEOD_FIXTURES` environment variable; without it the tests print why and pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ceod_core::{
    BceOptions, CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets,
    bce_with_logits, ceod_loss, exact_overlap_distance, load_pytorch_weights,
    soft_overlap_distance,
};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.join("batch.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: fixtures not found at {} (set CEOD_FIXTURES to the folder)",
            dir.display()
        );
        None
    }
}

fn load(path: PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn vecf(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// max |a − b| / max |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.elem_count(), b.elem_count(), "element counts");
    let (a, b) = (vecf(a), vecf(b));
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// max |a − b| / max |b|, asserted ≤ tol.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    let e = rel_err(a, b);
    assert!(
        e <= tol,
        "{what}: max |diff| / max |ref| = {e:.3e} > {tol:e}"
    );
}

/// Distances live in [0, 1]: max |a − b| asserted ≤ tol (relative to 1).
fn assert_distance(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    let diff = vecf(a)
        .iter()
        .zip(&vecf(b))
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff <= tol, "{what}: max |diff| {diff:.3e} > {tol:e}");
}

fn assert_scalar(what: &str, a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1e-30),
        "{what}: {a} vs {b} (rel {:.3e})",
        (a - b).abs() / b.abs()
    );
}

struct Case {
    net: CeodNet,
    varmap: candle_nn::VarMap,
    oracle: HashMap<String, Tensor>,
    input: CeodInput,
}

fn case(dir: &std::path::Path, weights: &str, oracle: &str) -> Case {
    let batch = load(dir.join("batch.safetensors"));
    let (net, varmap) =
        load_pytorch_weights(dir.join(weights), &ModelConfig::ceodnet_s(), &Device::Cpu).unwrap();
    let input = CeodInput {
        images: batch["images"].clone(),
        targets: Targets::Binary(batch["labels"].clone()),
        masks: Some(batch["masks"].clone()),
        has_mask: None,
    };
    Case {
        net,
        varmap,
        oracle: load(dir.join(oracle)),
        input,
    }
}

fn soft_reference() -> CeodOptions {
    CeodOptions::reference(OverlapMode::Soft)
}

/// Forward values: logits, CAM, soft distance, BCE, CEOD.
fn check_forward(w: &str, c: &Case, out: &ceod_core::CeodOutput) {
    assert_close(
        &format!("{w} logits"),
        &out.logits,
        &c.oracle["logits"],
        1e-4,
    );
    assert_close(
        &format!("{w} cam"),
        out.cam.as_ref().unwrap(),
        &c.oracle["cam"],
        1e-4,
    );
    let soft: Vec<f64> = out.parts.soft_d.iter().map(|d| d.unwrap()).collect();
    let soft = Tensor::new(soft, &Device::Cpu).unwrap();
    assert_distance(
        &format!("{w} soft_d"),
        &soft,
        &c.oracle["soft_overlap_d"],
        1e-4,
    );
    let bce = c.oracle["bce"].to_vec1::<f32>().unwrap()[0] as f64;
    let ceod = c.oracle["ceod"].to_vec1::<f32>().unwrap()[0] as f64;
    assert_scalar(&format!("{w} bce"), out.parts.ce, bce, 1e-4);
    assert_scalar(&format!("{w} ceod"), out.parts.total, ceod, 1e-4);
}

/// Forward values for the `bce40` weights (the other two files are checked with their
/// gradients below), and the plain `Module::forward`.
#[test]
fn forward_values_match_pytorch() {
    let Some(dir) = fixtures() else { return };
    let w = "weights_bce40.safetensors";
    let c = case(&dir, w, "oracle_out_bce40.safetensors");
    let out = ceod_loss(&c.net, &c.input, &soft_reference()).unwrap();
    check_forward(w, &c, &out);
    let plain = c.net.forward(&c.input.images).unwrap();
    assert_close(&format!("{w} forward"), &plain, &c.oracle["logits"], 1e-4);
}

/// The BCE of the oracle's own logits (independent of the network).
#[test]
fn bce_of_oracle_logits_matches() {
    let Some(dir) = fixtures() else { return };
    let batch = load(dir.join("batch.safetensors"));
    for o in [
        "oracle_out.safetensors",
        "oracle_out_bce20.safetensors",
        "oracle_out_bce40.safetensors",
    ] {
        let oracle = load(dir.join(o));
        let bce = bce_with_logits(&oracle["logits"], &batch["labels"], &BceOptions::default())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let want = oracle["bce"].to_vec1::<f32>().unwrap()[0] as f64;
        assert_scalar(o, bce, want, 1e-5);
    }
}

/// The exact distance on the oracle's own CAM (pixels within a few ULP of 0.5 could flip
/// otherwise), with the fixtures' options, and the soft distance of that CAM.
#[test]
fn exact_and_soft_distance_on_oracle_cam() {
    let Some(dir) = fixtures() else { return };
    let batch = load(dir.join("batch.safetensors"));
    for o in [
        "oracle_out.safetensors",
        "oracle_out_bce20.safetensors",
        "oracle_out_bce40.safetensors",
    ] {
        let oracle = load(dir.join(o));
        let soft =
            soft_overlap_distance(&oracle["cam"], &batch["masks"], &soft_reference()).unwrap();
        assert_distance(
            &format!("{o} soft on oracle cam"),
            &soft,
            &oracle["soft_overlap_d"],
            1e-5,
        );
        let exact = exact_overlap_distance(&oracle["cam"], &batch["masks"], &soft_reference());
        if !cfg!(feature = "overlap") {
            assert!(matches!(
                exact,
                Err(ceod_core::CoreError::OverlapFeatureDisabled { .. })
            ));
            eprintln!("SKIP exact part: build with --features overlap");
            continue;
        }
        let exact: Vec<f64> = exact.unwrap().into_iter().map(|d| d.unwrap()).collect();
        let want = vecf(&oracle["exact_overlap_d"]);
        for (i, (a, b)) in exact.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-6, "{o} sample {i}: exact {a} vs {b}");
        }
    }
}

/// Straight-through: the forward value is BCE + mean(exact distance) — the paper's CEOD.
#[cfg(feature = "overlap")]
#[test]
fn straight_through_value_is_paper_ceod() {
    let Some(dir) = fixtures() else { return };
    let c = case(
        &dir,
        "weights_bce20.safetensors",
        "oracle_out_bce20.safetensors",
    );
    let out = ceod_loss(
        &c.net,
        &c.input,
        &CeodOptions::reference(OverlapMode::StraightThrough),
    )
    .unwrap();
    let exact = vecf(&c.oracle["exact_overlap_d"]);
    let bce = c.oracle["bce"].to_vec1::<f32>().unwrap()[0] as f64;
    let mean = exact.iter().sum::<f64>() / exact.len() as f64;
    assert_scalar("ST total", out.parts.total, bce + mean, 1e-4);
    let ours: Vec<f64> = out.parts.exact_d.iter().map(|d| d.unwrap()).collect();
    let worst = ours
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-3, "exact distance on our own cam: worst {worst}");
}

/// The tolerance for the gradient of `name` under `weights`.
///
/// 1e-4 everywhere, except conv1–3 under the trained weights (`bce20`): there, max-pool windows
/// in the saturated image regions (pixels clipped to 1.0) hold maxima that are equal up to the
/// last bit, and which one wins in f32 depends on the convolution's rounding, so the gradient is
/// routed to a different (equally valid) element now and then. Measured on this machine, max
/// |diff| / max |ref| of `grad_bce.conv1.bias`: 1.4e-3 in f32; 1.1e-4 when the same network runs
/// in f64, or in f32 with maxima within 1e-6 relative counted as ties. So the routing, not the
/// maths, is the difference; these get 2e-3.
///
/// Under the init weights the BCE gradients nearly cancel over the two labels (e.g.
/// `grad_bce.conv4.bias` is about 1e-3 at most), so the same f32 routing shows at 2e-4: the
/// network run in f64 (candle's ops or the fast CPU path alike) differs from the f32 oracle by
/// 2.34e-4 there, and the fast path's f32 result equals that f64 value (under `bce20` the fast
/// path's `grad_bce.conv4.bias` differs by 3.1e-4; not checked in f64). The rest get 5e-4.
fn grad_tolerance(weights: &str, name: &str) -> f64 {
    let behind_pools = ["conv1.", "conv2.", "conv3."]
        .iter()
        .any(|p| name.starts_with(p));
    if weights != "weights.safetensors" && behind_pools {
        2e-3
    } else {
        5e-4
    }
}

/// Forward values, gradients of BCE and of CEOD (soft), and one Adam step (candle-nn's AdamW,
/// weight decay 0), for the init and `bce20` weights.
#[test]
fn gradients_and_adam_step_match_pytorch() {
    let Some(dir) = fixtures() else { return };
    for (w, o) in [
        ("weights.safetensors", "oracle_out.safetensors"),
        ("weights_bce20.safetensors", "oracle_out_bce20.safetensors"),
    ] {
        let c = case(&dir, w, o);
        let params: Vec<(String, candle_core::Var)> = {
            let data = c.varmap.data().lock().unwrap();
            ModelConfig::ceodnet_s()
                .parameter_shapes()
                .into_iter()
                .map(|(n, _)| (n.clone(), data[&n].clone()))
                .collect()
        };
        // One forward pass: its values, then the gradients of its BCE part and of the whole
        // (soft; straight-through has the same gradient).
        let out = ceod_loss(&c.net, &c.input, &soft_reference()).unwrap();
        check_forward(w, &c, &out);
        let g = out.ce.backward().unwrap();
        for (name, var) in &params {
            let got = g
                .get(var)
                .unwrap_or_else(|| panic!("no bce gradient for {name}"));
            let want = &c.oracle[&format!("grad_bce.{name}")];
            assert_close(
                &format!("{w} grad_bce.{name}"),
                got,
                want,
                grad_tolerance(w, name),
            );
        }
        let g = out.total.backward().unwrap();
        for (name, var) in &params {
            let got = g
                .get(var)
                .unwrap_or_else(|| panic!("no ceod gradient for {name}"));
            let want = &c.oracle[&format!("grad_ceod.{name}")];
            assert_close(
                &format!("{w} grad_ceod.{name}"),
                got,
                want,
                grad_tolerance(w, name),
            );
        }
        let before: Vec<Tensor> = params
            .iter()
            .map(|(_, v)| v.as_tensor().copy().unwrap())
            .collect();
        let mut opt = AdamW::new(
            params.iter().map(|(_, v)| v.clone()).collect(),
            ParamsAdamW {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
        )
        .unwrap();
        opt.step(&g).unwrap();
        for ((name, var), p0) in params.iter().zip(&before) {
            let want = &c.oracle[&format!("adam1_ceod.{name}")];
            assert_close(
                &format!("{w} adam1_ceod.{name}"),
                var.as_tensor(),
                want,
                1e-4,
            );
            // The step itself, lr · g/(|g| + eps) ≈ ±1e-3 per element, to 1 % of lr.
            let step = (var.as_tensor() - p0).unwrap();
            let want_step = (want - p0).unwrap();
            let diff = vecf(&(step - want_step).unwrap())
                .into_iter()
                .fold(0f64, |m, v| m.max(v.abs()));
            assert!(diff <= 1e-5, "{w} adam step of {name}: max |diff| {diff:e}");
        }
    }
}
