//! The seeded PRNG against the published SplitMix64 sequence and basic statistics.
#![allow(clippy::unwrap_used)]

use ceod_core::data::SplitMix64;

#[test]
fn matches_the_reference_splitmix64_sequence() {
    // Reference values of SplitMix64 for seed 1234567 (the C reference implementation by
    // Sebastiano Vigna; also computed in Python while writing this test).
    let mut g = SplitMix64::new(1234567);
    let got: Vec<u64> = (0..5).map(|_| g.next_u64()).collect();
    assert_eq!(
        got,
        [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821
        ]
    );
}

#[test]
fn uniform_below_and_normal_have_the_right_moments() {
    let mut g = SplitMix64::new(42);
    let n = 200_000;
    let mean = (0..n).map(|_| g.next_f64()).sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.005, "{mean}");
    let mut counts = [0usize; 7];
    for _ in 0..70_000 {
        counts[g.below(7) as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| (c as i64 - 10_000).abs() < 500),
        "{counts:?}"
    );
    let xs: Vec<f64> = (0..n).map(|_| g.normal()).collect();
    let m = xs.iter().sum::<f64>() / n as f64;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
    assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "{m} {v}");
}

#[test]
fn shuffle_is_a_seeded_permutation_and_streams_differ() {
    let mut a: Vec<u32> = (0..50).collect();
    SplitMix64::new(3).shuffle(&mut a);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_ne!(a, (0..50).collect::<Vec<_>>());
    let mut b: Vec<u32> = (0..50).collect();
    SplitMix64::new(3).shuffle(&mut b);
    assert_eq!(a, b);
    let s0 = SplitMix64::stream(9, 0).next_u64();
    let s1 = SplitMix64::stream(9, 1).next_u64();
    assert_ne!(s0, s1);
    assert_eq!(s0, SplitMix64::stream(9, 0).next_u64());
}
