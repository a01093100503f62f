//! The exact outline of a set of pixels: the union of their squares, with holes.

use geo::{LineString, MultiPolygon, Polygon};

use crate::components::{Components, Connectivity};
use crate::hull::{Corner, twice_signed_area};
use crate::mask::Mask;

/// Unit steps: +x, +y, −x, −y. A left turn (in `(x, y)` coordinates) is `d + 1`, a right turn
/// `d + 3` (mod 4).
const DX: [i64; 4] = [1, 0, -1, 0];
const DY: [i64; 4] = [0, 1, 0, -1];

/// The union of the squares of the inside pixels of `mask`, exactly, as a valid multipolygon:
/// one polygon per 4-connected component, its exterior ring with positive shoelace area and its
/// holes with negative, only corner vertices (no collinear ones), integer coordinates.
///
/// Pixels that touch only at a corner (diagonal neighbours) are separate polygons that share that
/// one point; a background region that touches the outside only at a corner stays a hole that
/// touches the exterior at that point. No ring touches itself: where the boundary passes a corner
/// twice, the ring is split there (OGC validity, as geo's `Validation` checks).
pub(crate) fn pixel_outline(mask: &Mask) -> MultiPolygon<f64> {
    let (w, h) = (mask.width() as i64, mask.height() as i64);
    let inside =
        |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && mask.values()[(y * w + x) as usize];
    // The pixels left and right of the unit edge from (x, y) in direction d.
    let sides = |x: i64, y: i64, d: usize| {
        let (dx, dy) = (DX[d], DY[d]);
        let (nx, ny) = (-dy, dx);
        let l = ((2 * x + dx + nx - 1) / 2, (2 * y + dy + ny - 1) / 2);
        let r = ((2 * x + dx - nx - 1) / 2, (2 * y + dy - ny - 1) / 2);
        (l, r)
    };
    let is_edge = |x: i64, y: i64, d: usize| {
        let (l, r) = sides(x, y, d);
        inside(l.0, l.1) && !inside(r.0, r.1)
    };
    let is_saddle = |(x, y): Corner| {
        let (tl, tr, bl, br) = (
            inside(x - 1, y - 1),
            inside(x, y - 1),
            inside(x - 1, y),
            inside(x, y),
        );
        tl == br && tr == bl && tl != tr
    };

    let comps = Components::label(mask, Connectivity::Four);
    // visited[pixel] bit d: the edge with that pixel on its left, in direction d, is traced.
    let mut visited = vec![0u8; mask.values().len()];
    let mut loops: Vec<Vec<Corner>> = Vec::new();
    for y in 0..h as usize {
        // Every ring has a +x edge, the top edge of a pixel whose upper neighbour is outside:
        // the parts of this row's runs not covered by the previous row's runs.
        let prev = if y == 0 {
            &[][..]
        } else {
            &comps.runs[comps.row_start[y - 1]..comps.row_start[y]]
        };
        let mut k = 0;
        for run in &comps.runs[comps.row_start[y]..comps.row_start[y + 1]] {
            let mut x = run.x0;
            while x < run.x1 {
                while k < prev.len() && prev[k].x1 <= x {
                    k += 1;
                }
                let gap_end = match prev.get(k) {
                    Some(p) if p.x0 <= x => {
                        x = p.x1; // covered from above up to p.x1
                        continue;
                    }
                    Some(p) => p.x0.min(run.x1),
                    None => run.x1,
                };
                for px in x..gap_end {
                    let (px, py) = (i64::from(px), y as i64);
                    if visited[(py * w + px) as usize] & 1 == 0 {
                        trace(
                            px,
                            py,
                            w,
                            &sides,
                            &is_edge,
                            &is_saddle,
                            &mut visited,
                            &mut loops,
                        );
                    }
                }
                x = gap_end;
            }
        }
    }
    assemble(&comps, loops)
}

/// Traces the ring that starts with the top edge of pixel `(x, y)` and appends its simple loops.
#[allow(clippy::too_many_arguments)]
fn trace(
    x: i64,
    y: i64,
    w: i64,
    sides: &impl Fn(i64, i64, usize) -> ((i64, i64), (i64, i64)),
    is_edge: &impl Fn(i64, i64, usize) -> bool,
    is_saddle: &impl Fn(Corner) -> bool,
    visited: &mut [u8],
    loops: &mut Vec<Vec<Corner>>,
) {
    let start = (x, y);
    let mut corners = vec![start];
    let (mut cx, mut cy, mut d) = (x, y, 0usize);
    loop {
        let (l, _) = sides(cx, cy, d);
        visited[(l.1 * w + l.0) as usize] |= 1 << d;
        cx += DX[d];
        cy += DY[d];
        // Left turn first: at a saddle that keeps to the same pixel (4-connectivity).
        let next = [(d + 1) % 4, d, (d + 3) % 4]
            .into_iter()
            .find(|&nd| is_edge(cx, cy, nd))
            .unwrap_or(d); // unreachable: every boundary vertex has an outgoing edge
        if (cx, cy) == start && next == 0 {
            if d == 0 {
                corners.remove(0); // the start was not a corner
            }
            break;
        }
        if next != d {
            corners.push((cx, cy));
        }
        d = next;
    }
    split_at_repeated_saddles(&corners, is_saddle, loops);
}

/// Splits a ring that passes a (saddle) corner twice into simple loops.
fn split_at_repeated_saddles(
    ring: &[Corner],
    is_saddle: &impl Fn(Corner) -> bool,
    out: &mut Vec<Vec<Corner>>,
) {
    let mut stack: Vec<Corner> = Vec::with_capacity(ring.len());
    let mut seen: Vec<(Corner, usize)> = Vec::new();
    for &v in ring {
        if is_saddle(v) {
            if let Some(i) = seen.iter().position(|&(c, _)| c == v) {
                let k = seen[i].1;
                out.push(stack.split_off(k));
                stack.push(v);
                seen.retain(|&(_, pos)| pos <= k);
                continue;
            }
            seen.push((v, stack.len()));
        }
        stack.push(v);
    }
    out.push(stack);
}

/// Groups loops into polygons: positive loops are exteriors, negative ones holes, each belonging
/// to the 4-connected component of the pixel on its left (inside).
fn assemble(comps: &Components, loops: Vec<Vec<Corner>>) -> MultiPolygon<f64> {
    let mut exteriors: Vec<Option<LineString<f64>>> = vec![None; comps.count];
    let mut holes: Vec<Vec<LineString<f64>>> = vec![Vec::new(); comps.count];
    for ring in loops {
        if ring.len() < 4 {
            continue; // cannot happen for pixel boundaries; never emit a degenerate ring
        }
        let (a, b) = (ring[0], ring[1]);
        let d = (0..4)
            .find(|&d| (b.0 - a.0).signum() == DX[d] && (b.1 - a.1).signum() == DY[d])
            .unwrap_or(0);
        let (dx, dy) = (DX[d], DY[d]);
        let (nx, ny) = (-dy, dx);
        let lx = (2 * a.0 + dx + nx - 1) / 2;
        let ly = (2 * a.1 + dy + ny - 1) / 2;
        let Some(label) = comps.label_at(lx as u32, ly as u32) else {
            continue;
        };
        let line = to_line_string(&ring);
        if twice_signed_area(&ring) > 0 {
            exteriors[label as usize] = Some(line);
        } else {
            holes[label as usize].push(line);
        }
    }
    MultiPolygon::new(
        exteriors
            .into_iter()
            .zip(holes)
            .filter_map(|(e, hs)| e.map(|e| Polygon::new(e, hs)))
            .collect(),
    )
}

fn to_line_string(ring: &[Corner]) -> LineString<f64> {
    let mut coords: Vec<geo::Coord<f64>> = ring
        .iter()
        .map(|&(x, y)| geo::Coord {
            x: x as f64,
            y: y as f64,
        })
        .collect();
    coords.push(coords[0]);
    LineString::new(coords)
}
