//! The overlay grid of an experiment: one row per arm, the same test images in the columns.

use image::{Rgb, RgbImage};

use crate::render::contact_sheet;

/// The test images an overlay grid shows: at most `n` indices into `defective` (whether each
/// test image is defective: label not 0), defective and good alternating, defective first, in the order of the test split; when one class
/// runs out the other fills the rest. Deterministic: the same labels give the same choice.
///
/// ```
/// use ceod_train::experiment::grid::pick_overlay_items;
/// let labels = [0, 0, 1, 0, 1, 1].map(|l| l != 0);
/// assert_eq!(pick_overlay_items(&labels, 4), [2, 0, 4, 1]);
/// assert_eq!(pick_overlay_items(&[true, true, false], 9), [0, 2, 1]);
/// ```
pub fn pick_overlay_items(defective: &[bool], n: usize) -> Vec<usize> {
    let mut defects = defective
        .iter()
        .enumerate()
        .filter(|(_, d)| **d)
        .map(|(i, _)| i);
    let mut goods = defective
        .iter()
        .enumerate()
        .filter(|(_, d)| !**d)
        .map(|(i, _)| i);
    let mut out = Vec::with_capacity(n.min(defective.len()));
    let mut defect_turn = true;
    while out.len() < n {
        let next = if defect_turn {
            defects.next().or_else(|| goods.next())
        } else {
            goods.next().or_else(|| defects.next())
        };
        let Some(i) = next else { break };
        out.push(i);
        defect_turn = !defect_turn;
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
        let labels = [1, 1, 1, 0, 1, 0, 0, 1].map(|l| l != 0);
        assert_eq!(pick_overlay_items(&labels, 5), [0, 3, 1, 5, 2]);
        assert_eq!(pick_overlay_items(&labels, 0), Vec::<usize>::new());
        // only good images
        assert_eq!(pick_overlay_items(&[false; 3], 2), [0, 1]);
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
