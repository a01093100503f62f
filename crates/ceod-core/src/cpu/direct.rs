//! Direct (loop) convolution for layers with few input values per output (`C·kh·kw` small, such
//! as the first layer on a grey image, `K = 9`), where a gemm over an `im2col` matrix would be
//! memory-bound: the forward pass as row-wise `axpy`s, the kernel gradient as row-wise dot
//! products with 8 independent accumulators (so that the compiler vectorises the reduction).

use candle_core::WithDType;

use super::im2col::Geometry;

/// The direct path is used when `C·kh·kw` is at most this.
pub(crate) const MAX_K: usize = 27;

/// For kernel column `j`: the output columns `[lo, hi)` that read inside the image.
#[inline(always)]
fn x_range(g: &Geometry, j: usize) -> (usize, usize) {
    let ow = g.out_w();
    let lo = g.pad.saturating_sub(j).min(ow);
    let hi = (g.w + g.pad).saturating_sub(j).min(ow).max(lo);
    (lo, hi)
}

wide! {
    /// `z[O × oh × ow] = conv(x, w)` for one image (no bias), overwriting `z`.
    pub(crate) fn forward<T: WithDType>(x: &[T], w: &[T], g: &Geometry, z: &mut [T]) {
        let (oh, ow, n) = (g.out_h(), g.out_w(), g.n());
        let kk = g.kh * g.kw;
        z.fill(T::zero());
        for (co, plane) in z.chunks_exact_mut(n).enumerate() {
            for (y, row) in plane.chunks_exact_mut(ow).take(oh).enumerate() {
                for ci in 0..g.c_in {
                    let src = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                    for i in 0..g.kh {
                        let Some(r) = (y + i).checked_sub(g.pad).filter(|&r| r < g.h) else {
                            continue;
                        };
                        let srow = &src[r * g.w..(r + 1) * g.w];
                        for j in 0..g.kw {
                            let (lo, hi) = x_range(g, j);
                            if hi <= lo {
                                continue;
                            }
                            let wv = w[co * g.c_in * kk + ci * kk + i * g.kw + j];
                            let s = &srow[lo + j - g.pad..hi + j - g.pad];
                            for (d, &v) in row[lo..hi].iter_mut().zip(s) {
                                *d += wv * v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `sum_i a_i · b_i` with 8 independent partial sums.
#[inline(always)]
fn dot<T: WithDType>(a: &[T], b: &[T]) -> T {
    let zero = T::zero();
    let mut acc = [zero; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ar.iter().zip(br).fold(zero, |s, (&x, &y)| s + x * y);
    for v in acc {
        s += v;
    }
    s
}

wide! {
    /// `dw[O × C·kh·kw] += gm[O × oh × ow] ⋆ x` for one image (the kernel gradient).
    pub(crate) fn kernel_grad_add<T: WithDType>(gm: &[T], x: &[T], g: &Geometry, dw: &mut [T]) {
        let (oh, ow, n) = (g.out_h(), g.out_w(), g.n());
        let kk = g.kh * g.kw;
        for (co, plane) in gm.chunks_exact(n).enumerate() {
            for ci in 0..g.c_in {
                let src = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let (lo, hi) = x_range(g, j);
                        if hi <= lo {
                            continue;
                        }
                        let mut s = T::zero();
                        for (y, grow) in plane.chunks_exact(ow).take(oh).enumerate() {
                            let Some(r) = (y + i).checked_sub(g.pad).filter(|&r| r < g.h) else {
                                continue;
                            };
                            let srow = &src[r * g.w + lo + j - g.pad..r * g.w + hi + j - g.pad];
                            s += dot(&grow[lo..hi], srow);
                        }
                        dw[co * g.c_in * kk + ci * kk + i * g.kw + j] += s;
                    }
                }
            }
        }
    }
}
