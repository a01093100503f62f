//! Explain mode: everything detached, for inference and display.

use candle_core::Tensor;

use crate::cam::raw_cam;
use crate::error::{CamError, Result};
use crate::model::CamModel;
use crate::normalise::{NormaliseOptions, TieRule, normalise};
use crate::options::CamOptions;
use crate::target::Target;
use crate::upsample::upsample_bilinear;

/// The result of [`explain`]; every tensor is detached.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The model's logits, `B × C`.
    pub logits: Tensor,
    /// The class index explained for each sample.
    pub targets: Vec<usize>,
    /// The per-channel weights `B × K` (Grad-CAM's `alpha`); `None` for the element-wise methods
    /// (HiResCAM, LayerCAM on the backward path).
    pub alpha: Option<Tensor>,
    /// `ReLU(sum_k W_k ⊙ A_k)` at the target layer's resolution, `B × h × w`, not normalised.
    pub raw: Tensor,
    /// The raw map upsampled bilinearly to the input size and normalised by its per-image max:
    /// `B × H × W` (`H` rows, `W` columns), values in `[0, 1)`.
    pub cam: Tensor,
}

/// Class activation maps of `xs` (`B × channels × H × W`) for `target`: the main entry point.
///
/// Runs `model.features`, obtains the weights from the head (analytically for a
/// global-average-pool + linear head, otherwise by the backward pass of
/// [`feature_gradients`](crate::feature_gradients)), forms the raw map, upsamples it to `H × W`
/// ([`upsample_bilinear`]) and normalises it ([`normalise`]). Nothing is tracked: use
/// [`train_cam`](crate::train_cam) for a map a loss can differentiate.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use ceod_gradcam::{CamModel, CamOptions, LinearHead, Target, explain};
///
/// /// Features: the input average-pooled by 4. Head: global average pool, then one linear layer.
/// struct Tiny {
///     fc: LinearHead,
/// }
/// impl CamModel for Tiny {
///     fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
///         xs.avg_pool2d(4)
///     }
///     fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
///         let pooled = a.mean(3)?.mean(2)?;
///         pooled.matmul(&self.fc.weight.t()?)
///     }
///     fn linear_head(&self) -> Option<LinearHead> {
///         Some(self.fc.clone())
///     }
/// }
///
/// let dev = Device::Cpu;
/// let model = Tiny { fc: LinearHead { weight: Tensor::new(&[[1f32]], &dev)?, bias: None } };
/// // one 8 × 12 image, bright in its top-left corner
/// let mut px = vec![0f32; 8 * 12];
/// px[0] = 16.0;
/// let xs = Tensor::from_vec(px, (1, 1, 8, 12), &dev)?;
///
/// let e = explain(&model, &xs, &Target::Binary, &CamOptions::default())?;
/// assert_eq!(e.raw.dims(), &[1, 2, 3]);
/// assert_eq!(e.cam.dims(), &[1, 8, 12]); // 8 rows, 12 columns
/// let cam = e.cam.to_vec3::<f32>()?;
/// assert!(cam[0][0][0] > 0.99 && cam[0][7][11] == 0.0);
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn explain<M: CamModel + ?Sized>(
    model: &M,
    xs: &Tensor,
    target: &Target,
    opts: &CamOptions,
) -> Result<Explanation> {
    let dims = xs.dims();
    if dims.len() != 4 {
        return Err(CamError::Shape {
            what: "input images",
            expected: "B × channels × H × W".into(),
            got: dims.to_vec(),
        });
    }
    let features = model.features(xs)?.detach();
    explain_features(model, &features, target, (dims[2], dims[3]), opts)
}

/// [`explain`] from features already computed (`B × K × h × w`), for an image of
/// `image_size = (H, W)` (rows, columns).
pub fn explain_features<M: CamModel + ?Sized>(
    model: &M,
    features: &Tensor,
    target: &Target,
    image_size: (usize, usize),
    opts: &CamOptions,
) -> Result<Explanation> {
    let r = raw_cam(model, &features.detach(), target, opts)?;
    let raw = r.raw.detach();
    // Nothing is differentiated here, and both tie rules give the max exactly in the forward
    // pass: take the cheaper one.
    let forward_only = NormaliseOptions {
        ties: TieRule::Full,
        ..opts.normalise
    };
    let cam = cam_to_image(&raw, image_size, &forward_only)?.detach();
    Ok(Explanation {
        logits: r.logits,
        targets: r.targets,
        alpha: r.alpha.map(|a| a.detach()),
        raw,
        cam,
    })
}

/// The post-processing of a raw map (`B × h × w`): bilinear upsampling to `size = (H, W)`, then
/// the per-image max normalisation. Differentiable (used by both modes).
pub fn cam_to_image(raw: &Tensor, size: (usize, usize), opts: &NormaliseOptions) -> Result<Tensor> {
    normalise(&upsample_bilinear(raw, size)?, opts)
}
