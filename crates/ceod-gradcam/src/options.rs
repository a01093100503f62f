//! Options shared by the explain and train entry points.

use crate::method::{CamMethod, GradientSource};
use crate::normalise::NormaliseOptions;

/// How a class activation map is computed and post-processed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CamOptions {
    /// The method (default Grad-CAM).
    pub method: CamMethod,
    /// Where `dy/dA` comes from (default: analytic for a linear head, backward otherwise).
    pub gradients: GradientSource,
    /// The per-image max normalisation of the upsampled map.
    pub normalise: NormaliseOptions,
}

impl CamOptions {
    /// The default options with another method.
    pub fn with_method(method: CamMethod) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }
}
