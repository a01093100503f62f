//! Scores and decisions for a batch, shared by `ceod-infer` and evaluation.

use candle_core::{DType, Module, Tensor};

use crate::error::CoreError;

/// The model's verdicts on a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Per sample: `[sigmoid(logit)]` for a model with one output (the defect score), the
    /// softmax probabilities of the `C` classes otherwise.
    pub scores: Vec<Vec<f32>>,
    /// Per sample: for one output, 1 (defect) when the score is `≥ threshold`, else 0; for `C`
    /// outputs, the most probable class (the first one on ties; the threshold is not used).
    pub decisions: Vec<usize>,
}

impl Predictions {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.decisions.len()
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }
}

/// Runs `model` on `images` (`B × C × H × W`, preprocessed) and turns its logits into
/// [`Predictions`].
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use ceod_core::{CeodNet, ModelConfig, predict};
///
/// let (net, _) = CeodNet::seeded(&ModelConfig::ceodnet_s(), 0, DType::F32, &Device::Cpu)?;
/// let images = Tensor::zeros((3, 1, 16, 16), DType::F32, &Device::Cpu)?;
/// let p = predict(&net, &images, 0.5)?;
/// assert_eq!(p.len(), 3);
/// assert!(p.scores.iter().all(|s| s.len() == 1 && (0.0..=1.0).contains(&s[0])));
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// Tensor errors (wrong input shape); [`CoreError::InvalidInput`] for a non-finite threshold.
pub fn predict<M: Module + ?Sized>(
    model: &M,
    images: &Tensor,
    threshold: f64,
) -> Result<Predictions, CoreError> {
    if !threshold.is_finite() {
        return Err(CoreError::InvalidInput(format!(
            "decision threshold must be finite, got {threshold}"
        )));
    }
    let logits = model.forward(&images.detach())?;
    let b = logits.dim(0)?;
    let logits = logits.reshape((b, ()))?.to_dtype(DType::F32)?;
    let c = logits.dim(1)?;
    let probs = if c == 1 {
        candle_nn::ops::sigmoid(&logits)?
    } else {
        candle_nn::ops::softmax(&logits, 1)?
    };
    let scores = probs.to_vec2::<f32>()?;
    let decisions = scores
        .iter()
        .map(|s| {
            if c == 1 {
                usize::from(f64::from(s[0]) >= threshold)
            } else {
                s.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                        if v > bv { (i, v) } else { (bi, bv) }
                    })
                    .0
            }
        })
        .collect();
    Ok(Predictions { scores, decisions })
}
