//! A bounds-checked, safe wrapper over the `gemm` crate (the matrix kernel candle uses on the CPU).

use candle_core::WithDType;

/// Rows of a gemm run on several threads when the caller asks for it (one image, many threads).
pub(crate) use gemm::Parallelism;

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows × cols` matrix.
    pub(crate) fn row_major(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns (a column-major view).
    pub(crate) fn transposed(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = A · B` (or `dst += A · B` when `accumulate`), `dst` row-major `m × n` and contiguous,
/// `A` is `m × k`, `B` is `k × n`.
///
/// # Errors
/// When a view is too small for its shape (a bug in the caller, reported instead of UB).
pub(crate) fn matmul<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    parallelism: Parallelism,
) -> candle_core::Result<()> {
    if dst.len() < m * n || !a.fits(m, k) || !b.fits(k, n) {
        candle_core::bail!("ceod cpu gemm: views too small for {m}x{k} · {k}x{n}");
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return Ok(());
    }
    if T::DTYPE != candle_core::DType::F32 && T::DTYPE != candle_core::DType::F64 {
        candle_core::bail!(
            "ceod cpu gemm: only f32 and f64 are supported, got {:?}",
            T::DTYPE
        );
    }
    // SAFETY: the checks above guarantee every index the kernel touches, `i * rs + j * cs` for
    // `i < rows`, `j < cols`, lies inside its slice; `dst` is exclusively borrowed and cannot
    // alias `a` or `b` (shared borrows); T is f32 or f64, types `gemm` implements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f64], at: bool, b: &[f64], bt: bool) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    let av = if at { a[l * m + i] } else { a[i * k + l] };
                    let bv = if bt { b[j * k + l] } else { b[l * n + j] };
                    out[i * n + j] += av * bv;
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_products_with_transposes_and_accumulation() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        for (at, bt) in [(false, false), (true, false), (false, true), (true, true)] {
            let av = if at {
                MatRef::transposed(&a, m)
            } else {
                MatRef::row_major(&a, k)
            };
            let bv = if bt {
                MatRef::transposed(&b, k)
            } else {
                MatRef::row_major(&b, n)
            };
            let mut dst = vec![1.0; m * n];
            matmul((m, n, k), &mut dst, av, bv, true, Parallelism::None).unwrap();
            let want = naive(m, n, k, &a, at, &b, bt);
            for (d, w) in dst.iter().zip(&want) {
                assert!((d - (w + 1.0)).abs() < 1e-12, "{d} vs {}", w + 1.0);
            }
            matmul((m, n, k), &mut dst, av, bv, false, Parallelism::None).unwrap();
            for (d, w) in dst.iter().zip(&want) {
                assert!((d - w).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_views_that_are_too_small() {
        let a = vec![0f32; 5];
        let b = vec![0f32; 6];
        let mut dst = vec![0f32; 6];
        let r = matmul(
            (2, 3, 3),
            &mut dst,
            MatRef::row_major(&a, 3),
            MatRef::row_major(&b, 3),
            false,
            Parallelism::None,
        );
        assert!(r.is_err());
    }
}
