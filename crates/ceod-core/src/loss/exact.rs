//! The exact overlap distance: the paper's polygon term (ceod-geometry, `overlap` feature).

use candle_core::{DType, Tensor};

use super::options::{CeodOptions, Coefficient};
use crate::error::CoreError;

/// The exact overlap distance `1 − c` of each sample, or `None` for an empty mask.
///
/// `cam` is the normalised CAM (`B × H × W`) and `masks` the masks (`B × H × W`, a pixel is inside
/// when its value is > 0.5). The hot pixels are those with `cam ≥ options.threshold`; `A_d` is the
/// polygon `options.region` around them, `A_gt` the union of the mask's pixel squares, and `c` the
/// `options.coefficient` of the two areas, computed with `geo` by ceod-geometry. No hot pixel
/// gives distance 1. The `energy` coefficient needs no polygon: `1 − sum(cam·m)/sum(cam)` in f64
/// (1 for an all-zero map), available without the feature.
///
/// # Errors
/// [`CoreError::OverlapFeatureDisabled`] for the polygon coefficients in a build without the
/// `overlap` feature; [`CoreError::InvalidInput`] for mismatched shapes;
/// [`CoreError::Geometry`] when the geometry fails.
pub fn exact_overlap_distance(
    cam: &Tensor,
    masks: &Tensor,
    options: &CeodOptions,
) -> Result<Vec<Option<f64>>, CoreError> {
    if cam.dims() != masks.dims() || cam.rank() != 3 {
        return Err(CoreError::InvalidInput(format!(
            "exact overlap: cam {:?} and masks {:?} must both be B × H × W",
            cam.dims(),
            masks.dims()
        )));
    }
    let (b, h, w) = cam.dims3()?;
    let cam_v = cam.detach().to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let mask_v = masks.detach().to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let n = h * w;
    let mut out = Vec::with_capacity(b);
    for i in 0..b {
        let c = &cam_v[i * n..(i + 1) * n];
        let m: Vec<bool> = mask_v[i * n..(i + 1) * n].iter().map(|&v| v > 0.5).collect();
        if !m.iter().any(|&v| v) {
            out.push(None);
            continue;
        }
        let d = if options.coefficient == Coefficient::Energy {
            let total: f64 = c.iter().sum();
            let inside: f64 = c.iter().zip(&m).filter(|(_, in_m)| **in_m).map(|(v, _)| v).sum();
            if total > 0.0 { 1.0 - inside / total } else { 1.0 }
        } else {
            polygon_distance(i, c, &m, (h, w), options)?
        };
        out.push(Some(d));
    }
    Ok(out)
}

#[cfg(not(feature = "overlap"))]
fn polygon_distance(
    _sample: usize,
    _cam: &[f64],
    _mask: &[bool],
    _hw: (usize, usize),
    _options: &CeodOptions,
) -> Result<f64, CoreError> {
    Err(CoreError::OverlapFeatureDisabled { mode: "exact" })
}
