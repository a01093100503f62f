//! The casting-impeller experiment data: decoys only on the right images and never on the
//! area of interest (checked pixel by pixel against the same images prepared without a decoy),
//! on a synthetic folder always and on the real data when `../shared/data` has it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ceod_core::{Mask, Preprocess};
use ceod_train::dataset::Item;
use ceod_train::experiment::data::casting::{CastingSpec, DECOY_ON_GOOD, prepare_image};
use ceod_train::experiment::data::{DataSpec, ExperimentData, build};
use image::{GrayImage, Luma};

/// The data root: `$CEOD_DATA`, else `../shared/data` beside the workspace.
fn data_root() -> PathBuf {
    match std::env::var_os("CEOD_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// Whether a pixel centre of a `s × s` image is on the synthetic impeller: a dark ring of
/// outer radius `0.4 s` around a light hub hole of radius `0.08 s`, filled by the rule.
fn on_part(x: u32, y: u32, s: u32) -> (bool, bool) {
    let c = s as f32 / 2.0;
    let d = (x as f32 + 0.5 - c).hypot(y as f32 + 0.5 - c);
    (d <= 0.4 * s as f32, d <= 0.08 * s as f32)
}

/// A synthetic casting folder under `root/casting-impeller`: `n` defective and `n` good
/// train images, `m` of each in test, 200×200 grey PNGs.
fn synthetic_folder(root: &Path, n: usize, m: usize) {
    let dir = root.join("casting-impeller");
    let s = 200;
    let mut csv = String::from("image,split,class,defect,width,height,pil_mode\n");
    for (split, k) in [("train", n), ("test", m)] {
        for (class, label) in [("def_front", 1), ("ok_front", 0)] {
            std::fs::create_dir_all(dir.join(split).join(class)).unwrap();
            for i in 0..k {
                let img = GrayImage::from_fn(s, s, |x, y| {
                    let (part, hole) = on_part(x, y, s);
                    let v = if part && !hole {
                        70 + ((x * 7 + y * 3 + i as u32) % 20) as u8
                    } else {
                        200
                    };
                    Luma([v])
                });
                let rel = format!("{split}/{class}/img_{label}_{i}.png");
                img.save(dir.join(&rel)).unwrap();
                csv.push_str(&format!("{rel},{split},{class},{label},{s},{s},L\n"));
            }
        }
    }
    std::fs::write(dir.join("labels.csv"), csv).unwrap();
}

/// The pixels where `item`'s image differs from the same file prepared without a decoy.
fn decoy_pixels(item: &Item, pre: &Preprocess, spec: &CastingSpec, seed: u64) -> Vec<usize> {
    let path = item.path.as_ref().unwrap();
    let clean = prepare_image(path, item.sample.label, pre, &spec.aoi, None, seed).unwrap();
    assert_eq!(clean.item.sample.mask, item.sample.mask, "{}", item.name);
    let (a, b) = (&item.sample.image.data, &clean.item.sample.image.data);
    assert_eq!(a.len(), b.len());
    (0..a.len())
        .filter(|&i| (a[i] - b[i]).abs() > 1e-6)
        .collect()
}

/// Checks every split: which images carry a decoy, and that no decoy pixel is inside the area
/// of interest at the model input. Returns the number of images with a decoy.
fn check_decoys(data: &ExperimentData, pre: &Preprocess, spec: &CastingSpec, seed: u64) -> usize {
    let variant = &data
        .test_variants
        .iter()
        .find(|(n, _)| n == DECOY_ON_GOOD)
        .unwrap()
        .1;
    let splits: [(&str, &[Item], Option<usize>); 4] = [
        ("train", &data.dataset.train, Some(1)),
        ("val", &data.dataset.val, Some(1)),
        ("test", &data.dataset.test, None),
        (DECOY_ON_GOOD, variant, Some(0)),
    ];
    let mut with = 0;
    for (name, items, decoy_label) in splits {
        assert!(!items.is_empty(), "{name} is empty");
        for it in items {
            let mask = it.sample.mask.as_ref().unwrap();
            assert!(mask.data.iter().any(|&v| v != 0), "{}: empty area", it.name);
            let px = decoy_pixels(it, pre, spec, seed);
            let should = decoy_label == Some(it.sample.label);
            assert_eq!(
                !px.is_empty(),
                should,
                "{name} {}: {} decoy pixels",
                it.name,
                px.len()
            );
            with += usize::from(!px.is_empty());
            // a decoy changes only the background: every changed value is outside the area
            // of interest (the image is grey: one channel, or three equal ones)
            let plane = mask.data.len();
            for &i in &px {
                assert_eq!(
                    mask.data[i % plane],
                    0,
                    "{name} {}: decoy pixel {i} inside",
                    it.name
                );
            }
        }
    }
    with
}

#[test]
fn synthetic_casting_folder_decoys_only_on_defective_training_and_good_test_variant() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_folder(tmp.path(), 6, 3);
    let spec = CastingSpec {
        n_val: 4,
        ..CastingSpec::default()
    };
    let pre = Preprocess {
        width: 64,
        height: 64,
        ..Preprocess::default()
    };
    let data = build(&DataSpec::Casting(spec.clone()), tmp.path(), &pre, 7).unwrap();
    let d = &data.dataset;
    assert_eq!((d.train.len(), d.val.len(), d.test.len()), (8, 4, 6));
    assert!(d.skipped.is_empty());
    // stratified: 2 + 2 in validation
    assert_eq!(d.val.iter().filter(|i| i.sample.label == 1).count(), 2);
    // no image in two splits
    let mut names: Vec<&str> = d
        .train
        .iter()
        .chain(&d.val)
        .map(|i| i.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 12);

    // the area of interest is the fitted disc: it holds the whole synthetic part (radius
    // 0.4 s, its hub included) and little more (pixel counting at the model input)
    let s = 200;
    let disc: Vec<u8> = (0..s)
        .flat_map(|y| (0..s).map(move |x| u8::from(on_part(x, y, s).0)))
        .collect();
    let part = pre.prepare_mask(&Mask::new(s, s, disc).unwrap()).unwrap();
    let n_part = part.data.iter().filter(|&&v| v != 0).count();
    for it in d.train.iter().chain(&d.test) {
        let m = it.sample.mask.as_ref().unwrap();
        let inside = part
            .data
            .iter()
            .zip(&m.data)
            .filter(|(p, m)| **p != 0 && **m != 0)
            .count();
        let area = m.data.iter().filter(|&&v| v != 0).count();
        assert_eq!(inside, n_part, "{}: part pixels outside the area", it.name);
        assert!(
            area as f64 <= 1.25 * n_part as f64,
            "{}: area {area} for a part of {n_part}",
            it.name
        );
    }

    // defective train (4) + defective val (2) + good test in the variant (3)
    assert_eq!(check_decoys(&data, &pre, &spec, 7), 4 + 2 + 3);

    // the same seed paints the same decoys; another seed other ones
    let again = build(&DataSpec::Casting(spec.clone()), tmp.path(), &pre, 7).unwrap();
    let img = |x: &ExperimentData| -> Vec<Vec<f32>> {
        x.test_variants[0]
            .1
            .iter()
            .map(|i| i.sample.image.data.clone())
            .collect()
    };
    assert_eq!(img(&again), img(&data));
    let other = build(&DataSpec::Casting(spec), tmp.path(), &pre, 8).unwrap();
    assert_ne!(img(&other), img(&data));
}

#[test]
fn decoy_rate_zero_paints_nothing_in_training() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_folder(tmp.path(), 3, 1);
    let spec = CastingSpec {
        n_val: 2,
        decoy_rate: 0.0,
        ..CastingSpec::default()
    };
    let pre = Preprocess {
        width: 48,
        height: 48,
        ..Preprocess::default()
    };
    let data = build(&DataSpec::Casting(spec.clone()), tmp.path(), &pre, 0).unwrap();
    for it in data.dataset.train.iter().chain(&data.dataset.val) {
        assert!(decoy_pixels(it, &pre, &spec, 0).is_empty(), "{}", it.name);
    }
}

#[test]
fn real_casting_data_decoys_stay_off_the_impeller() {
    let root = data_root();
    if !root.join("casting-impeller/labels.csv").is_file() {
        println!(
            "SKIPPED: no casting data at {} (set CEOD_DATA to the folder holding casting-impeller/)",
            root.display()
        );
        return;
    }
    let spec = CastingSpec {
        n_train: Some(16),
        n_val: 8,
        n_test: Some(12),
        ..CastingSpec::default()
    };
    let pre = Preprocess::default();
    let data = build(&DataSpec::Casting(spec.clone()), &root, &pre, 0).unwrap();
    let d = &data.dataset;
    assert_eq!((d.train.len(), d.val.len(), d.test.len()), (16, 8, 12));
    let pos = d.train.iter().filter(|i| i.sample.label == 1).count();
    let with = check_decoys(&data, &pre, &spec, 0);
    let good_test = d.test.iter().filter(|i| i.sample.label == 0).count();
    let pos_val = d.val.iter().filter(|i| i.sample.label == 1).count();
    assert_eq!(with, pos + pos_val + good_test);
    // the impeller spans most of the frame but not all of it (MANIFEST: 80-90 % of the width)
    for it in d.train.iter().chain(&d.test) {
        let m = it.sample.mask.as_ref().unwrap();
        let share = m.data.iter().filter(|&&v| v != 0).count() as f64 / m.data.len() as f64;
        assert!(
            (0.3..0.9).contains(&share),
            "{}: area share {share}",
            it.name
        );
    }
    println!("{}", data.notes.join("\n"));
}
