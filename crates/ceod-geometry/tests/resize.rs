//! Bilinear resampling with half-pixel centres = PyTorch `F.interpolate(mode="bilinear",
//! align_corners=False)`; expected values worked by hand.

#![allow(clippy::unwrap_used)]

use ceod_geometry::{HeatMap, Mask, OverlapOptions, Threshold, hot_pixels, overlap};

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-6, "index {i}: {g} vs {w}");
    }
}

/// 2x2 [[0, 1], [2, 3]] to 4x4. Output index i samples (i + 0.5)/2 − 0.5, clamped to [0, 1]:
/// 0 → 0, 1 → 0.25, 2 → 0.75, 3 → 1.25 → clamped to the last pixel. Rows of the x pass:
/// [0, .25, .75, 1] and [2, 2.25, 2.75, 3]; the y pass mixes them 1:0, .75:.25, .25:.75, 0:1.
#[test]
fn two_by_two_to_four_by_four() {
    let m = HeatMap::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    let up = m.resized(4, 4).unwrap();
    #[rustfmt::skip]
    let want = [
        0.0, 0.25, 0.75, 1.0,
        0.5, 0.75, 1.25, 1.5,
        1.5, 1.75, 2.25, 2.5,
        2.0, 2.25, 2.75, 3.0,
    ];
    assert_close(up.values(), &want);
}

/// A 2-row x 3-column map [[0, 1, 2], [3, 4, 5]] to 4 rows x 6 columns stays 4 x 6 (no
/// transposition). x pass (3 → 6: taps 0, .25, .75 between pixels 0-1, then 1.25, 1.75 between
/// 1-2, then clamped): [0, .25, .75, 1.25, 1.75, 2] and the same + 3; y pass as above.
#[test]
fn two_rows_three_columns_is_not_transposed() {
    let m = HeatMap::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let up = m.resized(6, 4).unwrap();
    assert_eq!((up.width(), up.height()), (6, 4));
    #[rustfmt::skip]
    let want = [
        0.0, 0.25, 0.75, 1.25, 1.75, 2.0,
        0.75, 1.0, 1.5, 2.0, 2.5, 2.75,
        2.25, 2.5, 3.0, 3.5, 4.0, 4.25,
        3.0, 3.25, 3.75, 4.25, 4.75, 5.0,
    ];
    assert_close(up.values(), &want);
}

/// Downsampling uses the same formula (PyTorch without antialias): 4 → 2 samples at 0.5 and 2.5.
#[test]
fn downsampling_samples_between_pixels() {
    let m = HeatMap::new(4, 1, vec![0.0, 2.0, 4.0, 6.0]).unwrap();
    assert_close(m.resized(2, 1).unwrap().values(), &[1.0, 5.0]);
    assert!(m.resized(0, 1).is_err());
}

/// The overlap resamples the heat map to the mask's size: a 2x3 map over a 4x6 mask, hot at
/// values >= 2.5 of the table above: x = 4, 5 of row 1, x = 1..6 of row 2, all of row 3.
#[test]
fn overlap_resamples_to_the_mask_size() {
    let m = HeatMap::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let hot = hot_pixels(&m, 6, 4, Threshold::Absolute(2.5)).unwrap();
    let want = Mask::from_fn(6, 4, |x, y| {
        (y == 1 && x >= 4) || (y == 2 && x >= 1) || y == 3
    })
    .unwrap();
    assert_eq!(hot, want);
    let full = Mask::from_fn(6, 4, |_, _| true).unwrap();
    let opts = OverlapOptions {
        threshold: Threshold::Absolute(2.5),
        outline: ceod_geometry::Outline::PixelOutline,
        ..Default::default()
    };
    let o = overlap(&m, &full, &opts).unwrap();
    assert_eq!(o.detected, hot.count() as f64);
}

/// The overlap's fused resample-and-max gives the same hot region as resampling first and
/// thresholding the result at half its maximum.
#[test]
fn fused_maximum_matches_two_steps() {
    let m = HeatMap::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 7.0]).unwrap();
    let up = m.resized(6, 4).unwrap();
    let t = 0.5 * up.values().iter().copied().fold(f32::MIN, f32::max);
    let want = Mask::new(6, 4, up.values().iter().map(|&v| v >= t).collect()).unwrap();
    let opts = OverlapOptions {
        outline: ceod_geometry::Outline::PixelOutline,
        ..Default::default()
    };
    let full = Mask::from_fn(6, 4, |_, _| true).unwrap();
    let o = overlap(&m, &full, &opts).unwrap();
    assert_eq!(o.detected, want.count() as f64);
    assert_eq!(
        hot_pixels(&m, 6, 4, Threshold::FractionOfMax(0.5)).unwrap(),
        want
    );
}
