//! Which logit of each sample a map explains.

use candle_core::{DType, Tensor};

use crate::error::{CamError, Result};

/// The logit whose class activation map is computed, for each sample of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// The same class index for every sample.
    Class(usize),
    /// One class index per sample (its length must equal the batch size).
    Classes(Vec<usize>),
    /// The class with the highest logit, per sample (the first one on ties). For a head with a
    /// single logit this is that logit.
    #[default]
    Predicted,
    /// The single logit of a binary model (the head must return exactly one logit per sample).
    Binary,
}

impl Target {
    /// The class index per sample for logits of shape `B × C` (or `B`, read as `B × 1`).
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use ceod_gradcam::Target;
    ///
    /// let logits = Tensor::new(&[[0.1f32, 2.0, -1.0], [3.0, 0.0, 0.5]], &Device::Cpu)?;
    /// assert_eq!(Target::Predicted.resolve(&logits)?, vec![1, 0]);
    /// assert_eq!(Target::Class(2).resolve(&logits)?, vec![2, 2]);
    /// # Ok::<(), ceod_gradcam::CamError>(())
    /// ```
    pub fn resolve(&self, logits: &Tensor) -> Result<Vec<usize>> {
        let logits = logits_2d(logits)?;
        let (b, c) = logits.dims2()?;
        let check = |sample: usize, class: usize| {
            if class < c {
                Ok(class)
            } else {
                Err(CamError::TargetOutOfRange {
                    sample,
                    class,
                    classes: c,
                })
            }
        };
        match self {
            Target::Class(class) => (0..b).map(|i| check(i, *class)).collect(),
            Target::Classes(classes) => {
                if classes.len() != b {
                    return Err(CamError::TargetCount {
                        expected: b,
                        got: classes.len(),
                    });
                }
                classes
                    .iter()
                    .enumerate()
                    .map(|(i, &class)| check(i, class))
                    .collect()
            }
            Target::Predicted => {
                if c == 0 {
                    return Err(CamError::Shape {
                        what: "logits",
                        expected: "B × C with C ≥ 1".into(),
                        got: vec![b, c],
                    });
                }
                let ids = logits.argmax(1)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
                Ok(ids.into_iter().map(|i| i as usize).collect())
            }
            Target::Binary => {
                if c != 1 {
                    return Err(CamError::NotBinary { classes: c });
                }
                Ok(vec![0; b])
            }
        }
    }
}

/// Logits as `B × C`: rank 2 as is, rank 1 (`B`) as `B × 1`.
pub(crate) fn logits_2d(logits: &Tensor) -> Result<Tensor> {
    match logits.rank() {
        2 => Ok(logits.clone()),
        1 => Ok(logits.unsqueeze(1)?),
        _ => Err(CamError::Shape {
            what: "logits",
            expected: "B × C (or B)".into(),
            got: logits.dims().to_vec(),
        }),
    }
}

/// A constant `B × C` one-hot matrix selecting each sample's target.
pub(crate) fn one_hot(targets: &[usize], classes: usize, like: &Tensor) -> Result<Tensor> {
    let mut data = vec![0f32; targets.len() * classes];
    for (i, &t) in targets.iter().enumerate() {
        data[i * classes + t] = 1.0;
    }
    Ok(Tensor::from_vec(data, (targets.len(), classes), like.device())?.to_dtype(like.dtype())?)
}
