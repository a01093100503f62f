//! The one-file checkpoint: round trip, and the typed errors for a truncated file, a wrong
//! shape, a missing card, an unknown version and stray or missing tensors.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use ceod_core::{
    CeodNet, CheckpointError, CoreError, ModelCard, ModelConfig, Preprocess, load_checkpoint,
    load_checkpoint_trainable, load_pytorch_weights, read_model_card, save_checkpoint,
};

fn card(cfg: &ModelConfig) -> ModelCard {
    let mut card = ModelCard::new(cfg.clone(), Preprocess::default());
    card.threshold = 0.37;
    card.provenance.dataset = "synthetic:conveyor seed=3".into();
    card.provenance.omega = 0.5;
    card.provenance.epochs = 12;
    card.provenance.metrics.insert("auroc".into(), 0.93);
    card.provenance
        .extra
        .insert("mode".into(), serde_json::json!("straight-through"));
    card
}

fn small() -> ModelConfig {
    ModelConfig {
        widths: vec![4, 8],
        pool: vec![true, false],
        ..ModelConfig::ceodnet_s()
    }
}

/// Writes `tensors` with optional metadata as a raw safetensors file.
fn write_raw(
    path: &std::path::Path,
    tensors: &[(String, Tensor)],
    meta: Option<HashMap<String, String>>,
) {
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), meta).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn round_trip_gives_identical_logits_and_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let cfg = small();
    let (net, _) = CeodNet::seeded(&cfg, 9, DType::F32, &Device::Cpu).unwrap();
    let c = card(&cfg);
    save_checkpoint(&path, &net, &c).unwrap();
    // no temporary file left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.safetensors")]);
    let (back, back_card) = load_checkpoint(&path, &Device::Cpu).unwrap();
    assert_eq!(back_card, c);
    assert_eq!(read_model_card(&path).unwrap(), c);
    let x = Tensor::rand(0f32, 1., (3, 1, 16, 24), &Device::Cpu).unwrap();
    let a = net
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = back
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, b, "logits must be bit-identical");
    let (_, vm, _) = load_checkpoint_trainable(&path, &Device::Cpu).unwrap();
    assert_eq!(vm.all_vars().len(), cfg.parameter_shapes().len());
    // the card is plain JSON under the `ceod` key
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["ceod"]).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["model"]["widths"], serde_json::json!([4, 8]));
}

#[test]
fn truncated_file_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let cfg = small();
    let (net, _) = CeodNet::seeded(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    save_checkpoint(&path, &net, &card(&cfg)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() - 10, bytes.len() / 2, 5] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = load_checkpoint(&path, &Device::Cpu).unwrap_err();
        assert!(
            matches!(err, CoreError::Checkpoint(CheckpointError::Format { .. })),
            "{keep}: {err}"
        );
    }
    let missing = load_checkpoint(dir.path().join("nope.safetensors"), &Device::Cpu).unwrap_err();
    assert!(matches!(
        missing,
        CoreError::Checkpoint(CheckpointError::Io { .. })
    ));
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let cfg = small();
    let (net, _) = CeodNet::seeded(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let mut tensors = net.named_tensors();
    tensors[2].1 = Tensor::zeros((8, 3, 3, 3), DType::F32, &Device::Cpu).unwrap(); // conv2.weight
    let meta = HashMap::from([(
        "ceod".to_string(),
        serde_json::to_string(&card(&cfg)).unwrap(),
    )]);
    write_raw(&path, &tensors, Some(meta));
    let err = load_checkpoint(&path, &Device::Cpu).unwrap_err();
    match &err {
        CoreError::Checkpoint(CheckpointError::ShapeMismatch {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "conv2.weight");
            assert_eq!(expected, &vec![8, 4, 3, 3]);
            assert_eq!(found, &vec![8, 3, 3, 3]);
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("conv2.weight")
            && msg.contains("[8, 3, 3, 3]")
            && msg.contains("[8, 4, 3, 3]"),
        "{msg}"
    );
}

#[test]
fn missing_card_unknown_version_and_stray_tensors_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small();
    let (net, _) = CeodNet::seeded(&cfg, 1, DType::F32, &Device::Cpu).unwrap();
    let tensors = net.named_tensors();

    let plain = dir.path().join("plain.safetensors");
    write_raw(
        &plain,
        &tensors,
        Some(HashMap::from([("model".to_string(), "x".to_string())])),
    );
    let err = load_checkpoint(&plain, &Device::Cpu).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Checkpoint(CheckpointError::MissingCard { .. })
        ),
        "{err}"
    );
    // ...but it loads as plain weights
    let (w, _) = load_pytorch_weights(&plain, &cfg, &Device::Cpu).unwrap();
    assert_eq!(w.config(), &cfg);

    let mut json: serde_json::Value = serde_json::to_value(card(&cfg)).unwrap();
    json["format_version"] = serde_json::json!(2);
    let v2 = dir.path().join("v2.safetensors");
    write_raw(
        &v2,
        &tensors,
        Some(HashMap::from([("ceod".to_string(), json.to_string())])),
    );
    let err = load_checkpoint(&v2, &Device::Cpu).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Checkpoint(CheckpointError::UnsupportedVersion { found: 2, .. })
        ),
        "{err}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    write_raw(
        &garbage,
        &tensors,
        Some(HashMap::from([(
            "ceod".to_string(),
            "{not json".to_string(),
        )])),
    );
    let err = load_checkpoint(&garbage, &Device::Cpu).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Checkpoint(CheckpointError::InvalidCard { .. })
        ),
        "{err}"
    );

    let meta = HashMap::from([(
        "ceod".to_string(),
        serde_json::to_string(&card(&cfg)).unwrap(),
    )]);
    let mut extra = tensors.clone();
    extra.push((
        "conv9.weight".into(),
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
    ));
    let stray = dir.path().join("stray.safetensors");
    write_raw(&stray, &extra, Some(meta.clone()));
    let err = load_checkpoint(&stray, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, CoreError::Checkpoint(CheckpointError::UnexpectedTensor { name, .. }) if name == "conv9.weight"),
        "{err}"
    );

    let short = dir.path().join("short.safetensors");
    write_raw(&short, &tensors[1..], Some(meta));
    let err = load_checkpoint(&short, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, CoreError::Checkpoint(CheckpointError::MissingTensor { name, .. }) if name == "conv1.weight"),
        "{err}"
    );
}

#[test]
fn card_must_describe_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let (net, _) = CeodNet::seeded(&small(), 1, DType::F32, &Device::Cpu).unwrap();
    let err = save_checkpoint(
        dir.path().join("m.safetensors"),
        &net,
        &card(&ModelConfig::ceodnet_s()),
    );
    assert!(matches!(err, Err(CoreError::InvalidInput(_))));
}

/// A checkpoint from PyTorch with these names loads as is: the fixtures' weights.
#[test]
fn pytorch_weights_load_and_save_as_checkpoint() {
    let dir = std::env::var_os("CEOD_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let w = dir.join("weights.safetensors");
    if !w.is_file() {
        eprintln!("SKIP: {} not found (set CEOD_FIXTURES)", w.display());
        return;
    }
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = load_pytorch_weights(&w, &cfg, &Device::Cpu).unwrap();
    let raw = candle_core::safetensors::load(&w, &Device::Cpu).unwrap();
    for (name, t) in net.named_tensors() {
        assert_eq!(
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            raw[&name].flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("m.safetensors");
    save_checkpoint(&path, &net, &ModelCard::new(cfg, Preprocess::default())).unwrap();
    // and our file reads back with plain safetensors under the same names (for PyTorch)
    let back = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    assert_eq!(back.len(), raw.len());
    assert!(raw.keys().all(|k| back.contains_key(k)));
}
