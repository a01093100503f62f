//! Splits: explicit, by group (never straddling), seeded random, stratified.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use ceod_core::data::{Sample, Split, SplitOptions, split_samples};

fn grouped(n: usize, per_group: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            let mut s = Sample::new(
                format!("{i}.png"),
                usize::from((i / per_group).is_multiple_of(3)),
            );
            s.group = Some(format!("part{}", i / per_group));
            s
        })
        .collect()
}

#[test]
fn groups_never_straddle_splits_for_any_seed() {
    let samples = grouped(200, 4);
    for seed in 0..50 {
        let o = SplitOptions {
            test_fraction: 0.25,
            val_fraction: 0.15,
            seed,
            stratify: seed.is_multiple_of(2),
        };
        let s = split_samples(&samples, &o).unwrap();
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), samples.len());
        let mut where_: HashMap<String, Split> = HashMap::new();
        for split in [Split::Train, Split::Val, Split::Test] {
            for x in s.get(split) {
                assert_eq!(x.split, Some(split));
                let prev = where_.insert(x.group.clone().unwrap(), split);
                assert!(
                    prev.is_none() || prev == Some(split),
                    "seed {seed}: group straddles"
                );
            }
        }
        // shares close to the request: groups of 4, so within one group per stratum
        assert!(
            (s.test.len() as i64 - 50).abs() <= 8,
            "seed {seed}: {}",
            s.test.len()
        );
        assert!(
            (s.val.len() as i64 - 30).abs() <= 8,
            "seed {seed}: {}",
            s.val.len()
        );
    }
}

#[test]
fn random_split_is_stratified_seeded_and_complete() {
    let samples: Vec<Sample> = (0..100)
        .map(|i| Sample::new(format!("{i}.png"), usize::from(i < 30)))
        .collect();
    let o = SplitOptions {
        test_fraction: 0.2,
        ..SplitOptions::default()
    };
    let a = split_samples(&samples, &o).unwrap();
    assert_eq!(a.test.len(), 20);
    assert_eq!(a.test.iter().filter(|s| s.label == 1).count(), 6); // 20 % of the 30 positives
    assert_eq!(a.train.iter().filter(|s| s.label == 1).count(), 24);
    let names: HashSet<_> = a
        .train
        .iter()
        .chain(&a.test)
        .map(|s| s.image.clone())
        .collect();
    assert_eq!(names.len(), 100);
    // input order is kept inside each split
    assert!(a.train.windows(2).all(|w| {
        let n = |s: &Sample| {
            s.image
                .to_string_lossy()
                .trim_end_matches(".png")
                .parse::<u32>()
                .unwrap()
        };
        n(&w[0]) < n(&w[1])
    }));
    assert_eq!(split_samples(&samples, &o).unwrap(), a);
    let b = split_samples(
        &samples,
        &SplitOptions {
            seed: 1,
            ..o.clone()
        },
    )
    .unwrap();
    assert_ne!(a.test, b.test);
}

#[test]
fn explicit_splits_are_kept_and_checked() {
    let mut samples = grouped(8, 2);
    for (i, s) in samples.iter_mut().enumerate() {
        s.split = Some(if i < 4 { Split::Train } else { Split::Test });
    }
    let s = split_samples(&samples, &SplitOptions::default()).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (4, 4));
    // a group on both sides is an error naming it
    samples[4].group = Some("part1".into());
    let e = split_samples(&samples, &SplitOptions::default()).unwrap_err();
    assert!(e.to_string().contains("part1"), "{e}");
    // some with and some without a split is an error
    let mut mixed = grouped(4, 1);
    mixed[0].split = Some(Split::Train);
    assert!(split_samples(&mixed, &SplitOptions::default()).is_err());
}

#[test]
fn bad_fractions_are_rejected() {
    let samples = grouped(4, 1);
    for (t, v) in [(1.2, 0.0), (-0.1, 0.0), (0.6, 0.6), (f64::NAN, 0.0)] {
        let o = SplitOptions {
            test_fraction: t,
            val_fraction: v,
            ..SplitOptions::default()
        };
        assert!(split_samples(&samples, &o).is_err(), "{t} {v}");
    }
}
