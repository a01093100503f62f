//! The benchmark batch shared by `benches/cpu_model.rs` and `examples/cpu_time.rs`: the
//! PyTorch reference's `batch.safetensors` when present (`CEOD_FIXTURES` overrides the folder),
//! else 32 synthetic conveyor images at 128×128.

use candle_core::{DType, Device, Tensor};

/// `(images B×1×128×128, masks B×128×128, labels B)`, B = 32.
pub fn batch(dev: &Device) -> (Tensor, Tensor, Tensor) {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let path = dir.join("batch.safetensors");
    if path.is_file() {
        let t = candle_core::safetensors::load(&path, dev).unwrap();
        let f = |k: &str| t[k].to_dtype(DType::F32).unwrap();
        return (f("images"), f("masks"), f("labels"));
    }
    eprintln!(
        "fixtures not found in {}: synthetic conveyor images",
        dir.display()
    );
    let cfg = ceod_core::synth::SynthConfig {
        n: 32,
        ..Default::default()
    };
    let s = ceod_core::synth::generate(&cfg).unwrap();
    let img: Vec<f32> = s.iter().flat_map(|x| x.image.clone()).collect();
    let msk: Vec<f32> = s
        .iter()
        .flat_map(|x| x.mask.iter().map(|&m| f32::from(m)))
        .collect();
    let lab: Vec<f32> = s.iter().map(|x| x.label as f32).collect();
    (
        Tensor::from_vec(img, (32, 1, 128, 128), dev).unwrap(),
        Tensor::from_vec(msk, (32, 128, 128), dev).unwrap(),
        Tensor::from_vec(lab, 32, dev).unwrap(),
    )
}
