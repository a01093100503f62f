//! Thresholds, the energy share and the batch, against values worked out by hand or computed
//! another way.

#![allow(clippy::unwrap_used)]

mod common;

use ceod_geometry::{
    AreaOfInterest, Coefficient, HeatMap, Mask, OverlapOptions, Threshold, energy_inside, overlap,
    overlap_batch, overlap_batch_sequential, overlap_batch_with_areas,
};
use common::Rng;

fn hot(map: &HeatMap, t: Threshold) -> Vec<bool> {
    t.hot_pixels(map).unwrap().values().to_vec()
}

#[test]
fn fraction_of_max_and_absolute() {
    let map = HeatMap::new(5, 1, vec![0.0, 1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(
        hot(&map, Threshold::FractionOfMax(0.5)),
        [false, false, true, true, true]
    );
    assert_eq!(
        hot(&map, Threshold::FractionOfMax(1.0)),
        [false, false, false, false, true]
    );
    assert_eq!(hot(&map, Threshold::FractionOfMax(0.0)), [true; 5]);
    assert_eq!(
        hot(&map, Threshold::Absolute(2.5)),
        [false, false, false, true, true]
    );
    assert_eq!(
        Threshold::FractionOfMax(0.5).level(&map).unwrap(),
        Some(2.0)
    );
    // max <= 0: nothing hot
    let neg = HeatMap::new(2, 1, vec![-1.0, 0.0]).unwrap();
    assert_eq!(hot(&neg, Threshold::FractionOfMax(0.5)), [false, false]);
    assert!(Threshold::FractionOfMax(1.5).validate().is_err());
}

#[test]
fn quantile_interpolates_like_numpy() {
    // values 1..=10 shuffled; numpy.quantile(v, 0.5) = 5.5, quantile(v, 0.25) = 3.25, (v, 1) = 10
    let v = vec![7.0, 2.0, 9.0, 1.0, 10.0, 4.0, 3.0, 8.0, 6.0, 5.0];
    let map = HeatMap::new(5, 2, v.clone()).unwrap();
    assert_eq!(Threshold::Quantile(0.5).level(&map).unwrap(), Some(5.5));
    assert_eq!(Threshold::Quantile(0.25).level(&map).unwrap(), Some(3.25));
    assert_eq!(Threshold::Quantile(1.0).level(&map).unwrap(), Some(10.0));
    assert_eq!(Threshold::Quantile(0.0).level(&map).unwrap(), Some(1.0));
    let h = hot(&map, Threshold::Quantile(0.5));
    assert_eq!(h, v.iter().map(|&x| x > 5.5).collect::<Vec<_>>());
    // against a sort on random data: level between order statistics k and k + 1
    let mut rng = Rng(7);
    let vals: Vec<f32> = (0..1000).map(|_| rng.unit() as f32).collect();
    let map = HeatMap::new(40, 25, vals.clone()).unwrap();
    let mut sorted = vals.clone();
    sorted.sort_by(f32::total_cmp);
    for q in [0.1f32, 0.5, 0.9, 0.999] {
        let pos = f64::from(q) * 999.0;
        let (k, f) = (pos.floor() as usize, pos - pos.floor());
        let want = f64::from(sorted[k]) + (f64::from(sorted[k + 1]) - f64::from(sorted[k])) * f;
        let got = Threshold::Quantile(q).level(&map).unwrap().unwrap();
        assert!(
            (f64::from(got) - want).abs() < 1e-6,
            "q {q}: {got} vs {want}"
        );
    }
    assert!(Threshold::Quantile(-0.1).validate().is_err());
}

#[test]
fn otsu_separates_two_clusters() {
    // Two clusters, 0.1 ± 0.02 and 0.8 ± 0.02, in a random arrangement: Otsu picks exactly the
    // upper cluster.
    let mut rng = Rng(3);
    let upper: Vec<bool> = (0..600).map(|_| rng.unit() < 0.3).collect();
    let vals: Vec<f32> = upper
        .iter()
        .map(|&u| (if u { 0.8 } else { 0.1 } + (rng.unit() - 0.5) * 0.04) as f32)
        .collect();
    let map = HeatMap::new(30, 20, vals).unwrap();
    assert_eq!(hot(&map, Threshold::Otsu), upper);
    // Brute-force Otsu on the same 256-bin histogram: the best split maximises w0·w1·(m0 − m1)².
    let vals = map.values();
    let (lo, hi) = (f64::from(map.min()), f64::from(map.max()));
    let bin = |v: f32| (((f64::from(v) - lo) / ((hi - lo) / 256.0)) as usize).min(255);
    let score = |k: usize| {
        let (c0, c1): (Vec<f64>, Vec<f64>) = (
            vals.iter()
                .filter(|&&v| bin(v) <= k)
                .map(|&v| bin(v) as f64)
                .collect(),
            vals.iter()
                .filter(|&&v| bin(v) > k)
                .map(|&v| bin(v) as f64)
                .collect(),
        );
        if c0.is_empty() || c1.is_empty() {
            return -1.0;
        }
        let (m0, m1) = (
            c0.iter().sum::<f64>() / c0.len() as f64,
            c1.iter().sum::<f64>() / c1.len() as f64,
        );
        c0.len() as f64 * c1.len() as f64 * (m0 - m1).powi(2)
    };
    let best = (0..255)
        .max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a)))
        .unwrap();
    let want: Vec<bool> = vals.iter().map(|&v| bin(v) > best).collect();
    assert_eq!(hot(&map, Threshold::Otsu), want);
}

#[test]
fn energy_share_is_heat_inside_over_total() {
    let heat = HeatMap::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, -5.0, 0.0]).unwrap();
    let mask = Mask::new(3, 2, vec![true, false, true, false, true, false]).unwrap();
    // negative heat counts as 0: inside 1 + 3 + 0, total 1 + 2 + 3 + 4
    assert_eq!(energy_inside(&heat, &mask).unwrap(), Some(0.4));
    let zero = HeatMap::new(3, 2, vec![0.0; 6]).unwrap();
    assert_eq!(energy_inside(&zero, &mask).unwrap(), Some(0.0));
    let empty = Mask::new(3, 2, vec![false; 6]).unwrap();
    assert_eq!(energy_inside(&heat, &empty).unwrap(), None);
    // resampled to the mask size first: a 1x1 map is constant, so the share is the mask fraction
    let one = HeatMap::new(1, 1, vec![2.0]).unwrap();
    assert_eq!(energy_inside(&one, &mask).unwrap(), Some(0.5));
}

#[test]
fn batch_equals_one_by_one() {
    let mut rng = Rng(11);
    let heats: Vec<HeatMap> = (0..9)
        .map(|_| HeatMap::new(4, 4, (0..16).map(|_| rng.unit() as f32).collect()).unwrap())
        .collect();
    let masks: Vec<Mask> = (0..9)
        .map(|_| Mask::new(12, 10, (0..120).map(|_| rng.unit() < 0.4).collect()).unwrap())
        .collect();
    let opts = OverlapOptions::default();
    let par = overlap_batch(&heats, &masks, &opts).unwrap();
    let seq = overlap_batch_sequential(&heats, &masks, &opts).unwrap();
    let areas: Vec<AreaOfInterest> = masks.iter().map(AreaOfInterest::from_mask).collect();
    let with_areas = overlap_batch_with_areas(&heats, &areas, &opts).unwrap();
    for i in 0..9 {
        let one = overlap(&heats[i], &masks[i], &opts).unwrap();
        assert_eq!(par[i], one);
        assert_eq!(seq[i], one);
        assert_eq!(with_areas[i], one);
        assert_eq!(one.mask, masks[i].count() as f64);
        assert!(one.distance(Coefficient::Containment).is_some());
    }
}
