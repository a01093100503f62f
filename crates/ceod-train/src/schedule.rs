//! Learning-rate schedules, evaluated per optimiser step.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule over the whole run.
///
/// The learning rate is a pure function of the global step, so a resumed run sets exactly the
/// rates that an uninterrupted one would.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Cosine annealing from the base rate down to `min_lr` at the last step
    /// (`lr = min + (base − min)·(1 + cos(π·t/T))/2`, `t` the step, `T` the total steps).
    #[default]
    Cosine,
    /// Multiply the rate by `gamma` every `every` epochs.
    Step {
        /// Epochs between two decays (at least 1).
        every: usize,
        /// The factor of each decay.
        gamma: f64,
    },
}

/// A schedule bound to its base rate and run length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleAt {
    /// The schedule.
    pub schedule: LrSchedule,
    /// The rate at step 0.
    pub base_lr: f64,
    /// The lowest rate (cosine only).
    pub min_lr: f64,
    /// Steps per epoch (at least 1).
    pub steps_per_epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
}

impl ScheduleAt {
    /// The learning rate of global step `step` (0-based, counted over all epochs).
    ///
    /// ```
    /// use ceod_train::schedule::{LrSchedule, ScheduleAt};
    /// let s = ScheduleAt { schedule: LrSchedule::Cosine, base_lr: 1e-3, min_lr: 0.0,
    ///                      steps_per_epoch: 10, epochs: 2 };
    /// assert_eq!(s.lr(0), 1e-3);
    /// assert!((s.lr(10) - 0.5e-3).abs() < 1e-12); // half way
    /// ```
    pub fn lr(&self, step: usize) -> f64 {
        let spe = self.steps_per_epoch.max(1);
        match self.schedule {
            LrSchedule::Constant => self.base_lr,
            LrSchedule::Cosine => {
                let total = (spe * self.epochs).max(1) as f64;
                let t = (step as f64).min(total);
                self.min_lr
                    + (self.base_lr - self.min_lr)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * t / total).cos())
            }
            LrSchedule::Step { every, gamma } => {
                let epoch = step / spe;
                let k = epoch / every.max(1);
                self.base_lr * gamma.powi(k as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(schedule: LrSchedule) -> ScheduleAt {
        ScheduleAt {
            schedule,
            base_lr: 0.1,
            min_lr: 0.01,
            steps_per_epoch: 4,
            epochs: 5,
        }
    }

    #[test]
    fn cosine_end_points_and_quarter() {
        let s = at(LrSchedule::Cosine);
        assert_eq!(s.lr(0), 0.1);
        assert!((s.lr(20) - 0.01).abs() < 1e-15);
        // a quarter of the way: cos(π/4) = √2/2
        let expect = 0.01 + 0.09 * 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2);
        assert!((s.lr(5) - expect).abs() < 1e-15);
        // monotone non-increasing
        for t in 0..20 {
            assert!(s.lr(t + 1) <= s.lr(t));
        }
    }

    #[test]
    fn step_decays_per_epoch_block() {
        let s = at(LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        });
        // epochs 0-1: 0.1, epochs 2-3: 0.05, epoch 4: 0.025 (4 steps per epoch)
        assert_eq!(s.lr(0), 0.1);
        assert_eq!(s.lr(7), 0.1);
        assert_eq!(s.lr(8), 0.05);
        assert_eq!(s.lr(15), 0.05);
        assert_eq!(s.lr(16), 0.025);
    }

    #[test]
    fn constant_is_constant() {
        let s = at(LrSchedule::Constant);
        assert!((0..30).all(|t| s.lr(t) == 0.1));
    }
}
