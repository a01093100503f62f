//! One optimisation step: the loss (the cross-entropy alone at omega 0, else CEOD), backward,
//! AdamW. A model with one output is binary (BCE with logits of the labels 0/1); a model with
//! `C ≥ 2` outputs is a softmax classifier (cross-entropy of the class indices, and the CAM of
//! each sample's true class in the overlap term).

use candle_core::Module;
use ceod_core::{
    CeodInput, CeodNet, CeodOptions, Targets, bce_with_logits, ceod_loss, cross_entropy,
};

use crate::adamw::AdamW;
use crate::dataset::BatchTensors;

/// The loss parts of one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepLoss {
    /// `bce + omega · overlap`.
    pub total: f64,
    /// The cross-entropy: binary (with logits) for a one-output model, softmax for `C ≥ 2`.
    pub bce: f64,
    /// The overlap term before `omega` (the exact distance in `exact` and `straight-through`
    /// mode; 0 at omega 0, where it is not computed).
    pub overlap: f64,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The loss is not finite; the optimiser was not stepped.
    #[error("the loss is {value} (not finite)")]
    NonFinite {
        /// The value.
        value: f64,
    },
    /// A tensor or loss error.
    #[error(transparent)]
    Core(#[from] ceod_core::CoreError),
    /// A tensor error.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The loss of `batch` with its graph (not yet back-propagated); binary or softmax by the
/// model's number of outputs.
pub fn loss_of(
    net: &CeodNet,
    batch: &BatchTensors,
    options: &CeodOptions,
) -> Result<(candle_core::Tensor, StepLoss), StepError> {
    let multi = net.config().num_outputs > 1;
    if options.omega == 0.0 {
        let logits = net.forward(&batch.images)?;
        let bce = if multi {
            let b = logits.dim(0)?;
            cross_entropy(&logits.reshape((b, ()))?, &batch.classes)?
        } else {
            bce_with_logits(&logits, &batch.labels, &options.bce)?
        };
        let v = f64::from(bce.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?);
        return Ok((
            bce,
            StepLoss {
                total: v,
                bce: v,
                overlap: 0.0,
            },
        ));
    }
    let input = CeodInput {
        images: batch.images.clone(),
        targets: if multi {
            Targets::Classes(batch.classes.clone())
        } else {
            Targets::Binary(batch.labels.clone())
        },
        masks: Some(batch.masks.clone()),
        has_mask: Some(batch.has_mask.clone()),
    };
    let out = ceod_loss(net, &input, options)?;
    let p = &out.parts;
    Ok((
        out.total,
        StepLoss {
            total: p.total,
            bce: p.ce,
            overlap: p.overlap,
        },
    ))
}

/// One training step: loss, backward, AdamW (at the optimiser's current learning rate).
///
/// A non-finite loss returns [`StepError::NonFinite`] before anything is updated.
///
/// ```
/// use candle_core::{DType, Device};
/// use ceod_core::{CeodNet, CeodOptions, ModelConfig, OverlapMode};
/// use ceod_train::adamw::{AdamW, AdamWParams};
/// use ceod_train::dataset::{Item, make_batch};
/// use ceod_train::step::train_step;
///
/// let dev = Device::Cpu;
/// let cfg = ModelConfig::ceodnet_s();
/// let (net, varmap) = CeodNet::seeded(&cfg, 0, DType::F32, &dev)?;
/// let vars = varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
/// let mut opt = AdamW::new(vars, AdamWParams::default())?;
/// let pre = ceod_core::Preprocess { width: 32, height: 32, ..Default::default() };
/// let synth = ceod_core::synth::SynthConfig { n: 4, width: 32, height: 32, ..Default::default() };
/// let items: Vec<Item> = ceod_core::synth::generate(&synth)?
///     .iter()
///     .map(|s| Ok(Item { name: String::new(), path: None, sample: s.to_loaded(&pre)? }))
///     .collect::<Result<_, ceod_core::DataError>>()?;
/// let batch = make_batch(&items.iter().collect::<Vec<_>>(), &[], &dev)?;
/// let opts = CeodOptions { mode: OverlapMode::StraightThrough, ..Default::default() };
/// let loss = train_step(&net, &mut opt, &batch, &opts)?;
/// assert!(loss.total.is_finite() && (0.0..=1.0).contains(&loss.overlap));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn train_step(
    net: &CeodNet,
    opt: &mut AdamW,
    batch: &BatchTensors,
    options: &CeodOptions,
) -> Result<StepLoss, StepError> {
    let (total, parts) = loss_of(net, batch, options)?;
    if !parts.total.is_finite() {
        return Err(StepError::NonFinite { value: parts.total });
    }
    let grads = total.backward()?;
    opt.step(&grads)?;
    Ok(parts)
}
