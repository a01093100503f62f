//! The overlay grid of an experiment: one row per arm, the same test images in the columns.

use image::{Rgb, RgbImage};

use crate::render::contact_sheet;

/// The test images an overlay grid shows: at most `n` indices into `labels`, the classes taking
/// turns, each class's images in test-split order; when a class runs out the others fill the
/// rest. Binary labels: defective (1) first, then good (0), alternating; more classes: in
/// ascending order (0, 1, 2, …). Deterministic: the same labels give the same choice.
///
/// ```
/// use ceod_train::experiment::grid::pick_overlay_items;
/// assert_eq!(pick_overlay_items(&[0, 0, 1, 0, 1, 1], 4), [2, 0, 4, 1]);
/// assert_eq!(pick_overlay_items(&[1, 1, 0], 9), [0, 2, 1]);
/// assert_eq!(pick_overlay_items(&[2, 0, 2, 1, 0], 4), [1, 3, 0, 4]);
/// ```
pub fn pick_overlay_items(labels: &[usize], n: usize) -> Vec<usize> {
    let mut classes: Vec<usize> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.iter().all(|&c| c <= 1) {
        classes.reverse();
    }
    let mut queues: Vec<std::collections::VecDeque<usize>> = classes
        .iter()
        .map(|&c| (0..labels.len()).filter(|&i| labels[i] == c).collect())
        .collect();
    let mut out = Vec::with_capacity(n.min(labels.len()));
    while out.len() < n && queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if out.len() == n {
                break;
            }
            if let Some(i) = q.pop_front() {
                out.push(i);
            }
        }
    }
    out
}

/// The grid of `rows` (one row of tiles per arm): [`contact_sheet`] with as many columns as the
/// longest row (a 4-pixel dark gap around every cell; shorter rows are padded with dark cells).
/// Its size is `cols · (w + 4) + 4` by `rows · (h + 4) + 4` for cells of at most `w × h`.
pub fn overlay_grid(rows: &[Vec<RgbImage>]) -> RgbImage {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut tiles = Vec::with_capacity(rows.len() * cols);
    for r in rows {
        tiles.extend(r.iter().cloned());
        for _ in r.len()..cols {
            tiles.push(RgbImage::from_pixel(1, 1, Rgb([30, 30, 30])));
        }
    }
    contact_sheet(&tiles, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_alternates_and_fills() {
        // brute force: the first k defects and first k goods, interleaved
        let labels = [1, 1, 1, 0, 1, 0, 0, 1];
        assert_eq!(pick_overlay_items(&labels, 5), [0, 3, 1, 5, 2]);
        assert_eq!(pick_overlay_items(&labels, 0), Vec::<usize>::new());
        // only good images
        assert_eq!(pick_overlay_items(&[0; 3], 2), [0, 1]);
        // every index at most once, all of them when n is large
        let mut all = pick_overlay_items(&labels, 100);
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
    }

    #[test]
    fn grid_size_and_cells() {
        let red = RgbImage::from_pixel(5, 3, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(5, 3, Rgb([0, 0, 255]));
        let g = overlay_grid(&[vec![red.clone(), red], vec![blue]]);
        assert_eq!((g.width(), g.height()), (2 * (5 + 4) + 4, 2 * (3 + 4) + 4));
        // cell (row 1, col 0) is blue, (row 1, col 1) is padding, (row 0, col 1) red
        assert_eq!(g.get_pixel(4, 3 + 4 + 4), &Rgb([0, 0, 255]));
        assert_eq!(g.get_pixel(4 + 9 + 1, 3 + 4 + 4 + 1), &Rgb([30, 30, 30]));
        assert_eq!(g.get_pixel(4 + 9, 4), &Rgb([255, 0, 0]));
        // the gaps are dark
        assert_eq!(g.get_pixel(0, 0), &Rgb([30, 30, 30]));
    }
}
