//! One preprocessing path for training, evaluation and inference.

use serde::{Deserialize, Serialize};

/// How an image is brought to the model's input size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Resize {
    /// Scale each axis independently to the target size (aspect ratio not kept).
    Stretch,
    /// Keep the aspect ratio, centre the scaled image and pad the rest with `fill`
    /// (a value in `[0, 1]` before normalisation, applied to every channel).
    Letterbox {
        /// Padding value in `[0, 1]` (before normalisation).
        fill: f32,
    },
}

impl Default for Resize {
    fn default() -> Self {
        Self::Stretch
    }
}

/// The preprocessing of the model: input size, channels, resize rule, normalisation.
///
/// It is stored in the checkpoint's model card, so inference uses exactly what training used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Model input width in pixels.
    pub width: u32,
    /// Model input height in pixels.
    pub height: u32,
    /// Input channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Resize rule.
    pub resize: Resize,
    /// Per-channel mean subtracted after scaling pixels to `[0, 1]` (length `channels`, or 1).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after subtracting the mean (length `channels`, or 1).
    pub std: Vec<f32>,
}

impl Default for Preprocess {
    /// 128×128 grey, stretched, mean 0 and std 1 (pixel values in `[0, 1]`, like the fixtures).
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            channels: 1,
            resize: Resize::Stretch,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }
}
