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
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_core::{CeodOptions, Coefficient, CoreError, exact_overlap_distance};
///
/// // 2×4: the hot pixels are the left half, the mask the middle two columns.
/// let cam = Tensor::new(&[[[1f32, 1., 0., 0.], [1., 1., 0., 0.]]], &Device::Cpu)?;
/// let mask = Tensor::new(&[[[0f32, 1., 1., 0.], [0., 1., 1., 0.]]], &Device::Cpu)?;
/// let opts = CeodOptions { coefficient: Coefficient::Containment, ..Default::default() };
/// match exact_overlap_distance(&cam, &mask, &opts) {
///     Ok(d) => assert_eq!(d, vec![Some(0.5)]), // half of the hot region is inside
///     Err(e) => assert!(matches!(e, CoreError::OverlapFeatureDisabled { .. })),
/// }
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
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
    let cam_v = cam
        .detach()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let mask_v = masks
        .detach()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let n = h * w;
    let mut out = vec![None; b];
    let mut polygon_samples = Vec::new();
    for (i, slot) in out.iter_mut().enumerate() {
        let c = &cam_v[i * n..(i + 1) * n];
        let m: Vec<bool> = mask_v[i * n..(i + 1) * n]
            .iter()
            .map(|&v| v > 0.5)
            .collect();
        if !m.iter().any(|&v| v) {
            continue;
        }
        if options.coefficient == Coefficient::Energy {
            let total: f64 = c.iter().sum();
            let inside: f64 = c
                .iter()
                .zip(&m)
                .filter(|(_, in_m)| **in_m)
                .map(|(v, _)| v)
                .sum();
            *slot = Some(if total > 0.0 {
                1.0 - inside / total
            } else {
                1.0
            });
        } else {
            polygon_samples.push((i, c, m));
        }
    }
    if !polygon_samples.is_empty() {
        for (i, d) in polygon_distances(&polygon_samples, (h, w), options)? {
            out[i] = d;
        }
    }
    Ok(out)
}

/// `(sample, distance)` for each `(sample, cam, mask)`.
#[cfg(feature = "overlap")]
fn polygon_distances(
    samples: &[(usize, &[f64], Vec<bool>)],
    (h, w): (usize, usize),
    options: &CeodOptions,
) -> Result<Vec<(usize, Option<f64>)>, CoreError> {
    use super::options::RegionKind;
    use ceod_geometry as geometry;

    let geo_err = |sample: usize| {
        move |e: geometry::GeometryError| CoreError::Geometry {
            sample,
            message: e.to_string(),
        }
    };
    let mut heats = Vec::with_capacity(samples.len());
    let mut masks = Vec::with_capacity(samples.len());
    for (i, c, m) in samples {
        let values = c.iter().map(|&v| v as f32).collect();
        heats.push(geometry::HeatMap::new(w, h, values).map_err(geo_err(*i))?);
        masks.push(geometry::Mask::new(w, h, m.clone()).map_err(geo_err(*i))?);
    }
    let geo_options = geometry::OverlapOptions {
        threshold: geometry::Threshold::Absolute(options.threshold as f32),
        outline: match options.region {
            RegionKind::ComponentHulls => geometry::Outline::ComponentHulls,
            RegionKind::SingleHull => geometry::Outline::ConvexHull,
            RegionKind::PixelOutline => geometry::Outline::PixelOutline,
            RegionKind::ConcaveHull {
                concavity,
                length_threshold,
            } => geometry::Outline::ConcaveHull {
                concavity,
                length_threshold,
            },
        },
        coefficient: match options.coefficient {
            Coefficient::Paper => geometry::Coefficient::Paper,
            Coefficient::Iou => geometry::Coefficient::Iou,
            // Containment (Energy never gets here)
            _ => geometry::Coefficient::Containment,
        },
    };
    let overlaps = match geometry::overlap_batch(&heats, &masks, &geo_options) {
        Ok(o) => o,
        Err(e) => {
            // Name the sample: rerun one by one (only on the error path).
            for ((i, _, _), (heat, mask)) in samples.iter().zip(heats.iter().zip(&masks)) {
                geometry::overlap(heat, mask, &geo_options).map_err(geo_err(*i))?;
            }
            return Err(geo_err(samples[0].0)(e));
        }
    };
    Ok(samples
        .iter()
        .zip(overlaps)
        .map(|((i, _, _), o)| (*i, o.distance(geo_options.coefficient)))
        .collect())
}

#[cfg(not(feature = "overlap"))]
fn polygon_distances(
    _samples: &[(usize, &[f64], Vec<bool>)],
    _hw: (usize, usize),
    _options: &CeodOptions,
) -> Result<Vec<(usize, Option<f64>)>, CoreError> {
    Err(CoreError::OverlapFeatureDisabled { mode: "exact" })
}
