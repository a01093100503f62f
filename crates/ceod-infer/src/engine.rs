//! The model side of a run: the checkpoint and its card, preprocessing, scores and CAMs.
//!
//! Everything but the convolution goes through ceod-core, so the infer path and the eval path
//! agree: [`ceod_core::load_checkpoint`] reads and checks the file, the card's [`Preprocess`]
//! prepares each image, [`ceod_core::predict`] turns the logits into scores and decisions, and
//! ceod-gradcam's explain mode gives the CAM for `--cam-out`. The forward pass is the checkpoint's
//! `CeodNet` itself, which runs ceod-core's fused CPU convolution on the CPU.

use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Module, Tensor};
use ceod_core::{CeodNet, DeviceSpec, ModelCard, PreparedImage, Preprocess, predict};
use ceod_gradcam::{CamModel, CamOptions, Target, explain_features};
use image::DynamicImage;

use crate::heatmap::FeatureCam;
use crate::model_id::model_id;

/// A loaded model, ready to classify prepared images.
#[derive(Debug)]
pub struct Engine {
    net: CeodNet,
    card: ModelCard,
    device: Device,
    threshold: f64,
    id: String,
}

/// One image, decoded and prepared for the model.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The path it was read from.
    pub path: PathBuf,
    /// The model input and where the image lies in it.
    pub prepared: PreparedImage,
    /// The decoded image, kept for the overlay when `--cam-out` is given.
    pub image: Option<DynamicImage>,
}

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The defect score in `[0, 1]`: `sigmoid(logit)` for a one-output model, `1 − P(class 0)`
    /// for a softmax model.
    pub score: f32,
    /// `true` when the part is rejected: for one output `score ≥ threshold`, for a softmax
    /// model the most probable class is not class 0 (ceod-core's [`predict`] rules).
    pub defect: bool,
    /// The raw CAM at feature resolution (only when asked for).
    pub cam: Option<FeatureCam>,
}

/// Logits computed already, served to [`predict`] as a module, so that the CAM path and the
/// plain path share predict's scoring exactly.
struct Precomputed(Tensor);

impl Module for Precomputed {
    fn forward(&self, _xs: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.0.clone())
    }
}

impl Engine {
    /// Loads the checkpoint at `path` on `device`; `threshold` overrides the card's.
    ///
    /// # Errors
    /// The file is missing, not a ceod checkpoint, of an unknown format version, or has tensors
    /// that do not fit its card; the device is not available; the card's threshold or
    /// preprocessing is unusable.
    pub fn load(path: &Path, device: DeviceSpec, threshold: Option<f64>) -> anyhow::Result<Self> {
        let device = device.device().context("--device")?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the model file {}", path.display()))?;
        let (net, card) = ceod_core::load_checkpoint(path, &device)
            .context("--model: not a usable ceod checkpoint")?;
        card.preprocess
            .validate()
            .with_context(|| format!("{}: invalid preprocessing in the card", path.display()))?;
        let threshold = threshold.unwrap_or(card.threshold);
        if !threshold.is_finite() {
            anyhow::bail!(
                "{}: the model card's threshold is not a number ({threshold})",
                path.display()
            );
        }
        Ok(Self {
            net,
            card,
            device,
            threshold,
            id: model_id(path, &bytes),
        })
    }

    /// The model id (see [`crate::model_id`]).
    pub fn model_id(&self) -> &str {
        &self.id
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The card's preprocessing.
    pub fn preprocess(&self) -> &Preprocess {
        &self.card.preprocess
    }

    /// The model input size `(W, H)`.
    pub fn input_size(&self) -> (u32, u32) {
        (self.card.preprocess.width, self.card.preprocess.height)
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Decodes and prepares the image at `path`; keeps the decoded image if `keep_image`.
    ///
    /// # Errors
    /// The file is missing, unreadable or not a decodable image.
    pub fn prepare(&self, path: &Path, keep_image: bool) -> anyhow::Result<Prepared> {
        let img = ceod_core::preprocess::decode(path)?;
        let prepared = self.card.preprocess.apply(&img)?;
        Ok(Prepared {
            path: path.to_path_buf(),
            prepared,
            image: keep_image.then_some(img),
        })
    }

    /// Scores a batch of prepared images (one forward pass), with CAMs if `with_cam`.
    ///
    /// # Errors
    /// Tensor errors (device, shapes).
    pub fn classify(
        &self,
        images: &[PreparedImage],
        with_cam: bool,
    ) -> anyhow::Result<Vec<Output>> {
        let xs = PreparedImage::stack(images, &self.device)?;
        let (preds, cams) = if with_cam {
            let features = self.net.features(&xs)?;
            let target = if self.card.model.num_outputs == 1 {
                Target::Binary
            } else {
                Target::Predicted
            };
            let (h, w) = (xs.dim(2)?, xs.dim(3)?);
            let e = explain_features(
                &self.net,
                &features,
                &target,
                (h, w),
                &CamOptions::default(),
            )?;
            let preds = predict(&Precomputed(e.logits.clone()), &xs, self.threshold)?;
            let raw = e
                .raw
                .to_dtype(candle_core::DType::F32)?
                .to_device(&Device::Cpu)?;
            let (b, fh, fw) = raw.dims3()?;
            let flat = raw.flatten_all()?.to_vec1::<f32>()?;
            let cams: Vec<Option<FeatureCam>> = (0..b)
                .map(|i| {
                    Some(FeatureCam {
                        data: flat[i * fh * fw..(i + 1) * fh * fw].to_vec(),
                        height: fh,
                        width: fw,
                    })
                })
                .collect();
            (preds, cams)
        } else {
            let preds = predict(&self.net, &xs, self.threshold)?;
            let n = preds.len();
            (preds, vec![None; n])
        };
        let one_output = self.card.model.num_outputs == 1;
        Ok(preds
            .scores
            .iter()
            .zip(&preds.decisions)
            .zip(cams)
            .map(|((s, &d), cam)| Output {
                score: if one_output {
                    s.first().copied().unwrap_or(f32::NAN)
                } else {
                    1.0 - s.first().copied().unwrap_or(f32::NAN)
                },
                defect: d != 0,
                cam,
            })
            .collect())
    }
}
