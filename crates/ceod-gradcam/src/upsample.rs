//! Bilinear upsampling with half-pixel centres as two matrix products (on the CPU, the same sums
//! as one custom op).

use candle_core::{DType, Device, Tensor};

use crate::cpu::{self, Bilinear};
use crate::error::{CamError, Result};

/// The `n_out × n_in` bilinear interpolation matrix, row-major, in `f64`.
///
/// Half-pixel centres (PyTorch `align_corners=False`): output index `i` samples the input at
/// `max((i + 0.5)·n_in/n_out − 0.5, 0)`, between its two neighbours (the last one repeated at the
/// edge). Every row sums to 1.
pub fn bilinear_weights(n_in: usize, n_out: usize) -> Result<Vec<f64>> {
    if n_in == 0 || n_out == 0 {
        return Err(CamError::EmptySize { n_in, n_out });
    }
    let mut r = vec![0f64; n_out * n_in];
    let scale = n_in as f64 / n_out as f64;
    for i in 0..n_out {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        let l1 = src - i0 as f64;
        r[i * n_in + i0] += 1.0 - l1;
        r[i * n_in + i1] += l1;
    }
    Ok(r)
}

/// The `n_out × n_in` bilinear interpolation matrix `U` (`f32`) with half-pixel centres, so that
/// an `h × w` map `X` upsamples to `U_h · X · U_wᵀ`, exactly PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)`.
///
/// ```
/// use candle_core::Device;
/// use ceod_gradcam::bilinear_matrix;
///
/// let u = bilinear_matrix(2, 4, &Device::Cpu)?;
/// assert_eq!(
///     u.to_vec2::<f32>()?,
///     vec![vec![1., 0.], vec![0.75, 0.25], vec![0.25, 0.75], vec![0., 1.]]
/// );
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn bilinear_matrix(n_in: usize, n_out: usize, device: &Device) -> Result<Tensor> {
    bilinear_matrix_dtype(n_in, n_out, DType::F32, device)
}

/// [`bilinear_matrix`] in another dtype (computed in `f64`, then cast).
pub fn bilinear_matrix_dtype(
    n_in: usize,
    n_out: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let r = Tensor::from_vec(bilinear_weights(n_in, n_out)?, (n_out, n_in), device)?;
    Ok(if dtype == DType::F64 {
        r
    } else {
        r.to_dtype(dtype)?
    })
}

/// Bilinear upsampling of `… × h × w` maps to `… × H × W` as `U_h · X · U_wᵀ`, with the two
/// interpolation matrices built once. Exact and differentiable: two matrix products, or on the
/// CPU (`f32`, `f64`) the same sums as one custom op with its own backward pass (each matrix row
/// has two non-zeros; see the crate's `cpu` module).
#[derive(Debug, Clone)]
pub struct BilinearUpsampler {
    input: (usize, usize),
    output: (usize, usize),
    /// The CPU op with the same taps.
    direct: Bilinear,
    /// `U_h`, `H × h`.
    rows: Tensor,
    /// `U_wᵀ`, `w × W`.
    cols_t: Tensor,
}

impl BilinearUpsampler {
    /// An upsampler from `input = (h, w)` to `output = (H, W)` (rows, columns) for maps of
    /// `dtype` on `device`. Downsampling (`H < h`) is the same formula, as in PyTorch without
    /// antialiasing.
    pub fn new(
        input: (usize, usize),
        output: (usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let rows = bilinear_matrix_dtype(input.0, output.0, dtype, device)?;
        let cols_t = bilinear_matrix_dtype(input.1, output.1, dtype, device)?
            .t()?
            .contiguous()?;
        Ok(Self {
            input,
            output,
            direct: Bilinear::new(input, output),
            rows,
            cols_t,
        })
    }

    /// The input size `(h, w)`.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// The output size `(H, W)`.
    pub fn output(&self) -> (usize, usize) {
        self.output
    }

    /// Upsamples `maps` of shape `… × h × w` (rank 2 or more) to `… × H × W`.
    ///
    /// ```
    /// use candle_core::{DType, Device, Tensor};
    /// use ceod_gradcam::BilinearUpsampler;
    ///
    /// let up = BilinearUpsampler::new((1, 2), (2, 4), DType::F32, &Device::Cpu)?;
    /// let x = Tensor::new(&[[[0f32, 4.]]], &Device::Cpu)?; // 1 × 1 × 2
    /// let y = up.upsample(&x)?;
    /// assert_eq!(y.to_vec3::<f32>()?, vec![vec![vec![0., 1., 3., 4.], vec![0., 1., 3., 4.]]]);
    /// # Ok::<(), ceod_gradcam::CamError>(())
    /// ```
    pub fn upsample(&self, maps: &Tensor) -> Result<Tensor> {
        let dims = maps.dims();
        let rank = dims.len();
        if rank < 2 || (dims[rank - 2], dims[rank - 1]) != self.input {
            return Err(CamError::Shape {
                what: "maps to upsample",
                expected: format!("… × {} × {}", self.input.0, self.input.1),
                got: dims.to_vec(),
            });
        }
        if cpu::eligible(maps)
            && maps.dtype() == self.rows.dtype()
            && maps.device().same_device(self.rows.device())
        {
            return Ok(self.direct.apply(maps)?);
        }
        self.upsample_matmul(maps)
    }

    /// [`upsample`](Self::upsample) as the two matrix products, the path of other devices and
    /// dtypes (the shape already checked).
    fn upsample_matmul(&self, maps: &Tensor) -> Result<Tensor> {
        let dims = maps.dims();
        let rank = dims.len();
        let (h, w) = self.input;
        let (out_h, out_w) = self.output;
        let n: usize = dims[..rank - 2].iter().product();
        // X · U_wᵀ: one (n·h) × w by w × W product.
        let x = maps.reshape((n * h, w))?.matmul(&self.cols_t)?;
        // U_h · (X · U_wᵀ) for each map.
        let y = self.rows.broadcast_matmul(&x.reshape((n, h, out_w))?)?;
        let mut out_dims = dims[..rank - 2].to_vec();
        out_dims.extend([out_h, out_w]);
        Ok(y.reshape(out_dims)?)
    }
}

/// Bilinear upsampling (half-pixel centres) of `… × h × w` maps to `… × H × W`, `size = (H, W)`.
/// Builds the matrices each call; keep a [`BilinearUpsampler`] for repeated sizes.
pub fn upsample_bilinear(maps: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    let dims = maps.dims();
    let rank = dims.len();
    if rank < 2 {
        return Err(CamError::Shape {
            what: "maps to upsample",
            expected: "… × h × w".into(),
            got: dims.to_vec(),
        });
    }
    let input = (dims[rank - 2], dims[rank - 1]);
    if cpu::eligible(maps) {
        // The same sums without building the matrices.
        for (n_in, n_out) in [(input.0, size.0), (input.1, size.1)] {
            if n_in == 0 || n_out == 0 {
                return Err(CamError::EmptySize { n_in, n_out });
            }
        }
        return Ok(Bilinear::new(input, size).apply(maps)?);
    }
    BilinearUpsampler::new(input, size, maps.dtype(), maps.device())?.upsample(maps)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_cpu_op_and_the_matrix_products_agree() {
        // The matrix path is what cuda and metal run; on the CPU both run here.
        for (input, output) in [((16, 16), (128, 128)), ((5, 3), (9, 10)), ((8, 6), (3, 4))] {
            let n = 2 * input.0 * input.1;
            let v: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
            let maps = Tensor::from_vec(v, (2, input.0, input.1), &Device::Cpu).unwrap();
            let up = BilinearUpsampler::new(input, output, DType::F32, &Device::Cpu).unwrap();
            let a = up.upsample(&maps).unwrap().flatten_all().unwrap();
            let b = up.upsample_matmul(&maps).unwrap().flatten_all().unwrap();
            let err = (a - b).unwrap().abs().unwrap().max(0).unwrap();
            assert!(
                err.to_scalar::<f32>().unwrap() < 1e-6,
                "{input:?} → {output:?}"
            );
        }
    }

    #[test]
    fn a_dtype_the_upsampler_was_not_built_for_is_an_error_on_the_cpu_too() {
        let up = BilinearUpsampler::new((2, 2), (4, 4), DType::F32, &Device::Cpu).unwrap();
        let maps = Tensor::zeros((1, 2, 2), DType::F64, &Device::Cpu).unwrap();
        assert!(up.upsample(&maps).is_err());
    }
}
