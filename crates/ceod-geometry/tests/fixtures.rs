//! Differential tests against the PyTorch/shapely reference (`../shared/fixtures`): with the
//! reference's options (one convex hull, the paper's coefficient, `cam >= 0.5`) the exact overlap
//! distances and areas match to 1e-6.

#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

mod common;

use ceod_geometry::{Coefficient, HeatMap, Mask, OverlapOptions, overlap};
use common::{fixtures_dir, read_tensors};

const B: usize = 32;
const N: usize = 128;

/// The reference's rule for "no hot pixel" is distance 1, as ours; for an empty mask it returns
/// 1 where we return no value (the fixtures have no empty masks: asserted).
fn reference_distance(heat: &HeatMap, mask: &Mask) -> (f64, ceod_geometry::Overlap) {
    assert!(!mask.is_empty(), "fixtures have no empty masks");
    let o = overlap(heat, mask, &OverlapOptions::reference()).unwrap();
    (o.distance(Coefficient::Paper).unwrap(), o)
}

#[test]
fn overlap_inputs_128_match_shapely() {
    let Some(dir) = fixtures_dir() else { return };
    let t = read_tensors(
        &dir.join("overlap_inputs_128.safetensors"),
        &["hot", "masks", "exact_overlap_d"],
    );
    assert_eq!(t[0].shape, vec![B, N, N]);
    let expected = t[2].f64s();
    let mut max_err = 0.0f64;
    for i in 0..B {
        let hot: Vec<f32> = t[0].bytes[i * N * N..(i + 1) * N * N]
            .iter()
            .map(|&b| f32::from(b))
            .collect();
        let heat = HeatMap::new(N, N, hot).unwrap();
        let mask = Mask::from_bytes(N, N, &t[1].bytes[i * N * N..(i + 1) * N * N], 1).unwrap();
        let (d, _) = reference_distance(&heat, &mask);
        max_err = max_err.max((d - expected[i]).abs());
        assert!(
            (d - expected[i]).abs() < 1e-6,
            "case {i}: ours {d}, reference {}",
            expected[i]
        );
    }
    eprintln!("overlap_inputs_128: max |ours - reference| = {max_err:.3e}");
}

/// The 512×512 inputs, when present: `overlap_inputs_512.safetensors` in the fixtures folder (the
/// reference's `bench` writes it there) or the file `$CEOD_BENCH_512` (written by
/// `benches/shapely_overlap.py`, with shapely's distances).
#[test]
fn overlap_inputs_512_match_shapely() {
    let in_fixtures = fixtures_dir().map(|d| d.join("overlap_inputs_512.safetensors"));
    let path = in_fixtures
        .filter(|p| p.is_file())
        .or_else(|| std::env::var_os("CEOD_BENCH_512").map(std::path::PathBuf::from))
        .filter(|p| p.is_file());
    let Some(path) = path else {
        eprintln!("SKIP: no overlap_inputs_512.safetensors (fixtures folder or CEOD_BENCH_512)");
        return;
    };
    let t = read_tensors(&path, &["hot", "masks", "exact_overlap_d"]);
    let n = 512;
    let expected = t[2].f64s();
    for i in 0..t[0].shape[0] {
        let hot: Vec<f32> = t[0].bytes[i * n * n..(i + 1) * n * n]
            .iter()
            .map(|&b| f32::from(b))
            .collect();
        let heat = HeatMap::new(n, n, hot).unwrap();
        let mask = Mask::from_bytes(n, n, &t[1].bytes[i * n * n..(i + 1) * n * n], 1).unwrap();
        let (d, _) = reference_distance(&heat, &mask);
        assert!(
            (d - expected[i]).abs() < 1e-6,
            "512 case {i}: ours {d}, shapely {}",
            expected[i]
        );
    }
}

fn check_oracle(file: &str) {
    let Some(dir) = fixtures_dir() else { return };
    let t = read_tensors(
        &dir.join(file),
        &[
            "cam",
            "exact_overlap_d",
            "hull_area",
            "mask_area",
            "inter_area",
            "cam_raw",
        ],
    );
    let masks = read_tensors(&dir.join("batch.safetensors"), &["masks"]).remove(0);
    assert_eq!(masks.shape, vec![B, N, N]);
    let (cam, od, hull, marea, inter, raw) = (
        t[0].f32s(),
        t[1].f64s(),
        t[2].f64s(),
        t[3].f64s(),
        t[4].f64s(),
        t[5].f32s(),
    );
    let masks = masks.f32s();
    let mut max_cam_err = 0.0f32;
    for i in 0..B {
        let heat = HeatMap::new(N, N, cam[i * N * N..(i + 1) * N * N].to_vec()).unwrap();
        let mask = Mask::new(
            N,
            N,
            masks[i * N * N..(i + 1) * N * N]
                .iter()
                .map(|&v| v > 0.5)
                .collect(),
        )
        .unwrap();
        let (d, o) = reference_distance(&heat, &mask);
        assert!(
            (d - od[i]).abs() < 1e-6,
            "{file} case {i}: distance {d} vs {}",
            od[i]
        );
        assert!(
            (o.detected - hull[i]).abs() < 1e-6,
            "{file} case {i}: hull {} vs {}",
            o.detected,
            hull[i]
        );
        assert!(
            (o.mask - marea[i]).abs() < 1e-6,
            "{file} case {i}: mask {} vs {}",
            o.mask,
            marea[i]
        );
        assert!(
            (o.intersection - inter[i]).abs() < 1e-6,
            "{file} case {i}: inter {} vs {}",
            o.intersection,
            inter[i]
        );

        // The upsampling: cam_raw (16x16) -> 128x128 -> / (max + 1e-8) is the oracle's cam.
        let small = HeatMap::new(16, 16, raw[i * 256..(i + 1) * 256].to_vec()).unwrap();
        let up = small.resized(N, N).unwrap();
        let m = up.max();
        for (a, b) in up.values().iter().zip(heat.values()) {
            max_cam_err = max_cam_err.max((a / (m + 1e-8) - b).abs());
        }
    }
    eprintln!("{file}: max |upsampled cam - oracle cam| = {max_cam_err:.3e}");
    assert!(
        max_cam_err < 1e-6,
        "{file}: upsampling differs by {max_cam_err}"
    );
}

#[test]
fn oracle_bce20_matches() {
    check_oracle("oracle_out_bce20.safetensors");
}

#[test]
fn oracle_bce40_matches() {
    check_oracle("oracle_out_bce40.safetensors");
}
