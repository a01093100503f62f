//! Many images at once.

use rayon::prelude::*;

use crate::area_of_interest::AreaOfInterest;
use crate::error::{GeometryError, Result};
use crate::heat_map::HeatMap;
use crate::mask::Mask;
use crate::overlap::{Overlap, OverlapOptions, overlap, overlap_with_area};

/// Below this many images the batch runs on the calling thread (rayon's hand-off costs more than
/// it saves for one or two images of ~50 µs).
const PARALLEL_FROM: usize = 4;

/// [`overlap`] for B heat maps and B masks, image `i` with mask `i`, in parallel (rayon) from
/// four images on.
///
/// ```
/// use ceod_geometry::{overlap_batch, Coefficient, HeatMap, Mask, OverlapOptions};
/// let heats = vec![HeatMap::new(2, 2, vec![1.0, 0.0, 0.0, 0.0])?; 3];
/// let masks = vec![Mask::from_fn(2, 2, |x, _| x == 0)?; 3];
/// let out = overlap_batch(&heats, &masks, &OverlapOptions::default())?;
/// assert_eq!(out.len(), 3);
/// assert_eq!(out[0].distance(Coefficient::Containment), Some(0.0));
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// [`GeometryError::BatchLengthMismatch`] when the lengths differ; otherwise the first error of
/// [`overlap`].
pub fn overlap_batch(
    heats: &[HeatMap],
    masks: &[Mask],
    options: &OverlapOptions,
) -> Result<Vec<Overlap>> {
    map_pairs(heats, masks, PARALLEL_FROM, |h, m| overlap(h, m, options))
}

/// [`overlap_batch`] against prebuilt areas of interest.
///
/// # Errors
/// As [`overlap_batch`].
pub fn overlap_batch_with_areas(
    heats: &[HeatMap],
    areas: &[AreaOfInterest],
    options: &OverlapOptions,
) -> Result<Vec<Overlap>> {
    map_pairs(heats, areas, PARALLEL_FROM, |h, a| {
        overlap_with_area(h, a, options)
    })
}

/// [`overlap_batch`] on one thread (the baseline of the parallel batch's bench).
///
/// # Errors
/// As [`overlap_batch`].
pub fn overlap_batch_sequential(
    heats: &[HeatMap],
    masks: &[Mask],
    options: &OverlapOptions,
) -> Result<Vec<Overlap>> {
    map_pairs(heats, masks, usize::MAX, |h, m| overlap(h, m, options))
}

/// Applies `f` to each (heat map, area) pair after checking the lengths, in parallel from
/// `parallel_from` pairs up, on the calling thread below that.
fn map_pairs<A, F>(
    heats: &[HeatMap],
    areas: &[A],
    parallel_from: usize,
    f: F,
) -> Result<Vec<Overlap>>
where
    A: Sync,
    F: Fn(&HeatMap, &A) -> Result<Overlap> + Sync,
{
    if heats.len() != areas.len() {
        return Err(GeometryError::BatchLengthMismatch {
            heat_maps: heats.len(),
            masks: areas.len(),
        });
    }
    if heats.len() < parallel_from {
        return heats.iter().zip(areas).map(|(h, a)| f(h, a)).collect();
    }
    heats.par_iter().zip(areas).map(|(h, a)| f(h, a)).collect()
}
