//! Classification and localisation metrics as pure functions.
//!
//! Scores are probabilities (or any monotone score) of the positive class "defect"; labels are
//! `0` (good) or `1` (defect). A sample is predicted positive when its score is `>= threshold`.
//! Functions whose value is undefined on the given input (an empty slice, a class that is absent)
//! return `None` instead of a made-up number.

/// Counts of a binary confusion matrix at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Positives predicted positive.
    pub tp: usize,
    /// Negatives predicted positive.
    pub fp: usize,
    /// Negatives predicted negative.
    pub tn: usize,
    /// Positives predicted negative.
    pub fn_: usize,
}

impl Confusion {
    /// Counts the confusion matrix of `scores` against `labels` at `threshold` (`score >= threshold`
    /// is positive). Extra elements of the longer slice are ignored.
    ///
    /// ```
    /// use ceod_train::metrics::Confusion;
    /// let c = Confusion::count(&[0.9, 0.2, 0.6, 0.4], &[1, 0, 0, 1], 0.5);
    /// assert_eq!((c.tp, c.fp, c.tn, c.fn_), (1, 1, 1, 1));
    /// ```
    pub fn count(scores: &[f32], labels: &[u8], threshold: f32) -> Self {
        let mut c = Self::default();
        for (&s, &l) in scores.iter().zip(labels) {
            match (s >= threshold, l != 0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    /// Number of samples counted.
    pub fn total(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }
}

/// Share of correct decisions; `None` for no samples.
pub fn accuracy(scores: &[f32], labels: &[u8], threshold: f32) -> Option<f64> {
    let c = Confusion::count(scores, labels, threshold);
    (c.total() > 0).then(|| (c.tp + c.tn) as f64 / c.total() as f64)
}

/// Mean of the true-positive rate and the true-negative rate; `None` unless both classes occur.
pub fn balanced_accuracy(scores: &[f32], labels: &[u8], threshold: f32) -> Option<f64> {
    let c = Confusion::count(scores, labels, threshold);
    let pos = c.tp + c.fn_;
    let neg = c.tn + c.fp;
    (pos > 0 && neg > 0).then(|| 0.5 * (c.tp as f64 / pos as f64 + c.tn as f64 / neg as f64))
}

/// F1 score of the positive class at `threshold`, `2·TP / (2·TP + FP + FN)`; `None` when there is
/// neither a positive sample nor a positive prediction (0/0).
pub fn f1(scores: &[f32], labels: &[u8], threshold: f32) -> Option<f64> {
    let c = Confusion::count(scores, labels, threshold);
    let den = 2 * c.tp + c.fp + c.fn_;
    (den > 0).then(|| 2.0 * c.tp as f64 / den as f64)
}

/// Area under the ROC curve by the Mann–Whitney U statistic with mid-ranks, so a tie between a
/// positive and a negative counts one half. `None` unless both classes occur, or if a score is NaN.
///
/// ```
/// use ceod_train::metrics::auroc;
/// // pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win, (0.4, 0.4) tie
/// let a = auroc(&[0.8, 0.4, 0.1, 0.4], &[1, 1, 0, 0]).unwrap();
/// assert!((a - 3.5 / 4.0).abs() < 1e-12);
/// ```
pub fn auroc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    if scores[..n].iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mid-ranks (1-based) over groups of equal scores.
    let mut rank_sum_pos = 0.0f64;
    let mut n_pos = 0usize;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && scores[idx[j]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + 1 + j) as f64 / 2.0; // mean of ranks i+1 ..= j
        for &k in &idx[i..j] {
            if labels[k] != 0 {
                rank_sum_pos += mid;
                n_pos += 1;
            }
        }
        i = j;
    }
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// Share of the heat map's mass inside the mask, `sum(cam · m) / sum(cam)`.
///
/// `cam` and `mask` are row-major maps of the same size (negative CAM values count as 0). `None`
/// for an empty mask (no area of interest: no value, as for the overlap distance) or mismatched
/// lengths; an all-zero heat map has no mass anywhere and scores `0`.
pub fn energy_share(cam: &[f32], mask: &[bool]) -> Option<f64> {
    if cam.len() != mask.len() || !mask.iter().any(|&m| m) {
        return None;
    }
    let (mut inside, mut total) = (0.0f64, 0.0f64);
    for (&c, &m) in cam.iter().zip(mask) {
        let c = f64::from(c.max(0.0));
        total += c;
        if m {
            inside += c;
        }
    }
    Some(if total > 0.0 { inside / total } else { 0.0 })
}

/// Pointing game: is the heat map's maximum inside the mask?
///
/// The maximum is the first in row-major order among ties. `None` for an empty mask or mismatched
/// lengths; an all-zero (or all non-positive) heat map points nowhere and misses.
pub fn pointing_game(cam: &[f32], mask: &[bool]) -> Option<bool> {
    if cam.len() != mask.len() || !mask.iter().any(|&m| m) {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (i, &c) in cam.iter().enumerate() {
        if c.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((i, c));
        }
    }
    match best {
        Some((i, c)) if c > 0.0 => Some(mask[i]),
        _ => Some(false),
    }
}

/// The class with the highest probability in each row of `probs` (`n × c`, row-major); the
/// first one on ties, NaN never wins.
pub fn argmax_rows(probs: &[f32], c: usize) -> Vec<usize> {
    if c == 0 {
        return Vec::new();
    }
    probs
        .chunks(c)
        .map(|row| {
            let mut best = 0;
            for (k, &p) in row.iter().enumerate() {
                if p > row[best] || row[best].is_nan() {
                    best = k;
                }
            }
            best
        })
        .collect()
}

/// Share of samples whose predicted class equals the true class; `None` for no samples.
pub fn multiclass_accuracy(predicted: &[usize], labels: &[usize]) -> Option<f64> {
    let n = predicted.len().min(labels.len());
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    (n > 0).then(|| right as f64 / n as f64)
}

/// Balanced accuracy of a multi-class decision: the mean over the classes that occur in `labels`
/// of their recall (share of that class's samples predicted as it). `None` for no samples.
///
/// ```
/// use ceod_train::metrics::multiclass_balanced_accuracy;
/// // class 0: 2 of 2 right, class 1: 0 of 1, class 2: 1 of 2 → (1 + 0 + 0.5) / 3
/// let b = multiclass_balanced_accuracy(&[0, 0, 2, 2, 0], &[0, 0, 1, 2, 2]).unwrap();
/// assert!((b - 0.5).abs() < 1e-12);
/// ```
pub fn multiclass_balanced_accuracy(predicted: &[usize], labels: &[usize]) -> Option<f64> {
    let n = predicted.len().min(labels.len());
    let c = labels[..n].iter().copied().max()? + 1;
    let (mut right, mut total) = (vec![0usize; c], vec![0usize; c]);
    for (&p, &l) in predicted.iter().zip(labels) {
        total[l] += 1;
        if p == l {
            right[l] += 1;
        }
    }
    let recalls: Vec<f64> = (0..c)
        .filter(|&k| total[k] > 0)
        .map(|k| right[k] as f64 / total[k] as f64)
        .collect();
    Some(recalls.iter().sum::<f64>() / recalls.len() as f64)
}

/// Macro F1: the unweighted mean of the per-class F1 scores over the classes that occur among
/// the labels or the predictions (scikit-learn's `f1_score(average="macro")`). `None` for no
/// samples.
pub fn macro_f1(predicted: &[usize], labels: &[usize]) -> Option<f64> {
    let n = predicted.len().min(labels.len());
    let c = predicted[..n].iter().chain(&labels[..n]).copied().max()? + 1;
    let (mut tp, mut fp, mut fn_) = (vec![0usize; c], vec![0usize; c], vec![0usize; c]);
    for (&p, &l) in predicted.iter().zip(labels) {
        if p == l {
            tp[p] += 1;
        } else {
            fp[p] += 1;
            fn_[l] += 1;
        }
    }
    let f1s: Vec<f64> = (0..c)
        .filter(|&k| tp[k] + fp[k] + fn_[k] > 0)
        .map(|k| 2.0 * tp[k] as f64 / (2 * tp[k] + fp[k] + fn_[k]) as f64)
        .collect();
    Some(f1s.iter().sum::<f64>() / f1s.len() as f64)
}

/// Macro one-vs-rest AUROC: for each class `k` the AUROC ([`auroc`]) of the probability of `k`
/// against "label is `k`", averaged over the classes that have both positive and negative
/// samples. `probs` is `n × c` row-major (softmax probabilities). `None` when no class has both
/// (fewer than two classes present), or on a NaN probability.
///
/// ```
/// use ceod_train::metrics::macro_auroc;
/// // 3 samples, 2 classes, perfectly ranked
/// let p = [0.9, 0.1, 0.2, 0.8, 0.3, 0.7];
/// assert_eq!(macro_auroc(&p, 2, &[0, 1, 1]), Some(1.0));
/// ```
pub fn macro_auroc(probs: &[f32], c: usize, labels: &[usize]) -> Option<f64> {
    if c == 0 {
        return None;
    }
    let n = (probs.len() / c).min(labels.len());
    let mut aucs = Vec::with_capacity(c);
    for k in 0..c {
        let scores: Vec<f32> = (0..n).map(|i| probs[i * c + k]).collect();
        if scores.iter().any(|s| s.is_nan()) {
            return None;
        }
        let bin: Vec<u8> = labels[..n].iter().map(|&l| u8::from(l == k)).collect();
        if let Some(a) = auroc(&scores, &bin) {
            aucs.push(a);
        }
    }
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// Share of the heat map's pixels at or above `threshold` ("hot"), for a map normalised by its
/// maximum. `None` for an empty map; NaN values are not hot.
///
/// ```
/// use ceod_train::metrics::hot_share;
/// assert_eq!(hot_share(&[1.0, 0.5, 0.49, 0.0], 0.5), Some(0.5));
/// ```
pub fn hot_share(cam: &[f32], threshold: f64) -> Option<f64> {
    if cam.is_empty() {
        return None;
    }
    let hot = cam.iter().filter(|&&v| f64::from(v) >= threshold).count();
    Some(hot as f64 / cam.len() as f64)
}

/// Mean of the defined values, `None` when there is none.
pub fn mean_defined<I: IntoIterator<Item = Option<f64>>>(values: I) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values.into_iter().flatten() {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force AUROC: the share of (positive, negative) pairs ranked right, ties one half.
    fn auroc_pairs(scores: &[f32], labels: &[u8]) -> Option<f64> {
        let (mut wins, mut pairs) = (0.0, 0usize);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if labels[i] == 1 && labels[j] == 0 {
                    pairs += 1;
                    if si > sj {
                        wins += 1.0;
                    } else if si == sj {
                        wins += 0.5;
                    }
                }
            }
        }
        (pairs > 0).then(|| wins / pairs as f64)
    }

    #[test]
    fn confusion_by_hand() {
        // scores 0.5 sits on the threshold: predicted positive
        let s = [0.5, 0.49, 0.9, 0.1, 0.7, 0.2];
        let l = [1, 1, 0, 0, 1, 0];
        let c = Confusion::count(&s, &l, 0.5);
        assert_eq!(
            c,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 2,
                fn_: 1
            }
        );
        assert_eq!(accuracy(&s, &l, 0.5), Some(4.0 / 6.0));
        // TPR 2/3, TNR 2/3
        assert_eq!(balanced_accuracy(&s, &l, 0.5), Some(2.0 / 3.0));
        // 2·2 / (4 + 1 + 1)
        assert_eq!(f1(&s, &l, 0.5), Some(4.0 / 6.0));
    }

    #[test]
    fn balanced_accuracy_differs_from_accuracy_on_imbalance() {
        // 9 negatives all right, 1 positive missed: accuracy 0.9, balanced (0 + 1)/2
        let mut s = vec![0.1f32; 10];
        let mut l = vec![0u8; 10];
        l[0] = 1;
        s[0] = 0.2;
        assert_eq!(accuracy(&s, &l, 0.5), Some(0.9));
        assert_eq!(balanced_accuracy(&s, &l, 0.5), Some(0.5));
        assert_eq!(f1(&s, &l, 0.5), Some(0.0));
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(accuracy(&[], &[], 0.5), None);
        assert_eq!(balanced_accuracy(&[0.9, 0.8], &[1, 1], 0.5), None);
        assert_eq!(auroc(&[0.9, 0.8], &[1, 1]), None);
        assert_eq!(auroc(&[0.9, f32::NAN], &[1, 0]), None);
        // no positive sample and no positive prediction
        assert_eq!(f1(&[0.1, 0.2], &[0, 0], 0.5), None);
    }

    #[test]
    fn auroc_hand_values() {
        assert_eq!(auroc(&[0.9, 0.8, 0.1, 0.2], &[1, 1, 0, 0]), Some(1.0));
        assert_eq!(auroc(&[0.1, 0.2, 0.9, 0.8], &[1, 1, 0, 0]), Some(0.0));
        // all tied: every pair is one half
        assert_eq!(auroc(&[0.3; 5], &[1, 0, 1, 0, 0]), Some(0.5));
    }

    #[test]
    fn auroc_matches_pair_count_with_many_ties() {
        // a deterministic pseudo-random sequence with few distinct values, so ties are frequent
        let mut x: u64 = 12345;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        for n in [2usize, 3, 7, 20, 101] {
            let scores: Vec<f32> = (0..n).map(|_| (next() % 6) as f32 / 5.0).collect();
            let mut labels: Vec<u8> = (0..n).map(|_| (next() % 2) as u8).collect();
            labels[0] = 1;
            labels[1] = 0;
            let a = auroc(&scores, &labels).unwrap();
            let b = auroc_pairs(&scores, &labels).unwrap();
            assert!((a - b).abs() < 1e-12, "n={n}: {a} vs {b}");
        }
    }

    #[test]
    fn energy_share_by_hand() {
        // 2×2 map, mask the left column
        let cam = [0.5, 1.0, 0.25, 0.25];
        let mask = [true, false, true, false];
        assert_eq!(energy_share(&cam, &mask), Some(0.75 / 2.0));
        // negative values are clipped to zero
        assert_eq!(energy_share(&[-1.0, 1.0], &[false, true]), Some(1.0));
        assert_eq!(energy_share(&[0.0, 0.0], &[true, false]), Some(0.0));
        assert_eq!(energy_share(&[1.0, 1.0], &[false, false]), None);
        assert_eq!(energy_share(&[1.0], &[false, true]), None);
    }

    #[test]
    fn pointing_game_by_hand() {
        let mask = [false, true, true, false];
        assert_eq!(pointing_game(&[0.1, 0.9, 0.2, 0.3], &mask), Some(true));
        assert_eq!(pointing_game(&[0.1, 0.2, 0.2, 0.9], &mask), Some(false));
        // ties: the first in row-major order wins (index 0 is outside)
        assert_eq!(pointing_game(&[0.9, 0.9, 0.2, 0.3], &mask), Some(false));
        assert_eq!(pointing_game(&[0.2, 0.9, 0.9, 0.3], &mask), Some(true));
        assert_eq!(pointing_game(&[0.0; 4], &mask), Some(false));
        assert_eq!(pointing_game(&[0.5; 4], &[false; 4]), None);
    }

    /// Brute-force one-vs-rest AUROC of class `k`: pairs (sample of k, sample not of k) ranked
    /// right by the probability of k, ties one half.
    fn ovr_pairs(probs: &[f32], c: usize, labels: &[usize], k: usize) -> Option<f64> {
        let (mut wins, mut pairs) = (0.0, 0usize);
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li == k && lj != k {
                    pairs += 1;
                    let (a, b) = (probs[i * c + k], probs[j * c + k]);
                    wins += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        (pairs > 0).then(|| wins / pairs as f64)
    }

    #[test]
    fn macro_metrics_match_brute_force_on_hand_data() {
        // 6 samples, 3 classes; rows are probabilities (class 1 has a tie at 0.3)
        let probs = [
            0.7, 0.2, 0.1, // label 0, predicted 0
            0.3, 0.3, 0.4, // label 0, predicted 2
            0.1, 0.8, 0.1, // label 1, predicted 1
            0.5, 0.3, 0.2, // label 1, predicted 0
            0.2, 0.2, 0.6, // label 2, predicted 2
            0.1, 0.3, 0.6, // label 2, predicted 2
        ];
        let labels = [0, 0, 1, 1, 2, 2];
        let pred = argmax_rows(&probs, 3);
        assert_eq!(pred, vec![0, 2, 1, 0, 2, 2]);
        assert_eq!(multiclass_accuracy(&pred, &labels), Some(4.0 / 6.0));
        // recalls 1/2, 1/2, 2/2
        assert_eq!(
            multiclass_balanced_accuracy(&pred, &labels),
            Some(2.0 / 3.0)
        );
        // per-class F1 by hand: class 0 tp 1 fp 1 fn 1 → 1/2; class 1 tp 1 fp 0 fn 1 → 2/3;
        // class 2 tp 2 fp 1 fn 0 → 4/5
        let f = macro_f1(&pred, &labels).unwrap();
        assert!((f - (0.5 + 2.0 / 3.0 + 0.8) / 3.0).abs() < 1e-12);
        let brute: Vec<f64> = (0..3)
            .map(|k| ovr_pairs(&probs, 3, &labels, k).unwrap())
            .collect();
        // class 0 by hand: positives 0.7, 0.3 vs negatives 0.1, 0.5, 0.2, 0.1 → (4 + 3) / 8
        assert_eq!(brute[0], 7.0 / 8.0);
        let m = macro_auroc(&probs, 3, &labels).unwrap();
        assert!((m - brute.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    }

    #[test]
    fn macro_auroc_matches_brute_force_on_random_data() {
        let mut x: u64 = 99;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        for (n, c) in [(5usize, 2usize), (12, 3), (40, 5)] {
            let probs: Vec<f32> = (0..n * c).map(|_| (next() % 5) as f32 / 4.0).collect();
            let mut labels: Vec<usize> = (0..n).map(|_| (next() as usize) % c).collect();
            labels[0] = 0;
            labels[1] = 1;
            let aucs: Vec<f64> = (0..c)
                .filter_map(|k| ovr_pairs(&probs, c, &labels, k))
                .collect();
            let want = aucs.iter().sum::<f64>() / aucs.len() as f64;
            let got = macro_auroc(&probs, c, &labels).unwrap();
            assert!((got - want).abs() < 1e-12, "n={n} c={c}: {got} vs {want}");
            // balanced accuracy: the mean of per-class recalls, counted directly
            let pred = argmax_rows(&probs, c);
            let recalls: Vec<f64> = (0..c)
                .filter(|&k| labels.contains(&k))
                .map(|k| {
                    let of_k: Vec<usize> = (0..n).filter(|&i| labels[i] == k).collect();
                    of_k.iter().filter(|&&i| pred[i] == k).count() as f64 / of_k.len() as f64
                })
                .collect();
            let want = recalls.iter().sum::<f64>() / recalls.len() as f64;
            let got = multiclass_balanced_accuracy(&pred, &labels).unwrap();
            assert!((got - want).abs() < 1e-12);
        }
        // one class only: no one-vs-rest AUROC
        assert_eq!(macro_auroc(&[0.5, 0.5, 0.4, 0.6], 2, &[1, 1]), None);
        assert_eq!(multiclass_accuracy(&[], &[]), None);
    }

    #[test]
    fn hot_share_counts_pixels() {
        // a 4×3 map with a hot 2×2 block (one pixel exactly on the threshold)
        let w = 4;
        let cam: Vec<f32> = (0..12)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (1..3).contains(&x) && y < 2 {
                    if x == 1 && y == 0 { 0.5 } else { 0.9 }
                } else {
                    0.3
                }
            })
            .collect();
        let hot = cam.iter().filter(|&&v| v >= 0.5).count();
        assert_eq!(hot, 4);
        assert_eq!(hot_share(&cam, 0.5), Some(4.0 / 12.0));
        assert_eq!(hot_share(&cam, 0.95), Some(0.0));
        assert_eq!(hot_share(&cam, 0.1), Some(1.0));
        assert_eq!(hot_share(&[], 0.5), None);
    }

    #[test]
    fn mean_skips_undefined() {
        assert_eq!(mean_defined([Some(1.0), None, Some(0.0)]), Some(0.5));
        assert_eq!(mean_defined([None, None]), None);
    }
}
