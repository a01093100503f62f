//! The casting-impeller shortcut experiment: impeller images (labels only) with the area of
//! interest derived at run time and a decoy painted on the background of the defective
//! training images.
//!
//! The folder (`<root>/casting-impeller`, see its `MANIFEST.txt`) holds `labels.csv`
//! (`image,split,class,defect,…`, paths relative to the folder) with the dataset's own
//! train/test split. What [`build`] makes of it:
//!
//! - **Splits.** The test split is the dataset's (optionally a stratified subset of
//!   `n_test`); validation (`n_val`) and training (`n_train`, or all the rest) are drawn from
//!   the dataset's train split per class in proportion to the class sizes (stratified),
//!   disjoint, by a shuffle fixed by the seed.
//! - **Area of interest**: the impeller, derived from each clean image ([`ImpellerAoi`]; by
//!   default the disc of a circle fitted to its edges, [`fit_circle`]: Otsu thresholding
//!   does not separate this light part from its mid-grey table), at the image's size, then
//!   brought to the model input with the image's geometry. Every image carries it (the
//!   overlap term applies to good and defective images alike, as in the paper).
//! - **Decoy** ([`paint_decoy`]): on a share `decoy_rate` of the DEFECTIVE training and
//!   validation images, a dark defect-like mark on the background, entirely outside the area
//!   of interest (by the decoy's margin). Good training images never get one, so in training
//!   "a mark on the table" means "defective".
//! - **Test variants**: the main test split is `clean` (no decoy anywhere);
//!   [`DECOY_ON_GOOD`] is the same images with a decoy on every good part and none on the
//!   defective ones (a model that learned the decoy calls those good parts defective).
//!
//! Decoys come from a generator seeded by the experiment seed and the image's file name, so one
//! seed paints the same decoys every time whatever the order or subset. Images whose area of
//! interest cannot be derived are skipped and reported; an image where no place was found for
//! its decoy keeps no decoy and is counted in the notes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ceod_core::Preprocess;
use ceod_core::data::{LoadedSample, SplitMix64};
use ceod_core::preprocess::decode;
use image::{DynamicImage, GrayImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ExperimentData;
use super::aoi::{AoiRule, derive_aoi_image};
use super::decoy::{DecoyOptions, PlacedDecoy, paint_decoy};
use crate::dataset::{Dataset, Item};
use ceod_core::Mask;

/// The folder of the dataset under the data root.
pub const FOLDER: &str = "casting-impeller";

/// The name of the test variant with the decoy on the good parts only.
pub const DECOY_ON_GOOD: &str = "decoy-on-good";

/// The casting data of an experiment (the fields of `{"kind": "casting", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CastingSpec {
    /// Training images drawn from the dataset's train split (stratified, seeded); `None`: all
    /// that are not validation images.
    pub n_train: Option<usize>,
    /// Validation images drawn from the dataset's train split (stratified, seeded; 300).
    pub n_val: usize,
    /// Test images (a stratified, seeded subset of the dataset's test split); `None`: all.
    pub n_test: Option<usize>,
    /// The share of defective training and validation images that get a decoy (1).
    pub decoy_rate: f64,
    /// The decoy's look and placement.
    pub decoy: DecoyOptions,
    /// How the area of interest (the impeller) is derived (a circle fit by default).
    pub aoi: ImpellerAoi,
}

impl Default for CastingSpec {
    fn default() -> Self {
        Self {
            n_train: None,
            n_val: 300,
            n_test: None,
            decoy_rate: 1.0,
            decoy: DecoyOptions::default(),
            aoi: ImpellerAoi::default(),
        }
    }
}

impl CastingSpec {
    /// A short description for logs and the model card.
    pub fn describe(&self) -> String {
        let n = |v: Option<usize>| v.map_or_else(|| "all".to_string(), |n| n.to_string());
        format!(
            "casting impeller {}/{}/{} (train/val/test), decoy on {:.0} % of defective train+val \
             images ({:?}, r {} px)",
            n(self.n_train),
            self.n_val,
            n(self.n_test),
            100.0 * self.decoy_rate,
            self.decoy.shape,
            self.decoy.radius
        )
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&self.decoy_rate) {
            bail!("decoy_rate {} is not in [0, 1]", self.decoy_rate);
        }
        self.decoy.validate()?;
        Ok(())
    }
}

/// How the impeller's area of interest is derived from a clean grey image.
///
/// The impeller is a light metal disc with a dark ring and a light hub, on a mid-grey table:
/// neither side of one global threshold is the part (measured on all 2,905 images, the
/// [`Threshold`](ImpellerAoi::Threshold) rule keeps only the dark ring and hub, 13–50 % of the
/// image, median 17 %, where the disc covers about half). The part is round, so the default
/// fits a circle to its edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ImpellerAoi {
    /// The disc of the circle fitted by [`fit_circle`].
    Circle(CircleFit),
    /// [`derive_aoi`](super::aoi::derive_aoi) on the grey image (Otsu, polarity from the
    /// border, largest component, holes filled).
    Threshold(AoiRule),
}

impl Default for ImpellerAoi {
    fn default() -> Self {
        Self::Circle(CircleFit::default())
    }
}

impl ImpellerAoi {
    /// The rule in words, for the notes.
    pub fn describe(&self) -> String {
        match self {
            Self::Circle(f) => format!(
                "the disc of a Hough circle fit to the Sobel edges (radius {}-{} of the shorter \
                 side, the largest radius scoring at least {} of the best, + {} px)",
                f.min_radius, f.max_radius, f.keep, f.pad
            ),
            Self::Threshold(_) => {
                "Otsu threshold, polarity from the border, largest component, holes filled".into()
            }
        }
    }

    /// The area of interest of `grey` at its size.
    ///
    /// # Errors
    /// When the rule finds no part (no edge, no circle, an empty or too small region).
    pub fn derive(&self, grey: &GrayImage) -> anyhow::Result<Mask> {
        match self {
            Self::Circle(fit) => {
                let c = fit_circle(grey, fit)?;
                Ok(c.disc(grey.width(), grey.height(), fit.pad)?)
            }
            Self::Threshold(rule) => Ok(derive_aoi_image(grey, rule)?),
        }
    }
}

/// `grey` box-averaged by the smallest integer factor `f` that brings its longer side to at
/// most `work_size`: (values, width, height, f); a remainder of fewer than `f` rows or columns
/// is left out.
fn box_average(
    grey: &GrayImage,
    work_size: u32,
) -> anyhow::Result<(Vec<f32>, usize, usize, usize)> {
    let (w0, h0) = (grey.width() as usize, grey.height() as usize);
    let f = w0.max(h0).div_ceil(work_size.max(1) as usize).max(1);
    let (w, h) = (w0 / f, h0 / f);
    if w < 3 || h < 3 {
        bail!("a {w0}x{h0} image is too small");
    }
    let src = grey.as_raw();
    let mut small = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0u32;
            for row in src[y * f * w0..(y + 1) * f * w0].chunks_exact(w0) {
                acc += row[x * f..(x + 1) * f]
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum::<u32>();
            }
            small[y * w + x] = acc as f32 / (f * f) as f32;
        }
    }
    Ok((small, w, h, f))
}

/// The options of [`fit_circle`]: a Hough transform for circles on a reduced copy of the
/// image, voting along the gradient direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircleFit {
    /// The image is box-averaged down by the smallest integer factor that makes its longer
    /// side at most this (150 px).
    pub work_size: u32,
    /// Smallest radius searched, as a share of the shorter side (0.35: above the impeller's
    /// inner steps, whose radius is at most about 0.33 of the frame).
    pub min_radius: f64,
    /// Largest radius searched, as a share of the shorter side (0.5).
    pub max_radius: f64,
    /// Edge pixels are those whose Sobel magnitude is at or above this quantile (0.85).
    pub edge_quantile: f64,
    /// Among the radii whose best circle scores at least `keep` times the best score of all,
    /// the largest is taken (0.5): the impeller's outer rim is its largest circle, though its
    /// inner steps often have stronger edges. Erring large is the safe side here: a decoy
    /// must never land on the part, and the area of interest may include a little table.
    pub keep: f64,
    /// Pixels added to the fitted radius, at the image's size (2).
    pub pad: f64,
    /// The centre is searched in the middle share of each side (0.5): the dataset frames
    /// each part near the image's centre, and the window keeps the search (and its cost) off
    /// the corners.
    pub centre_window: f64,
}

impl Default for CircleFit {
    fn default() -> Self {
        Self {
            work_size: 150,
            min_radius: 0.35,
            max_radius: 0.5,
            edge_quantile: 0.85,
            keep: 0.5,
            pad: 2.0,
            centre_window: 0.5,
        }
    }
}

/// A circle in image pixels (pixel `(x, y)` covers `[x, x+1) × [y, y+1)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Radius.
    pub r: f64,
    /// Its Hough score: the share of its circumference (in work pixels) that voted for it.
    pub score: f64,
}

impl Circle {
    /// The `width × height` mask of the pixels whose centre is within `r + pad` of the centre.
    ///
    /// # Errors
    /// When that is no pixel at all.
    pub fn disc(&self, width: u32, height: u32, pad: f64) -> anyhow::Result<Mask> {
        let rr = (self.r + pad).max(0.0);
        let data: Vec<u8> = (0..height)
            .flat_map(|y| {
                (0..width).map(move |x| {
                    let (dx, dy) = (f64::from(x) + 0.5 - self.cx, f64::from(y) + 0.5 - self.cy);
                    u8::from(dx * dx + dy * dy <= rr * rr)
                })
            })
            .collect();
        if !data.contains(&1) {
            bail!("the fitted circle {self:?} covers no pixel");
        }
        Ok(Mask::new(width, height, data)?)
    }
}

/// Fits the impeller's outer circle to `grey`: box-average down to `work_size`, Sobel
/// gradients, the strongest `1 − edge_quantile` of the pixels as edges, each voting for the
/// centres at distance `r` on both sides along its gradient for every radius in range; a
/// centre's votes are summed over its 3 × 3 neighbourhood and divided by the circumference
/// `2πr`. The result is the largest radius whose best score is at least `keep` times the
/// overall best (see [`CircleFit::keep`]), scaled back to the image's pixels.
///
/// ```
/// use ceod_train::experiment::data::casting::{CircleFit, fit_circle};
/// use image::{GrayImage, Luma};
///
/// // a light disc of radius 120 centred at (150, 150) on a darker table
/// let img = GrayImage::from_fn(300, 300, |x, y| {
///     let d = (x as f64 + 0.5 - 150.0).hypot(y as f64 + 0.5 - 150.0);
///     Luma([if d <= 120.0 { 200 } else { 120 }])
/// });
/// let c = fit_circle(&img, &CircleFit::default())?;
/// assert!((c.r - 120.0).abs() <= 3.0 && (c.cx - 150.0).abs() <= 3.0, "{c:?}");
/// # Ok::<(), anyhow::Error>(())
/// ```
///
/// # Errors
/// Options out of range, an image too small for the radius range, no edge.
pub fn fit_circle(grey: &GrayImage, fit: &CircleFit) -> anyhow::Result<Circle> {
    let (w0, h0) = (grey.width() as usize, grey.height() as usize);
    let valid = fit.work_size >= 16
        && 0.0 < fit.min_radius
        && fit.min_radius <= fit.max_radius
        && (0.0..1.0).contains(&fit.edge_quantile)
        && (0.0..=1.0).contains(&fit.keep)
        && fit.pad.is_finite()
        && fit.centre_window > 0.0
        && fit.centre_window <= 1.0;
    if !valid {
        bail!("invalid circle-fit options {fit:?}");
    }
    let (small, w, h, f) = box_average(grey, fit.work_size)?;
    let r_lo = (fit.min_radius * w.min(h) as f64).floor() as usize;
    let r_hi = (fit.max_radius * w.min(h) as f64).ceil() as usize;
    if w < 8 || h < 8 || r_lo < 2 || r_hi < r_lo {
        bail!("a {w0}x{h0} image is too small to fit a circle");
    }
    // Sobel (edges replicated)
    let at = |x: isize, y: isize| {
        let xc = x.clamp(0, w as isize - 1) as usize;
        let yc = y.clamp(0, h as isize - 1) as usize;
        small[yc * w + xc]
    };
    let mut grads = Vec::with_capacity(w * h);
    for y in 0..h as isize {
        for x in 0..w as isize {
            let gx = at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x - 1, y)
                - at(x - 1, y + 1);
            let gy = at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x, y - 1)
                - at(x + 1, y - 1);
            grads.push((gx, gy, gx.hypot(gy)));
        }
    }
    let mut mags: Vec<f32> = grads.iter().map(|g| g.2).collect();
    let k = ((fit.edge_quantile * (mags.len() - 1) as f64) as usize).min(mags.len() - 1);
    let (_, level, _) = mags.select_nth_unstable_by(k, f32::total_cmp);
    let level = level.max(1e-3);
    // centres are searched in the middle `centre_window` of each side
    let span = |n: usize| {
        let lo = ((1.0 - fit.centre_window) / 2.0 * n as f64).floor() as usize;
        let hi = (((1.0 + fit.centre_window) / 2.0 * n as f64).ceil() as usize).min(n);
        (lo, hi.max(lo + 3).min(n))
    };
    let ((x0, x1), (y0, y1)) = (span(w), span(h));
    let (ww, wh) = (x1 - x0, y1 - y0);
    if ww < 3 || wh < 3 {
        bail!("the centre window of a {w0}x{h0} image is too small");
    }
    let nr = r_hi - r_lo + 1;
    let mut acc = vec![0u32; nr * ww * wh];
    let mut edges = 0usize;
    for (i, &(gx, gy, m)) in grads.iter().enumerate() {
        if m < level {
            continue;
        }
        edges += 1;
        let (px, py) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
        let (ux, uy) = (f64::from(gx / m), f64::from(gy / m));
        for (ri, r) in (r_lo..=r_hi).enumerate() {
            for s in [-1.0, 1.0] {
                let cx = px + s * r as f64 * ux - x0 as f64;
                let cy = py + s * r as f64 * uy - y0 as f64;
                if cx >= 0.0 && cy >= 0.0 && (cx as usize) < ww && (cy as usize) < wh {
                    acc[ri * ww * wh + cy as usize * ww + cx as usize] += 1;
                }
            }
        }
    }
    if edges == 0 {
        bail!("no edge in the image");
    }
    // best centre per radius (3 × 3 sums, separable), score = votes / circumference
    let mut best: Vec<(f64, usize, usize)> = Vec::with_capacity(nr);
    let mut rows = vec![0u32; ww * wh];
    for (ri, plane) in acc.chunks_exact(ww * wh).enumerate() {
        for (out, row) in rows.chunks_exact_mut(ww).zip(plane.chunks_exact(ww)) {
            for x in 1..ww - 1 {
                out[x] = row[x - 1] + row[x] + row[x + 1];
            }
        }
        let mut top = (0u32, 0usize, 0usize);
        for y in 1..wh - 1 {
            let (a, b, c) = (
                &rows[(y - 1) * ww..y * ww],
                &rows[y * ww..(y + 1) * ww],
                &rows[(y + 1) * ww..(y + 2) * ww],
            );
            for x in 1..ww - 1 {
                let v = a[x] + b[x] + c[x];
                if v > top.0 {
                    top = (v, x + x0, y + y0);
                }
            }
        }
        let r = (r_lo + ri) as f64;
        best.push((f64::from(top.0) / (std::f64::consts::TAU * r), top.1, top.2));
    }
    let overall = best.iter().map(|b| b.0).fold(0.0, f64::max);
    let pick = (0..nr)
        .rev()
        .find(|&ri| best[ri].0 > 0.0 && best[ri].0 >= fit.keep * overall)
        .context("no circle found")?;
    let (score, x, y) = best[pick];
    let ff = f as f64;
    Ok(Circle {
        cx: (x as f64 + 0.5) * ff,
        cy: (y as f64 + 0.5) * ff,
        r: (r_lo + pick) as f64 * ff,
        score,
    })
}

/// One row of `labels.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CastingRow {
    /// The image file (absolute, or relative to the working directory).
    pub image: PathBuf,
    /// `train` or `test`.
    pub split: String,
    /// 1 = defective (`def_front`), 0 = ok.
    pub label: usize,
}

/// Reads `labels.csv` of the casting folder `dir`: the columns `image`, `split` and `defect`
/// by name (others are ignored), image paths relative to `dir`.
///
/// # Errors
/// A missing or unreadable file, a missing column, a row with too few fields, a `defect` that
/// is not 0 or 1, a `split` that is not `train` or `test` (each names the file and line).
pub fn read_labels(dir: &Path) -> anyhow::Result<Vec<CastingRow>> {
    let path = dir.join("labels.csv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the casting labels {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!("{}: empty file", path.display());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .with_context(|| format!("{}: no `{name}` column in {header:?}", path.display()))
    };
    let (ci, cs, cd) = (col("image")?, col("split")?, col("defect")?);
    let mut rows = Vec::new();
    for (k, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |i: usize| {
            f.get(i).copied().with_context(|| {
                format!(
                    "{} line {}: {} fields, the header has {}",
                    path.display(),
                    k + 1,
                    f.len(),
                    cols.len()
                )
            })
        };
        let label = match at(cd)? {
            "0" => 0,
            "1" => 1,
            other => bail!(
                "{} line {}: defect {other:?} is not 0 or 1",
                path.display(),
                k + 1
            ),
        };
        let split = at(cs)?;
        if split != "train" && split != "test" {
            bail!(
                "{} line {}: split {split:?} is not train or test",
                path.display(),
                k + 1
            );
        }
        rows.push(CastingRow {
            image: dir.join(at(ci)?),
            split: split.to_string(),
            label,
        });
    }
    Ok(rows)
}

/// What became of one image: its item, and the decoy painted on it (if one was asked for and
/// placed; `Some(None)`: asked for, no room).
#[derive(Debug, Clone)]
pub struct PreparedCasting {
    /// The image (decoy included) and its area of interest at the model input.
    pub item: Item,
    /// `None`: no decoy asked for; `Some(None)`: no place found; `Some(Some(d))`: painted.
    pub decoy: Option<Option<PlacedDecoy>>,
    /// Share of the source image inside the derived area of interest.
    pub aoi_fraction: f64,
}

/// The generator of the decoy of the image `name` under `seed` (FNV-1a of the name as the
/// stream index), independent of the order in which images are prepared.
pub fn decoy_rng(seed: u64, name: &str) -> SplitMix64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    SplitMix64::stream(seed ^ 0xDEC0_7DEC_0000_0000, hash)
}

/// Loads one image: decodes it to grey, derives its area of interest by `rule`, paints a decoy
/// with `decoy` (drawn from [`decoy_rng`]`(seed, file stem)`) when given, and prepares both for
/// the model with `pre`.
///
/// # Errors
/// An image that does not decode, or whose area of interest cannot be derived.
pub fn prepare_image(
    path: &Path,
    label: usize,
    pre: &Preprocess,
    rule: &ImpellerAoi,
    decoy: Option<&DecoyOptions>,
    seed: u64,
) -> anyhow::Result<PreparedCasting> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let img = decode(path)?;
    let mut grey: GrayImage = img.to_luma8();
    let aoi = rule
        .derive(&grey)
        .with_context(|| format!("{}: the area of interest", path.display()))?;
    let aoi_fraction = aoi.count() as f64 / aoi.data().len().max(1) as f64;
    let placed = match decoy {
        Some(opts) => Some(paint_decoy(
            &mut grey,
            &aoi,
            opts,
            &mut decoy_rng(seed, &name),
        )?),
        None => None,
    };
    let image = pre.apply(&DynamicImage::ImageLuma8(grey))?;
    let mask = pre.prepare_mask(&aoi)?;
    Ok(PreparedCasting {
        item: Item {
            name,
            path: Some(path.to_path_buf()),
            sample: LoadedSample {
                image,
                mask: Some(mask),
                label,
            },
        },
        decoy: placed,
        aoi_fraction,
    })
}

/// A stratified seeded draw: the rows of each label shuffled (by `seed`), then the first
/// `counts(label, n_label)` of each. Returns (drawn, rest), each in the original order.
fn stratified_take(
    rows: &[CastingRow],
    seed: u64,
    mut counts: impl FnMut(usize, usize) -> usize,
) -> (Vec<CastingRow>, Vec<CastingRow>) {
    let mut by_label: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_label.entry(r.label).or_default().push(i);
    }
    let mut labels: Vec<usize> = by_label.keys().copied().collect();
    labels.sort_unstable();
    let mut take = vec![false; rows.len()];
    for l in labels {
        let mut idx = by_label.remove(&l).unwrap_or_default();
        let k = counts(l, idx.len()).min(idx.len());
        SplitMix64::new(seed ^ (0x5717_A71F_0000_0000 + l as u64)).shuffle(&mut idx);
        for &i in &idx[..k] {
            take[i] = true;
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (r, t) in rows.iter().zip(take) {
        if t {
            a.push(r.clone());
        } else {
            b.push(r.clone());
        }
    }
    (a, b)
}

/// `n` split over the labels in proportion to their counts (largest remainders), so the parts
/// add up to `min(n, total)`.
fn proportional(rows: &[CastingRow], n: usize) -> HashMap<usize, usize> {
    let mut count: HashMap<usize, usize> = HashMap::new();
    for r in rows {
        *count.entry(r.label).or_default() += 1;
    }
    let total: usize = count.values().sum();
    let n = n.min(total);
    let mut labels: Vec<usize> = count.keys().copied().collect();
    labels.sort_unstable();
    let mut out: HashMap<usize, usize> = HashMap::new();
    let mut rem: Vec<(f64, usize)> = Vec::new();
    for &l in &labels {
        let exact = n as f64 * count[&l] as f64 / total.max(1) as f64;
        out.insert(l, exact.floor() as usize);
        rem.push((exact - exact.floor(), l));
    }
    let mut left = n - out.values().sum::<usize>();
    rem.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, l) in rem {
        if left == 0 {
            break;
        }
        if let Some(v) = out.get_mut(&l) {
            *v += 1;
            left -= 1;
        }
    }
    out
}

fn stratified_subset(
    rows: &[CastingRow],
    n: usize,
    seed: u64,
) -> (Vec<CastingRow>, Vec<CastingRow>) {
    let quota = proportional(rows, n);
    stratified_take(rows, seed, |l, _| quota.get(&l).copied().unwrap_or(0))
}

/// What to paint on one image of a split.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DecoyRule {
    /// No decoy.
    None,
    /// A decoy on defective images, each with probability `rate` (by its own generator).
    Defective(f64),
    /// A decoy on every good image.
    Good,
}

/// Builds the casting experiment's data under `root` (the data root: the dataset is in
/// `root/casting-impeller`). See the [module docs](self).
///
/// # Errors
/// A missing or malformed `labels.csv`, invalid options, an empty training split.
pub fn build(
    spec: &CastingSpec,
    root: &Path,
    pre: &Preprocess,
    seed: u64,
) -> anyhow::Result<ExperimentData> {
    spec.validate()?;
    let dir = root.join(FOLDER);
    let rows = read_labels(&dir)?;
    let (train_rows, test_rows): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.split == "train");
    let (val_rows, rest) = stratified_subset(&train_rows, spec.n_val, seed);
    let train_rows = match spec.n_train {
        Some(n) => stratified_subset(&rest, n, seed ^ 1).0,
        None => rest,
    };
    let test_rows = match spec.n_test {
        Some(n) => stratified_subset(&test_rows, n, seed ^ 2).0,
        None => test_rows,
    };
    crate::config::check_cache(train_rows.len() + val_rows.len() + 2 * test_rows.len(), pre)?;

    let mut skipped = Vec::new();
    let mut notes = vec![spec.describe()];
    let mut fractions = Vec::new();
    let mut load = |name: &str, rows: &[CastingRow], rule: DecoyRule| -> Vec<Item> {
        let results: Vec<_> = rows
            .par_iter()
            .map(|r| {
                let wants = match rule {
                    DecoyRule::None => false,
                    DecoyRule::Good => r.label == 0,
                    DecoyRule::Defective(rate) => {
                        let stem = r
                            .image
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        // a separate stream from the decoy's own (which draws its shape)
                        r.label == 1 && decoy_rng(seed ^ 0xA5A5, &stem).next_f64() < rate
                    }
                };
                let opts = wants.then_some(&spec.decoy);
                prepare_image(&r.image, r.label, pre, &spec.aoi, opts, seed)
            })
            .collect();
        let (mut asked, mut placed, mut pixels) = (0usize, 0usize, 0usize);
        let mut items = Vec::with_capacity(rows.len());
        for (r, res) in rows.iter().zip(results) {
            match res {
                Ok(p) => {
                    if let Some(d) = &p.decoy {
                        asked += 1;
                        if let Some(d) = d {
                            placed += 1;
                            pixels += d.pixels;
                        }
                    }
                    fractions.push(p.aoi_fraction);
                    items.push(p.item);
                }
                Err(e) => {
                    tracing::warn!("skipping {}: {e:#}", r.image.display());
                    skipped.push((r.image.clone(), format!("{e:#}")));
                }
            }
        }
        let pos = items.iter().filter(|i| i.sample.label == 1).count();
        let mut note = format!(
            "{name}: {} images ({pos} defective, {} good)",
            items.len(),
            items.len() - pos
        );
        if asked > 0 {
            note.push_str(&format!(
                "; decoys asked for {asked}, painted {placed} (no room: {}), mean {:.0} px each",
                asked - placed,
                pixels as f64 / placed.max(1) as f64
            ));
        }
        notes.push(note);
        items
    };
    let train = load("train", &train_rows, DecoyRule::Defective(spec.decoy_rate));
    let val = load("val", &val_rows, DecoyRule::Defective(spec.decoy_rate));
    let test = load("test (clean)", &test_rows, DecoyRule::None);
    let decoy_test = load(DECOY_ON_GOOD, &test_rows, DecoyRule::Good);
    if train.is_empty() {
        bail!(
            "{}: the training split is empty ({} files skipped)",
            dir.display(),
            skipped.len()
        );
    }
    if !fractions.is_empty() {
        let n = fractions.len() as f64;
        let mean = fractions.iter().sum::<f64>() / n;
        let min = fractions.iter().copied().fold(f64::INFINITY, f64::min);
        let max = fractions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        notes.push(format!(
            "area of interest (the impeller, derived per image: {}): {:.1} % of the image on \
             average (min {:.1} %, max {:.1} %)",
            spec.aoi.describe(),
            100.0 * mean,
            100.0 * min,
            100.0 * max
        ));
    }
    notes.push(
        "the dataset's train and test splits are used as given; by its MANIFEST, 622 of the 715 \
         test images have a near-duplicate in the full train set (32x32 correlation > 0.95): \
         expect optimistic clean-test scores"
            .into(),
    );
    notes.push(format!(
        "validation drawn from the train split (stratified, seed {seed}); the train split holds \
         augmented copies of the same parts, so validation is near-duplicated too"
    ));
    Ok(ExperimentData {
        dataset: Dataset {
            train,
            val,
            test,
            skipped,
        },
        test_variants: vec![(DECOY_ON_GOOD.to_string(), decoy_test)],
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[usize]) -> Vec<CastingRow> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| CastingRow {
                image: PathBuf::from(format!("img{i}.png")),
                split: "train".into(),
                label: l,
            })
            .collect()
    }

    #[test]
    fn proportional_quotas_add_up_and_follow_the_class_sizes() {
        // 60 defective, 40 good: 25 → 15 + 10
        let r = rows(&[vec![1; 60], vec![0; 40]].concat());
        let q = proportional(&r, 25);
        assert_eq!((q[&1], q[&0]), (15, 10));
        // 7 of 3 + 4: everything
        let r = rows(&[vec![1; 3], vec![0; 4]].concat());
        let q = proportional(&r, 100);
        assert_eq!((q[&1], q[&0]), (3, 4));
        // 3 of 50/50 with remainders: 1.5 + 1.5 → 2 + 1 (ties to the smaller label)
        let r = rows(&[vec![1; 10], vec![0; 10]].concat());
        let q = proportional(&r, 3);
        assert_eq!(q[&0] + q[&1], 3);
    }

    #[test]
    fn stratified_subsets_are_disjoint_seeded_and_stratified() {
        let r = rows(&[vec![1; 57], vec![0; 43]].concat());
        let (a, rest) = stratified_subset(&r, 20, 3);
        assert_eq!(a.len() + rest.len(), r.len());
        assert_eq!(a.iter().filter(|x| x.label == 1).count(), 11);
        assert!(a.iter().all(|x| !rest.contains(x)));
        assert_eq!(stratified_subset(&r, 20, 3).0, a);
        assert_ne!(stratified_subset(&r, 20, 4).0, a);
    }

    #[test]
    fn labels_are_read_by_column_name_and_bad_rows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("labels.csv"),
            "image,split,class,defect\na.png,train,def_front,1\nb.png,test,ok_front,0\n",
        )
        .unwrap();
        let r = read_labels(dir.path()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].image, dir.path().join("a.png"));
        assert_eq!((r[0].label, r[1].label), (1, 0));
        assert_eq!(r[1].split, "test");
        std::fs::write(
            dir.path().join("labels.csv"),
            "image,split,defect\na.png,train,2\n",
        )
        .unwrap();
        let e = read_labels(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not 0 or 1"), "{e}");
        std::fs::write(dir.path().join("labels.csv"), "image,defect\na.png,1\n").unwrap();
        let e = read_labels(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`split`"), "{e}");
    }

    #[test]
    fn the_circle_fit_finds_the_outer_rim_not_the_stronger_inner_step() {
        // a faint light flange (radius 110, +25 grey levels) around a strong dark ring (radius
        // 80, −120 levels) on a mid-grey table, centre off the middle
        let (cx, cy) = (152.0f64, 158.0f64);
        let img = GrayImage::from_fn(300, 300, |x, y| {
            let d = (f64::from(x) + 0.5 - cx).hypot(f64::from(y) + 0.5 - cy);
            image::Luma([if d <= 80.0 {
                40
            } else if d <= 110.0 {
                185
            } else {
                160
            }])
        });
        let c = fit_circle(&img, &CircleFit::default()).unwrap();
        assert!((c.r - 110.0).abs() <= 3.0, "{c:?}");
        assert!(
            (c.cx - cx).abs() <= 3.0 && (c.cy - cy).abs() <= 3.0,
            "{c:?}"
        );
        // the disc of the fit holds the flange: count the flange pixels outside it
        let m = ImpellerAoi::default().derive(&img).unwrap();
        let outside = (0..300u32 * 300)
            .filter(|&i| {
                let (x, y) = (f64::from(i % 300) + 0.5, f64::from(i / 300) + 0.5);
                (x - cx).hypot(y - cy) <= 110.0 && m.data()[i as usize] == 0
            })
            .count();
        assert!(outside < 300, "{outside} flange pixels outside");
        // a flat image has no circle
        assert!(fit_circle(&GrayImage::new(300, 300), &CircleFit::default()).is_err());
    }

    #[test]
    fn the_spec_reads_with_defaults_and_rejects_unknown_fields() {
        let s: CastingSpec = serde_json::from_str(r#"{"n_train": 100}"#).unwrap();
        assert_eq!(s.n_train, Some(100));
        assert_eq!(s.n_val, 300);
        assert_eq!(s.decoy_rate, 1.0);
        assert!(serde_json::from_str::<CastingSpec>(r#"{"n_trian": 1}"#).is_err());
        let s: CastingSpec =
            serde_json::from_str(r#"{"aoi": {"method": "circle", "keep": 0.7}}"#).unwrap();
        assert!(matches!(s.aoi, ImpellerAoi::Circle(ref f) if f.keep == 0.7));
    }
}
