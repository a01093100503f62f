//! The synthetic conveyor: determinism, geometry, decoy statistics, salience, files.
#![allow(clippy::unwrap_used)]

use ceod_core::data::{Manifest, Split};
use ceod_core::synth::{
    SynthConfig, SynthSample, TestDecoys, generate, generate_one, write_dataset,
};
use ceod_core::{DataError, Preprocess, Resize};

fn bytes(samples: &[SynthSample]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|s| s.to_gray_image().into_raw())
        .collect()
}

#[test]
fn same_seed_same_bytes_different_seed_different() {
    let cfg = SynthConfig {
        n: 6,
        width: 64,
        height: 40,
        ..SynthConfig::default()
    };
    let a = generate(&cfg).unwrap();
    assert_eq!(bytes(&a), bytes(&generate(&cfg).unwrap()));
    assert_eq!(a, generate(&cfg).unwrap());
    let b = generate(&SynthConfig {
        seed: 1,
        ..cfg.clone()
    })
    .unwrap();
    assert_ne!(bytes(&a), bytes(&b));
    let t = generate(&SynthConfig {
        split: Split::Test,
        ..cfg.clone()
    })
    .unwrap();
    assert_ne!(bytes(&a), bytes(&t));
    // sample i depends on (seed, split, i) only
    let longer = generate(&SynthConfig {
        n: 9,
        ..cfg.clone()
    })
    .unwrap();
    assert_eq!(&longer[..6], &a[..]);
    assert_eq!(generate_one(&cfg, 4).unwrap(), a[4]);
    // values are exact 8-bit levels
    for s in &a {
        assert!(
            s.image
                .iter()
                .all(|&v| ((v * 255.0).round() / 255.0 - v).abs() < 1e-7)
        );
    }
}

fn at(s: &SynthSample, x: f32, y: f32) -> u8 {
    let (c, r) = (
        (x as usize).min(s.width as usize - 1),
        (y as usize).min(s.height as usize - 1),
    );
    s.mask[r * s.width as usize + c]
}

#[test]
fn product_is_the_mask_defects_on_it_decoys_off_it() {
    for (w, h) in [(128, 128), (96, 64), (64, 112), (32, 32)] {
        let cfg = SynthConfig {
            n: 40,
            width: w,
            height: h,
            seed: 11,
            ..SynthConfig::default()
        };
        for s in generate(&cfg).unwrap() {
            let (wu, hu) = (w as usize, h as usize);
            let inside = s.mask.iter().filter(|&&m| m == 1).count();
            assert!(
                inside > wu * hu / 8 && inside < wu * hu * 2 / 3,
                "{w}x{h}: {inside}"
            );
            // the product does not touch the border
            for c in 0..wu {
                assert_eq!(s.mask[c] + s.mask[(hu - 1) * wu + c], 0);
            }
            for r in 0..hu {
                assert_eq!(s.mask[r * wu] + s.mask[r * wu + wu - 1], 0);
            }
            // the product is brighter than the belt
            let mean = |want: u8| {
                let v: Vec<f32> = s
                    .image
                    .iter()
                    .zip(&s.mask)
                    .filter(|(_, m)| **m == want)
                    .map(|(v, _)| *v)
                    .collect();
                v.iter().sum::<f32>() / v.len() as f32
            };
            assert!(mean(1) > mean(0) + 0.15, "{w}x{h}");
            assert_eq!(s.defect.is_some(), s.label == 1);
            if let Some(d) = s.defect {
                let [x0, y0, x1, y1] = d.bbox;
                for (x, y) in [(d.x, d.y), (x0, y0), (x1, y0), (x0, y1), (x1, y1)] {
                    assert_eq!(
                        at(&s, x, y),
                        1,
                        "{w}x{h}: defect corner ({x}, {y}) off the product"
                    );
                }
            }
            if let Some(d) = s.decoy {
                let [x0, y0, x1, y1] = d.bbox;
                assert!(x0 >= 0.0 && y0 >= 0.0 && x1 <= w as f32 && y1 <= h as f32);
                for (x, y) in [(d.x, d.y), (x0, y0), (x1, y0), (x0, y1), (x1, y1)] {
                    assert_eq!(
                        at(&s, x, y),
                        0,
                        "{w}x{h}: decoy corner ({x}, {y}) on the product"
                    );
                }
            }
        }
    }
}

/// Shares of decoys among positives and negatives, and of positives.
fn rates(samples: &[SynthSample]) -> (f64, f64, f64) {
    let pos: Vec<_> = samples.iter().filter(|s| s.label == 1).collect();
    let neg: Vec<_> = samples.iter().filter(|s| s.label == 0).collect();
    let share =
        |v: &[&SynthSample]| v.iter().filter(|s| s.decoy.is_some()).count() as f64 / v.len() as f64;
    (
        share(&pos),
        share(&neg),
        pos.len() as f64 / samples.len() as f64,
    )
}

#[test]
fn decoys_follow_the_label_in_training_only() {
    // 1000 samples: the binomial standard error of a share near 0.05 is 0.01, near 0.5 0.022.
    // (32x32 is the smallest size with room for a decoy on the belt every time)
    let base = SynthConfig {
        n: 1000,
        width: 32,
        height: 32,
        seed: 3,
        ..SynthConfig::default()
    };
    let (p, n, pos) = rates(&generate(&base).unwrap());
    assert!(
        (p - 0.95).abs() < 0.03 && (n - 0.05).abs() < 0.03 && (pos - 0.5).abs() < 0.05,
        "{p} {n} {pos}"
    );
    let val = SynthConfig {
        split: Split::Val,
        ..base.clone()
    };
    let (p, n, _) = rates(&generate(&val).unwrap());
    assert!(
        (p - 0.95).abs() < 0.03 && (n - 0.05).abs() < 0.03,
        "{p} {n}"
    );
    let test = SynthConfig {
        split: Split::Test,
        ..base.clone()
    };
    let (p, n, _) = rates(&generate(&test).unwrap());
    assert!((p - 0.5).abs() < 0.08 && (n - 0.5).abs() < 0.08, "{p} {n}");
    let good_only = SynthConfig {
        test_decoys: TestDecoys::GoodOnly { rate: 0.3 },
        ..test
    };
    let (p, n, _) = rates(&generate(&good_only).unwrap());
    assert!(p == 0.0 && (n - 0.3).abs() < 0.06, "{p} {n}");
    let custom = SynthConfig {
        decoy_correlation: 0.7,
        defect_rate: 0.2,
        ..base
    };
    let (p, n, pos) = rates(&generate(&custom).unwrap());
    assert!(
        (p - 0.7).abs() < 0.1 && (n - 0.3).abs() < 0.05 && (pos - 0.2).abs() < 0.04,
        "{p} {n} {pos}"
    );
}

/// Box mean of side `2r + 1` around every pixel (clipped at the border), by a summed-area table.
fn box_mean(img: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            sat[(y + 1) * (w + 1) + x + 1] =
                f64::from(img[y * w + x]) + sat[y * (w + 1) + x + 1] + sat[(y + 1) * (w + 1) + x]
                    - sat[y * (w + 1) + x];
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (x0, y0, x1, y1) = (
                x.saturating_sub(r),
                y.saturating_sub(r),
                (x + r + 1).min(w),
                (y + r + 1).min(h),
            );
            let s = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0]
                + sat[y0 * (w + 1) + x0];
            out[y * w + x] = (s / ((x1 - x0) * (y1 - y0)) as f64) as f32;
        }
    }
    out
}

/// The strongest local dark blob (7x7 mean minus 3x3 mean) among pixels whose 7x7 window lies
/// entirely inside (`want = 1`) or entirely outside (`want = 0`) the mask: computed from the
/// pixels alone, not from the generator's record of the marks.
fn darkest_blob(s: &SynthSample, want: u8) -> f32 {
    let (w, h) = (s.width as usize, s.height as usize);
    let small = box_mean(&s.image, w, h, 1);
    let large = box_mean(&s.image, w, h, 3);
    let m: Vec<f32> = s.mask.iter().map(|&v| f32::from(v)).collect();
    let cover = box_mean(&m, w, h, 3);
    let target = f32::from(want);
    let mut best = f32::MIN;
    for y in 3..h - 3 {
        for x in 3..w - 3 {
            let i = y * w + x;
            if (cover[i] - target).abs() < 1e-6 {
                best = best.max(large[i] - small[i]);
            }
        }
    }
    best
}

#[test]
fn decoys_are_more_salient_than_defects_and_predict_the_training_label() {
    let train = generate(&SynthConfig {
        n: 100,
        seed: 5,
        ..SynthConfig::default()
    })
    .unwrap();
    let test = generate(&SynthConfig {
        n: 100,
        seed: 5,
        split: Split::Test,
        ..SynthConfig::default()
    })
    .unwrap();
    // a pixel-level decoy detector: a dark blob on the belt
    let score = |set: &[SynthSample]| set.iter().map(|s| darkest_blob(s, 0)).collect::<Vec<f32>>();
    let (belt_train, belt_test) = (score(&train), score(&test));
    let flags = train.iter().chain(&test).map(|s| s.decoy.is_some());
    let belt: Vec<(f32, bool)> = belt_train
        .iter()
        .chain(&belt_test)
        .copied()
        .zip(flags)
        .collect();
    let with: Vec<f32> = belt.iter().filter(|b| b.1).map(|b| b.0).collect();
    let without: Vec<f32> = belt.iter().filter(|b| !b.1).map(|b| b.0).collect();
    let lo_with = with.iter().copied().fold(f32::MAX, f32::min);
    let hi_without = without.iter().copied().fold(f32::MIN, f32::max);
    assert!(
        lo_with > hi_without,
        "belt blobs: weakest decoy {lo_with}, strongest clean belt {hi_without}"
    );
    let threshold = 0.5 * (lo_with + hi_without);
    // the detector alone predicts the label: well in training, at chance on the test split
    let accuracy = |set: &[SynthSample], scores: &[f32]| {
        let right = set
            .iter()
            .zip(scores)
            .filter(|(s, b)| usize::from(**b > threshold) == s.label)
            .count();
        right as f64 / set.len() as f64
    };
    let (acc_train, acc_test) = (accuracy(&train, &belt_train), accuracy(&test, &belt_test));
    assert!(
        acc_train > 0.85,
        "train accuracy of the decoy shortcut {acc_train}"
    );
    assert!(
        (acc_test - 0.5).abs() < 0.15,
        "test accuracy of the decoy shortcut {acc_test}"
    );
    // salience: the typical decoy blob is much stronger than the typical defect blob
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let defect: Vec<f32> = train
        .iter()
        .filter(|s| s.label == 1)
        .map(|s| darkest_blob(s, 1))
        .collect();
    let clean: Vec<f32> = train
        .iter()
        .filter(|s| s.label == 0)
        .map(|s| darkest_blob(s, 1))
        .collect();
    let (m_decoy, m_defect, m_clean) = (median(with), median(defect), median(clean));
    assert!(
        m_decoy > 1.5 * m_defect,
        "decoy {m_decoy} vs defect {m_defect}"
    );
    // and the defects are there (visible above the product's texture), just fainter
    assert!(
        m_defect > m_clean + 0.02,
        "defect {m_defect} vs clean product {m_clean}"
    );
}

#[test]
fn written_datasets_read_back_to_the_same_model_inputs() {
    let d = tempfile::tempdir().unwrap();
    let mut samples = generate(&SynthConfig {
        n: 5,
        width: 40,
        height: 24,
        ..SynthConfig::default()
    })
    .unwrap();
    samples.extend(
        generate(&SynthConfig {
            n: 3,
            width: 40,
            height: 24,
            split: Split::Test,
            ..SynthConfig::default()
        })
        .unwrap(),
    );
    let out = d.path().join("ds");
    let csv = write_dataset(&out, &samples).unwrap();
    assert_eq!(csv, out.join("manifest.csv"));
    let m = Manifest::read(&csv).unwrap();
    assert_eq!(m.samples.len(), 8);
    assert_eq!(
        m.samples
            .iter()
            .filter(|s| s.split == Some(Split::Test))
            .count(),
        3
    );
    assert!(
        out.join("images/train_00004.png").is_file() && out.join("masks/test_00002.png").is_file()
    );
    for pre in [
        Preprocess {
            width: 40,
            height: 24,
            ..Preprocess::default()
        },
        Preprocess {
            width: 32,
            height: 32,
            resize: Resize::Letterbox { fill: 0.0 },
            ..Preprocess::default()
        },
    ] {
        for (file, mem) in m.samples.iter().zip(&samples) {
            assert_eq!(file.label, mem.label);
            assert_eq!(file.load(&pre).unwrap(), mem.to_loaded(&pre).unwrap());
        }
    }
    // the native-size round trip is exact
    let native = Preprocess {
        width: 40,
        height: 24,
        ..Preprocess::default()
    };
    assert_eq!(
        m.samples[0].load(&native).unwrap().image.data,
        samples[0].image
    );
    // no partial files: a non-empty target is refused and left as it was
    let e = write_dataset(&out, &samples).unwrap_err();
    assert!(matches!(e, DataError::Layout { .. }), "{e:?}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    // a target under a file fails and leaves nothing behind
    std::fs::write(d.path().join("file"), "x").unwrap();
    assert!(write_dataset(d.path().join("file/ds"), &samples).is_err());
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // an empty target folder is fine
    std::fs::create_dir(d.path().join("empty")).unwrap();
    write_dataset(d.path().join("empty"), &samples[..1]).unwrap();
}

#[test]
fn inconsistent_samples_are_errors_where_data_is_used() {
    let mut s = generate_one(
        &SynthConfig {
            width: 20,
            height: 20,
            ..SynthConfig::default()
        },
        0,
    )
    .unwrap();
    assert!(s.check().is_ok());
    s.image.pop();
    assert!(s.check().is_err());
    assert!(s.to_loaded(&Preprocess::default()).is_err());
    let d = tempfile::tempdir().unwrap();
    assert!(write_dataset(d.path().join("ds"), &[s]).is_err());
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        0,
        "no partial files"
    );
}

#[test]
fn invalid_configurations_are_rejected() {
    for cfg in [
        SynthConfig {
            width: 8,
            ..SynthConfig::default()
        },
        SynthConfig {
            defect_rate: 1.5,
            ..SynthConfig::default()
        },
        SynthConfig {
            decoy_correlation: -0.1,
            ..SynthConfig::default()
        },
        SynthConfig {
            noise: f32::NAN,
            ..SynthConfig::default()
        },
        SynthConfig {
            decoy_scale: 0.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            defect_scale: -1.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            defect_scale: f32::INFINITY,
            ..SynthConfig::default()
        },
        SynthConfig {
            test_decoys: TestDecoys::Independent { rate: 2.0 },
            ..SynthConfig::default()
        },
    ] {
        assert!(
            matches!(generate(&cfg), Err(DataError::Config(_))),
            "{cfg:?}"
        );
    }
}

/// The radius of a spot from its bounding box (`2 · (radius + 0.5)` on a side).
fn spot_radius(m: &ceod_core::synth::Mark) -> f32 {
    0.5 * (m.bbox[2] - m.bbox[0]) - 0.5
}

#[test]
fn defect_scale_scales_defects_and_decoys() {
    use ceod_core::synth::MarkKind;
    let base = SynthConfig {
        n: 24,
        width: 96,
        height: 96,
        defect_rate: 1.0,
        defect_contrast: 0.4,
        ..SynthConfig::default()
    };
    // The darkening of a defect is the image minus the same image without it (contrast 0:
    // the same random stream, so the same belt, product and noise).
    let mut spots = 0;
    for scale in [1.0f32, 2.5] {
        let cfg = SynthConfig {
            defect_scale: scale,
            ..base.clone()
        };
        let with = generate(&cfg).unwrap();
        let without = generate(&SynthConfig {
            defect_contrast: 0.0,
            ..cfg.clone()
        })
        .unwrap();
        let unscaled = generate(&SynthConfig {
            defect_scale: 1.0,
            ..cfg.clone()
        })
        .unwrap();
        for ((s, s0), s1) in with.iter().zip(&without).zip(&unscaled) {
            let d = s.defect.unwrap();
            if d.kind != MarkKind::Spot {
                continue;
            }
            spots += 1;
            // the shape is drawn before the position: the same spot, `scale` times larger
            let r = spot_radius(&d);
            assert!((r / spot_radius(&s1.defect.unwrap()) - scale).abs() < 1e-4);
            // a disc of radius r with a one-pixel linear edge darkens pi (r^2 + 1/12) pixels
            // by the contrast in total (integral of the edge profile)
            let sum: f32 = s0.image.iter().zip(&s.image).map(|(a, b)| a - b).sum();
            let expect = 0.4 * std::f32::consts::PI * (r * r + 1.0 / 12.0);
            assert!(
                (sum / expect - 1.0).abs() < 0.03,
                "scale {scale}: radius {r}, darkening {sum} vs {expect}"
            );
        }
    }
    assert!(spots >= 10, "{spots} spot defects");
    // decoys scale with the defects: good parts only, every one with a decoy
    let decoys = |scale: f32| {
        generate(&SynthConfig {
            split: Split::Test,
            test_decoys: TestDecoys::GoodOnly { rate: 1.0 },
            defect_rate: 0.0,
            decoy_scale: 1.0,
            defect_scale: scale,
            ..base.clone()
        })
        .unwrap()
    };
    let (small, large) = (decoys(1.0), decoys(1.5));
    let mut n = 0;
    for (a, b) in small.iter().zip(&large) {
        if let (Some(a), Some(b)) = (a.decoy, b.decoy)
            && a.kind == MarkKind::Spot
        {
            n += 1;
            assert_eq!(b.kind, MarkKind::Spot);
            assert!((spot_radius(&b) / spot_radius(&a) - 1.5).abs() < 1e-4);
        }
    }
    assert!(n >= 5, "{n} spot decoys");
}
