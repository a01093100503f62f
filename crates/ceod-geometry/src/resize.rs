//! Bilinear resampling with half-pixel centres (PyTorch `align_corners=False`).

/// For each output index along one axis: the two input indices and their weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tap {
    pub(crate) i0: usize,
    pub(crate) i1: usize,
    pub(crate) w0: f32,
    pub(crate) w1: f32,
}

/// The taps of PyTorch's `area_pixel_compute_source_index` (`align_corners=False`, no scale
/// factor given): `src = max((dst + 0.5) · in/out − 0.5, 0)`, `i0 = ⌊src⌋`, `i1 = min(i0 + 1, in − 1)`,
/// `w1 = src − i0`, `w0 = 1 − w1`, all in `f32`.
pub(crate) fn taps(n_in: usize, n_out: usize) -> Vec<Tap> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|dst| {
            let src = (scale * (dst as f32 + 0.5) - 0.5).max(0.0);
            // src >= 0 and < n_in, so the truncating cast is a floor and in range.
            let i0 = (src as usize).min(n_in - 1);
            let i1 = if i0 + 1 < n_in { i0 + 1 } else { i0 };
            let w1 = src - i0 as f32;
            Tap {
                i0,
                i1,
                w0: 1.0 - w1,
                w1,
            }
        })
        .collect()
}

/// Resamples a row-major `w × h` grid to `out_w × out_h`. Separable: each input row is first
/// interpolated along x, then pairs of rows along y; the arithmetic is the same expression as
/// PyTorch's `h0 · (w0·a + w1·b) + h1 · (w0·c + w1·d)`.
pub(crate) fn bilinear_resize(
    values: &[f32],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    bilinear_resize_with_max(values, w, h, out_w, out_h).0
}

/// [`bilinear_resize`] and the maximum of its output, taken while each output row is in cache.
pub(crate) fn bilinear_resize_with_max(
    values: &[f32],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
) -> (Vec<f32>, f32) {
    let tx = taps(w, out_w);
    let ty = taps(h, out_h);
    // Horizontal pass over the input rows that are used.
    let mut rows = vec![0.0f32; h * out_w];
    for y in 0..h {
        let src = &values[y * w..(y + 1) * w];
        let dst = &mut rows[y * out_w..(y + 1) * out_w];
        for (d, t) in dst.iter_mut().zip(&tx) {
            *d = t.w0 * src[t.i0] + t.w1 * src[t.i1];
        }
    }
    let mut out = vec![0.0f32; out_w * out_h];
    let mut lanes = [f32::NEG_INFINITY; 8];
    for (y, t) in ty.iter().enumerate() {
        let r0 = &rows[t.i0 * out_w..(t.i0 + 1) * out_w];
        let r1 = &rows[t.i1 * out_w..(t.i1 + 1) * out_w];
        let dst = &mut out[y * out_w..(y + 1) * out_w];
        for ((d, a), b) in dst.iter_mut().zip(r0).zip(r1) {
            *d = t.w0 * a + t.w1 * b;
        }
        lane_max(&mut lanes, dst);
    }
    let max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (out, max)
}

/// Folds `values` into eight running maxima (independent lanes, so it vectorises; values are
/// finite, so the comparison needs no NaN care).
pub(crate) fn lane_max(lanes: &mut [f32; 8], values: &[f32]) {
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
        }
    }
    for (l, &v) in lanes.iter_mut().zip(rest) {
        *l = if v > *l { v } else { *l };
    }
}
