//! The metrics of a model on a set of samples (validation during training, `eval`, the demo).
//!
//! A binary model (one output) is scored by its defect probability at the decision threshold; a
//! multi-class model (`C ≥ 2` outputs) by the argmax of its softmax, with macro averages (see
//! [`EvalMetrics`]) and the heat map of each sample's true class.

use candle_core::{DType, Device};
use ceod_core::{
    BceOptions, CeodNet, CeodOptions, bce_with_logits, cross_entropy, exact_overlap_distance,
};
use ceod_gradcam::{CamOptions, Target, explain};
use serde::{Deserialize, Serialize};

use crate::dataset::{Item, make_batch};
use crate::metrics;

/// Every metric of a model on a set of samples. `None` where a metric is undefined (one class
/// only, no sample with a mask).
///
/// For a multi-class model `bce` is the softmax cross-entropy, `accuracy` the share of argmax
/// decisions that are right, `balanced_accuracy` the mean per-class recall, `auroc` the macro
/// one-vs-rest AUROC of the softmax probabilities, `f1` the macro F1, and the localisation
/// metrics use the heat map of the true class.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Samples evaluated.
    pub n: usize,
    /// Samples with a non-empty mask (the localisation metrics are over these).
    pub n_with_mask: usize,
    /// Mean binary cross-entropy.
    pub bce: f64,
    /// Accuracy at the decision threshold.
    pub accuracy: Option<f64>,
    /// Balanced accuracy at the decision threshold.
    pub balanced_accuracy: Option<f64>,
    /// AUROC (Mann–Whitney, ties one half).
    pub auroc: Option<f64>,
    /// F1 of the defect class at the decision threshold.
    pub f1: Option<f64>,
    /// Mean exact overlap distance (the loss's coefficient and outline).
    pub overlap_d: Option<f64>,
    /// Mean share of heat-map energy inside the mask.
    pub energy_share: Option<f64>,
    /// Share of samples whose heat-map maximum is inside the mask.
    pub pointing_game: Option<f64>,
    /// Mean share of image pixels whose normalised heat map is at or above the loss's hot
    /// threshold (over every sample, with a mask or not): near 1 means maps hot everywhere.
    #[serde(default)]
    pub hot_share: Option<f64>,
    /// `bce + omega · mean_i w_i · overlap_d_i` (the validation loss).
    pub loss: f64,
}

/// Per-sample results, for reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleResult {
    /// The defect probability (binary model), or the probability of the predicted class
    /// (multi-class model).
    pub score: f32,
    /// The binary label (0, or 1 for every label ≠ 0).
    pub label: u8,
    /// The true class index (the label as it is).
    pub class: usize,
    /// The softmax probabilities of every class (multi-class model); empty for a binary model.
    pub probabilities: Vec<f32>,
    /// The share of hot pixels of the heat map (see [`EvalMetrics::hot_share`]).
    pub hot_share: Option<f64>,
    /// The exact overlap distance (`None` without a mask).
    pub overlap_d: Option<f64>,
    /// The energy share (`None` without a mask).
    pub energy_share: Option<f64>,
    /// The pointing game (`None` without a mask).
    pub pointing: Option<bool>,
}

/// Evaluates `net` on `items` in batches of `batch_size`.
///
/// The heat map is Grad-CAM of the defect logit (binary model) or of each sample's true class
/// (multi-class model; every label must be `< C`), from ceod-gradcam's explain mode, normalised
/// by its maximum at image size; the overlap distance uses `loss`'s coefficient, outline and hot
/// threshold; `omega` weights it in the reported loss. `decision_threshold` applies to binary
/// models only.
pub fn evaluate(
    net: &CeodNet,
    items: &[Item],
    batch_size: usize,
    loss: &CeodOptions,
    decision_threshold: f32,
    device: &Device,
) -> anyhow::Result<(EvalMetrics, Vec<SampleResult>)> {
    let mut results = Vec::with_capacity(items.len());
    let mut bce_sum = 0.0;
    let c = net.config().num_outputs;
    let multi = c > 1;
    for chunk in items.chunks(batch_size.max(1)) {
        let refs: Vec<&Item> = chunk.iter().collect();
        let b = make_batch(&refs, &[], device)?;
        if let Some((i, k)) = b
            .class_values
            .iter()
            .enumerate()
            .find(|(_, k)| multi && **k >= c)
        {
            anyhow::bail!(
                "{}: label {k} is not a class of this {c}-class model",
                chunk[i].name
            );
        }
        let target = if multi {
            Target::Classes(b.class_values.clone())
        } else {
            Target::Binary
        };
        let e = explain(net, &b.images, &target, &CamOptions::default())?;
        let (scores, probs) = if multi {
            let logits = e.logits.reshape((chunk.len(), c))?;
            let ce = cross_entropy(&logits, &b.classes)?;
            bce_sum += f64::from(ce.to_dtype(DType::F32)?.to_scalar::<f32>()?) * chunk.len() as f64;
            let p = candle_nn::ops::softmax_last_dim(&logits.to_dtype(DType::F32)?)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let pred = metrics::argmax_rows(&p, c);
            let scores: Vec<f32> = pred
                .iter()
                .enumerate()
                .map(|(i, &k)| p[i * c + k])
                .collect();
            (scores, p)
        } else {
            let logits = e.logits.flatten_all()?;
            let bce = bce_with_logits(
                &logits,
                &b.labels,
                &BceOptions {
                    pos_weight: loss.bce.pos_weight,
                },
            )?;
            bce_sum +=
                f64::from(bce.to_dtype(DType::F32)?.to_scalar::<f32>()?) * chunk.len() as f64;
            let scores = candle_nn::ops::sigmoid(&logits)?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            (scores, Vec::new())
        };
        let cam = e.cam.to_dtype(DType::F32)?;
        let od = exact_overlap_distance(&cam, &b.masks, loss)?;
        let (_, h, w) = cam.dims3()?;
        let cam_v = cam.flatten_all()?.to_vec1::<f32>()?;
        let mask_v = b.masks.flatten_all()?.to_vec1::<f32>()?;
        for i in 0..chunk.len() {
            let map = &cam_v[i * h * w..(i + 1) * h * w];
            let m: Vec<bool> = mask_v[i * h * w..(i + 1) * h * w]
                .iter()
                .map(|&v| v > 0.5)
                .collect();
            results.push(SampleResult {
                score: scores[i],
                label: b.label_values[i],
                class: b.class_values[i],
                probabilities: if multi {
                    probs[i * c..(i + 1) * c].to_vec()
                } else {
                    Vec::new()
                },
                hot_share: metrics::hot_share(map, loss.threshold),
                overlap_d: od[i],
                energy_share: metrics::energy_share(map, &m),
                pointing: metrics::pointing_game(map, &m),
            });
        }
    }
    Ok((
        summarise(&results, bce_sum, loss.omega, decision_threshold),
        results,
    ))
}

/// The metrics of per-sample results (`bce_sum` is the cross-entropy summed over samples).
///
/// Results with [`SampleResult::probabilities`] (a multi-class model) are scored by argmax and
/// macro averages; otherwise by the binary score at `threshold`.
pub fn summarise(
    results: &[SampleResult],
    bce_sum: f64,
    omega: f64,
    threshold: f32,
) -> EvalMetrics {
    let n = results.len();
    let bce = if n > 0 { bce_sum / n as f64 } else { 0.0 };
    let od_sum: f64 = results.iter().filter_map(|r| r.overlap_d).sum();
    let c = results.first().map_or(0, |r| r.probabilities.len());
    let multi = c > 1 && results.iter().all(|r| r.probabilities.len() == c);
    let (accuracy, balanced_accuracy, auroc, f1) = if multi {
        let probs: Vec<f32> = results
            .iter()
            .flat_map(|r| r.probabilities.iter().copied())
            .collect();
        let pred = metrics::argmax_rows(&probs, c);
        let labels: Vec<usize> = results.iter().map(|r| r.class).collect();
        (
            metrics::multiclass_accuracy(&pred, &labels),
            metrics::multiclass_balanced_accuracy(&pred, &labels),
            metrics::macro_auroc(&probs, c, &labels),
            metrics::macro_f1(&pred, &labels),
        )
    } else {
        let scores: Vec<f32> = results.iter().map(|r| r.score).collect();
        let labels: Vec<u8> = results.iter().map(|r| r.label).collect();
        (
            metrics::accuracy(&scores, &labels, threshold),
            metrics::balanced_accuracy(&scores, &labels, threshold),
            metrics::auroc(&scores, &labels),
            metrics::f1(&scores, &labels, threshold),
        )
    };
    EvalMetrics {
        n,
        n_with_mask: results.iter().filter(|r| r.overlap_d.is_some()).count(),
        bce,
        accuracy,
        balanced_accuracy,
        auroc,
        f1,
        overlap_d: metrics::mean_defined(results.iter().map(|r| r.overlap_d)),
        energy_share: metrics::mean_defined(results.iter().map(|r| r.energy_share)),
        pointing_game: metrics::mean_defined(
            results
                .iter()
                .map(|r| r.pointing.map(|p| if p { 1.0 } else { 0.0 })),
        ),
        hot_share: metrics::mean_defined(results.iter().map(|r| r.hot_share)),
        loss: bce
            + if n > 0 {
                omega * od_sum / n as f64
            } else {
                0.0
            },
    }
}

/// The rows of a metrics table: `(name, value)` with undefined values as `-`.
pub fn table_rows(m: &EvalMetrics) -> Vec<(&'static str, String)> {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.4}"));
    vec![
        ("samples", m.n.to_string()),
        ("with mask", m.n_with_mask.to_string()),
        ("bce", format!("{:.4}", m.bce)),
        ("accuracy", f(m.accuracy)),
        ("balanced accuracy", f(m.balanced_accuracy)),
        ("auroc", f(m.auroc)),
        ("f1", f(m.f1)),
        ("overlap distance", f(m.overlap_d)),
        ("energy inside mask", f(m.energy_share)),
        ("pointing game", f(m.pointing_game)),
        ("hot pixel share", f(m.hot_share)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_by_hand() {
        let r = |score, label, od: Option<f64>, pointing| SampleResult {
            score,
            label,
            class: usize::from(label),
            overlap_d: od,
            energy_share: od.map(|d| 1.0 - d),
            pointing,
            ..Default::default()
        };
        let rs = vec![
            r(0.9, 1, Some(0.2), Some(true)),
            r(0.4, 1, Some(0.6), Some(false)),
            r(0.3, 0, None, None),
            r(0.6, 0, Some(1.0), Some(false)),
        ];
        let m = summarise(&rs, 2.0, 0.5, 0.5);
        assert_eq!(m.n, 4);
        assert_eq!(m.n_with_mask, 3);
        assert_eq!(m.bce, 0.5);
        assert_eq!(m.accuracy, Some(0.5));
        // pairs (0.9,0.3) (0.9,0.6) (0.4,0.3) win, (0.4,0.6) loses: 3/4
        assert_eq!(m.auroc, Some(0.75));
        assert!((m.overlap_d.unwrap() - 0.6).abs() < 1e-12);
        assert!((m.energy_share.unwrap() - 0.4).abs() < 1e-12);
        assert!((m.pointing_game.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // 0.5 + 0.5 · (0.2 + 0.6 + 1.0) / 4
        assert!((m.loss - (0.5 + 0.5 * 1.8 / 4.0)).abs() < 1e-12);
    }
}
