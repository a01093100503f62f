//! Which checkpoint is `best`: the chosen validation metric, higher is better (the loss lower).

use serde::{Deserialize, Serialize};

use crate::cli::SelectMetric;
use crate::evaluate::EvalMetrics;

/// The value of `metric` in `m`, oriented so that higher is better (`None` when undefined).
pub fn score(metric: SelectMetric, m: &EvalMetrics) -> Option<f64> {
    let v = match metric {
        SelectMetric::Auroc => m.auroc,
        SelectMetric::BalancedAccuracy => m.balanced_accuracy,
        SelectMetric::Accuracy => m.accuracy,
        SelectMetric::F1 => m.f1,
        SelectMetric::EnergyShare => m.energy_share,
        SelectMetric::Loss => (m.n > 0).then_some(-m.loss),
    };
    v.filter(|x| x.is_finite())
}

/// The best epoch so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestTracker {
    /// The metric.
    pub metric: SelectMetric,
    /// The best score (higher is better) and its epoch (1-based); `None` before the first epoch.
    pub best: Option<(Option<f64>, usize)>,
}

impl BestTracker {
    /// A tracker with no epoch yet.
    pub fn new(metric: SelectMetric) -> Self {
        Self { metric, best: None }
    }

    /// Records `epoch`'s metrics and says whether it is the new best: the first epoch always is;
    /// later a strictly higher score wins (ties keep the earlier epoch); an epoch whose metric is
    /// undefined wins only over an undefined best.
    ///
    /// ```
    /// use ceod_train::checkpoint_policy::BestTracker;
    /// use ceod_train::cli::SelectMetric;
    /// use ceod_train::evaluate::EvalMetrics;
    /// let mut t = BestTracker::new(SelectMetric::Auroc);
    /// let m = |a| EvalMetrics { auroc: Some(a), ..Default::default() };
    /// assert!(t.update(&m(0.6), 1));
    /// assert!(!t.update(&m(0.6), 2));
    /// assert!(t.update(&m(0.7), 3));
    /// ```
    pub fn update(&mut self, m: &EvalMetrics, epoch: usize) -> bool {
        let s = score(self.metric, m);
        let better = match self.best {
            None => true,
            Some((None, _)) => s.is_some(),
            Some((Some(b), _)) => s.is_some_and(|s| s > b),
        };
        if better {
            self.best = Some((s, epoch));
        }
        better
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_lower_is_better_and_undefined_never_beats_defined() {
        let mut t = BestTracker::new(SelectMetric::Loss);
        let m = |loss| EvalMetrics {
            n: 4,
            loss,
            ..Default::default()
        };
        assert!(t.update(&m(0.7), 1));
        assert!(t.update(&m(0.5), 2));
        assert!(!t.update(&m(0.6), 3));
        assert!(!t.update(&m(f64::NAN), 4));
        assert_eq!(t.best, Some((Some(-0.5), 2)));

        let mut a = BestTracker::new(SelectMetric::Auroc);
        assert!(a.update(&EvalMetrics::default(), 1));
        assert!(!a.update(&EvalMetrics::default(), 2));
        assert!(a.update(
            &EvalMetrics {
                auroc: Some(0.1),
                ..Default::default()
            },
            3
        ));
        assert!(!a.update(&EvalMetrics::default(), 4));
    }
}
