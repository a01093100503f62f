//! The Magnetic Tile surface-defect data (`magnetic-tile/`): defect vs defect-free, split by the
//! near-duplicate groups, with the area of interest of the training images either the defect
//! mask ([`TileSetting::DefectMask`]) or the tile region derived from each image
//! ([`TileSetting::TileRegion`], by [`derive_aoi`]).
//!
//! Files read: `labels.csv` (`image,mask,class,defect,width,height,mask_pixels_ge128`, paths
//! relative to the folder) and `near_duplicate_groups_heuristic.csv` (`image,group,…`), joined on
//! `image`; an image missing from the group file is a group of its own (and counted in the
//! notes).
//!
//! Decisions:
//! - **Split**: whole groups, seeded and stratified by the group's highest label
//!   ([`split_samples`]), `test_fraction` of the images to test and `val_fraction` to
//!   validation. The split depends on the seed and the fractions only, not on the setting, so
//!   every arm of an experiment sees the same images.
//! - **Masks**: defect masks are the mask PNGs at `>= 128`. In both settings the *test* split
//!   carries the defect masks (defective images only; the localisation metrics are about the
//!   defects), and the test variant `tile-region` holds the same test images with the derived
//!   tile region as their mask (the energy a tile-region model was trained to keep inside).
//!   Train and validation carry the setting's masks: the defect mask of the defective images
//!   with a non-empty mask (none for defect-free ones and the four defective images whose mask
//!   is empty, so those get no overlap term), or the tile region of every image.
//! - **Skipping**: an image that does not decode, whose mask does not load or has another size,
//!   or whose tile region cannot be derived, is skipped in *both* settings (in
//!   `Dataset::skipped`), so the splits stay identical across arms.
//! - **Resize**: the model input's own rule (`pre`); the experiment configs use stretch (every
//!   input pixel is tile, no padding whose width would encode the crop's aspect ratio; masks go
//!   through the same geometry, so they stay aligned).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};
use ceod_core::data::{LoadedSample, Sample, SplitOptions, split_samples};
use ceod_core::preprocess::decode;
use ceod_core::{Mask, Preprocess};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ExperimentData;
use super::aoi::{AoiConnectivity, AoiLevel, AoiRule, Polarity, derive_aoi};
use crate::dataset::{Dataset, Item};

/// The folder of the dataset under the data root.
pub const FOLDER: &str = "magnetic-tile";

/// What the area of interest of the training (and validation) images is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TileSetting {
    /// (a) The defect mask on defective images; no mask (no overlap term) on the others.
    #[default]
    DefectMask,
    /// (b) The tile region derived from every image.
    TileRegion,
}

impl TileSetting {
    /// The config name: `defect-mask` or `tile-region`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DefectMask => "defect-mask",
            Self::TileRegion => "tile-region",
        }
    }
}

/// The area-of-interest rule of the tile, at a working size of 160 px on the longer side: a
/// 3 × 3 box mean, then bright = at least a quarter of the median grey value (the tile fills
/// most of the crop, so the median is tile; Otsu splits the tile's own shading and half the
/// median still cuts the dark chamfer bands at the tile's sides, where Fray and Uneven masks
/// reach: measured in docs/RESULTS.md), the bright side as the object (the tile covers most of
/// the border, so the border cannot decide the polarity), a closing of radius 1, the largest
/// eight-connected component, holes filled (dark defects inside the tile stay in), its convex
/// hull (a chipped edge or a dark Fray region at the tile's edge comes back in) and a margin
/// of 3 working pixels (about 6 px of a 320 px crop: masks drawn a little beyond the edge).
pub fn tile_rule() -> AoiRule {
    AoiRule {
        work_size: Some(160),
        blur_radius: 1,
        level: AoiLevel::MedianFraction(0.25),
        polarity: Polarity::Bright,
        connectivity: AoiConnectivity::Eight,
        fill_holes: true,
        closing_radius: 1,
        convex_hull: true,
        margin: 3,
        min_fraction: 0.05,
    }
}

fn default_test_fraction() -> f64 {
    0.2
}

fn default_val_fraction() -> f64 {
    0.15
}

/// The `data` object of a magnetic-tile experiment (`"kind": "magnetic-tile"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagneticTileSpec {
    /// The training masks (default `defect-mask`).
    #[serde(default)]
    pub setting: TileSetting,
    /// Share of the images (whole groups) in the test split (default 0.2).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Share of the images (whole groups) in the validation split (default 0.15).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// The area-of-interest rule of the tile region (default [`tile_rule`]).
    #[serde(default = "tile_rule")]
    pub aoi: AoiRule,
    /// Keep at most this many defect-free training images (seeded choice; the validation and
    /// test splits are not cut); `None` keeps all.
    #[serde(default)]
    pub max_free_train: Option<usize>,
    /// Use only about this many images (whole groups, seeded, alternating between groups with
    /// and without a defect) before the split: for smoke runs; `None` uses all.
    #[serde(default)]
    pub max_images: Option<usize>,
    /// Write the test images' paths, one a line, to this file (`{seed}` is replaced by the
    /// seed): the input list of `ceod-infer` on the same test set.
    #[serde(default)]
    pub test_list: Option<String>,
}

impl Default for MagneticTileSpec {
    fn default() -> Self {
        Self {
            setting: TileSetting::default(),
            test_fraction: default_test_fraction(),
            val_fraction: default_val_fraction(),
            aoi: tile_rule(),
            max_free_train: None,
            max_images: None,
            test_list: None,
        }
    }
}

impl MagneticTileSpec {
    /// A short description for logs and the model card.
    pub fn describe(&self) -> String {
        format!(
            "magnetic tile, masks {}, test {} / val {} by near-duplicate group{}",
            self.setting.as_str(),
            self.test_fraction,
            self.val_fraction,
            self.max_free_train
                .map(|n| format!(", at most {n} defect-free training images"))
                .unwrap_or_default()
        )
    }
}

/// One row of `labels.csv` with its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileRow {
    /// The image path relative to the dataset folder.
    pub image: String,
    /// The mask path relative to the dataset folder.
    pub mask: String,
    /// The defect class (`Free` for defect-free).
    pub class: String,
    /// Whether the tile has a defect.
    pub defect: bool,
    /// Pixels of the mask at `>= 128`, as the index states.
    pub mask_pixels: usize,
    /// The near-duplicate group (`solo:<image>` for an image missing from the group file).
    pub group: String,
}

/// The rows of `labels.csv` joined with the groups, and the images the group file lacks.
///
/// # Errors
/// A missing or malformed file (named, with the line).
pub fn read_index(dir: &Path) -> anyhow::Result<(Vec<TileRow>, Vec<String>)> {
    let labels_path = dir.join("labels.csv");
    let groups_path = dir.join("near_duplicate_groups_heuristic.csv");
    let labels = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("reading {}", labels_path.display()))?;
    let groups = std::fs::read_to_string(&groups_path)
        .with_context(|| format!("reading {}", groups_path.display()))?;
    let mut group_of = HashMap::new();
    for (n, line) in groups.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 2 {
            bail!(
                "{}:{}: expected image,group,…",
                groups_path.display(),
                n + 1
            );
        }
        group_of.insert(f[0].trim().to_string(), f[1].trim().to_string());
    }
    let header: Vec<&str> = labels
        .lines()
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|&h| h == name)
            .with_context(|| format!("{}: no column `{name}`", labels_path.display()))
    };
    let (ci, cm, cc, cd, cp) = (
        col("image")?,
        col("mask")?,
        col("class")?,
        col("defect")?,
        col("mask_pixels_ge128")?,
    );
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (n, line) in labels.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |c: usize| {
            f.get(c)
                .copied()
                .with_context(|| format!("{}:{}: too few columns", labels_path.display(), n + 1))
        };
        let image = get(ci)?.to_string();
        let defect = match get(cd)? {
            "0" => false,
            "1" => true,
            other => bail!(
                "{}:{}: defect `{other}` is not 0 or 1",
                labels_path.display(),
                n + 1
            ),
        };
        let mask_pixels = get(cp)?.parse().with_context(|| {
            format!(
                "{}:{}: mask_pixels_ge128 is not a count",
                labels_path.display(),
                n + 1
            )
        })?;
        let group = match group_of.get(&image) {
            Some(g) => g.clone(),
            None => {
                missing.push(image.clone());
                format!("solo:{image}")
            }
        };
        rows.push(TileRow {
            mask: get(cm)?.to_string(),
            class: get(cc)?.to_string(),
            image,
            defect,
            mask_pixels,
            group,
        });
    }
    if rows.is_empty() {
        bail!("{}: no images", labels_path.display());
    }
    Ok((rows, missing))
}

/// About `n` of `rows` (at least `n` where there are that many): whole groups, shuffled with
/// `seed`, taken alternately from the groups with a defect and those without, in index order.
pub fn subset_by_group(rows: Vec<TileRow>, n: usize, seed: u64) -> Vec<TileRow> {
    let mut groups: BTreeMap<&str, (bool, usize)> = BTreeMap::new();
    for r in &rows {
        let g = groups.entry(r.group.as_str()).or_insert((false, 0));
        g.0 |= r.defect;
        g.1 += 1;
    }
    let mut with: Vec<(&str, usize)> = Vec::new();
    let mut without: Vec<(&str, usize)> = Vec::new();
    for (g, (d, k)) in groups {
        if d {
            with.push((g, k))
        } else {
            without.push((g, k))
        }
    }
    let mut rng = ceod_core::data::SplitMix64::stream(seed, 0x5b5e7);
    rng.shuffle(&mut with);
    rng.shuffle(&mut without);
    let mut keep = std::collections::HashSet::new();
    let (mut total, mut i, mut j) = (0, 0, 0);
    while total < n && (i < with.len() || j < without.len()) {
        let take_with = (i < with.len() && i <= j) || j >= without.len();
        let (g, k) = if take_with {
            i += 1;
            with[i - 1]
        } else {
            j += 1;
            without[j - 1]
        };
        keep.insert(g.to_string());
        total += k;
    }
    rows.into_iter()
        .filter(|r| keep.contains(&r.group))
        .collect()
}

/// One image decoded and prepared, with both masks.
#[derive(Clone)]
struct Prepared {
    image: ceod_core::PreparedImage,
    defect: Option<ceod_core::PreparedMask>,
    tile: ceod_core::PreparedMask,
    /// Share of the defect pixels inside the tile region (native size), for defects.
    coverage: Option<f64>,
    /// Share of the image in the tile region.
    tile_share: f64,
}

fn prepare(
    dir: &Path,
    row: &TileRow,
    pre: &Preprocess,
    rule: &AoiRule,
) -> anyhow::Result<Prepared> {
    let path = dir.join(&row.image);
    let img = decode(&path)?;
    let image = pre.apply(&img)?;
    let grey = img.to_luma8();
    let tile = derive_aoi_checked(&grey, rule)
        .with_context(|| format!("{}: the tile region", path.display()))?;
    let (defect, coverage) = if row.defect {
        let m = Mask::load_for_image(dir.join(&row.mask), &path, (img.width(), img.height()))?;
        let n = m.count();
        if n == 0 {
            (None, None)
        } else {
            let inside = m
                .data()
                .iter()
                .zip(tile.data())
                .filter(|&(&d, &t)| d != 0 && t != 0)
                .count();
            (Some(pre.prepare_mask(&m)?), Some(inside as f64 / n as f64))
        }
    } else {
        (None, None)
    };
    let tile_share = tile.count() as f64 / tile.data().len().max(1) as f64;
    Ok(Prepared {
        image,
        defect,
        tile: pre.prepare_mask(&tile)?,
        coverage,
        tile_share,
    })
}

/// What [`prepare`] gave for one image, keyed by the image path, the rule and the
/// preprocessing: the same images are prepared again for every arm and seed of an experiment,
/// and none of that depends on the seed or the setting.
type PrepareCache = Mutex<HashMap<(PathBuf, String), Arc<Result<Prepared, String>>>>;

fn cache() -> &'static PrepareCache {
    static CACHE: OnceLock<PrepareCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// [`prepare`] of every row (in parallel), through the process-wide cache.
fn prepare_all(
    dir: &Path,
    rows: &[TileRow],
    pre: &Preprocess,
    rule: &AoiRule,
) -> Vec<anyhow::Result<Prepared>> {
    let key = format!(
        "{}|{}",
        serde_json::to_string(rule).unwrap_or_default(),
        serde_json::to_string(pre).unwrap_or_default()
    );
    rows.par_iter()
        .map(|r| {
            let path = dir.join(&r.image);
            let k = (path, key.clone());
            let hit = cache().lock().ok().and_then(|c| c.get(&k).cloned());
            let entry = match hit {
                Some(e) => e,
                None => {
                    let e = Arc::new(prepare(dir, r, pre, rule).map_err(|e| format!("{e:#}")));
                    if let Ok(mut c) = cache().lock() {
                        c.insert(k, Arc::clone(&e));
                    }
                    e
                }
            };
            match entry.as_ref() {
                Ok(p) => Ok(p.clone()),
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        })
        .collect()
}

fn derive_aoi_checked(grey: &image::GrayImage, rule: &AoiRule) -> anyhow::Result<Mask> {
    Ok(derive_aoi(
        grey.as_raw(),
        grey.width() as usize,
        grey.height() as usize,
        rule,
    )?)
}

/// Builds the magnetic-tile data of `spec` from `root/magnetic-tile` at `pre`'s input size.
///
/// # Errors
/// A missing folder or index file, bad fractions, an empty training split.
pub fn build(
    spec: &MagneticTileSpec,
    root: &Path,
    pre: &Preprocess,
    seed: u64,
) -> anyhow::Result<ExperimentData> {
    let dir = root.join(FOLDER);
    if !dir.is_dir() {
        bail!("the magnetic-tile data is not at {}", dir.display());
    }
    let (mut rows, missing) = read_index(&dir)?;
    if let Some(n) = spec.max_images {
        rows = subset_by_group(rows, n, seed);
    }
    let samples: Vec<Sample> = rows
        .iter()
        .map(|r| {
            let mut s = Sample::new(PathBuf::from(&r.image), usize::from(r.defect));
            s.group = Some(r.group.clone());
            s
        })
        .collect();
    let splits = split_samples(
        &samples,
        &SplitOptions {
            test_fraction: spec.test_fraction,
            val_fraction: spec.val_fraction,
            seed,
            stratify: true,
        },
    )
    .context("splitting the magnetic-tile images by group")?;
    let index: HashMap<&Path, usize> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.image.as_path(), i))
        .collect();
    let ids = |list: &[Sample]| -> Vec<usize> {
        list.iter()
            .filter_map(|s| index.get(s.image.as_path()).copied())
            .collect()
    };
    let (train_ids, val_ids, test_ids) = (ids(&splits.train), ids(&splits.val), ids(&splits.test));
    let prepared = prepare_all(&dir, &rows, pre, &spec.aoi);

    let mut skipped = Vec::new();
    for (r, p) in rows.iter().zip(&prepared) {
        if let Err(e) = p {
            skipped.push((dir.join(&r.image), format!("{e:#}")));
        }
    }
    let item = |i: usize, mask: Option<ceod_core::PreparedMask>| -> Option<Item> {
        let p = prepared[i].as_ref().ok()?;
        let r = &rows[i];
        let path = dir.join(&r.image);
        Some(Item {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: Some(path),
            sample: LoadedSample {
                image: p.image.clone(),
                mask,
                label: usize::from(r.defect),
            },
        })
    };
    let setting_mask = |i: usize| -> Option<ceod_core::PreparedMask> {
        let p = prepared[i].as_ref().ok()?;
        match spec.setting {
            TileSetting::DefectMask => p.defect.clone(),
            TileSetting::TileRegion => Some(p.tile.clone()),
        }
    };
    let defect_mask = |i: usize| prepared[i].as_ref().ok().and_then(|p| p.defect.clone());
    let tile_mask = |i: usize| prepared[i].as_ref().ok().map(|p| p.tile.clone());

    // the optional cap on defect-free training images (seeded, independent of the setting)
    let mut train_ids = train_ids;
    let mut dropped_free = 0;
    if let Some(cap) = spec.max_free_train {
        let (mut free, defect): (Vec<usize>, Vec<usize>) =
            train_ids.iter().partition(|&&i| !rows[i].defect);
        if free.len() > cap {
            let mut rng = ceod_core::data::SplitMix64::stream(seed, 0x7117);
            rng.shuffle(&mut free);
            dropped_free = free.len() - cap;
            free.truncate(cap);
        }
        train_ids = defect.into_iter().chain(free).collect();
        train_ids.sort_unstable();
    }

    let train: Vec<Item> = train_ids
        .iter()
        .filter_map(|&i| item(i, setting_mask(i)))
        .collect();
    let val: Vec<Item> = val_ids
        .iter()
        .filter_map(|&i| item(i, setting_mask(i)))
        .collect();
    let test: Vec<Item> = test_ids
        .iter()
        .filter_map(|&i| item(i, defect_mask(i)))
        .collect();
    let test_tile: Vec<Item> = test_ids
        .iter()
        .filter_map(|&i| item(i, tile_mask(i)))
        .collect();

    if let Some(t) = &spec.test_list {
        let path = PathBuf::from(t.replace("{seed}", &seed.to_string()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut text = String::new();
        for it in &test {
            if let Some(p) = &it.path {
                let _ = writeln!(text, "{}", p.display());
            }
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    let notes = notes(
        spec,
        &rows,
        &missing,
        &prepared,
        [&train, &val, &test],
        dropped_free,
        skipped.len(),
    );
    Ok(ExperimentData {
        dataset: Dataset {
            train,
            val,
            test,
            skipped,
        },
        test_variants: vec![("tile-region".to_string(), test_tile)],
        notes,
    })
}

/// The share of each defect mask inside the derived tile region, over the defective images with
/// a non-empty mask: `(image, share)` in index order (skipped images left out).
fn coverages<'a>(
    rows: &'a [TileRow],
    prepared: &[anyhow::Result<Prepared>],
) -> Vec<(&'a str, f64)> {
    rows.iter()
        .zip(prepared)
        .filter_map(|(r, p)| Some((r.image.as_str(), p.as_ref().ok()?.coverage?)))
        .collect()
}

fn notes(
    spec: &MagneticTileSpec,
    rows: &[TileRow],
    missing: &[String],
    prepared: &[anyhow::Result<Prepared>],
    splits: [&[Item]; 3],
    dropped_free: usize,
    skipped: usize,
) -> Vec<String> {
    let mut notes = vec![spec.describe()];
    let groups: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.group.as_str()).or_insert(0) += 1;
        m
    });
    notes.push(format!(
        "{} images in {} near-duplicate groups; {} images missing from the group file (each its own group){}",
        rows.len(),
        groups.len(),
        missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(": {}", missing.join(", "))
        }
    ));
    for (name, items) in ["train", "val", "test"].iter().zip(splits) {
        let defects = items.iter().filter(|i| i.sample.label == 1).count();
        let masks = items.iter().filter(|i| i.has_mask()).count();
        notes.push(format!(
            "{name}: {} images, {defects} defective, {masks} with a mask",
            items.len()
        ));
    }
    if dropped_free > 0 {
        notes.push(format!(
            "{dropped_free} defect-free training images left out (max_free_train)"
        ));
    }
    if skipped > 0 {
        notes.push(format!("{skipped} images skipped (see the skipped list)"));
    }
    let cov = coverages(rows, prepared);
    if !cov.is_empty() {
        let below: Vec<String> = cov
            .iter()
            .filter(|(_, c)| *c < 0.99)
            .map(|(n, c)| format!("{n} {:.3}", c))
            .collect();
        let min = cov.iter().map(|c| c.1).fold(1.0f64, f64::min);
        let mean = cov.iter().map(|c| c.1).sum::<f64>() / cov.len() as f64;
        notes.push(format!(
            "tile region ({:?}): share of each defect mask inside it over {} defective images: min {min:.4}, mean {mean:.4}; {} below 0.99{}",
            spec.aoi,
            cov.len(),
            below.len(),
            if below.is_empty() {
                String::new()
            } else {
                format!(": {}", below.join(", "))
            }
        ));
    }
    let shares: Vec<f64> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|p| p.tile_share))
        .collect();
    if !shares.is_empty() {
        let min = shares.iter().copied().fold(1.0f64, f64::min);
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        notes.push(format!(
            "tile region covers {mean:.3} of an image on average (min {min:.3})"
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_and_names() {
        let s: MagneticTileSpec = serde_json::from_str(r#"{"setting": "tile-region"}"#).unwrap();
        assert_eq!(s.setting, TileSetting::TileRegion);
        assert_eq!(s.test_fraction, 0.2);
        assert_eq!(s.aoi, tile_rule());
        let s: MagneticTileSpec =
            serde_json::from_str(r#"{"max_free_train": 10, "val_fraction": 0.1}"#).unwrap();
        assert_eq!(
            (s.setting, s.max_free_train, s.val_fraction),
            (TileSetting::DefectMask, Some(10), 0.1)
        );
        assert!(serde_json::from_str::<MagneticTileSpec>(r#"{"settings": "x"}"#).is_err());
    }

    fn row(image: &str, defect: bool, group: &str) -> TileRow {
        TileRow {
            image: image.into(),
            mask: String::new(),
            class: if defect { "Crack" } else { "Free" }.into(),
            defect,
            mask_pixels: usize::from(defect),
            group: group.into(),
        }
    }

    #[test]
    fn subset_takes_whole_groups_of_both_kinds() {
        // 10 groups of 3: groups 0..4 defective (one image each), 4..10 free
        let rows: Vec<TileRow> = (0..30)
            .map(|i| {
                row(
                    &format!("{i}.jpg"),
                    i / 3 < 4 && i % 3 == 0,
                    &format!("g{}", i / 3),
                )
            })
            .collect();
        for seed in 0..5 {
            let sub = subset_by_group(rows.clone(), 7, seed);
            // whole groups: 3 groups (9 images) reach 7
            assert_eq!(sub.len(), 9, "seed {seed}");
            let groups: std::collections::HashSet<&str> =
                sub.iter().map(|r| r.group.as_str()).collect();
            for g in &groups {
                assert_eq!(sub.iter().filter(|r| r.group == *g).count(), 3);
            }
            assert!(sub.iter().any(|r| r.defect));
            assert!(
                groups
                    .iter()
                    .any(|g| sub.iter().filter(|r| r.group == *g).all(|r| !r.defect))
            );
        }
        assert_eq!(subset_by_group(rows.clone(), 100, 0).len(), 30);
    }

    #[test]
    fn index_join_reports_missing_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("labels.csv"),
            "image,mask,class,defect,width,height,mask_pixels_ge128\n\
             a.jpg,a.png,Crack,1,4,4,3\nb.jpg,b.png,Free,0,4,4,0\nc.jpg,c.png,Free,0,4,4,0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("near_duplicate_groups_heuristic.csv"),
            "image,group,group_size,group_classes\na.jpg,7,2,Crack|Free\nb.jpg,7,2,Crack|Free\n",
        )
        .unwrap();
        let (rows, missing) = read_index(dir.path()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].group, rows[1].group);
        assert_eq!(rows[2].group, "solo:c.jpg");
        assert_eq!(missing, vec!["c.jpg".to_string()]);
        assert!(rows[0].defect && !rows[1].defect);
        assert_eq!(rows[0].mask_pixels, 3);
        // a bad defect value is an error naming the line
        std::fs::write(
            dir.path().join("labels.csv"),
            "image,mask,class,defect,width,height,mask_pixels_ge128\na.jpg,a.png,Crack,2,4,4,3\n",
        )
        .unwrap();
        let e = read_index(dir.path()).unwrap_err().to_string();
        assert!(e.contains(":2:"), "{e}");
    }
}
