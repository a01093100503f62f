//! Decoy MNIST on the real MNIST files (skipped with a message when they are absent): the patch
//! rules checked pixel by pixel against the raw digits, the mask, and a short 10-class training.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(feature = "mnist"), allow(dead_code, unused_imports))]

use std::path::PathBuf;

use ceod_core::Preprocess;
use ceod_train::experiment::data::decoy_mnist::{
    Corner, DecoyMnistSpec, SIDE, decoy_value, read_mnist,
};
use ceod_train::experiment::data::{DataSpec, build};

/// `$CEOD_DATA`, else `../shared/data` beside the workspace; `None` (skip) without `mnist/`.
fn data_root() -> Option<PathBuf> {
    let root = match std::env::var_os("CEOD_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    if root.join("mnist/train-images-idx3-ubyte.gz").is_file() {
        Some(root)
    } else {
        eprintln!(
            "SKIPPED: no MNIST in {}/mnist (set CEOD_DATA to the folder holding mnist/)",
            root.display()
        );
        None
    }
}

fn pre() -> Preprocess {
    Preprocess {
        width: 28,
        height: 28,
        ..Default::default()
    }
}

fn spec(decoy: bool) -> DataSpec {
    DataSpec::DecoyMnist(DecoyMnistSpec {
        n_train: 200,
        n_val: 50,
        n_test: 300,
        decoy,
    })
}

/// The index in MNIST of an item named `train-00042` / `test-00042`.
fn index_of(name: &str) -> usize {
    name.rsplit('-').next().unwrap().parse().unwrap()
}

/// The corner whose 16 pixels all differ from the raw digit, and that it is the only
/// difference; `None` when nothing differs.
fn patch_of(data: &[f32], raw: &[u8]) -> Option<(Corner, f32)> {
    let differs: Vec<usize> = (0..SIDE * SIDE)
        .filter(|&p| data[p] != f32::from(raw[p]) / 255.0)
        .collect();
    if differs.is_empty() {
        return None;
    }
    let corner = Corner::ALL
        .into_iter()
        .find(|c| c.contains(differs[0] % SIDE, differs[0] / SIDE, SIDE))
        .expect("a changed pixel outside every corner");
    assert!(
        differs
            .iter()
            .all(|&p| corner.contains(p % SIDE, p / SIDE, SIDE)),
        "pixels changed outside {corner:?}"
    );
    let (x0, y0) = corner.origin(SIDE);
    let v = data[y0 * SIDE + x0];
    for y in y0..y0 + 4 {
        for x in x0..x0 + 4 {
            assert_eq!(data[y * SIDE + x], v, "the patch is not uniform");
        }
    }
    Some((corner, v))
}

#[cfg(feature = "mnist")]
#[test]
fn decoys_follow_the_rules_of_ross_et_al() {
    let Some(root) = data_root() else { return };
    let raw = read_mnist(&root.join("mnist")).unwrap();
    assert_eq!(raw.train_labels.len(), 60_000);
    assert_eq!(raw.test_labels.len(), 10_000);
    // the first ten test labels, as the data's MANIFEST says
    assert_eq!(&raw.test_labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let d = build(&spec(true), &root, &pre(), 0).unwrap();
    let px = SIDE * SIDE;
    assert_eq!(
        (
            d.dataset.train.len(),
            d.dataset.val.len(),
            d.dataset.test.len()
        ),
        (200, 50, 300)
    );
    // stratified: each digit in proportion to its MNIST count (within one image)
    for k in 0..10u8 {
        let n = d
            .dataset
            .train
            .iter()
            .filter(|it| it.sample.label == usize::from(k))
            .count() as f64;
        let share = raw.train_labels.iter().filter(|&&l| l == k).count() as f64 / 60_000.0;
        assert!((n - 200.0 * share).abs() < 1.0, "digit {k}: {n} of 200");
    }
    // train and validation: one patch whose grey level is 255 − 25·label
    let mut corners = [0usize; 4];
    for it in d.dataset.train.iter().chain(&d.dataset.val) {
        let i = index_of(&it.name);
        assert_eq!(usize::from(raw.train_labels[i]), it.sample.label);
        let (c, v) = patch_of(
            &it.sample.image.data,
            &raw.train_images[i * px..(i + 1) * px],
        )
        .unwrap_or_else(|| panic!("{} has no patch", it.name));
        assert_eq!(v, decoy_value(raw.train_labels[i]), "{}", it.name);
        corners[Corner::ALL.iter().position(|&k| k == c).unwrap()] += 1;
        let m = it.sample.mask.as_ref().unwrap();
        assert_eq!(m.data.iter().filter(|&&v| v == 1).count(), 28 * 28 - 4 * 16);
    }
    assert!(corners.iter().all(|&n| n > 30), "corners used {corners:?}");
    // the train and validation digits are distinct MNIST images
    let mut ids: Vec<usize> = d
        .dataset
        .train
        .iter()
        .chain(&d.dataset.val)
        .map(|it| index_of(&it.name))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    // test: the patch is a digit's grey level, but not the label's (beyond chance)
    let mut agree = 0;
    for it in &d.dataset.test {
        let i = index_of(&it.name);
        let (_, v) = patch_of(
            &it.sample.image.data,
            &raw.test_images[i * px..(i + 1) * px],
        )
        .unwrap_or_else(|| panic!("{} has no patch", it.name));
        assert!(
            (0..10u8).any(|k| decoy_value(k) == v),
            "{}: {v} is no digit's level",
            it.name
        );
        agree += usize::from(v == decoy_value(raw.test_labels[i]));
    }
    // chance is 1 in 10 (30 of 300)
    assert!(agree < 60, "{agree} of 300 test patches encode the label");
    // the clean variant: the same test digits, untouched
    let (name, clean) = &d.test_variants[0];
    assert_eq!(name, "clean");
    for (a, b) in clean.iter().zip(&d.dataset.test) {
        assert_eq!(a.name, b.name);
        let i = index_of(&a.name);
        assert!(patch_of(&a.sample.image.data, &raw.test_images[i * px..(i + 1) * px]).is_none());
    }
    // decoy false: no patch anywhere; the same seed picks the same digits
    let c = build(&spec(false), &root, &pre(), 0).unwrap();
    for (a, b) in c.dataset.train.iter().zip(&d.dataset.train) {
        assert_eq!(a.name, b.name);
        let i = index_of(&a.name);
        assert!(
            patch_of(
                &a.sample.image.data,
                &raw.train_images[i * px..(i + 1) * px]
            )
            .is_none()
        );
    }
    // another seed, other digits
    let e = build(&spec(true), &root, &pre(), 1).unwrap();
    assert_ne!(e.dataset.train[0].name, d.dataset.train[0].name);
    // MNIST stays 28×28 grey
    let wrong = Preprocess {
        width: 32,
        height: 32,
        ..Default::default()
    };
    let err = build(&spec(true), &root, &wrong, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("28x28"), "{err}");
}

#[cfg(feature = "mnist")]
#[test]
fn ten_classes_train_on_decoy_mnist() {
    let Some(root) = data_root() else { return };
    let d = build(&spec(true), &root, &pre(), 2).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model = ceod_core::ModelConfig {
        in_channels: 1,
        widths: vec![4, 8],
        pool: vec![true, true],
        pool_size: 2,
        num_outputs: 10,
    };
    let model_path = tmp.path().join("model.json");
    std::fs::write(&model_path, serde_json::to_string(&model).unwrap()).unwrap();
    let argv = [
        "ceod-train",
        "train",
        "--synth",
        "1",
        "--size",
        "28x28",
        "--model-config",
        model_path.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--omega",
        "1",
        "--name",
        "mnist",
        "--runs-dir",
        tmp.path().to_str().unwrap(),
    ];
    let cli = <ceod_train::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let ceod_train::cli::Command::Train(a) = cli.command else {
        unreachable!()
    };
    let cfg = ceod_train::config::TrainConfig::from_args(&a).unwrap();
    let mut sink = ceod_train::progress::default_sink();
    let out = ceod_train::train_loop::run_training_on(&cfg, d.dataset, false, None, sink.as_mut())
        .unwrap();
    let val = &out.history[0].val;
    assert_eq!(val.n, 50);
    assert_eq!(val.n_with_mask, 50);
    assert!(val.accuracy.is_some() && val.auroc.is_some() && val.hot_share.is_some());
    assert!(out.history[0].train_overlap > 0.0);
}

#[cfg(not(feature = "mnist"))]
#[test]
fn without_the_mnist_feature_the_kind_is_a_clear_error() {
    let root = std::env::temp_dir();
    let err = build(&spec(true), &root, &pre(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`mnist` feature"), "{err}");
    assert!(read_mnist(&root).is_err());
}
