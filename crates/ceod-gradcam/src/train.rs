//! Train mode: a map a loss can differentiate.

use candle_core::Tensor;

use crate::cam::raw_cam;
use crate::error::Result;
use crate::model::CamModel;
use crate::options::CamOptions;
use crate::target::Target;

/// The result of [`train_cam`].
#[derive(Debug, Clone)]
pub struct TrainCam {
    /// `ReLU(sum_k W_k ⊙ A_k)`, `B × h × w`, in the graph of the features (and of the head's
    /// weight on the analytic path).
    pub raw: Tensor,
    /// The per-channel weights `B × K`, if the method has them.
    pub alpha: Option<Tensor>,
    /// The class index explained for each sample.
    pub targets: Vec<usize>,
    /// The head's logits on the (detached) features, `B × C`.
    pub logits: Tensor,
}

/// The raw class activation map of tracked `features` (`B × K × h × w`), differentiable.
///
/// The weights are computed on a detached copy of the features and held constant (the GAIN-style
/// choice; candle has no second-order backprop), then combined with the tracked `features`, so
/// a loss on the map reaches the backbone. On the analytic path (a global-average-pool + linear
/// head, [`GradientSource::Auto`](crate::GradientSource::Auto) or `Analytic`) the weights are
/// `w_c / (h·w)` taken from [`CamModel::linear_head`] inside the graph, so the loss reaches the
/// head's weight as well. Post-process with [`cam_to_image`](crate::cam_to_image) for a map at
/// image resolution.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use ceod_gradcam::{CamModel, CamOptions, LinearHead, Target, train_cam};
///
/// struct Gap {
///     fc: LinearHead,
/// }
/// impl CamModel for Gap {
///     fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> { Ok(xs.clone()) }
///     fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
///         a.mean(3)?.mean(2)?.matmul(&self.fc.weight.t()?)
///     }
///     fn linear_head(&self) -> Option<LinearHead> { Some(self.fc.clone()) }
/// }
///
/// let dev = Device::Cpu;
/// let w = Var::new(&[[2f64]], &dev)?;
/// let model = Gap { fc: LinearHead { weight: w.as_tensor().clone(), bias: None } };
/// let a = Var::new(&[[[[1f64, 3.]]]], &dev)?; // 1 × 1 × 1 × 2
/// let cam = train_cam(&model, a.as_tensor(), &Target::Binary, &CamOptions::default())?;
/// // alpha = w / (h·w) = 1, so raw = A; d sum(raw) / dA = alpha, d sum(raw) / dw = sum(A) / 2
/// let grads = cam.raw.sum_all()?.backward()?;
/// assert_eq!(grads.get(a.as_tensor()).unwrap().flatten_all()?.to_vec1::<f64>()?, vec![1., 1.]);
/// assert_eq!(grads.get(w.as_tensor()).unwrap().flatten_all()?.to_vec1::<f64>()?, vec![2.]);
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn train_cam<M: CamModel + ?Sized>(
    model: &M,
    features: &Tensor,
    target: &Target,
    opts: &CamOptions,
) -> Result<TrainCam> {
    let r = raw_cam(model, features, target, opts)?;
    Ok(TrainCam {
        raw: r.raw,
        alpha: r.alpha,
        targets: r.targets,
        logits: r.logits,
    })
}
