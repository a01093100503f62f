//! The facts about candle 0.11.1 (DESIGN.md §2) that ceod-core relies on. If one of these tests
//! fails after a candle upgrade, the workaround it justifies can be revisited.

use candle_core::{DType, Device, Tensor, Var};

/// Gradients of intermediate tensors are not kept, and the backward pass is detached between
/// nodes, so there are no (correct) second-order derivatives — hence alpha from a second backward
/// through the head on a detached copy.
#[test]
fn no_intermediate_gradients_and_no_second_order() {
    let x = Var::new(&[1f64, 2., 3.], &Device::Cpu).unwrap();
    let y = x.as_tensor().sqr().unwrap();
    let z = y.mul(x.as_tensor()).unwrap(); // x³
    let grads = z.sum_all().unwrap().backward().unwrap();
    assert!(
        grads.get(&y).is_none(),
        "the intermediate y kept a gradient"
    );
    let g = grads.get(x.as_tensor()).unwrap();
    assert_eq!(g.to_vec1::<f64>().unwrap(), vec![3., 12., 27.]); // 3x²
    // d/dx sum(3x²) = 6x with second-order support; candle's detached intermediate gradients
    // give something else (or nothing).
    let second = g.sum_all().unwrap().backward().unwrap();
    if let Some(h) = second.get(x.as_tensor()) {
        assert_ne!(h.to_vec1::<f64>().unwrap(), vec![6., 12., 18.]);
    }
}

/// `max_pool2d`'s backward is scaled by 1/(k·k): the gradient of `sum(max_pool2d(x))` is 1 at each
/// window's maximum (finite differences), candle gives 1/4 for k = 2. ceod-core uses its own pool.
#[test]
fn max_pool2d_backward_is_scaled() {
    let v: Vec<f32> = (0..16).map(|i| ((i * 7) % 16) as f32).collect();
    let x = Var::from_tensor(&Tensor::from_vec(v.clone(), (1, 1, 4, 4), &Device::Cpu).unwrap())
        .unwrap();
    let y = x.as_tensor().max_pool2d(2).unwrap().sum_all().unwrap();
    let g = y
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // finite difference at each window's max: d sum / d x = 1
    let total: f32 = g.iter().sum();
    assert_eq!(total, 1.0, "4 windows × 1/4 instead of 4 × 1 (got {g:?})");
    let ours = ceod_core::max_pool(x.as_tensor(), 2)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = ours
        .backward()
        .unwrap()
        .get(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap();
    assert_eq!(g.to_scalar::<f32>().unwrap(), 4.0);
}

/// `max` gives the full gradient to every tied maximum (PyTorch's `amax` splits it evenly).
#[test]
fn max_gives_full_gradient_to_each_tie() {
    let x = Var::new(&[1f32, 3., 3.], &Device::Cpu).unwrap();
    let g = x.as_tensor().max(0).unwrap().backward().unwrap();
    assert_eq!(
        g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
        vec![0., 1., 1.]
    );
}

/// `VarMap::load` ignores tensors in the file that the model does not have (so the checkpoint
/// loader checks names itself).
#[test]
fn varmap_load_ignores_extra_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let a = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
    let extra = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("a".to_string(), a), ("stray".to_string(), extra)]),
        &path,
    )
    .unwrap();
    let mut vm = candle_nn::VarMap::new();
    let _ = vm
        .get(2, "a", candle_nn::Init::Const(0.), DType::F32, &Device::Cpu)
        .unwrap();
    vm.load(&path).unwrap();
    assert_eq!(vm.all_vars().len(), 1);
}

/// candle-nn's BCE with logits overflows from |logit| ≈ 17 in f32; the stable form does not.
#[test]
fn candle_nn_bce_overflows() {
    let x = Tensor::new(&[17f32], &Device::Cpu).unwrap();
    let t = Tensor::new(&[0f32], &Device::Cpu).unwrap();
    let theirs = candle_nn::loss::binary_cross_entropy_with_logit(&x, &t)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(!theirs.is_finite(), "candle-nn gave {theirs}");
    let ours = ceod_core::bce_with_logits(&x, &t, &Default::default())
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((ours - 17.0).abs() < 1e-5, "{ours}");
}

/// The CPU generator cannot be seeded, so weights come from ceod-core's own seeded generator.
#[test]
fn cpu_rng_cannot_be_seeded() {
    assert!(Device::Cpu.set_seed(0).is_err());
}
