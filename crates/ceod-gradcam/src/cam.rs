//! The shared core of both modes: targets, weights and the raw map.

use candle_core::Tensor;

use crate::error::{CamError, Result};
use crate::gradient::{dims4, feature_gradients};
use crate::method::{CamMethod, GradientSource, weights_from_alpha, weights_from_gradients};
use crate::model::{CamModel, LinearHead};
use crate::options::CamOptions;
use crate::target::{Target, logits_2d};

/// What both modes compute.
pub(crate) struct RawCam {
    /// `B × C`, detached.
    pub logits: Tensor,
    pub targets: Vec<usize>,
    /// `B × K` for the per-channel methods.
    pub alpha: Option<Tensor>,
    /// `ReLU(sum_k W_k ⊙ A_k)`, `B × h × w`, in the graph of `a` (and of the head's weight on
    /// the analytic path).
    pub raw: Tensor,
}

/// The linear head to use analytically, or `None` for the backward pass.
fn analytic_head<M: CamModel + ?Sized>(model: &M, opts: &CamOptions) -> Result<Option<LinearHead>> {
    let head = model.linear_head();
    match (opts.method, opts.gradients, head) {
        (_, GradientSource::Backward, _) if opts.method != CamMethod::Cam => Ok(None),
        (_, _, Some(head)) => Ok(Some(head)),
        (CamMethod::Cam, _, None) => Err(CamError::NoLinearHead {
            method: CamMethod::Cam,
        }),
        (method, GradientSource::Analytic, None) => Err(CamError::NoLinearHead { method }),
        (_, _, None) => Ok(None),
    }
}

/// The raw map of `a` (tracked or not): weights from a detached copy, combined with `a` itself.
pub(crate) fn raw_cam<M: CamModel + ?Sized>(
    model: &M,
    a: &Tensor,
    target: &Target,
    opts: &CamOptions,
) -> Result<RawCam> {
    let (b, k, h, w) = dims4(a)?;
    let a_const = a.detach();
    let (logits, targets, weights) = match analytic_head(model, opts)? {
        Some(head) => {
            let logits = logits_2d(&model.head(&a_const)?)?.detach();
            if logits.dim(0)? != b {
                return Err(CamError::Shape {
                    what: "head output",
                    expected: format!("{b} × C (one row per sample)"),
                    got: logits.dims().to_vec(),
                });
            }
            let targets = target.resolve(&logits)?;
            let alpha = head.alpha(&targets, k, (h, w), a.dtype())?;
            let weights = weights_from_alpha(opts.method, &a_const, &alpha)?;
            (logits, targets, weights)
        }
        None => {
            let g = feature_gradients(model, &a_const, target)?;
            let weights = weights_from_gradients(opts.method, &a_const, &g.gradients)?;
            (g.logits, g.targets, weights)
        }
    };
    let raw = weights.combine(a)?;
    Ok(RawCam {
        logits,
        targets,
        alpha: weights.channel().cloned(),
        raw,
    })
}
