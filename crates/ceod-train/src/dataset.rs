//! Loading a dataset once (decoded in parallel, cached in memory) and splitting it.

use std::path::PathBuf;

use anyhow::{Context, bail};
use candle_core::{Device, Tensor};
use ceod_core::Preprocess;
use ceod_core::data::{
    LoadedSample, Manifest, Sample, Split, SplitOptions, load_samples, read_mvtec, split_samples,
};
use ceod_core::synth::{SynthConfig, generate};
use rayon::prelude::*;

use crate::config::{DataSource, check_cache};

/// One decoded, preprocessed sample with a name for reports.
#[derive(Debug, Clone)]
pub struct Item {
    /// A short name (the image file's stem, or `train_0007` for synthetic data).
    pub name: String,
    /// The source image file, when there is one.
    pub path: Option<PathBuf>,
    /// Image, mask and label at the model's input size.
    pub sample: LoadedSample,
}

impl Item {
    /// Whether the sample has a non-empty mask.
    pub fn has_mask(&self) -> bool {
        self.sample
            .mask
            .as_ref()
            .is_some_and(|m| m.data.iter().any(|&v| v != 0))
    }
}

/// A dataset in memory, split.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Training samples.
    pub train: Vec<Item>,
    /// Validation samples.
    pub val: Vec<Item>,
    /// Test samples (possibly empty).
    pub test: Vec<Item>,
    /// Files that could not be used, with the reason; they are skipped.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Dataset {
    /// The samples of a split by name: `train`, `val`, `test` or `all`.
    pub fn split(&self, name: &str) -> anyhow::Result<Vec<Item>> {
        Ok(match name {
            "all" => self
                .train
                .iter()
                .chain(&self.val)
                .chain(&self.test)
                .cloned()
                .collect(),
            other => match other.parse::<Split>().map_err(|e| anyhow::anyhow!("{e}"))? {
                Split::Train => self.train.clone(),
                Split::Val => self.val.clone(),
                Split::Test => self.test.clone(),
            },
        })
    }

    /// The split to evaluate by default: `test` when it has samples, else everything.
    pub fn default_eval_split(&self) -> &'static str {
        if self.test.is_empty() { "all" } else { "test" }
    }
}

/// Loads and splits the data of `source`.
///
/// The split comes from the data (`split` column, MVTec's train/test) where given, else by
/// `group` (no group on both sides), else seeded random (stratified by label). When the data
/// fixes no validation split, `val_fraction` of the training part is held out (by group, seeded).
/// Labels must be 0 or 1 (binary models; [`load_dataset_for`] loads for a multi-class model).
/// Images that do not decode, masks of the wrong size and other per-file problems are reported
/// and skipped; an empty training split is an error.
pub fn load_dataset(
    source: &DataSource,
    pre: &Preprocess,
    seed: u64,
    val_fraction: f64,
) -> anyhow::Result<Dataset> {
    load_dataset_for(source, pre, seed, val_fraction, 1)
}

/// [`load_dataset`] for a model with `num_outputs` outputs: 1 is a binary model (labels must be
/// 0 or 1, any other label is an error); `C ≥ 2` is a softmax model whose labels are the class
/// indices `0..C`, and a sample with a label `≥ C` is skipped (in [`Dataset::skipped`], named).
pub fn load_dataset_for(
    source: &DataSource,
    pre: &Preprocess,
    seed: u64,
    val_fraction: f64,
    num_outputs: usize,
) -> anyhow::Result<Dataset> {
    match source {
        DataSource::Synth {
            n_train,
            n_val,
            n_test,
            seed: s,
        } => {
            check_cache(n_train.saturating_add(*n_val).saturating_add(*n_test), pre)?;
            synth_dataset(pre, *n_train, *n_val, *n_test, *s)
        }
        DataSource::Manifest { path } => {
            let m = Manifest::read(path)
                .with_context(|| format!("reading the manifest {}", path.display()))?;
            check_cache(m.samples.len(), pre)?;
            files_dataset(
                m.samples,
                pre,
                seed,
                val_fraction,
                &path.display().to_string(),
                num_outputs,
            )
        }
        DataSource::Experiment { config, .. } => bail!(
            "this run's data was built in memory by the experiment {}: rerun `ceod-train \
             experiment` with that config (its data cannot be reloaded from the run folder)",
            config.display()
        ),
        DataSource::Mvtec { root } => {
            let samples = read_mvtec(root)
                .with_context(|| format!("reading the MVTec folder {}", root.display()))?;
            check_cache(samples.len(), pre)?;
            files_dataset(
                samples,
                pre,
                seed,
                val_fraction,
                &root.display().to_string(),
                num_outputs,
            )
        }
    }
}

fn synth_dataset(
    pre: &Preprocess,
    n_train: usize,
    n_val: usize,
    n_test: usize,
    seed: u64,
) -> anyhow::Result<Dataset> {
    let make = |split: Split, n: usize| -> anyhow::Result<Vec<Item>> {
        let cfg = SynthConfig {
            width: pre.width,
            height: pre.height,
            ..SynthConfig::for_split(split, n, seed)
        };
        let samples = generate(&cfg).context("generating the synthetic data")?;
        samples
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(Item {
                    name: format!("{}_{i:04}", split.as_str()),
                    path: None,
                    sample: s.to_loaded(pre)?,
                })
            })
            .collect()
    };
    Ok(Dataset {
        train: make(Split::Train, n_train)?,
        val: make(Split::Val, n_val)?,
        test: make(Split::Test, n_test)?,
        skipped: Vec::new(),
    })
}

/// Why a label does not fit a model with `num_outputs` outputs (`None` when it fits).
pub fn label_problem(label: usize, num_outputs: usize) -> Option<String> {
    if num_outputs <= 1 {
        (label > 1).then(|| {
            format!(
                "label {label} is not 0 or 1 (a binary model; a multi-class model needs                  num_outputs = the number of classes in its --model-config)"
            )
        })
    } else {
        (label >= num_outputs).then(|| {
            format!(
                "label {label} is not a class of this {num_outputs}-class model (0..={})",
                num_outputs - 1
            )
        })
    }
}

/// Moves every item whose label does not fit a `num_classes`-class model (`label ≥ C`) from the
/// splits of `d` into [`Dataset::skipped`] (named by its file, else its name), with a warning;
/// returns how many were moved. For a binary model (`num_classes ≤ 1`) nothing is moved.
pub fn skip_out_of_range(d: &mut Dataset, num_classes: usize) -> usize {
    if num_classes <= 1 {
        return 0;
    }
    let mut moved = 0;
    for (split, list) in [
        ("train", &mut d.train),
        ("val", &mut d.val),
        ("test", &mut d.test),
    ] {
        let mut keep = Vec::with_capacity(list.len());
        for it in list.drain(..) {
            match label_problem(it.sample.label, num_classes) {
                Some(why) => {
                    let who = it
                        .path
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(format!("{split}/{}", it.name)));
                    tracing::warn!("skipping {}: {why}", who.display());
                    d.skipped.push((who, why));
                    moved += 1;
                }
                None => keep.push(it),
            }
        }
        *list = keep;
    }
    moved
}

fn files_dataset(
    samples: Vec<Sample>,
    pre: &Preprocess,
    seed: u64,
    val_fraction: f64,
    what: &str,
    num_outputs: usize,
) -> anyhow::Result<Dataset> {
    if samples.is_empty() {
        bail!("the dataset {what} has no samples");
    }
    let mut skipped = Vec::new();
    let mut kept = Vec::with_capacity(samples.len());
    for s in samples {
        match label_problem(s.label, num_outputs) {
            Some(why) if num_outputs <= 1 => bail!("{}: {why}", s.image.display()),
            Some(why) => {
                tracing::warn!("skipping {}: {why}", s.image.display());
                skipped.push((s.image.clone(), why));
            }
            None => kept.push(s),
        }
    }
    let samples = kept;
    if samples.is_empty() {
        bail!(
            "no usable sample in {what} ({} skipped: labels out of range)",
            skipped.len()
        );
    }
    let opts = SplitOptions {
        test_fraction: 0.0,
        val_fraction,
        seed,
        stratify: true,
    };
    let mut splits = split_samples(&samples, &opts).with_context(|| format!("splitting {what}"))?;
    if splits.val.is_empty() && val_fraction > 0.0 && splits.train.len() > 1 {
        // the data fixes train (and maybe test) only: hold out part of train, by group
        let pool: Vec<Sample> = splits
            .train
            .iter()
            .cloned()
            .map(|mut s| {
                s.split = None;
                s
            })
            .collect();
        let inner = SplitOptions {
            test_fraction: val_fraction,
            val_fraction: 0.0,
            seed,
            stratify: true,
        };
        let s2 = split_samples(&pool, &inner)
            .with_context(|| format!("holding out validation data of {what}"))?;
        splits.train = s2.train;
        splits.val = s2.test;
    }
    let mut load = |list: &[Sample]| -> Vec<Item> {
        let mut out = Vec::with_capacity(list.len());
        for (s, r) in list.iter().zip(load_samples(list, pre)) {
            match r {
                Ok(sample) => out.push(Item {
                    name: s
                        .image
                        .file_stem()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    path: Some(s.image.clone()),
                    sample,
                }),
                Err(e) => {
                    tracing::warn!("skipping {}: {e}", s.image.display());
                    skipped.push((s.image.clone(), e.to_string()));
                }
            }
        }
        out
    };
    let train = load(&splits.train);
    let val = load(&splits.val);
    let test = load(&splits.test);
    if train.is_empty() && val.is_empty() && test.is_empty() {
        bail!("no usable sample in {what} ({} skipped)", skipped.len());
    }
    Ok(Dataset {
        train,
        val,
        test,
        skipped,
    })
}

/// Normalises every image of `d` with the per-channel mean and standard deviation of its
/// training split and returns the preprocessing that does the same from the files:
/// `pre` with the statistics folded into its `mean` and `std`.
pub fn normalise_from_train(d: &mut Dataset, pre: &Preprocess) -> anyhow::Result<Preprocess> {
    let images: Vec<_> = d.train.iter().map(|i| i.sample.image.clone()).collect();
    let (m1, s1) = ceod_core::channel_stats(&images).context("training-set statistics")?;
    let s1: Vec<f32> = s1.iter().map(|&s| if s > 1e-6 { s } else { 1.0 }).collect();
    let c = m1.len();
    for it in d
        .train
        .iter_mut()
        .chain(d.val.iter_mut())
        .chain(d.test.iter_mut())
    {
        let img = &mut it.sample.image;
        let plane = img.height * img.width;
        for ch in 0..img.channels.min(c) {
            for v in &mut img.data[ch * plane..(ch + 1) * plane] {
                *v = (*v - m1[ch]) / s1[ch];
            }
        }
    }
    let pick = |v: &[f32], ch: usize| v.get(ch).or(v.first()).copied().unwrap_or(0.0);
    let mut out = pre.clone();
    out.mean = (0..c)
        .map(|ch| pick(&pre.mean, ch) + pick(&pre.std, ch) * m1[ch])
        .collect();
    out.std = (0..c).map(|ch| pick(&pre.std, ch) * s1[ch]).collect();
    Ok(out)
}

/// A batch as tensors.
#[derive(Debug, Clone)]
pub struct BatchTensors {
    /// `B × C × H × W`.
    pub images: Tensor,
    /// `B × H × W`, 0/1 (all zero for a sample without a mask).
    pub masks: Tensor,
    /// `B` binary labels as `f32` (1 for every label ≠ 0; the targets of a binary model).
    pub labels: Tensor,
    /// `B` class indices as `u32` (the labels as they are; the targets of a multi-class model).
    pub classes: Tensor,
    /// Which samples have a non-empty mask.
    pub has_mask: Vec<bool>,
    /// The binary labels as integers (0, or 1 for every label ≠ 0).
    pub label_values: Vec<u8>,
    /// The class indices as integers.
    pub class_values: Vec<usize>,
}

/// Stacks `items` into tensors, flipping sample `i` horizontally when `flips[i].0` and vertically
/// when `flips[i].1` (image and mask together). `flips` may be empty (no flips).
pub fn make_batch(
    items: &[&Item],
    flips: &[(bool, bool)],
    device: &Device,
) -> anyhow::Result<BatchTensors> {
    let first = items.first().context("an empty batch")?;
    let (c, h, w) = (
        first.sample.image.channels,
        first.sample.image.height,
        first.sample.image.width,
    );
    let b = items.len();
    let mut img = Vec::with_capacity(b * c * h * w);
    let mut msk = vec![0f32; b * h * w];
    let mut has_mask = Vec::with_capacity(b);
    let mut labels = Vec::with_capacity(b);
    let mut classes = Vec::with_capacity(b);
    for (i, it) in items.iter().enumerate() {
        let s = &it.sample;
        if (s.image.channels, s.image.height, s.image.width) != (c, h, w) {
            bail!(
                "{}: image is {}x{}x{}, the batch {c}x{h}x{w}",
                it.name,
                s.image.channels,
                s.image.height,
                s.image.width
            );
        }
        let (fh, fv) = flips.get(i).copied().unwrap_or((false, false));
        let src = |y: usize, x: usize| {
            (
                if fv { h - 1 - y } else { y },
                if fh { w - 1 - x } else { x },
            )
        };
        for ch in 0..c {
            let plane = &s.image.data[ch * h * w..(ch + 1) * h * w];
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = src(y, x);
                    img.push(plane[sy * w + sx]);
                }
            }
        }
        let mut any = false;
        if let Some(m) = &s.mask {
            let out = &mut msk[i * h * w..(i + 1) * h * w];
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = src(y, x);
                    let v = m.data[sy * w + sx] != 0;
                    any |= v;
                    out[y * w + x] = f32::from(u8::from(v));
                }
            }
        }
        has_mask.push(any);
        labels.push(u8::from(s.label != 0));
        classes.push(s.label);
    }
    let class_u32 = classes
        .iter()
        .map(|&k| u32::try_from(k).with_context(|| format!("class index {k} exceeds u32")))
        .collect::<anyhow::Result<Vec<u32>>>()?;
    Ok(BatchTensors {
        images: Tensor::from_vec(img, (b, c, h, w), device)?,
        masks: Tensor::from_vec(msk, (b, h, w), device)?,
        labels: Tensor::from_vec(
            labels.iter().map(|&l| f32::from(l)).collect::<Vec<_>>(),
            b,
            device,
        )?,
        classes: Tensor::from_vec(class_u32, b, device)?,
        has_mask,
        label_values: labels,
        class_values: classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ceod_core::{Placement, PreparedImage, PreparedMask};

    fn item(data: Vec<f32>, mask: Vec<u8>, w: usize, h: usize, label: usize) -> Item {
        Item {
            name: "x".into(),
            path: None,
            sample: LoadedSample {
                image: PreparedImage {
                    data,
                    channels: 1,
                    height: h,
                    width: w,
                    source_size: (w as u32, h as u32),
                    content: Placement {
                        x: 0,
                        y: 0,
                        width: w as u32,
                        height: h as u32,
                    },
                },
                mask: Some(PreparedMask {
                    data: mask,
                    height: h,
                    width: w,
                }),
                label,
            },
        }
    }

    #[test]
    fn flips_move_image_and_mask_together() {
        // 3 columns × 2 rows: values 0..6, mask marks the pixel of value 2 (top right)
        let it = item(
            (0..6).map(|v| v as f32).collect(),
            vec![0, 0, 1, 0, 0, 0],
            3,
            2,
            1,
        );
        let dev = Device::Cpu;
        let b = make_batch(
            &[&it, &it, &it],
            &[(false, false), (true, false), (true, true)],
            &dev,
        )
        .unwrap();
        let imgs = b.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let masks = b.masks.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(&imgs[0..6], &[0., 1., 2., 3., 4., 5.]);
        assert_eq!(&imgs[6..12], &[2., 1., 0., 5., 4., 3.]);
        assert_eq!(&imgs[12..18], &[5., 4., 3., 2., 1., 0.]);
        // wherever the image has value 2, the mask is 1
        for k in 0..3 {
            for p in 0..6 {
                assert_eq!(masks[k * 6 + p] == 1.0, imgs[k * 6 + p] == 2.0);
            }
        }
        assert_eq!(b.has_mask, vec![true; 3]);
        assert_eq!(b.label_values, vec![1; 3]);
    }
}
