//! The MVTec-style folder reader on a small tree built here.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ceod_core::DataError;
use ceod_core::data::{Split, read_mvtec};
use image::GrayImage;

fn touch_png(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    GrayImage::new(4, 4).save(p).unwrap();
}

#[test]
fn reads_train_test_and_masks() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for f in [
        "train/good/001.png",
        "train/good/000.png",
        "test/good/000.png",
        "test/crack/000.png",
        "test/crack/001.png",
        "test/scratch/000.png",
        "ground_truth/crack/000_mask.png",
        "ground_truth/scratch/000_mask.png",
    ] {
        touch_png(&r.join(f));
    }
    std::fs::write(r.join("train/good/readme.txt"), "not an image").unwrap();
    let s = read_mvtec(r).unwrap();
    let rows: Vec<(String, usize, Option<String>, Split)> = s
        .iter()
        .map(|x| {
            let rel = |p: &Path| p.strip_prefix(r).unwrap().to_string_lossy().into_owned();
            (
                rel(&x.image),
                x.label,
                x.mask.as_deref().map(rel),
                x.split.unwrap(),
            )
        })
        .collect();
    let row = |i: &str, l, m: Option<&str>, s| (i.to_string(), l, m.map(str::to_string), s);
    assert_eq!(
        rows,
        vec![
            row("train/good/000.png", 0, None, Split::Train),
            row("train/good/001.png", 0, None, Split::Train),
            row(
                "test/crack/000.png",
                1,
                Some("ground_truth/crack/000_mask.png"),
                Split::Test
            ),
            row("test/crack/001.png", 1, None, Split::Test),
            row("test/good/000.png", 0, None, Split::Test),
            row(
                "test/scratch/000.png",
                1,
                Some("ground_truth/scratch/000_mask.png"),
                Split::Test
            ),
        ]
    );
}

#[test]
fn a_folder_without_the_layout_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let e = read_mvtec(d.path()).unwrap_err();
    assert!(matches!(e, DataError::Layout { .. }));
    assert!(e.to_string().contains("train"), "{e}");
    assert!(read_mvtec(d.path().join("missing")).is_err());
}
