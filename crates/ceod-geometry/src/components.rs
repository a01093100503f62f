//! Connected components of a mask, as horizontal runs with union-find.

use crate::mask::Mask;

/// Which neighbours connect two pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connectivity {
    /// Edge neighbours only.
    Four,
    /// Edge and corner neighbours.
    Eight,
}

/// A horizontal run of inside pixels: row `y`, columns `x0..x1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) y: u32,
    pub(crate) x0: u32,
    pub(crate) x1: u32,
}

/// The runs of a mask in raster order, each with a component label in `0..count`; `row_start[y]`
/// is the index of the first run of row `y` (`row_start[height]` = number of runs).
#[derive(Debug, Clone)]
pub(crate) struct Components {
    pub(crate) runs: Vec<Run>,
    pub(crate) labels: Vec<u32>,
    pub(crate) row_start: Vec<usize>,
    pub(crate) count: usize,
}

impl Components {
    /// The runs of `mask` (no labels yet: every run its own label).
    pub(crate) fn runs_of(mask: &Mask) -> (Vec<Run>, Vec<usize>) {
        let mut runs = Vec::new();
        let mut row_start = Vec::with_capacity(mask.height() + 1);
        for y in 0..mask.height() {
            row_start.push(runs.len());
            let row = mask.row(y);
            let mut x = 0;
            while x < row.len() {
                // Skip empty stretches 16 pixels at a time (most of a heat map is cold).
                if x + 16 <= row.len() && row[x..x + 16] == [false; 16] {
                    x += 16;
                    continue;
                }
                if row[x] {
                    let x0 = x;
                    while x < row.len() && row[x] {
                        x += 1;
                    }
                    runs.push(Run {
                        y: y as u32,
                        x0: x0 as u32,
                        x1: x as u32,
                    });
                } else {
                    x += 1;
                }
            }
        }
        row_start.push(runs.len());
        (runs, row_start)
    }

    /// The runs of the pixels of a row-major `width × height` grid of values that are `>= level`
    /// (none for `level = None`), without building a mask.
    pub(crate) fn runs_of_values(
        values: &[f32],
        width: usize,
        level: Option<f32>,
    ) -> (Vec<Run>, Vec<usize>) {
        let height = values.len() / width;
        let mut runs = Vec::new();
        let mut row_start = Vec::with_capacity(height + 1);
        for y in 0..height {
            row_start.push(runs.len());
            let Some(t) = level else { continue };
            let row = &values[y * width..(y + 1) * width];
            let mut x = 0;
            while x < width {
                // Skip cold stretches 8 values at a time (no short-circuit: vectorises).
                if x + 8 <= width && !row[x..x + 8].iter().fold(false, |a, &v| a | (v >= t)) {
                    x += 8;
                    continue;
                }
                if row[x] >= t {
                    let x0 = x;
                    while x < width && row[x] >= t {
                        x += 1;
                    }
                    runs.push(Run {
                        y: y as u32,
                        x0: x0 as u32,
                        x1: x as u32,
                    });
                } else {
                    x += 1;
                }
            }
        }
        row_start.push(runs.len());
        (runs, row_start)
    }

    /// Labels the connected components of `mask`.
    pub(crate) fn label(mask: &Mask, connectivity: Connectivity) -> Self {
        let (runs, row_start) = Self::runs_of(mask);
        Self::label_runs(runs, row_start, connectivity)
    }

    /// Labels the connected components of runs in raster order.
    pub(crate) fn label_runs(
        runs: Vec<Run>,
        row_start: Vec<usize>,
        connectivity: Connectivity,
    ) -> Self {
        let height = row_start.len() - 1;
        let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
        // Two runs of adjacent rows touch iff their column ranges overlap (four-connectivity)
        // or overlap after growing one by a pixel on each side (eight-connectivity).
        let grow = u32::from(connectivity == Connectivity::Eight);
        for y in 1..height {
            let (mut i, i_end) = (row_start[y - 1], row_start[y]);
            let (mut j, j_end) = (row_start[y], row_start[y + 1]);
            while i < i_end && j < j_end {
                let (a, b) = (runs[i], runs[j]);
                if a.x0 < b.x1 + grow && b.x0 < a.x1 + grow {
                    union(&mut parent, i as u32, j as u32);
                }
                // Advance the run that ends first.
                if a.x1 < b.x1 {
                    i += 1;
                } else {
                    j += 1;
                }
            }
        }
        // Compact the labels to 0..count in order of first appearance.
        let mut labels = vec![u32::MAX; runs.len()];
        let mut root_label = vec![u32::MAX; runs.len()];
        let mut count = 0u32;
        for (r, label) in labels.iter_mut().enumerate() {
            let root = find(&mut parent, r as u32) as usize;
            if root_label[root] == u32::MAX {
                root_label[root] = count;
                count += 1;
            }
            *label = root_label[root];
        }
        Self {
            runs,
            labels,
            row_start,
            count: count as usize,
        }
    }

    /// The label of the pixel `(x, y)`, which must be inside.
    pub(crate) fn label_at(&self, x: u32, y: u32) -> Option<u32> {
        let row = &self.runs[self.row_start[y as usize]..self.row_start[y as usize + 1]];
        let k = row.partition_point(|r| r.x1 <= x);
        (k < row.len() && row[k].x0 <= x).then(|| self.labels[self.row_start[y as usize] + k])
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}
