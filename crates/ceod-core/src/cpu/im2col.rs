//! `im2col` and its adjoint `col2im` for one image (stride 1, zero padding).
//!
//! The column matrix of an image `C × H × W` for a `kh × kw` kernel with padding `p` has
//! `K = C·kh·kw` rows and `N = oh·ow` columns (`oh = H + 2p − kh + 1`): row `(c·kh + i)·kw + j`,
//! column `y·ow + x` holds `input[c, y + i − p, x + j − p]` (0 outside the image). Its row order is
//! the weight's `[co, c, i, j]` order, so a convolution is `W[co × K] · col[K × N]`.

use candle_core::WithDType;

/// The sizes of one stride-1 convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) c_in: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) c_out: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) pad: usize,
}

impl Geometry {
    pub(crate) fn out_h(&self) -> usize {
        self.h + 2 * self.pad + 1 - self.kh
    }
    pub(crate) fn out_w(&self) -> usize {
        self.w + 2 * self.pad + 1 - self.kw
    }
    /// Rows of the column matrix (`C·kh·kw`).
    pub(crate) fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Columns of the column matrix (`oh·ow`).
    pub(crate) fn n(&self) -> usize {
        self.out_h() * self.out_w()
    }
    pub(crate) fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    pub(crate) fn out_len(&self) -> usize {
        self.c_out * self.n()
    }

    /// For kernel column `j`: the output columns `[lo, hi)` that read inside the image.
    #[inline(always)]
    fn x_range(&self, j: usize) -> (usize, usize) {
        let lo = self.pad.saturating_sub(j).min(self.out_w());
        let hi = (self.w + self.pad)
            .saturating_sub(j)
            .min(self.out_w())
            .max(lo);
        (lo, hi)
    }

    /// The input row read by output row `y` and kernel row `i`, if inside the image.
    #[inline(always)]
    fn src_row(&self, y: usize, i: usize) -> Option<usize> {
        (y + i).checked_sub(self.pad).filter(|&r| r < self.h)
    }
}

/// Fills `col` (`K × N`, row-major) from one image `x` (`C × H × W`).
pub(crate) fn im2col<T: WithDType>(x: &[T], g: &Geometry, col: &mut [T]) {
    im2col_rows(x, g, 0, col);
}

/// Fills rows `first..first + col.len() / N` of the column matrix of `x` into `col` (those rows
/// only, row-major): one part of [`im2col`], so that threads can share the work.
pub(crate) fn im2col_rows<T: WithDType>(x: &[T], g: &Geometry, first: usize, col: &mut [T]) {
    let (oh, ow, n) = (g.out_h(), g.out_w(), g.n());
    if n == 0 {
        return;
    }
    let zero = T::zero();
    let kk = g.kh * g.kw;
    for (r, row) in (first..).zip(col.chunks_exact_mut(n)) {
        let (c, i, j) = (r / kk, (r % kk) / g.kw, r % g.kw);
        if c >= g.c_in {
            return;
        }
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        let (lo, hi) = g.x_range(j);
        for y in 0..oh {
            let dst = &mut row[y * ow..(y + 1) * ow];
            match g.src_row(y, i) {
                None => dst.fill(zero),
                Some(r) => {
                    dst[..lo].fill(zero);
                    dst[hi..].fill(zero);
                    if hi > lo {
                        // Output column x reads input column x + j − pad.
                        let s = r * g.w + lo + j - g.pad;
                        dst[lo..hi].copy_from_slice(&plane[s..s + (hi - lo)]);
                    }
                }
            }
        }
    }
}

wide! {
    /// Adds the column matrix `col` (`K × N`) back into one image gradient `dx` (`C × H × W`):
    /// the adjoint of [`im2col`]. `dx` is accumulated into, not overwritten.
    pub(crate) fn col2im_add<T: WithDType>(col: &[T], g: &Geometry, dx: &mut [T]) {
        let (oh, ow, n) = (g.out_h(), g.out_w(), g.n());
        let mut rows = col.chunks_exact(n);
        for c in 0..g.c_in {
            let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let Some(row) = rows.next() else { return };
                    let (lo, hi) = g.x_range(j);
                    for y in 0..oh {
                        if let Some(r) = g.src_row(y, i).filter(|_| hi > lo) {
                            let s = r * g.w + lo + j - g.pad;
                            let dst = &mut plane[s..s + (hi - lo)];
                            for (d, &v) in dst.iter_mut().zip(&row[y * ow + lo..y * ow + hi]) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(c_in: usize, h: usize, w: usize, kh: usize, kw: usize, pad: usize) -> Geometry {
        Geometry {
            batch: 1,
            c_in,
            h,
            w,
            c_out: 1,
            kh,
            kw,
            pad,
        }
    }

    /// The definition, element by element.
    fn naive_im2col(x: &[f64], g: &Geometry) -> Vec<f64> {
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut col = vec![0.0; g.k() * g.n()];
        for c in 0..g.c_in {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let r = (c * g.kh + i) * g.kw + j;
                    for y in 0..oh {
                        for xx in 0..ow {
                            let (sy, sx) = (
                                y as isize + i as isize - g.pad as isize,
                                xx as isize + j as isize - g.pad as isize,
                            );
                            if sy >= 0 && sx >= 0 && (sy as usize) < g.h && (sx as usize) < g.w {
                                col[r * g.n() + y * ow + xx] =
                                    x[(c * g.h + sy as usize) * g.w + sx as usize];
                            }
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_matches_the_definition_and_col2im_is_its_adjoint() {
        for &(c, h, w, kh, kw, pad) in &[
            (1, 5, 7, 3, 3, 1),
            (2, 4, 3, 3, 3, 1),
            (3, 6, 5, 3, 3, 0),
            (1, 2, 2, 3, 3, 1),
            (2, 5, 4, 1, 1, 0),
            (1, 3, 4, 2, 3, 2),
        ] {
            let g = geom(c, h, w, kh, kw, pad);
            let x: Vec<f64> = (0..g.in_len()).map(|i| (i as f64 * 0.7).sin()).collect();
            let mut col = vec![f64::NAN; g.k() * g.n()];
            im2col(&x, &g, &mut col);
            assert_eq!(col, naive_im2col(&x, &g), "{c} {h} {w} {kh} {kw} {pad}");
            // Any split into row ranges gives the same matrix.
            for first in 0..g.k() {
                let mut part = vec![f64::NAN; (g.k() - first) * g.n()];
                im2col_rows(&x, &g, first, &mut part);
                assert_eq!(part, col[first * g.n()..], "rows from {first}");
            }
            // <im2col(x), y> = <x, col2im(y)> for any y.
            let y: Vec<f64> = (0..col.len()).map(|i| (i as f64 * 0.3).cos()).collect();
            let mut back = vec![0.0; g.in_len()];
            col2im_add(&y, &g, &mut back);
            let lhs: f64 = col.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
        }
    }
}
