//! Overlap distance per image: a 16×16 CAM resampled to 128×128 (and 512×512) against a mask, for
//! each outline; the reference's own kernel (a 128×128 cam given, one convex hull, mask polygon
//! prebuilt) for the side-by-side with shapely (`shapely_overlap.py`); the batch, parallel vs
//! sequential.
//!
//! Inputs: the 32 cams (`cam_raw`, 16×16) of `oracle_out_bce40.safetensors` — the seed-0 model
//! after 40 BCE steps, the reference's overlap-bench inputs — with the masks of
//! `batch.safetensors`; at 512 the masks of `$CEOD_BENCH_512` (written by `shapely_overlap.py`,
//! re-rendered at 512 from the same scenes like the reference) or else the 128 masks scaled ×4.
//! Without the fixtures, synthetic blobs and ellipses stand in.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ceod_geometry::{
    AreaOfInterest, Coefficient, HeatMap, Mask, Outline, OverlapOptions, Threshold, overlap,
    overlap_batch, overlap_batch_sequential, overlap_with_area,
};
use criterion::{Criterion, criterion_group, criterion_main};

struct Inputs {
    cams16: Vec<HeatMap>,
    masks: Vec<Mask>,
}

fn tensor(path: &Path, name: &str) -> Option<(Vec<usize>, Vec<u8>)> {
    let data = std::fs::read(path).ok()?;
    let st = safetensors::SafeTensors::deserialize(&data).ok()?;
    let t = st.tensor(name).ok()?;
    Some((t.shape().to_vec(), t.data().to_vec()))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn fixtures() -> PathBuf {
    std::env::var_os("CEOD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        })
}

fn synthetic(n: usize) -> Inputs {
    let cams16 = (0..32)
        .map(|i| {
            let (cx, cy) = (4.0 + (i % 8) as f32, 4.0 + (i / 4) as f32);
            HeatMap::new(
                16,
                16,
                (0..256)
                    .map(|k| {
                        (-(((k % 16) as f32 - cx).powi(2) + ((k / 16) as f32 - cy).powi(2)) / 6.0)
                            .exp()
                    })
                    .collect(),
            )
            .unwrap()
        })
        .collect();
    let masks = (0..32)
        .map(|i| {
            let (cx, cy, r) = (
                n as f64 * (0.3 + 0.01 * i as f64),
                n as f64 * 0.5,
                n as f64 * 0.2,
            );
            Mask::from_fn(n, n, |x, y| {
                ((x as f64 + 0.5 - cx) / r).powi(2) + ((y as f64 + 0.5 - cy) / (0.6 * r)).powi(2)
                    <= 1.0
            })
            .unwrap()
        })
        .collect();
    Inputs { cams16, masks }
}

fn load(n: usize) -> Inputs {
    let dir = fixtures();
    let (Some((_, raw)), Some((_, m128))) = (
        tensor(&dir.join("oracle_out_bce40.safetensors"), "cam_raw"),
        tensor(&dir.join("batch.safetensors"), "masks"),
    ) else {
        eprintln!("fixtures not found in {}: synthetic inputs", dir.display());
        return synthetic(n);
    };
    let raw = f32s(&raw);
    let m128 = f32s(&m128);
    let cams16 = (0..32)
        .map(|i| HeatMap::new(16, 16, raw[i * 256..(i + 1) * 256].to_vec()).unwrap())
        .collect();
    let masks = if n == 128 {
        (0..32)
            .map(|i| {
                Mask::new(
                    128,
                    128,
                    m128[i * 16384..(i + 1) * 16384]
                        .iter()
                        .map(|&v| v > 0.5)
                        .collect(),
                )
                .unwrap()
            })
            .collect()
    } else if let Some((shape, bytes)) =
        std::env::var_os("CEOD_BENCH_512").and_then(|p| tensor(Path::new(&p), "masks"))
    {
        assert_eq!(shape, vec![32, n, n]);
        (0..32)
            .map(|i| Mask::from_bytes(n, n, &bytes[i * n * n..(i + 1) * n * n], 1).unwrap())
            .collect()
    } else {
        eprintln!(
            "CEOD_BENCH_512 not set: 512 masks are the 128 masks scaled x{}",
            n / 128
        );
        let k = n / 128;
        (0..32)
            .map(|i| {
                Mask::from_fn(n, n, |x, y| m128[i * 16384 + (y / k) * 128 + x / k] > 0.5).unwrap()
            })
            .collect()
    };
    Inputs { cams16, masks }
}

/// The normalised cam at full resolution, as the reference thresholds it.
fn normalised(cam16: &HeatMap, n: usize) -> HeatMap {
    let up = cam16.resized(n, n).unwrap();
    let m = up.max();
    HeatMap::new(n, n, up.values().iter().map(|v| v / (m + 1e-8)).collect()).unwrap()
}

const OUTLINES: [(&str, Outline); 4] = [
    ("component_hulls", Outline::ComponentHulls),
    ("convex_hull", Outline::ConvexHull),
    ("pixel_outline", Outline::PixelOutline),
    (
        "concave_hull",
        Outline::ConcaveHull {
            concavity: 2.0,
            length_threshold: 0.0,
        },
    ),
];

fn bench_resolution(c: &mut Criterion, n: usize) {
    let inputs = load(n);
    let areas: Vec<AreaOfInterest> = inputs.masks.iter().map(AreaOfInterest::from_mask).collect();
    let b = inputs.cams16.len();

    // Per image, from the 16x16 cam: resample + threshold + outline + mask polygon + overlap.
    let mut g = c.benchmark_group(format!("overlap_{n}"));
    for (name, outline) in OUTLINES {
        let opts = OverlapOptions {
            outline,
            ..Default::default()
        };
        let mut i = 0;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                i = (i + 1) % b;
                overlap(black_box(&inputs.cams16[i]), &inputs.masks[i], &opts)
                    .unwrap()
                    .distance(Coefficient::Containment)
            })
        });
    }
    g.finish();

    // The same with the mask polygon prebuilt (it is fixed per training image).
    let mut g = c.benchmark_group(format!("overlap_{n}_prebuilt_mask"));
    for (name, outline) in OUTLINES {
        let opts = OverlapOptions {
            outline,
            ..Default::default()
        };
        let mut i = 0;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                i = (i + 1) % b;
                overlap_with_area(black_box(&inputs.cams16[i]), &areas[i], &opts)
                    .unwrap()
                    .distance(Coefficient::Containment)
            })
        });
    }
    g.finish();

    // The reference's timed kernel: the normalised cam at full resolution given, cam >= 0.5, one
    // convex hull, intersection + areas; with the mask polygon prebuilt and including it.
    let cams: Vec<HeatMap> = inputs.cams16.iter().map(|h| normalised(h, n)).collect();
    let reference = OverlapOptions {
        threshold: Threshold::Absolute(0.5),
        ..OverlapOptions::reference()
    };
    let mut g = c.benchmark_group(format!("reference_kernel_{n}"));
    let mut i = 0;
    g.bench_function("mask_polygon_prebuilt", |bch| {
        bch.iter(|| {
            i = (i + 1) % b;
            overlap_with_area(black_box(&cams[i]), &areas[i], &reference)
                .unwrap()
                .distance(Coefficient::Paper)
        })
    });
    g.bench_function("including_mask_polygon", |bch| {
        bch.iter(|| {
            i = (i + 1) % b;
            overlap(black_box(&cams[i]), &inputs.masks[i], &reference)
                .unwrap()
                .distance(Coefficient::Paper)
        })
    });
    g.bench_function("mask_polygon_alone", |bch| {
        bch.iter(|| {
            i = (i + 1) % b;
            AreaOfInterest::from_mask(black_box(&inputs.masks[i])).area()
        })
    });
    g.finish();

    // The batch of 32 (component hulls, from 16x16): rayon vs one thread.
    let opts = OverlapOptions::default();
    let mut g = c.benchmark_group(format!("batch32_{n}"));
    g.bench_function("parallel", |bch| {
        bch.iter(|| overlap_batch(black_box(&inputs.cams16), &inputs.masks, &opts).unwrap())
    });
    g.bench_function("sequential", |bch| {
        bch.iter(|| {
            overlap_batch_sequential(black_box(&inputs.cams16), &inputs.masks, &opts).unwrap()
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_resolution(c, 128);
    bench_resolution(c, 512);
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(group);
