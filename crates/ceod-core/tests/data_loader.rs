//! Parallel loading: per-item errors, batch order, tensors.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use candle_core::Device;
use ceod_core::data::{Batch, BatchLoader, Sample, load_samples};
use ceod_core::{DataError, Preprocess};
use image::{GrayImage, Luma};

fn dataset(dir: &std::path::Path, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("{i}.png"));
            GrayImage::from_pixel(6, 4, Luma([(i * 10) as u8]))
                .save(&p)
                .unwrap();
            let m = dir.join(format!("{i}_mask.png"));
            let mut mask = GrayImage::new(6, 4);
            // a 2x2 block at columns 2j, 2j + 1 and rows 0, 1 with j = i % 3
            let j = (i % 3) as u32;
            for (x, y) in [(2 * j, 0), (2 * j + 1, 0), (2 * j, 1), (2 * j + 1, 1)] {
                mask.put_pixel(x, y, Luma([255]));
            }
            mask.save(&m).unwrap();
            let mut s = Sample::new(p, i % 2);
            s.mask = Some(m);
            s
        })
        .collect()
}

#[test]
fn bad_files_are_reported_per_item_and_nothing_is_dropped() {
    let d = tempfile::tempdir().unwrap();
    let mut samples = dataset(d.path(), 6);
    samples[2].image = d.path().join("missing.png");
    std::fs::write(d.path().join("junk.png"), b"junk").unwrap();
    samples[4].image = d.path().join("junk.png");
    let pre = Preprocess {
        width: 3,
        height: 2,
        ..Preprocess::default()
    };
    let results = load_samples(&samples, &pre);
    assert_eq!(results.len(), 6);
    for (i, r) in results.iter().enumerate() {
        match i {
            2 => assert!(matches!(r, Err(DataError::Missing { .. }))),
            4 => assert!(matches!(r, Err(DataError::Decode { .. }))),
            _ => {
                let s = r.as_ref().unwrap();
                assert_eq!(s.label, i % 2);
                // a constant image stays constant through the resize
                assert!(
                    s.image
                        .data
                        .iter()
                        .all(|&v| (v - (i * 10) as f32 / 255.0).abs() < 1e-6)
                );
                // 6x4 → 3x2 by nearest takes source pixels (2c + 1, 2r + 1): the block shows
                // as the single pixel (i % 3, 0)
                let m = s.mask.as_ref().unwrap();
                let want: Vec<u8> = (0..6).map(|k| u8::from(k == i % 3)).collect();
                assert_eq!(m.data, want, "sample {i}");
            }
        }
    }
}

#[test]
fn the_batch_loader_covers_every_sample_once_and_makes_tensors() {
    let d = tempfile::tempdir().unwrap();
    let mut samples = dataset(d.path(), 10);
    samples[7].image = d.path().join("gone.png");
    let pre = Preprocess {
        width: 6,
        height: 4,
        ..Preprocess::default()
    };
    let loader = BatchLoader::new(&samples, &pre, 4).shuffled(5);
    assert_eq!(loader.num_batches(), 3);
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    let mut sizes = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for b in loader {
        sizes.push(b.indices.len() + b.errors.len());
        for (&i, s) in b.indices.iter().zip(&b.loaded) {
            assert!(seen.insert(i));
            assert_eq!(s.label, samples[i].label);
        }
        order.extend(&b.indices);
        errors.extend(b.errors.iter().map(|(i, e)| (*i, e.to_string())));
        let t = b.to_batch(&Device::Cpu).unwrap().unwrap();
        assert_eq!(t.images.dims(), &[b.loaded.len(), 1, 4, 6]);
        assert_eq!(t.masks.dims(), &[b.loaded.len(), 4, 6]);
        let labels: Vec<f32> = t.labels.to_vec1().unwrap();
        let classes: Vec<u32> = t.classes.to_vec1().unwrap();
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(labels[k], samples[i].label as f32);
            assert_eq!(classes[k], samples[i].label as u32);
        }
        // the 2x2 block of each mask, at full size
        let per: Vec<f32> = t.masks.sum((1, 2)).unwrap().to_vec1().unwrap();
        assert!(per.iter().all(|&v| v == 4.0), "{per:?}");
    }
    assert_eq!(sizes, vec![4, 4, 2]);
    assert_eq!(seen.len(), 9);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 7);
    assert!(errors[0].1.contains("gone.png"));
    assert_ne!(
        order,
        (0..10).filter(|&i| i != 7).collect::<Vec<_>>(),
        "shuffled"
    );
    assert!(Batch::from_loaded(&[], &Device::Cpu).is_err());
}
