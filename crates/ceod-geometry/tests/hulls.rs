//! Convex and component hulls against brute force, and the coefficient's properties.

#![allow(clippy::unwrap_used)]

mod common;

use ceod_geometry::{
    Coefficient, Mask, Outline, OverlapOptions, Threshold, overlap, overlap_of_polygons,
};
use common::{count_and, heat_of};
use geo::{Area, CoordsIter};
use proptest::prelude::*;

type P = (i64, i64);

fn cross(o: P, a: P, b: P) -> i64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// All four corners of every pixel in `pixels`.
fn corners(pixels: &[(usize, usize)]) -> Vec<P> {
    let mut v: Vec<P> = pixels
        .iter()
        .flat_map(|&(x, y)| {
            let (x, y) = (x as i64, y as i64);
            [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)]
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Brute-force hull edges: `p → q` is an edge iff every point is left of or on the line and the
/// points on the line lie within `[p, q]`. O(n³).
fn brute_hull_edges(pts: &[P]) -> Vec<(P, P)> {
    let mut edges = Vec::new();
    for &p in pts {
        for &q in pts {
            if p == q {
                continue;
            }
            let len2 = (q.0 - p.0).pow(2) + (q.1 - p.1).pow(2);
            let ok = pts.iter().all(|&r| {
                let c = cross(p, q, r);
                if c != 0 {
                    return c > 0;
                }
                let dot = (r.0 - p.0) * (q.0 - p.0) + (r.1 - p.1) * (q.1 - p.1);
                (0..=len2).contains(&dot)
            });
            if ok {
                edges.push((p, q));
            }
        }
    }
    edges
}

fn brute_hull_area(pts: &[P]) -> f64 {
    brute_hull_edges(pts)
        .iter()
        .map(|&(p, q)| (p.0 * q.1 - q.0 * p.1) as f64)
        .sum::<f64>()
        / 2.0
}

fn pixels_of(mask: &Mask) -> Vec<(usize, usize)> {
    (0..mask.height())
        .flat_map(|y| (0..mask.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| mask.get(x, y))
        .collect()
}

/// 8-connected components by flood fill.
fn components8(mask: &Mask) -> Vec<Vec<(usize, usize)>> {
    let (w, h) = (mask.width(), mask.height());
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    for (sx, sy) in pixels_of(mask) {
        if seen[sy * w + sx] {
            continue;
        }
        let mut comp = vec![];
        let mut stack = vec![(sx, sy)];
        seen[sy * w + sx] = true;
        while let Some((x, y)) = stack.pop() {
            comp.push((x, y));
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h {
                        let (nx, ny) = (nx as usize, ny as usize);
                        if mask.get(nx, ny) && !seen[ny * w + nx] {
                            seen[ny * w + nx] = true;
                            stack.push((nx, ny));
                        }
                    }
                }
            }
        }
        out.push(comp);
    }
    out
}

/// Exact area of a union of convex polygons with integer vertices: in each unit column strip each
/// polygon is an interval between two linear functions; the union's length is linear between the
/// crossings of those functions, so the trapezoid rule between crossings is exact.
fn union_area_by_strips(hulls: &[Vec<(P, P)>], width: i64) -> f64 {
    let y_at = |(a, b): (P, P), t: f64| {
        a.1 as f64 + (t - a.0 as f64) * (b.1 - a.1) as f64 / (b.0 - a.0) as f64
    };
    let mut total = 0.0;
    for x in 0..width {
        let (t0, t1) = (x as f64, x as f64 + 1.0);
        // (lo, hi) edge pairs of the hulls spanning this strip
        let mut funcs: Vec<[(P, P); 2]> = Vec::new();
        for edges in hulls {
            let spanning: Vec<(P, P)> = edges
                .iter()
                .copied()
                .filter(|&(a, b)| a.0.min(b.0) <= x && a.0.max(b.0) > x)
                .collect();
            if spanning.len() == 2 {
                funcs.push([spanning[0], spanning[1]]);
            }
        }
        let len_at = |t: f64| {
            let mut iv: Vec<(f64, f64)> = funcs
                .iter()
                .map(|f| {
                    let (u, v) = (y_at(f[0], t), y_at(f[1], t));
                    (u.min(v), u.max(v))
                })
                .collect();
            iv.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (mut sum, mut end) = (0.0, f64::NEG_INFINITY);
            for (lo, hi) in iv {
                if hi > end {
                    sum += hi - lo.max(end);
                    end = hi;
                }
            }
            sum
        };
        let lines: Vec<(P, P)> = funcs.iter().flatten().copied().collect();
        let mut ts = vec![t0, t1];
        for i in 0..lines.len() {
            for j in i + 1..lines.len() {
                // f_i(t) - f_j(t) is linear: zero crossing inside the strip?
                let (d0, d1) = (
                    y_at(lines[i], t0) - y_at(lines[j], t0),
                    y_at(lines[i], t1) - y_at(lines[j], t1),
                );
                if d0 * d1 < 0.0 {
                    ts.push(t0 + d0 / (d0 - d1));
                }
            }
        }
        ts.sort_by(f64::total_cmp);
        for w in ts.windows(2) {
            total += (len_at(w[0]) + len_at(w[1])) / 2.0 * (w[1] - w[0]);
        }
    }
    total
}

fn mask_strategy(max: usize) -> impl Strategy<Value = Mask> {
    (1usize..=max, 1usize..=max, 0.02f64..0.6).prop_flat_map(|(w, h, p)| {
        proptest::collection::vec(proptest::bool::weighted(p), w * h)
            .prop_map(move |v| Mask::new(w, h, v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn convex_hull_equals_brute_force(mask in mask_strategy(9)) {
        let poly = Outline::ConvexHull.outline(&mask).unwrap();
        let pts = corners(&pixels_of(&mask));
        if pts.is_empty() {
            prop_assert!(poly.0.is_empty());
            return Ok(());
        }
        prop_assert_eq!(poly.unsigned_area(), brute_hull_area(&pts));
        // the vertices are exactly the brute-force hull's corners (no collinear ones)
        let mut ours: Vec<P> = poly.coords_iter().map(|c| (c.x as i64, c.y as i64)).collect();
        ours.sort_unstable();
        ours.dedup();
        let mut brute: Vec<P> = brute_hull_edges(&pts).iter().map(|e| e.0).collect();
        brute.sort_unstable();
        prop_assert_eq!(ours, brute);
    }

    #[test]
    fn component_hulls_equal_brute_force(mask in mask_strategy(10)) {
        let poly = Outline::ComponentHulls.outline(&mask).unwrap();
        let hulls: Vec<Vec<(P, P)>> =
            components8(&mask).iter().map(|c| brute_hull_edges(&corners(c))).collect();
        let expected = union_area_by_strips(&hulls, mask.width() as i64);
        prop_assert!((poly.unsigned_area() - expected).abs() < 1e-9 * expected.max(1.0),
            "ours {} brute {}", poly.unsigned_area(), expected);
        prop_assert!(poly.unsigned_area() >= mask.count() as f64);
    }

    #[test]
    fn coefficients_lie_in_unit_interval_and_are_symmetric(
        (a, b) in (1usize..=10, 1usize..=10).prop_flat_map(|(w, h)| (
            proptest::collection::vec(proptest::bool::weighted(0.3), w * h).prop_map(move |v| Mask::new(w, h, v).unwrap()),
            proptest::collection::vec(proptest::bool::weighted(0.4), w * h).prop_map(move |v| Mask::new(w, h, v).unwrap()),
        ))
    ) {
        for outline in [Outline::ComponentHulls, Outline::ConvexHull, Outline::PixelOutline, Outline::concave()] {
            let opts = OverlapOptions { threshold: Threshold::Absolute(0.5), outline, ..Default::default() };
            let o = overlap(&heat_of(&a), &b, &opts).unwrap();
            for c in [Coefficient::Paper, Coefficient::Containment, Coefficient::Iou] {
                match o.coefficient(c) {
                    None => prop_assert!(b.is_empty()),
                    Some(v) => prop_assert!((0.0..=1.0).contains(&v)),
                }
            }
            prop_assert!(o.intersection <= o.detected.min(o.mask) + 1e-9);
        }
        // Symmetry of the paper's coefficient and of IoU: swap which region is hot.
        let opts = OverlapOptions { threshold: Threshold::Absolute(0.5), outline: Outline::PixelOutline, ..Default::default() };
        let ab = overlap(&heat_of(&a), &b, &opts).unwrap();
        let ba = overlap(&heat_of(&b), &a, &opts).unwrap();
        if !a.is_empty() && !b.is_empty() {
            prop_assert_eq!(ab.coefficient(Coefficient::Paper), ba.coefficient(Coefficient::Paper));
            prop_assert_eq!(ab.iou(), ba.iou());
            let expected = count_and(&a, &b) as f64 / a.count().min(b.count()) as f64;
            prop_assert_eq!(ab.coefficient(Coefficient::Paper), Some(expected));
        }
    }

    #[test]
    fn subset_gives_one_and_disjoint_gives_zero(mask in mask_strategy(10), keep in proptest::collection::vec(any::<bool>(), 100)) {
        prop_assume!(!mask.is_empty());
        // b ⊆ a (a non-empty subset): the paper's coefficient is 1 for every outline (A_d ⊇ a ⊇ b).
        let mut sub: Vec<bool> = mask.values().iter().zip(keep.iter().cycle()).map(|(m, k)| *m && *k).collect();
        if !sub.iter().any(|&v| v) {
            sub = mask.values().to_vec();
        }
        let b = Mask::new(mask.width(), mask.height(), sub).unwrap();
        for outline in [Outline::ComponentHulls, Outline::ConvexHull, Outline::PixelOutline] {
            let opts = OverlapOptions { threshold: Threshold::Absolute(0.5), outline, ..Default::default() };
            let o = overlap(&heat_of(&mask), &b, &opts).unwrap();
            prop_assert_eq!(o.coefficient(Coefficient::Paper), Some(1.0));
            prop_assert_eq!(o.intersection, b.count() as f64);
        }
        // Disjoint: hot in the left copy, mask in the right copy of a doubled-width image.
        let (w, h) = (mask.width(), mask.height());
        let left = Mask::from_fn(2 * w + 1, h, |x, y| x < w && mask.get(x, y)).unwrap();
        let right = Mask::from_fn(2 * w + 1, h, |x, y| x > w && mask.get(x - w - 1, y)).unwrap();
        for outline in [Outline::ComponentHulls, Outline::ConvexHull, Outline::PixelOutline, Outline::concave()] {
            let opts = OverlapOptions { threshold: Threshold::Absolute(0.5), outline, ..Default::default() };
            let o = overlap(&heat_of(&left), &right, &opts).unwrap();
            for c in [Coefficient::Paper, Coefficient::Containment, Coefficient::Iou] {
                prop_assert_eq!(o.coefficient(c), Some(0.0));
            }
        }
    }

    #[test]
    fn concave_hull_covers_every_hot_pixel(mask in mask_strategy(9)) {
        let concave = Outline::concave().outline(&mask).unwrap();
        let pixels = Outline::PixelOutline.outline(&mask).unwrap();
        let convex = Outline::ComponentHulls.outline(&mask).unwrap();
        let o = overlap_of_polygons(&concave, &pixels);
        prop_assert!((o.intersection - mask.count() as f64).abs() < 1e-9);
        prop_assert!(concave.unsigned_area() <= convex.unsigned_area() + 1e-9);
    }
}

#[test]
fn hull_of_a_diagonal_line_has_area_2n_minus_1() {
    // Corners (0,0)..(n,n): the hexagon n² − (n−1)², worked by hand.
    for n in [1usize, 2, 5, 12] {
        let m = Mask::from_fn(n, n, |x, y| x == y).unwrap();
        let a = Outline::ConvexHull.outline(&m).unwrap().unsigned_area();
        assert_eq!(a, (2 * n - 1) as f64);
        assert_eq!(
            Outline::ComponentHulls.outline(&m).unwrap().unsigned_area(),
            a
        );
        assert_eq!(
            Outline::PixelOutline.outline(&m).unwrap().unsigned_area(),
            n as f64
        );
    }
}

#[test]
fn ring_component_hull_contains_the_inner_component() {
    // An 8-connected frame around a separate single pixel: their hulls overlap (the frame's hull
    // is the full 5x5 square), and the union is the 5x5 square.
    let m = Mask::from_fn(5, 5, |x, y| {
        x == 0 || y == 0 || x == 4 || y == 4 || (x, y) == (2, 2)
    })
    .unwrap();
    let poly = Outline::ComponentHulls.outline(&m).unwrap();
    assert_eq!(poly.unsigned_area(), 25.0);
    assert_eq!(poly.0.len(), 1);
}
