//! The CEOD loss: cross-entropy plus the weighted overlap distance of the class activation map.

use candle_core::{DType, Tensor};
use ceod_gradcam::CamModel;

use super::bce::{bce_with_logits, cross_entropy};
use super::cam::training_cam;
use super::exact::exact_overlap_distance;
use super::options::{BinaryCam, CeodOptions, Coefficient, OverlapMode, OverlapSamples};
use super::soft::soft_overlap_distance;
use crate::error::CoreError;

/// The targets of a batch.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Binary labels in `[0, 1]` (`B`, float), for a model with one output: BCE with logits, and
    /// the CAM of that single logit for every sample.
    Binary(Tensor),
    /// Class indices (`B`, integer dtype), for a model with `C ≥ 2` outputs: softmax
    /// cross-entropy, and the CAM of each sample's true class.
    Classes(Tensor),
}

/// One batch for [`ceod_loss`].
#[derive(Debug, Clone)]
pub struct CeodInput {
    /// Images, `B × C × H × W`.
    pub images: Tensor,
    /// Labels.
    pub targets: Targets,
    /// Masks of the area of interest, `B × H × W` (1 inside), at the images' resolution; `None`
    /// when no sample has one (the loss is then the cross-entropy alone).
    pub masks: Option<Tensor>,
    /// Which samples have a mask (`B` flags); `None` means all do. A sample without a mask, or
    /// with an empty one, gets weight 0.
    pub has_mask: Option<Vec<bool>>,
}

/// The parts of a CEOD value, as plain numbers for logging.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CeodParts {
    /// The total, `ce + omega · overlap`.
    pub total: f64,
    /// The cross-entropy (BCE for binary models).
    pub ce: f64,
    /// `mean_i w_i · term_i` over the whole batch (before `omega`); `term_i` is the exact
    /// distance in `exact` and `straight-through` mode, the soft one in `soft` mode.
    pub overlap: f64,
    /// The weight `w_i` of each sample (0 or 1).
    pub weights: Vec<f64>,
    /// The soft overlap distance of each sample with a non-empty mask.
    pub soft_d: Vec<Option<f64>>,
    /// The exact overlap distance of each sample with a non-empty mask, when it was computed
    /// (`exact` and `straight-through` modes, or `soft` with `report_exact` and the `overlap`
    /// feature).
    pub exact_d: Vec<Option<f64>>,
}

/// What [`ceod_loss`] returns: the total to back-propagate, and its parts.
#[derive(Debug, Clone)]
pub struct CeodOutput {
    /// The scalar loss, in the graph: call `backward()` on it.
    pub total: Tensor,
    /// The cross-entropy part alone, in the graph.
    pub ce: Tensor,
    /// The overlap part alone, `mean_i w_i · term_i` before `omega`, in the graph (a zero
    /// scalar without masks).
    pub overlap: Tensor,
    /// The logits, `B × num_outputs` (detached).
    pub logits: Tensor,
    /// The normalised CAM at mask resolution, `B × H × W` (detached); `None` without masks.
    pub cam: Option<Tensor>,
    /// The parts as numbers.
    pub parts: CeodParts,
}

/// `CEOD = CE + omega · mean_i w_i · overlap_d_i`, in one pass over the model.
///
/// The model runs once (`features`, then `head`); the CAM is `ReLU(sum_k alpha_k A_k)` of the
/// tracked features `A` with a constant `alpha` of each sample's target class (ceod-gradcam's
/// train mode), upsampled bilinearly to the masks' size and normalised by its maximum in the
/// graph (`cam / (max + norm_eps)`, ties splitting the max's gradient as in PyTorch). `w_i` is 0 for a sample without a mask, with an
/// empty mask, or, with [`OverlapSamples::PositivesOnly`], a negative one; otherwise 1. The mean
/// is over the whole batch (`1/B · sum_i`). The term is
/// - `soft`: the soft distance ([`soft_overlap_distance`](crate::soft_overlap_distance));
/// - `exact`: the exact distance, a constant (no gradient);
/// - `straight-through`: `soft_d + detach(exact_d − soft_d)`: the exact value, the soft gradient.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use ceod_core::{CeodInput, CeodNet, CeodOptions, ModelConfig, OverlapMode, Targets, ceod_loss};
///
/// let dev = Device::Cpu;
/// let (net, varmap) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 1, DType::F32, &dev)?;
/// let input = CeodInput {
///     images: Tensor::rand(0f32, 1., (2, 1, 32, 32), &dev)?,
///     targets: Targets::Binary(Tensor::new(&[1f32, 0.], &dev)?),
///     masks: Some(Tensor::ones((2, 32, 32), DType::F32, &dev)?),
///     has_mask: None,
/// };
/// let opts = CeodOptions { mode: OverlapMode::Soft, ..Default::default() };
/// let out = ceod_loss(&net, &input, &opts)?;
/// let grads = out.total.backward()?;
/// assert!(out.parts.total.is_finite());
/// assert!(grads.get(&varmap.all_vars()[0]).is_some());
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// [`CoreError::OverlapFeatureDisabled`] for `exact`/`straight-through` (with a polygon
/// coefficient) in a build without `overlap`; [`CoreError::InvalidInput`] for shapes that do not
/// fit; tensor and geometry errors.
pub fn ceod_loss<M: CamModel + ?Sized>(
    model: &M,
    input: &CeodInput,
    options: &CeodOptions,
) -> Result<CeodOutput, CoreError> {
    let polygon = options.coefficient != Coefficient::Energy;
    if options.mode.needs_exact() && polygon && !cfg!(feature = "overlap") {
        return Err(CoreError::OverlapFeatureDisabled {
            mode: options.mode.name(),
        });
    }
    let features = model.features(&input.images)?;
    let logits = model.head(&features)?;
    let b = features.dim(0)?;
    let logits = logits.reshape((b, ()))?;
    let c = logits.dim(1)?;

    let (ce, classes, positive): (Tensor, Vec<usize>, Vec<bool>) = match &input.targets {
        Targets::Binary(t) => {
            if c != 1 {
                return Err(CoreError::InvalidInput(format!(
                    "binary targets need a model with 1 output, this one has {c}"
                )));
            }
            let ce = bce_with_logits(&logits, t, &options.bce)?;
            let tv = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            (ce, vec![0; b], tv.iter().map(|&v| v >= 0.5).collect())
        }
        Targets::Classes(t) => {
            let ce = cross_entropy(&logits, t)?;
            let tv = t.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
            let pos = tv.iter().map(|&k| k != 0).collect();
            (ce, tv.into_iter().map(|k| k as usize).collect(), pos)
        }
    };
    let ce_value = ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;

    let Some(masks) = &input.masks else {
        return Ok(CeodOutput {
            total: ce.clone(),
            overlap: ce.zeros_like()?,
            ce,
            logits: logits.detach(),
            cam: None,
            parts: CeodParts {
                total: ce_value,
                ce: ce_value,
                overlap: 0.0,
                weights: vec![0.0; b],
                soft_d: vec![None; b],
                exact_d: vec![None; b],
            },
        });
    };
    let (mb, height, width) = masks.dims3().map_err(|_| {
        CoreError::InvalidInput(format!("masks must be B × H × W, got {:?}", masks.dims()))
    })?;
    if mb != b {
        return Err(CoreError::InvalidInput(format!(
            "{b} images but {mb} masks"
        )));
    }
    let present = match &input.has_mask {
        Some(v) if v.len() != b => {
            return Err(CoreError::InvalidInput(format!(
                "{b} images but {} has_mask flags",
                v.len()
            )));
        }
        Some(v) => v.clone(),
        None => vec![true; b],
    };
    let masks = masks
        .to_device(features.device())?
        .to_dtype(features.dtype())?
        .detach();
    let areas = masks.sum((1, 2))?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let valid: Vec<bool> = (0..b).map(|i| present[i] && areas[i] > 0.0).collect();
    let weights: Vec<f64> = (0..b)
        .map(|i| {
            let on = valid[i] && (options.samples == OverlapSamples::All || positive[i]);
            if on { 1.0 } else { 0.0 }
        })
        .collect();

    // The CAM: in the graph unless the term is the exact constant.
    let cam_features = if options.mode == OverlapMode::Exact {
        features.detach()
    } else {
        features.clone()
    };
    let signs: Option<Vec<f64>> = match (&input.targets, options.binary_cam) {
        (Targets::Binary(_), BinaryCam::TrueClass) => Some(
            positive
                .iter()
                .map(|&p| if p { 1.0 } else { -1.0 })
                .collect(),
        ),
        _ => None,
    };
    let cam = training_cam(
        model,
        &cam_features,
        &classes,
        signs.as_deref(),
        (height, width),
        options.norm_eps,
    )?;

    let soft = soft_overlap_distance(&cam, &masks, options)?;
    let soft_v = soft.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let want_exact = options.mode.needs_exact()
        || (options.report_exact && (cfg!(feature = "overlap") || !polygon));
    let exact: Vec<Option<f64>> = if want_exact {
        let mut e = exact_overlap_distance(&cam, &masks, options)?;
        for (v, ok) in e.iter_mut().zip(&valid) {
            if !ok {
                *v = None;
            }
        }
        e
    } else {
        vec![None; b]
    };

    let dev = features.device();
    let dtype = features.dtype();
    let exact_t = || -> Result<Tensor, CoreError> {
        let v: Vec<f64> = exact.iter().map(|e| e.unwrap_or(1.0)).collect();
        Ok(Tensor::from_vec(v, b, dev)?.to_dtype(dtype)?)
    };
    let term = match options.mode {
        OverlapMode::Soft => soft.clone(),
        OverlapMode::Exact => exact_t()?,
        OverlapMode::StraightThrough => (&soft + (exact_t()? - &soft)?.detach())?,
    };
    let w = Tensor::from_vec(weights.clone(), b, dev)?.to_dtype(dtype)?;
    let overlap = (term * w)?.sum_all()?.affine(1.0 / b as f64, 0.0)?;
    let total = (&ce + overlap.affine(options.omega, 0.0)?)?;
    let overlap_value = overlap.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let total_value = total.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok(CeodOutput {
        total,
        ce,
        overlap,
        logits: logits.detach(),
        cam: Some(cam.detach()),
        parts: CeodParts {
            total: total_value,
            ce: ce_value,
            overlap: overlap_value,
            weights,
            soft_d: (0..b).map(|i| valid[i].then_some(soft_v[i])).collect(),
            exact_d: exact,
        },
    })
}
