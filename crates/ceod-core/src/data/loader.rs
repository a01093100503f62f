//! Decoding samples in parallel and stacking them into tensors.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::data::rng::SplitMix64;
use crate::data::sample::Sample;
use crate::data_error::DataError;
use crate::preprocess::{PreparedImage, PreparedMask, Preprocess};

/// A decoded, preprocessed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSample {
    /// The model input.
    pub image: PreparedImage,
    /// The mask at the model input size, if the sample has one.
    pub mask: Option<PreparedMask>,
    /// The label.
    pub label: usize,
}

impl Sample {
    /// Decodes and preprocesses this sample's image and mask with `pre`
    /// ([`Preprocess::load_with_mask`]: the one code path of training, evaluation and inference).
    pub fn load(&self, pre: &Preprocess) -> Result<LoadedSample, DataError> {
        let (image, mask) = pre.load_with_mask(&self.image, self.mask.as_deref())?;
        Ok(LoadedSample {
            image,
            mask,
            label: self.label,
        })
    }
}

/// Loads `samples` in parallel (rayon); one result per sample, in input order. A bad file
/// is an `Err` for that sample only: the caller reports it and goes on, nothing is dropped
/// silently.
pub fn load_samples(samples: &[Sample], pre: &Preprocess) -> Vec<Result<LoadedSample, DataError>> {
    samples.par_iter().map(|s| s.load(pre)).collect()
}

/// A batch as tensors on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `B×C×H×W` `f32` model inputs.
    pub images: Tensor,
    /// `B×H×W` `f32` masks of 0/1; a sample without a mask has an all-zero mask (the loss
    /// then gives it no overlap term).
    pub masks: Tensor,
    /// `B` `f32` labels (for BCE).
    pub labels: Tensor,
    /// `B` `u32` class indices (for cross-entropy).
    pub classes: Tensor,
}

impl Batch {
    /// Stacks loaded samples into tensors on `device`. Fails on an empty list or on samples
    /// of different shapes.
    ///
    /// ```
    /// use ceod_core::data::{Batch, LoadedSample};
    /// use ceod_core::Preprocess;
    /// use image::{DynamicImage, GrayImage};
    ///
    /// let pre = Preprocess { width: 4, height: 2, ..Preprocess::default() };
    /// let img = DynamicImage::ImageLuma8(GrayImage::new(8, 4));
    /// let one = LoadedSample { image: pre.apply(&img)?, mask: None, label: 1 };
    /// let b = Batch::from_loaded(&[one.clone(), one], &candle_core::Device::Cpu)?;
    /// assert_eq!(b.images.dims(), &[2, 1, 2, 4]);
    /// assert_eq!(b.masks.dims(), &[2, 2, 4]);
    /// # Ok::<(), ceod_core::DataError>(())
    /// ```
    pub fn from_loaded(items: &[LoadedSample], device: &Device) -> Result<Self, DataError> {
        let images: Vec<PreparedImage> = items.iter().map(|s| s.image.clone()).collect();
        let images = PreparedImage::stack(&images, device)?;
        let (h, w) = items
            .first()
            .map(|s| (s.image.height, s.image.width))
            .unwrap_or((0, 0));
        let masks: Vec<Option<&PreparedMask>> = items.iter().map(|s| s.mask.as_ref()).collect();
        let masks = PreparedMask::stack(&masks, h, w, device)?;
        let labels: Vec<f32> = items.iter().map(|s| s.label as f32).collect();
        let classes: Vec<u32> = items
            .iter()
            .map(|s| u32::try_from(s.label))
            .collect::<Result<_, _>>()
            .map_err(|_| DataError::Config("a label does not fit in u32".into()))?;
        Ok(Self {
            labels: Tensor::from_vec(labels, items.len(), device)?,
            classes: Tensor::from_vec(classes, items.len(), device)?,
            images,
            masks,
        })
    }
}

/// One batch from a [`BatchLoader`]: the samples that loaded and the errors of those that
/// did not, each with its index into the loader's sample list.
#[derive(Debug)]
pub struct LoadedBatch {
    /// Indices (into the loader's samples) of `loaded`, in batch order.
    pub indices: Vec<usize>,
    /// The samples that loaded.
    pub loaded: Vec<LoadedSample>,
    /// The samples that failed: index and error.
    pub errors: Vec<(usize, DataError)>,
}

impl LoadedBatch {
    /// The loaded samples as tensors, or `None` when every sample of the batch failed.
    pub fn to_batch(&self, device: &Device) -> Result<Option<Batch>, DataError> {
        if self.loaded.is_empty() {
            return Ok(None);
        }
        Batch::from_loaded(&self.loaded, device).map(Some)
    }
}

/// Iterates over samples in batches, decoding each batch in parallel.
///
/// ```
/// use ceod_core::data::{BatchLoader, Sample};
/// use ceod_core::Preprocess;
///
/// let samples = vec![Sample::new("does/not/exist.png", 0)];
/// let pre = Preprocess::default();
/// let batches: Vec<_> = BatchLoader::new(&samples, &pre, 8).collect();
/// assert_eq!(batches.len(), 1);
/// assert_eq!(batches[0].errors.len(), 1); // reported, not dropped
/// ```
#[derive(Debug)]
pub struct BatchLoader<'a> {
    samples: &'a [Sample],
    pre: &'a Preprocess,
    batch_size: usize,
    order: Vec<usize>,
    pos: usize,
}

impl<'a> BatchLoader<'a> {
    /// Batches of `batch_size` (at least 1) in input order.
    pub fn new(samples: &'a [Sample], pre: &'a Preprocess, batch_size: usize) -> Self {
        Self {
            samples,
            pre,
            batch_size: batch_size.max(1),
            order: (0..samples.len()).collect(),
            pos: 0,
        }
    }

    /// The same, in an order shuffled with `seed` (a new seed per epoch gives a new order).
    pub fn shuffled(mut self, seed: u64) -> Self {
        SplitMix64::new(seed).shuffle(&mut self.order);
        self
    }

    /// Number of batches in total.
    pub fn num_batches(&self) -> usize {
        self.samples.len().div_ceil(self.batch_size)
    }
}

impl Iterator for BatchLoader<'_> {
    type Item = LoadedBatch;

    fn next(&mut self) -> Option<LoadedBatch> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let ids = &self.order[self.pos..end];
        self.pos = end;
        let results: Vec<(usize, Result<LoadedSample, DataError>)> = ids
            .par_iter()
            .map(|&i| (i, self.samples[i].load(self.pre)))
            .collect();
        let mut batch = LoadedBatch {
            indices: Vec::new(),
            loaded: Vec::new(),
            errors: Vec::new(),
        };
        for (i, r) in results {
            match r {
                Ok(s) => {
                    batch.indices.push(i);
                    batch.loaded.push(s);
                }
                Err(e) => batch.errors.push((i, e)),
            }
        }
        Some(batch)
    }
}
