//! The "energy" share: how much of the heat lies inside the mask (no threshold, no polygon).

use crate::error::Result;
use crate::heat_map::HeatMap;
use crate::mask::Mask;

/// `sum(heat inside mask) / sum(heat)`, on the raster, in `f64`, with the heat map resampled to
/// the mask's size first when the sizes differ (bilinear, half-pixel centres).
///
/// Negative values count as 0 (heat is a mass; CAMs are ReLU'd). Degenerate cases: an empty
/// mask has no value (`None`), like an empty `A_gt` in [`overlap`](crate::overlap()); a map
/// without positive heat (0/0) gives `Some(0.0)`, like "no hot pixel" (distance 1).
///
/// ```
/// use ceod_geometry::{energy_inside, HeatMap, Mask};
/// let heat = HeatMap::new(2, 1, vec![3.0, 1.0])?;
/// let mask = Mask::new(2, 1, vec![false, true])?;
/// assert_eq!(energy_inside(&heat, &mask)?, Some(0.25));
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// Never for valid inputs; the `Result` carries resampling errors.
pub fn energy_inside(heat: &HeatMap, mask: &Mask) -> Result<Option<f64>> {
    let resized;
    let heat = if heat.width() == mask.width() && heat.height() == mask.height() {
        heat
    } else {
        resized = heat.resized(mask.width(), mask.height())?;
        &resized
    };
    if mask.is_empty() {
        return Ok(None);
    }
    let (mut inside, mut total) = (0.0f64, 0.0f64);
    for (&v, &m) in heat.values().iter().zip(mask.values()) {
        let v = f64::from(v.max(0.0));
        total += v;
        if m {
            inside += v;
        }
    }
    Ok(Some(if total > 0.0 { inside / total } else { 0.0 }))
}
