//! The options of the CEOD loss.

use serde::{Deserialize, Serialize};

use super::bce::BceOptions;

/// How the overlap term enters the loss (issue: `exact`, `soft`, `straight-through`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapMode {
    /// The paper literally: the exact polygon overlap distance, a constant without gradient (an
    /// ablation: the term then changes the logged loss but not the training). Needs `overlap`.
    Exact,
    /// The differentiable surrogate only (value and gradient of the soft term).
    Soft,
    /// The forward value is the exact overlap distance, the gradient the soft term's:
    /// `soft_d + detach(exact_d − soft_d)`, so the logged loss is the paper's CEOD. Needs
    /// `overlap`.
    #[default]
    StraightThrough,
}

impl OverlapMode {
    /// The mode's name as written in configs (`exact`, `soft`, `straight-through`).
    pub fn name(&self) -> &'static str {
        match self {
            OverlapMode::Exact => "exact",
            OverlapMode::Soft => "soft",
            OverlapMode::StraightThrough => "straight-through",
        }
    }

    /// Whether the mode needs the exact polygon term.
    pub fn needs_exact(&self) -> bool {
        !matches!(self, OverlapMode::Soft)
    }
}

/// The overlap coefficient `c` (the distance is `1 − c`); DESIGN.md §2.
///
/// With `D` the hot region (soft: `s = sigmoid((cam − t)/T)`) and `M` the mask:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coefficient {
    /// Eq. 1 as published (Szymkiewicz–Simpson): `|D ∩ M| / min(|D|, |M|)`. Beware: it is 1
    /// whenever either region contains the other, so a heat map hot everywhere costs nothing.
    Paper,
    /// `|D ∩ M| / |D|`: the share of the hot region inside the area of interest (the paper's
    /// stated intent). A map hot everywhere costs the share of the image outside the mask.
    #[default]
    Containment,
    /// `|D ∩ M| / |D ∪ M|`.
    Iou,
    /// No threshold: the share of the CAM's mass inside the mask, `sum(cam·m) / sum(cam)`.
    Energy,
}

/// Which samples the overlap term applies to (those with a non-empty mask in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapSamples {
    /// Every sample with a non-empty mask (the paper and the PyTorch reference).
    #[default]
    All,
    /// Only positive samples: binary target ≥ 0.5, or class index ≠ 0 for multi-class.
    PositivesOnly,
}

/// Which map of a binary (one-logit) model the overlap term constrains.
///
/// A binary model's decision is `sum_ij (sum_k alpha_k A_kij) + b`: evidence for "defect" where
/// the map is positive, for "good" where it is negative. Grad-CAM's ReLU keeps only the positive
/// part, so with [`BinaryCam::Logit`] a model can still read a cue outside the area of interest
/// as negative evidence (the clean belt pushing the logit down) without any hot pixel there.
/// [`BinaryCam::TrueClass`] closes that route: a good sample's map is the CAM of the negated
/// logit, `ReLU(−sum_k alpha_k A_k)`, the evidence for its own class, as multi-class models use
/// the CAM of the true class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryCam {
    /// The CAM of the single logit for every sample (the paper and the PyTorch reference).
    #[default]
    Logit,
    /// The CAM of the logit for defective samples and of the negated logit for good ones.
    TrueClass,
}

/// The polygon `A_d` drawn around the hot pixels for the exact term.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionKind {
    /// The union of the convex hulls of each 8-connected hot component.
    #[default]
    ComponentHulls,
    /// One convex hull around all hot pixels (the PyTorch reference's choice).
    SingleHull,
    /// The exact outline of the hot pixels (with holes).
    PixelOutline,
    /// geo's concave hull of the hot components' boundary corners (ceod-geometry's
    /// `Outline::ConcaveHull`).
    ConcaveHull {
        /// Relative concavity: lower is more concave (geo's default 2.0).
        concavity: f64,
        /// Edges shorter than this are not refined further (geo's default 0.0).
        length_threshold: f64,
    },
}

/// Options of [`ceod_loss`](crate::ceod_loss): `CEOD = CE + omega · mean_i w_i · overlap_d_i`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CeodOptions {
    /// Weight of the overlap term (`omega`; 1.0).
    pub omega: f64,
    /// How the overlap term enters the loss (straight-through).
    pub mode: OverlapMode,
    /// The overlap coefficient (containment).
    pub coefficient: Coefficient,
    /// Hot-pixel threshold on the normalised CAM (0.5 = half the maximum).
    pub threshold: f64,
    /// Temperature `T` of the soft hot region `sigmoid((cam − t)/T)` (0.05).
    pub temperature: f64,
    /// The CAM is normalised as `cam / (max + norm_eps)` (1e-8).
    pub norm_eps: f64,
    /// Added to the denominator of the soft coefficient (1e-6).
    pub overlap_eps: f64,
    /// Which samples get the overlap term (all).
    pub samples: OverlapSamples,
    /// The polygon around the hot pixels for the exact term (component hulls).
    pub region: RegionKind,
    /// Options of the binary cross-entropy (no `pos_weight`).
    pub bce: BceOptions,
    /// Binary models: the map of a good sample (the logit's CAM, as the paper).
    pub binary_cam: BinaryCam,
    /// In `soft` mode, still compute the exact distances for the report when the `overlap`
    /// feature is on (true). They cost geometry time but no gradient.
    pub report_exact: bool,
}

impl Default for CeodOptions {
    fn default() -> Self {
        Self {
            omega: 1.0,
            mode: OverlapMode::default(),
            coefficient: Coefficient::default(),
            threshold: 0.5,
            temperature: 0.05,
            norm_eps: 1e-8,
            overlap_eps: 1e-6,
            samples: OverlapSamples::default(),
            region: RegionKind::default(),
            bce: BceOptions::default(),
            binary_cam: BinaryCam::default(),
            report_exact: true,
        }
    }
}

impl CeodOptions {
    /// The PyTorch reference's (and the fixtures') choices: `paper` coefficient, one convex
    /// hull, threshold 0.5, T = 0.05, omega 1, all samples, in the given mode.
    pub fn reference(mode: OverlapMode) -> Self {
        Self {
            mode,
            coefficient: Coefficient::Paper,
            region: RegionKind::SingleHull,
            ..Self::default()
        }
    }
}
