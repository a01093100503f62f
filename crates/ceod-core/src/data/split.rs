//! Train / validation / test splits: by the `split` column, else by group, else at random.

use std::collections::{BTreeMap, HashMap};

use crate::data::rng::SplitMix64;
use crate::data::sample::{Sample, Split};
use crate::data_error::DataError;

/// Options of [`split_samples`].
#[derive(Debug, Clone, PartialEq)]
pub struct SplitOptions {
    /// Share of the samples put in the test split, in `[0, 1]` (default 0.2).
    pub test_fraction: f64,
    /// Share of the samples put in the validation split, in `[0, 1]` (default 0).
    pub val_fraction: f64,
    /// Seed of the shuffle (default 0).
    pub seed: u64,
    /// Keep the label proportions in every split (default `true`): the shares are taken per
    /// label (per a group's highest label when splitting by group).
    pub stratify: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            val_fraction: 0.0,
            seed: 0,
            stratify: true,
        }
    }
}

/// Samples divided into splits; every sample has its `split` field set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splits {
    /// Training samples, in input order.
    pub train: Vec<Sample>,
    /// Validation samples, in input order.
    pub val: Vec<Sample>,
    /// Test samples, in input order.
    pub test: Vec<Sample>,
}

impl Splits {
    /// The samples of one split.
    pub fn get(&self, split: Split) -> &[Sample] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

/// Divides `samples` into train, validation and test.
///
/// 1. If every sample has a `split`, that is used (`options` are ignored), but a group that
///    appears in two splits is an error: near-duplicates must not straddle train and test.
///    Some samples with and some without a split is an error too.
/// 2. Otherwise, if any sample has a `group`, whole groups are assigned (a sample without a
///    group is a group of its own): groups are shuffled with `seed` and taken in that order
///    until each split reaches its share (rounded to the nearest sample), so no group is on
///    both sides.
/// 3. Otherwise each sample is its own group: a seeded random split.
///
/// With `stratify`, step 2/3 works per label. The result is deterministic in `seed`.
///
/// ```
/// use ceod_core::data::{split_samples, Sample, SplitOptions};
///
/// let samples: Vec<Sample> = (0..10)
///     .map(|i| {
///         let mut s = Sample::new(format!("{i}.png"), i % 2);
///         s.group = Some(format!("part{}", i / 2)); // two views of each part
///         s
///     })
///     .collect();
/// let splits = split_samples(&samples, &SplitOptions { test_fraction: 0.4, ..Default::default() })?;
/// assert_eq!(splits.train.len() + splits.test.len(), 10);
/// for t in &splits.test {
///     assert!(splits.train.iter().all(|s| s.group != t.group));
/// }
/// # Ok::<(), ceod_core::DataError>(())
/// ```
pub fn split_samples(samples: &[Sample], options: &SplitOptions) -> Result<Splits, DataError> {
    let with_split = samples.iter().filter(|s| s.split.is_some()).count();
    let assignment: Vec<Split> = if with_split == samples.len() {
        let fixed: Vec<Split> = samples.iter().filter_map(|s| s.split).collect();
        check_groups(samples, &fixed)?;
        fixed
    } else if with_split > 0 {
        return Err(DataError::Config(format!(
            "{with_split} of {} samples have a split and the others do not: give every \
             sample a split or none",
            samples.len()
        )));
    } else {
        random_assignment(samples, options)?
    };
    let mut out = Splits::default();
    for (s, split) in samples.iter().zip(assignment) {
        let mut s = s.clone();
        s.split = Some(split);
        match split {
            Split::Train => out.train.push(s),
            Split::Val => out.val.push(s),
            Split::Test => out.test.push(s),
        }
    }
    Ok(out)
}

fn check_groups(samples: &[Sample], splits: &[Split]) -> Result<(), DataError> {
    let mut seen: HashMap<&str, Split> = HashMap::new();
    for (s, &split) in samples.iter().zip(splits) {
        if let Some(g) = s.group.as_deref() {
            match seen.get(g) {
                Some(&other) if other != split => {
                    return Err(DataError::Config(format!(
                        "group `{g}` is in both {other} and {split} (its members must share one split)"
                    )));
                }
                Some(_) => {}
                None => {
                    seen.insert(g, split);
                }
            }
        }
    }
    Ok(())
}

fn random_assignment(samples: &[Sample], o: &SplitOptions) -> Result<Vec<Split>, DataError> {
    let ok = |f: f64| (0.0..=1.0).contains(&f);
    if !ok(o.test_fraction) || !ok(o.val_fraction) || o.test_fraction + o.val_fraction > 1.0 {
        return Err(DataError::Config(format!(
            "split fractions must be in [0, 1] with a sum of at most 1, got test {} and val {}",
            o.test_fraction, o.val_fraction
        )));
    }
    // Units: groups in order of first appearance; ungrouped samples alone.
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut by_group: HashMap<&str, usize> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        match s.group.as_deref() {
            Some(g) => {
                let u = *by_group.entry(g).or_insert_with(|| {
                    units.push(Vec::new());
                    units.len() - 1
                });
                units[u].push(i);
            }
            None => units.push(vec![i]),
        }
    }
    // Strata: by the highest label in the unit (one stratum without stratification).
    let mut strata: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (u, members) in units.iter().enumerate() {
        let key = if o.stratify {
            members.iter().map(|&i| samples[i].label).max().unwrap_or(0)
        } else {
            0
        };
        strata.entry(key).or_default().push(u);
    }
    let mut rng = SplitMix64::new(o.seed);
    let mut out = vec![Split::Train; samples.len()];
    for unit_ids in strata.values_mut() {
        rng.shuffle(unit_ids);
        let n: usize = unit_ids.iter().map(|&u| units[u].len()).sum();
        let n_test = (o.test_fraction * n as f64).round() as usize;
        let n_val = (o.val_fraction * n as f64).round() as usize;
        let (mut t, mut v) = (0usize, 0usize);
        for &u in unit_ids.iter() {
            let split = if t < n_test {
                t += units[u].len();
                Split::Test
            } else if v < n_val {
                v += units[u].len();
                Split::Val
            } else {
                Split::Train
            };
            for &i in &units[u] {
                out[i] = split;
            }
        }
    }
    Ok(out)
}
