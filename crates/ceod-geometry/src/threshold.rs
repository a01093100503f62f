//! [`Threshold`]: which pixels of a heat map are hot.

use crate::error::{GeometryError, Result};
use crate::heat_map::HeatMap;
use crate::mask::Mask;

/// How the hot pixels of a heat map are chosen. A pixel is hot iff its value is `>=` the level
/// computed from the map ([`Threshold::level`]), with one exception: under `FractionOfMax`, a map
/// whose maximum is `<= 0` has no hot pixel (there is no positive evidence anywhere).
///
/// Degenerate maps, decided once:
/// - a constant map with a positive value: every pixel is hot under all four rules (Absolute:
///   when the constant reaches the level);
/// - an all-zero map: no hot pixel under `FractionOfMax` (as the PyTorch reference:
///   `cam / (max + eps) >= 0.5` is false everywhere); under `Quantile` and `Otsu` the level is
///   that constant, so every pixel is hot.
///
/// ```
/// use ceod_geometry::{HeatMap, Threshold};
/// let map = HeatMap::new(4, 1, vec![0.0, 0.4, 0.5, 1.0])?;
/// let hot = Threshold::FractionOfMax(0.5).hot_pixels(&map)?;
/// assert_eq!(hot.values(), &[false, false, true, true]);
/// assert_eq!(Threshold::Absolute(0.4).hot_pixels(&map)?.count(), 3);
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Hot iff `value >= f · max` (the paper's rule, `f = 0.5` by default); `f` in `[0, 1]`.
    FractionOfMax(f32),
    /// Hot iff `value >=` the `q`-quantile of the values (linear interpolation between order
    /// statistics, NumPy's default), `q` in `[0, 1]`.
    Quantile(f32),
    /// Hot iff `value >= t` (any finite `t`).
    Absolute(f32),
    /// Otsu's threshold: the split of a 256-bin histogram over `[min, max]` that maximises the
    /// between-class variance; hot iff the value falls in a bin above the split (the level is
    /// the smallest such value).
    Otsu,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::FractionOfMax(0.5)
    }
}

impl Threshold {
    /// Checks the parameter.
    ///
    /// # Errors
    /// [`GeometryError::InvalidThreshold`] for a fraction or quantile outside `[0, 1]`, or a
    /// non-finite parameter.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Threshold::FractionOfMax(f) if !(0.0..=1.0).contains(&f) => Err(
                GeometryError::InvalidThreshold(format!("fraction of max {f} is not in [0, 1]")),
            ),
            Threshold::Quantile(q) if !(0.0..=1.0).contains(&q) => Err(
                GeometryError::InvalidThreshold(format!("quantile {q} is not in [0, 1]")),
            ),
            Threshold::Absolute(t) if !t.is_finite() => Err(GeometryError::InvalidThreshold(
                format!("absolute threshold {t} is not finite"),
            )),
            _ => Ok(()),
        }
    }

    /// The level of this rule on `map`; `None` when no pixel can be hot (`FractionOfMax` on a
    /// map whose maximum is `<= 0`).
    ///
    /// # Errors
    /// As [`Threshold::validate`].
    pub fn level(&self, map: &HeatMap) -> Result<Option<f32>> {
        self.level_with_max(map, None)
    }

    /// [`Threshold::level`] with the map's maximum when it is already known.
    pub(crate) fn level_with_max(
        &self,
        map: &HeatMap,
        known_max: Option<f32>,
    ) -> Result<Option<f32>> {
        self.validate()?;
        let values = map.values();
        Ok(match *self {
            Threshold::FractionOfMax(f) => {
                let max = known_max.unwrap_or_else(|| map.max());
                (max > 0.0).then_some(f * max)
            }
            Threshold::Absolute(t) => Some(t),
            Threshold::Quantile(q) => Some(quantile(values, q)),
            Threshold::Otsu => Some(otsu(values)),
        })
    }

    /// The hot pixels of `map` as a mask of the map's size.
    ///
    /// # Errors
    /// As [`Threshold::validate`].
    pub fn hot_pixels(&self, map: &HeatMap) -> Result<Mask> {
        Self::mask_at(map, self.level(map)?)
    }

    /// The mask of the values `>= level` (empty for `None`).
    pub(crate) fn mask_at(map: &HeatMap, level: Option<f32>) -> Result<Mask> {
        let mut values = vec![false; map.values().len()];
        if let Some(t) = level {
            for (o, &v) in values.iter_mut().zip(map.values()) {
                *o = v >= t;
            }
        }
        Mask::new(map.width(), map.height(), values)
    }
}

/// The `q`-quantile with linear interpolation (NumPy `method="linear"`): position
/// `q · (n − 1)` in the sorted values. `values` is non-empty and finite (a `HeatMap`).
fn quantile(values: &[f32], q: f32) -> f32 {
    let n = values.len();
    let pos = f64::from(q) * (n - 1) as f64;
    let k = (pos.floor() as usize).min(n - 1);
    let frac = pos - k as f64;
    let mut v = values.to_vec();
    let (_, lo, right) = v.select_nth_unstable_by(k, f32::total_cmp);
    let lo = *lo;
    if frac == 0.0 || right.is_empty() {
        return lo;
    }
    let hi = right.iter().copied().fold(f32::INFINITY, f32::min);
    (f64::from(lo) + (f64::from(hi) - f64::from(lo)) * frac) as f32
}

/// Number of histogram bins of [`Threshold::Otsu`].
const OTSU_BINS: usize = 256;

/// Otsu's level over a 256-bin histogram on `[min, max]`; the constant for a constant map.
fn otsu(values: &[f32]) -> f32 {
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if min >= max {
        return min;
    }
    let (lo, hi) = (f64::from(min), f64::from(max));
    let width = (hi - lo) / OTSU_BINS as f64;
    let mut hist = [0u64; OTSU_BINS];
    let bin = |v: f32| (((f64::from(v) - lo) / width) as usize).min(OTSU_BINS - 1);
    for &v in values {
        hist[bin(v)] += 1;
    }
    let total = values.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_k) = (-1.0f64, 0usize);
    for (k, &c) in hist.iter().enumerate().take(OTSU_BINS - 1) {
        w0 += c as f64;
        sum0 += k as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_k = k;
        }
    }
    // Class 1 is bins best_k + 1 ..: the level is its smallest value, so that `v >= level` is
    // exactly "v is binned above the split" (binning is monotone in v).
    values
        .iter()
        .copied()
        .filter(|&v| bin(v) > best_k)
        .fold(max, f32::min)
}
