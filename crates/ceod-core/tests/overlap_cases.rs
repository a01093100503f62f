//! Hand-made CAM/mask pairs through the whole loss, for each mode and coefficient.
//!
//! A toy model whose features ARE the input (`B × 1 × H × W`) and whose head is global average
//! pool + weight 1: alpha = 1/(H·W), so the normalised CAM is the input divided by its maximum
//! (up to the 1e-8 of the normalisation), at image resolution (the upsampling is the identity).
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, Tensor, Var};
use ceod_core::{CeodInput, CeodOptions, Coefficient, OverlapMode, Targets, ceod_loss};
use ceod_gradcam::{CamModel, LinearHead};

const N: usize = 8;

struct Identity {
    fc: LinearHead,
}

impl Identity {
    fn new() -> Self {
        let w = Tensor::ones((1, 1), DType::F64, &Device::Cpu).unwrap();
        Self {
            fc: LinearHead {
                weight: w,
                bias: None,
            },
        }
    }
}

impl CamModel for Identity {
    fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Ok(xs.clone())
    }
    fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.mean((2, 3))?.matmul(&self.fc.weight.t()?)
    }
    fn linear_head(&self) -> Option<LinearHead> {
        Some(self.fc.clone())
    }
}

fn grid(f: impl Fn(usize, usize) -> bool) -> Vec<f64> {
    (0..N * N)
        .map(|i| if f(i % N, i / N) { 1.0 } else { 0.0 })
        .collect()
}

/// (name, cam, mask, hot pixels inside, hot pixels, mask pixels); hot regions are rectangles, so
/// every outline (hull, pixel outline) is the rectangle and the areas are pixel counts.
fn cases() -> Vec<(&'static str, Vec<f64>, Vec<f64>)> {
    vec![
        // 2×2 hot block inside a 5×5 mask
        (
            "inside",
            grid(|x, y| (2..4).contains(&x) && (2..4).contains(&y)),
            grid(|x, y| (1..6).contains(&x) && (1..6).contains(&y)),
        ),
        // hot 2×2 in the bottom-right corner, mask the top-left 4×4
        (
            "outside",
            grid(|x, y| x >= 6 && y >= 6),
            grid(|x, y| x < 4 && y < 4),
        ),
        // hot 4×4 top-left, mask the columns 2..8: half the hot region is inside
        ("partial", grid(|x, y| x < 4 && y < 4), grid(|x, _| x >= 2)),
        // hot everywhere, mask the top-left 4×4 (a quarter of the image)
        ("everywhere", vec![1.0; N * N], grid(|x, y| x < 4 && y < 4)),
    ]
}

/// The exact coefficient from pixel counts (hot regions are rectangles).
fn exact_by_counting(cam: &[f64], mask: &[f64], c: Coefficient) -> f64 {
    let hot = cam.iter().filter(|&&v| v >= 0.5).count() as f64;
    let m = mask.iter().filter(|&&v| v > 0.5).count() as f64;
    let inter = cam
        .iter()
        .zip(mask)
        .filter(|(a, b)| **a >= 0.5 && **b > 0.5)
        .count() as f64;
    1.0 - match c {
        Coefficient::Paper => inter / hot.min(m),
        Coefficient::Containment => inter / hot,
        Coefficient::Iou => inter / (hot + m - inter),
        Coefficient::Energy => inter / hot, // cam is 0/1: mass share = pixel share
    }
}

/// The soft coefficient by hand: the normalised cam is v / (1 + 1e-8·H·W) (raw max = 1/(H·W)),
/// s = σ((cam − 0.5)/0.05).
fn soft_by_hand(cam: &[f64], mask: &[f64], c: Coefficient) -> f64 {
    let norm = 1.0 / (1.0 + 1e-8 * (N * N) as f64);
    let cn: Vec<f64> = cam.iter().map(|v| v * norm).collect();
    let eps = 1e-6;
    if c == Coefficient::Energy {
        let inside: f64 = cn.iter().zip(mask).map(|(a, m)| a * m).sum();
        return 1.0 - inside / (cn.iter().sum::<f64>() + eps);
    }
    let s: Vec<f64> = cn
        .iter()
        .map(|v| 1.0 / (1.0 + (-(v - 0.5) / 0.05).exp()))
        .collect();
    let inter: f64 = s.iter().zip(mask).map(|(a, m)| a * m).sum();
    let ss: f64 = s.iter().sum();
    let sm: f64 = mask.iter().sum();
    1.0 - inter
        / (match c {
            Coefficient::Paper => ss.min(sm),
            Coefficient::Containment => ss,
            _ => ss + sm - inter,
        } + eps)
}

fn input(cams: &[Vec<f64>], masks: &[Vec<f64>]) -> (Var, CeodInput) {
    let b = cams.len();
    let x = Var::from_tensor(&Tensor::from_vec(cams.concat(), (b, 1, N, N), &Device::Cpu).unwrap())
        .unwrap();
    let m = Tensor::from_vec(masks.concat(), (b, N, N), &Device::Cpu).unwrap();
    let input = CeodInput {
        images: x.as_tensor().clone(),
        targets: Targets::Binary(Tensor::zeros(b, DType::F64, &Device::Cpu).unwrap()),
        masks: Some(m),
        has_mask: None,
    };
    (x, input)
}

const COEFFICIENTS: [Coefficient; 4] = [
    Coefficient::Paper,
    Coefficient::Containment,
    Coefficient::Iou,
    Coefficient::Energy,
];

#[test]
fn soft_mode_matches_hand_formula() {
    let cs = cases();
    let (cams, masks): (Vec<_>, Vec<_>) = cs.iter().map(|(_, c, m)| (c.clone(), m.clone())).unzip();
    let (_, inp) = input(&cams, &masks);
    for coefficient in COEFFICIENTS {
        let opts = CeodOptions {
            mode: OverlapMode::Soft,
            coefficient,
            report_exact: false,
            ..Default::default()
        };
        let out = ceod_loss(&Identity::new(), &inp, &opts).unwrap();
        let mut mean = 0.0;
        for (i, (name, cam, mask)) in cs.iter().enumerate() {
            let want = soft_by_hand(cam, mask, coefficient);
            let got = out.parts.soft_d[i].unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{coefficient:?} {name}: soft {got} vs {want}"
            );
            // a sharp soft region is close to the exact value
            assert!(
                (got - exact_by_counting(cam, mask, coefficient)).abs() < 1e-3,
                "{coefficient:?} {name}"
            );
            mean += want / cs.len() as f64;
        }
        assert!((out.parts.overlap - mean).abs() < 1e-12);
        assert!((out.parts.total - out.parts.ce - mean).abs() < 1e-12);
    }
}

/// Hot everywhere: `paper` is (almost exactly) 0 — the published coefficient's blind spot —
/// while `containment` is the share of the image outside the mask.
#[test]
fn hot_everywhere_paper_is_zero_containment_is_share_outside() {
    let (_, cam, mask) = cases().pop().unwrap();
    let (_, inp) = input(&[cam], &[mask]);
    let paper = CeodOptions {
        mode: OverlapMode::Soft,
        coefficient: Coefficient::Paper,
        report_exact: false,
        ..Default::default()
    };
    let d = ceod_loss(&Identity::new(), &inp, &paper)
        .unwrap()
        .parts
        .soft_d[0]
        .unwrap();
    assert!(d < 1e-4, "paper, soft: {d}");
    let cont = CeodOptions {
        coefficient: Coefficient::Containment,
        ..paper
    };
    let d = ceod_loss(&Identity::new(), &inp, &cont)
        .unwrap()
        .parts
        .soft_d[0]
        .unwrap();
    assert!((d - 48.0 / 64.0).abs() < 1e-4, "containment, soft: {d}");
}

#[cfg(feature = "overlap")]
#[test]
fn exact_and_straight_through_modes() {
    use ceod_core::RegionKind;
    let cs = cases();
    let (cams, masks): (Vec<_>, Vec<_>) = cs.iter().map(|(_, c, m)| (c.clone(), m.clone())).unzip();
    for region in [
        RegionKind::ComponentHulls,
        RegionKind::SingleHull,
        RegionKind::PixelOutline,
    ] {
        for coefficient in COEFFICIENTS {
            let mut grads = vec![];
            for mode in [
                OverlapMode::Exact,
                OverlapMode::Soft,
                OverlapMode::StraightThrough,
            ] {
                let (x, inp) = input(&cams, &masks);
                let opts = CeodOptions {
                    mode,
                    coefficient,
                    region,
                    ..Default::default()
                };
                let out = ceod_loss(&Identity::new(), &inp, &opts).unwrap();
                let mut mean_exact = 0.0;
                for (i, (name, cam, mask)) in cs.iter().enumerate() {
                    let want = exact_by_counting(cam, mask, coefficient);
                    let got = out.parts.exact_d[i].unwrap();
                    assert!(
                        (got - want).abs() < 1e-9,
                        "{region:?} {coefficient:?} {mode:?} {name}: {got} vs {want}"
                    );
                    mean_exact += want / cs.len() as f64;
                }
                if mode != OverlapMode::Soft {
                    assert!(
                        (out.parts.overlap - mean_exact).abs() < 1e-9,
                        "{mode:?}: the value is the exact one"
                    );
                }
                let g = out.overlap.backward().unwrap();
                grads.push(
                    g.get(x.as_tensor())
                        .map(|g| g.flatten_all().unwrap().to_vec1::<f64>().unwrap()),
                );
            }
            // exact: no gradient; straight-through: the soft term's gradient exactly
            assert!(
                grads[0]
                    .as_ref()
                    .is_none_or(|g| g.iter().all(|v| *v == 0.0))
            );
            assert_eq!(grads[1], grads[2]);
        }
    }
    // The hand values named in the issue.
    let d = |name: &str, c| {
        let (_, cam, mask) = cs.iter().find(|(n, _, _)| *n == name).unwrap();
        exact_by_counting(cam, mask, c)
    };
    assert_eq!(d("inside", Coefficient::Containment), 0.0);
    assert_eq!(d("inside", Coefficient::Paper), 0.0);
    assert_eq!(d("outside", Coefficient::Paper), 1.0);
    assert_eq!(d("partial", Coefficient::Containment), 0.5);
    assert_eq!(d("everywhere", Coefficient::Paper), 0.0);
    assert_eq!(d("everywhere", Coefficient::Containment), 0.75);
    // No hot pixel (an all-zero map stays zero after normalisation): distance 1.
    let (_, inp) = input(&[vec![0.0; N * N]], &[masks[0].clone()]);
    for coefficient in COEFFICIENTS {
        let opts = CeodOptions {
            mode: OverlapMode::Exact,
            coefficient,
            ..Default::default()
        };
        let out = ceod_loss(&Identity::new(), &inp, &opts).unwrap();
        assert_eq!(out.parts.exact_d[0], Some(1.0), "{coefficient:?}");
        assert!(
            out.cam
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .all(|v| *v == 0.0)
        );
    }
}

#[cfg(not(feature = "overlap"))]
#[test]
fn exact_modes_need_the_feature() {
    let (_, cam, mask) = cases().remove(0);
    let (_, inp) = input(&[cam], &[mask]);
    for mode in [OverlapMode::Exact, OverlapMode::StraightThrough] {
        let opts = CeodOptions {
            mode,
            ..Default::default()
        };
        let err = ceod_loss(&Identity::new(), &inp, &opts).unwrap_err();
        assert!(
            matches!(err, ceod_core::CoreError::OverlapFeatureDisabled { .. }),
            "{err}"
        );
    }
    // energy needs no polygon
    let opts = CeodOptions {
        mode: OverlapMode::Exact,
        coefficient: Coefficient::Energy,
        ..Default::default()
    };
    assert!(ceod_loss(&Identity::new(), &inp, &opts).is_ok());
}

/// Samples without a mask, with an empty mask, or negative under `PositivesOnly` get weight 0.
#[test]
fn weights_follow_masks_and_sample_option() {
    let (_, cam, mask) = cases().remove(2);
    let empty = vec![0.0; N * N];
    let (_, mut inp) = input(
        &[cam.clone(), cam.clone(), cam.clone()],
        &[mask.clone(), empty, mask.clone()],
    );
    inp.has_mask = Some(vec![true, true, false]);
    inp.targets = Targets::Binary(Tensor::new(&[0f64, 1., 1.], &Device::Cpu).unwrap());
    let base = CeodOptions {
        mode: OverlapMode::Soft,
        report_exact: false,
        ..Default::default()
    };
    let out = ceod_loss(&Identity::new(), &inp, &base).unwrap();
    assert_eq!(out.parts.weights, vec![1.0, 0.0, 0.0]);
    assert!(out.parts.soft_d[1].is_none() && out.parts.soft_d[2].is_none());
    let d0 = out.parts.soft_d[0].unwrap();
    assert!(
        (out.parts.overlap - d0 / 3.0).abs() < 1e-12,
        "mean over the whole batch"
    );
    let pos = CeodOptions {
        samples: ceod_core::OverlapSamples::PositivesOnly,
        ..base
    };
    let out = ceod_loss(&Identity::new(), &inp, &pos).unwrap();
    assert_eq!(out.parts.weights, vec![0.0, 0.0, 0.0]);
    assert_eq!(out.parts.overlap, 0.0);
    // no masks at all: the loss is the cross-entropy
    inp.masks = None;
    let out = ceod_loss(&Identity::new(), &inp, &base).unwrap();
    assert_eq!(out.parts.total, out.parts.ce);
    assert!(out.cam.is_none());
}
