//! The real datasets in ../shared/data (skipped when absent): a few samples of each load with
//! their masks at the right size.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use ceod_core::data::{Manifest, ManifestOptions, load_samples};
use ceod_core::{Preprocess, Resize};

fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("CEOD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} not found (set CEOD_DATA to the shared data folder)",
            dir.display()
        );
        None
    }
}

#[test]
fn magnetic_tile_jpegs_and_png_masks_load() {
    let Some(root) = shared_data() else { return };
    let csv = root.join("magnetic-tile/labels.csv");
    if !csv.is_file() {
        eprintln!("SKIP: {} not found", csv.display());
        return;
    }
    let opts = ManifestOptions {
        label_column: "defect".into(),
        ..ManifestOptions::default()
    };
    let m = Manifest::read_with_options(&csv, &opts).unwrap();
    assert!(m.samples.len() > 1000);
    let text = std::fs::read_to_string(&csv).unwrap();
    // every 200th row, with the mask pixel count (>= 128) that labels.csv states
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let pick: Vec<usize> = (0..m.samples.len()).step_by(200).collect();
    let samples: Vec<_> = pick.iter().map(|&i| m.samples[i].clone()).collect();
    // native size (no resize), so that mask counts can be compared with labels.csv
    for (k, &i) in pick.iter().enumerate() {
        let (w, h): (u32, u32) = (rows[i][4].parse().unwrap(), rows[i][5].parse().unwrap());
        let pre = Preprocess {
            width: w,
            height: h,
            ..Preprocess::default()
        };
        let loaded = samples[k].load(&pre).unwrap();
        let count = loaded
            .mask
            .unwrap()
            .data
            .iter()
            .filter(|&&v| v == 1)
            .count();
        assert_eq!(
            count,
            rows[i][6].parse::<usize>().unwrap(),
            "{}",
            rows[i][0]
        );
    }
    let pre = Preprocess {
        resize: Resize::Letterbox { fill: 0.0 },
        ..Preprocess::default()
    };
    for r in load_samples(&samples, &pre) {
        let s = r.unwrap();
        assert_eq!(s.image.data.len(), 128 * 128);
    }
}

#[test]
fn casting_impeller_rgb_jpegs_load_as_grey_and_rgb() {
    let Some(root) = shared_data() else { return };
    let csv = root.join("casting-impeller/labels.csv");
    if !csv.is_file() {
        eprintln!("SKIP: {} not found", csv.display());
        return;
    }
    let opts = ManifestOptions {
        label_column: "defect".into(),
        ..ManifestOptions::default()
    };
    let m = Manifest::read_with_options(&csv, &opts).unwrap();
    assert!(m.samples.iter().all(|s| s.split.is_some()));
    let few: Vec<_> = m.samples.iter().step_by(500).cloned().collect();
    for channels in [1, 3] {
        let pre = Preprocess {
            channels,
            mean: vec![0.5],
            std: vec![0.25],
            ..Preprocess::default()
        };
        for r in load_samples(&few, &pre) {
            let s = r.unwrap();
            assert_eq!(s.image.source_size, (300, 300));
            assert_eq!(s.image.data.len(), channels * 128 * 128);
            assert!(
                s.image
                    .data
                    .iter()
                    .all(|v| v.is_finite() && (-2.0..=2.0).contains(v))
            );
        }
    }
}
