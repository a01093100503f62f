//! The gradient of each sample's target logit with respect to the target layer.

use candle_core::{Tensor, Var};

use crate::error::{CamError, Result};
use crate::model::CamModel;
use crate::target::{Target, logits_2d, one_hot};

/// `d y_b / d A_b` for each sample's target logit `y_b`, with the logits it came from.
#[derive(Debug, Clone)]
pub struct FeatureGradients {
    /// The head's logits on the features, `B × C` (detached).
    pub logits: Tensor,
    /// The gradient of each sample's target logit with respect to its features, `B × K × h × w`
    /// (detached).
    pub gradients: Tensor,
    /// The class index explained for each sample.
    pub targets: Vec<usize>,
}

/// Gradients of the target logits with respect to the target layer's activations.
///
/// Candle keeps no gradients of intermediate tensors, so the head runs on a detached copy of
/// `features` wrapped as a [`Var`]; the sum over the batch of each sample's target logit is
/// back-propagated and the gradient of that `Var` is read. The head sees only the copy, so the
/// model's weights may be frozen (plain tensors) and no gradient reaches them. Provided the head
/// treats samples independently (no batch statistics), a batch of `N` gives exactly what `N`
/// single-sample calls give.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use ceod_gradcam::{CamModel, Target, feature_gradients};
///
/// /// Features are the input; the head is the sum of squares of each sample.
/// struct Squares;
/// impl CamModel for Squares {
///     fn features(&self, xs: &Tensor) -> candle_core::Result<Tensor> { Ok(xs.clone()) }
///     fn head(&self, a: &Tensor) -> candle_core::Result<Tensor> {
///         a.sqr()?.flatten_from(1)?.sum_keepdim(1)
///     }
/// }
///
/// let a = Tensor::new(&[1f64, -2., 3., 0.5], &Device::Cpu)?.reshape((1, 1, 2, 2))?;
/// let g = feature_gradients(&Squares, &a, &Target::Binary)?;
/// // d/dA sum(A²) = 2A
/// assert_eq!(g.gradients.flatten_all()?.to_vec1::<f64>()?, vec![2., -4., 6., 1.]);
/// # Ok::<(), ceod_gradcam::CamError>(())
/// ```
pub fn feature_gradients<M: CamModel + ?Sized>(
    model: &M,
    features: &Tensor,
    target: &Target,
) -> Result<FeatureGradients> {
    let (b, _, _, _) = dims4(features)?;
    let a = Var::from_tensor(&features.detach())?;
    let logits = logits_2d(&model.head(a.as_tensor())?)?;
    let (lb, classes) = logits.dims2()?;
    if lb != b {
        return Err(CamError::Shape {
            what: "head output",
            expected: format!("{b} × C (one row per sample)"),
            got: logits.dims().to_vec(),
        });
    }
    let targets = target.resolve(&logits)?;
    let selected = logits
        .mul(&one_hot(&targets, classes, &logits)?)?
        .sum_all()?;
    let grads = selected.backward()?;
    let gradients = match grads.get(a.as_tensor()) {
        Some(g) => g.detach(),
        // The head does not depend on the features at all.
        None => a.as_tensor().zeros_like()?,
    };
    Ok(FeatureGradients {
        logits: logits.detach(),
        gradients,
        targets,
    })
}

/// The dimensions of a `B × K × h × w` feature tensor, or a shape error.
pub(crate) fn dims4(features: &Tensor) -> Result<(usize, usize, usize, usize)> {
    match features.dims() {
        &[b, k, h, w] => Ok((b, k, h, w)),
        other => Err(CamError::Shape {
            what: "features",
            expected: "B × K × h × w".into(),
            got: other.to_vec(),
        }),
    }
}
