//! The soft (differentiable) overlap distance.

use candle_core::Tensor;

use super::options::{CeodOptions, Coefficient};
use crate::error::CoreError;

/// The soft overlap distance `1 − soft_c` per sample (`B`), differentiable in `cam`.
///
/// `cam` is the normalised CAM at mask resolution (`B × H × W`, values in `[0, 1]`) and `masks`
/// the masks (`B × H × W`, 1 inside). With `s = sigmoid((cam − t)/T)` (threshold `t`, temperature
/// `T`), `ε = options.overlap_eps`:
/// - `paper`: `sum(s·m) / (min(sum s, sum m) + ε)`;
/// - `containment`: `sum(s·m) / (sum s + ε)`;
/// - `iou`: `sum(s·m) / (sum s + sum m − sum(s·m) + ε)`;
/// - `energy` (no threshold): `sum(cam·m) / (sum cam + ε)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_core::{CeodOptions, Coefficient, soft_overlap_distance};
///
/// // energy: a quarter of the CAM's mass lies in the mask
/// let cam = Tensor::new(&[[[1f32, 1.], [1., 1.]]], &Device::Cpu)?;
/// let mask = Tensor::new(&[[[1f32, 0.], [0., 0.]]], &Device::Cpu)?;
/// let opts = CeodOptions { coefficient: Coefficient::Energy, overlap_eps: 0.0, ..Default::default() };
/// let d = soft_overlap_distance(&cam, &mask, &opts)?.to_vec1::<f32>()?;
/// assert!((d[0] - 0.75).abs() < 1e-6);
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// [`CoreError::InvalidInput`] when the shapes differ; tensor errors.
pub fn soft_overlap_distance(
    cam: &Tensor,
    masks: &Tensor,
    options: &CeodOptions,
) -> Result<Tensor, CoreError> {
    if cam.dims() != masks.dims() || cam.rank() != 3 {
        return Err(CoreError::InvalidInput(format!(
            "soft overlap: cam {:?} and masks {:?} must both be B × H × W",
            cam.dims(),
            masks.dims()
        )));
    }
    let m = masks.to_dtype(cam.dtype())?.detach();
    let eps = options.overlap_eps;
    let sum = |t: &Tensor| t.sum((1, 2));
    let coeff = if options.coefficient == Coefficient::Energy {
        sum(&(cam * &m)?)?.div(&sum(cam)?.affine(1.0, eps)?)?
    } else {
        let t = options.threshold;
        let temp = options.temperature;
        if temp <= 0.0 {
            return Err(CoreError::InvalidInput(format!(
                "soft overlap: temperature must be positive, got {temp}"
            )));
        }
        let s = candle_nn::ops::sigmoid(&cam.affine(1.0 / temp, -t / temp)?)?;
        let inter = sum(&(&s * &m)?)?;
        let ss = sum(&s)?;
        let sm = sum(&m)?;
        let denom = match options.coefficient {
            Coefficient::Paper => ss.minimum(&sm)?,
            Coefficient::Containment => ss,
            // Iou (Energy is the branch above)
            _ => ((ss + sm)? - &inter)?,
        };
        inter.div(&denom.affine(1.0, eps)?)?
    };
    Ok(coeff.affine(-1.0, 1.0)?)
}
