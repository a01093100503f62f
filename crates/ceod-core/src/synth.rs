//! An embedded synthetic dataset: a product on a conveyor belt, defects on the product and
//! defect-like decoys on the belt. Deterministic from a seed; it needs no file and no network.
//!
//! Each image (grey, `height × width`) shows
//! - a **belt**: mid-dark grey with vertical roller stripes, lengthwise streaks and noise;
//! - a **product**: a brighter, rotated rounded plate with shading and a fine texture. Its
//!   pixels are the **mask** (the area of interest: a pixel is inside when its centre is);
//! - a **defect** on the product when the label is 1: a small, faint dark scratch or spot;
//! - sometimes a **decoy** on the belt: the same kind of mark, larger and darker, so more
//!   salient than the defect.
//!
//! In the training split (and the validation split, which is drawn like the training data)
//! decoys go with the label: `decoy_correlation` of the defective images have one and
//! `1 − decoy_correlation` of the good ones (95 % and 5 % by default). Outside it
//! ([`Split::Test`]) they follow [`TestDecoys`]: independent of the label by default. A
//! classifier that learned "decoy ⇒ defect" is right about 95 % of the time in training and
//! at chance on the test split; the CEOD term is meant to prevent exactly that. (Below about
//! 32×32 pixels a decoy may find no room on the belt and is then left out.)
//!
//! Measured (`tests/synth_shortcut.rs`, ignored by default): ceodnet-s trained with BCE alone
//! for 200 Adam steps (lr 1e-3, batch 32) on 512 training images at 64×64 learns the shortcut:
//! about 95 % right on the training split and at chance on the test split, where it rejects
//! good parts with a decoy and misses defects without one. Normalise the inputs with the
//! training set's statistics ([`channel_stats`](crate::channel_stats); about mean 0.45, std
//! 0.12): with raw `[0, 1]` inputs the network stayed at a constant prediction for those steps.
//!
//! Pixel values are multiples of 1/255 in `[0, 1]`, so writing an image as an 8-bit PNG
//! ([`write_dataset`]) and reading it back gives the same numbers. Sample `i` of a split
//! depends only on the seed, the split and `i` (not on `n`), and the same configuration
//! always gives the same bytes.
//!
//! ```
//! use ceod_core::synth::{generate, SynthConfig};
//!
//! let cfg = SynthConfig { n: 4, width: 64, height: 48, ..SynthConfig::default() };
//! let samples = generate(&cfg)?;
//! assert_eq!(samples.len(), 4);
//! assert_eq!(samples[0].image.len(), 64 * 48);
//! assert!(samples[0].mask.iter().any(|&m| m == 1)); // the product
//! assert_eq!(samples, generate(&cfg)?); // deterministic
//! # Ok::<(), ceod_core::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage};
use rayon::prelude::*;

use crate::data::{LoadedSample, Manifest, Sample, Split, SplitMix64};
use crate::data_error::DataError;
use crate::mask::Mask;
use crate::preprocess::Preprocess;

/// How decoys appear outside the training and validation splits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TestDecoys {
    /// A decoy with probability `rate`, whatever the label.
    Independent {
        /// Probability of a decoy.
        rate: f64,
    },
    /// Decoys only on good parts, with probability `rate` (a harsher test: a decoy-driven
    /// classifier now rejects good parts and misses nothing it would have caught anyway).
    GoodOnly {
        /// Probability of a decoy on a good part.
        rate: f64,
    },
}

impl Default for TestDecoys {
    fn default() -> Self {
        Self::Independent { rate: 0.5 }
    }
}

/// Settings of the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Image width in pixels (default 128).
    pub width: u32,
    /// Image height in pixels (default 128).
    pub height: u32,
    /// Number of samples (default 256).
    pub n: usize,
    /// Seed (default 0).
    pub seed: u64,
    /// The split these samples are for (default [`Split::Train`]); it decides the decoy rule
    /// and is mixed into the seed, so train and test never repeat each other.
    pub split: Split,
    /// Probability that a sample is defective (label 1) (default 0.5).
    pub defect_rate: f64,
    /// Training/validation split: the share of defective images that have a decoy; the share
    /// of good images with one is `1 − decoy_correlation` (default 0.95).
    pub decoy_correlation: f64,
    /// The decoy rule of the test split (default independent, rate 0.5).
    pub test_decoys: TestDecoys,
    /// How much a defect darkens the product, in grey levels of `[0, 1]` (default 0.14).
    pub defect_contrast: f32,
    /// Size of a defect relative to the base size (default 1). Marks scale with the image
    /// (the base spot radius is 1.6–2.6 pixels at 128 pixels on the shorter side, so about one
    /// pixel at 48); a larger scale keeps defects visible on small images. Decoys scale with
    /// it (a decoy is `decoy_scale` times a defect).
    pub defect_scale: f32,
    /// How much a decoy darkens the belt (default 0.3).
    pub decoy_contrast: f32,
    /// Size of a decoy relative to a defect of the same kind (default 1.6).
    pub decoy_scale: f32,
    /// Amplitude of the per-pixel noise (uniform in `±noise`, default 0.03).
    pub noise: f32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            n: 256,
            seed: 0,
            split: Split::Train,
            defect_rate: 0.5,
            decoy_correlation: 0.95,
            test_decoys: TestDecoys::default(),
            defect_contrast: 0.14,
            defect_scale: 1.0,
            decoy_contrast: 0.3,
            decoy_scale: 1.6,
            noise: 0.03,
        }
    }
}

impl SynthConfig {
    /// The default configuration for `split` with `n` samples and `seed`.
    pub fn for_split(split: Split, n: usize, seed: u64) -> Self {
        Self {
            split,
            n,
            seed,
            ..Self::default()
        }
    }

    /// Checks the settings (sizes at least 16 pixels, probabilities in `[0, 1]`, finite
    /// non-negative contrasts and noise, `defect_scale` and `decoy_scale` finite and > 0).
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(m));
        if self.width < 16 || self.height < 16 {
            return bad(format!(
                "synthetic images must be at least 16x16, got {}x{}",
                self.width, self.height
            ));
        }
        let rate = match self.test_decoys {
            TestDecoys::Independent { rate } | TestDecoys::GoodOnly { rate } => rate,
        };
        for (name, p) in [
            ("defect_rate", self.defect_rate),
            ("decoy_correlation", self.decoy_correlation),
            ("test decoy rate", rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1], got {p}"));
            }
        }
        for (name, v) in [
            ("defect_contrast", self.defect_contrast),
            ("decoy_contrast", self.decoy_contrast),
            ("noise", self.noise),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} must be finite and >= 0, got {v}"));
            }
        }
        for (name, v) in [
            ("defect_scale", self.defect_scale),
            ("decoy_scale", self.decoy_scale),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return bad(format!("{name} must be finite and > 0, got {v}"));
            }
        }
        Ok(())
    }
}

/// The kind of a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A thin line segment.
    Scratch,
    /// A small disc.
    Spot,
}

/// A defect or decoy mark, in pixel coordinates of the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// Scratch or spot.
    pub kind: MarkKind,
    /// Centre `x` (column) in pixels.
    pub x: f32,
    /// Centre `y` (row) in pixels.
    pub y: f32,
    /// Bounding box `[x0, y0, x1, y1]` of the pixels it darkens.
    pub bbox: [f32; 4],
}

/// One generated sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSample {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Grey values, `height × width`, row-major, multiples of 1/255 in `[0, 1]`.
    pub image: Vec<f32>,
    /// The area of interest (the product), `height × width`, 0/1.
    pub mask: Vec<u8>,
    /// 1 when the product has a defect, else 0.
    pub label: usize,
    /// The split it was generated for.
    pub split: Split,
    /// The defect, if any (on the product, inside the mask).
    pub defect: Option<Mark>,
    /// The decoy, if any (on the belt, outside the mask).
    pub decoy: Option<Mark>,
}

impl SynthSample {
    /// The image as an 8-bit grey image (exact: the values are multiples of 1/255).
    ///
    /// A sample whose buffers do not hold `width × height` values (possible only after editing
    /// its fields) gives a black image here; [`SynthSample::check`], which
    /// [`SynthSample::to_loaded`] and [`write_dataset`] call, reports it as an error.
    pub fn to_gray_image(&self) -> GrayImage {
        let raw = self
            .image
            .iter()
            .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        GrayImage::from_raw(self.width, self.height, raw)
            .unwrap_or_else(|| GrayImage::new(self.width, self.height))
    }

    /// The mask as an 8-bit image, 255 inside and 0 outside (black for inconsistent buffers,
    /// as [`SynthSample::to_gray_image`]).
    pub fn mask_image(&self) -> GrayImage {
        let raw = self
            .mask
            .iter()
            .map(|&m| if m != 0 { 255 } else { 0 })
            .collect();
        GrayImage::from_raw(self.width, self.height, raw)
            .unwrap_or_else(|| GrayImage::new(self.width, self.height))
    }

    /// Checks that `image` and `mask` hold `width × height` values each.
    pub fn check(&self) -> Result<(), DataError> {
        let n = self.width as usize * self.height as usize;
        if self.image.len() != n || self.mask.len() != n {
            return Err(DataError::Config(format!(
                "synthetic sample has {} image and {} mask values, {}x{} needs {n}",
                self.image.len(),
                self.mask.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }

    /// The mask as a [`Mask`].
    pub fn to_mask(&self) -> Result<Mask, DataError> {
        Mask::new(self.width, self.height, self.mask.clone())
    }

    /// Preprocesses image and mask with `pre`, the same path as files take
    /// ([`Preprocess::apply`], [`Preprocess::prepare_mask`]).
    pub fn to_loaded(&self, pre: &Preprocess) -> Result<LoadedSample, DataError> {
        self.check()?;
        Ok(LoadedSample {
            image: pre.apply(&DynamicImage::ImageLuma8(self.to_gray_image()))?,
            mask: Some(pre.prepare_mask(&self.to_mask()?)?),
            label: self.label,
        })
    }
}

/// Generates `cfg.n` samples (in parallel; the result does not depend on the thread count).
pub fn generate(cfg: &SynthConfig) -> Result<Vec<SynthSample>, DataError> {
    cfg.validate()?;
    Ok((0..cfg.n)
        .into_par_iter()
        .map(|i| render(cfg, i as u64))
        .collect())
}

/// Generates sample `index` of the configuration alone (the same as `generate(cfg)[index]`).
pub fn generate_one(cfg: &SynthConfig, index: usize) -> Result<SynthSample, DataError> {
    cfg.validate()?;
    Ok(render(cfg, index as u64))
}

/// Writes samples as a dataset folder: `images/<split>_<i>.png`, `masks/<split>_<i>.png`
/// (0/255) and `manifest.csv` (`image,label,mask,split,group`, group empty), and returns the
/// manifest's path. `dir` must not exist or be empty. Everything is written into a staging
/// folder next to `dir` and renamed at the end, so an error leaves no partial dataset.
pub fn write_dataset(dir: impl AsRef<Path>, samples: &[SynthSample]) -> Result<PathBuf, DataError> {
    let dir = dir.as_ref();
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
        if entries.next().is_some() {
            return Err(DataError::Layout {
                path: dir.to_path_buf(),
                message: "the output folder exists and is not empty".into(),
            });
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "synth".into());
    let staging = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = write_into(&staging, samples).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(|e| DataError::io(dir, e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| DataError::io(dir, e))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(dir.join("manifest.csv"))
}

fn write_into(root: &Path, samples: &[SynthSample]) -> Result<(), DataError> {
    let images = root.join("images");
    let masks = root.join("masks");
    for d in [&images, &masks] {
        std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
    }
    let mut counters = [0usize; 3];
    let mut rows = Vec::with_capacity(samples.len());
    for s in samples {
        let k = match s.split {
            Split::Train => 0,
            Split::Val => 1,
            Split::Test => 2,
        };
        let file = format!("{}_{:05}.png", s.split, counters[k]);
        counters[k] += 1;
        let (ip, mp) = (images.join(&file), masks.join(&file));
        s.check()?;
        save_png(&s.to_gray_image(), &ip)?;
        save_png(&s.mask_image(), &mp)?;
        rows.push(Sample {
            image: ip,
            label: s.label,
            mask: Some(mp),
            split: Some(s.split),
            group: None,
        });
    }
    Manifest::write(root.join("manifest.csv"), &rows)
}

fn save_png(img: &GrayImage, path: &Path) -> Result<(), DataError> {
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| match e {
            image::ImageError::IoError(io) => DataError::io(path, io),
            other => DataError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(other.to_string()),
            },
        })
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// The product: a rounded rectangle with centre, half sizes, corner radius and rotation.
struct Plate {
    cx: f32,
    cy: f32,
    hx: f32,
    hy: f32,
    r: f32,
    cos: f32,
    sin: f32,
}

impl Plate {
    /// Signed distance (pixels) from `(x, y)` to the plate's outline; negative inside.
    fn sdf(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let u = (self.cos * dx + self.sin * dy).abs() - (self.hx - self.r);
        let v = (-self.sin * dx + self.cos * dy).abs() - (self.hy - self.r);
        let outside = (u.max(0.0).powi(2) + v.max(0.0).powi(2)).sqrt();
        outside + u.max(v).min(0.0) - self.r
    }
}

/// A mark as drawn: a segment from `a` to `b` (equal for a spot) with radius `rad`.
struct Stroke {
    ax: f32,
    ay: f32,
    bx: f32,
    by: f32,
    rad: f32,
    depth: f32,
}

impl Stroke {
    fn distance(&self, x: f32, y: f32) -> f32 {
        let (vx, vy) = (self.bx - self.ax, self.by - self.ay);
        let (wx, wy) = (x - self.ax, y - self.ay);
        let len2 = vx * vx + vy * vy;
        let t = if len2 > 0.0 {
            ((wx * vx + wy * vy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((wx - t * vx).powi(2) + (wy - t * vy).powi(2)).sqrt()
    }

    /// Distance from the centre to the farthest corner of the bounding box (for placement
    /// margins).
    fn reach(&self) -> f32 {
        let [x0, y0, x1, y1] = self.bbox();
        let (cx, cy) = (0.5 * (self.ax + self.bx), 0.5 * (self.ay + self.by));
        ((x1 - x0).max(0.0).hypot(y1 - y0) * 0.5).max((x0 - cx).hypot(y0 - cy))
    }

    fn bbox(&self) -> [f32; 4] {
        let pad = self.rad + 0.5;
        [
            self.ax.min(self.bx) - pad,
            self.ay.min(self.by) - pad,
            self.ax.max(self.bx) + pad,
            self.ay.max(self.by) + pad,
        ]
    }

    /// Darkening at `(x, y)`: full depth inside, an antialiased one-pixel edge.
    fn darkening(&self, x: f32, y: f32) -> f32 {
        self.depth * (self.rad + 0.5 - self.distance(x, y)).clamp(0.0, 1.0)
    }
}

fn seed_salt(split: Split) -> u64 {
    match split {
        Split::Train => 0x7472_6169_6E00_0001,
        Split::Val => 0x7661_6C00_0000_0002,
        Split::Test => 0x7465_7374_0000_0003,
    }
}

/// A mark of `kind` centred at `(x, y)`, `scale` times the base size, with `depth`.
fn stroke(
    rng: &mut SplitMix64,
    kind: MarkKind,
    x: f32,
    y: f32,
    unit: f32,
    scale: f32,
    depth: f32,
) -> Stroke {
    match kind {
        MarkKind::Scratch => {
            let half = 0.5 * rng.uniform(7.0, 12.0) as f32 * unit * scale;
            let a = rng.uniform(0.0, std::f64::consts::PI) as f32;
            let (dx, dy) = (half * a.cos(), half * a.sin());
            Stroke {
                ax: x - dx,
                ay: y - dy,
                bx: x + dx,
                by: y + dy,
                rad: 0.6 * unit * scale,
                depth,
            }
        }
        MarkKind::Spot => Stroke {
            ax: x,
            ay: y,
            bx: x,
            by: y,
            rad: rng.uniform(1.6, 2.6) as f32 * unit * scale,
            depth,
        },
    }
}

fn render(cfg: &SynthConfig, index: u64) -> SynthSample {
    let mut rng = SplitMix64::stream(cfg.seed ^ seed_salt(cfg.split), index);
    let (w, h) = (cfg.width as usize, cfg.height as usize);
    let (wf, hf) = (cfg.width as f32, cfg.height as f32);
    let unit = wf.min(hf) / 128.0;

    // Label and decoy, drawn first so that they do not depend on the rendering.
    let label = usize::from(rng.chance(cfg.defect_rate));
    let has_decoy = match cfg.split {
        Split::Train | Split::Val => rng.chance(if label == 1 {
            cfg.decoy_correlation
        } else {
            1.0 - cfg.decoy_correlation
        }),
        Split::Test => match cfg.test_decoys {
            TestDecoys::Independent { rate } => rng.chance(rate),
            TestDecoys::GoodOnly { rate } => rng.chance(rate) && label == 0,
        },
    };

    // The product plate, fitted inside the image with a margin.
    let angle = rng.uniform(-0.25, 0.25) as f32;
    let (cos, sin) = (angle.cos(), angle.sin());
    let mut hx = rng.uniform(0.22, 0.30) as f32 * wf;
    let mut hy = rng.uniform(0.20, 0.28) as f32 * hf;
    let margin = 3.0 * unit;
    let ext = |hx: f32, hy: f32| {
        (
            hx * cos.abs() + hy * sin.abs(),
            hx * sin.abs() + hy * cos.abs(),
        )
    };
    let (ex, ey) = ext(hx, hy);
    let fit = ((0.5 * wf - margin) / ex)
        .min((0.5 * hf - margin) / ey)
        .min(1.0);
    hx *= fit;
    hy *= fit;
    let (ex, ey) = ext(hx, hy);
    let cx = rng.uniform(
        f64::from(ex + margin),
        f64::from(wf - ex - margin).max(f64::from(ex + margin)),
    ) as f32;
    let cy = rng.uniform(
        f64::from(ey + margin),
        f64::from(hf - ey - margin).max(f64::from(ey + margin)),
    ) as f32;
    let plate = Plate {
        cx,
        cy,
        hx,
        hy,
        r: rng.uniform(0.04, 0.10) as f32 * wf.min(hf),
        cos,
        sin,
    };

    // Belt parameters.
    let belt = rng.uniform(0.34, 0.42) as f32;
    let period = rng.uniform(10.0, 16.0) as f32 * unit;
    let phase = rng.uniform(0.0, std::f64::consts::TAU) as f32;
    let streaks: Vec<f32> = (0..h).map(|_| 0.012 * rng.normal() as f32).collect();
    // Product parameters: brightness, a shading gradient, a coarse texture.
    let bright = rng.uniform(0.60, 0.72) as f32;
    let shade_dir = rng.uniform(0.0, std::f64::consts::TAU) as f32;
    let shade = 0.06 * rng.uniform(0.5, 1.0) as f32;
    let cell = 8.0 * unit;
    let (gw, gh) = ((wf / cell) as usize + 2, (hf / cell) as usize + 2);
    let grid: Vec<f32> = (0..gw * gh)
        .map(|_| rng.uniform(-0.035, 0.035) as f32)
        .collect();
    let texture = |x: f32, y: f32| {
        let (fx, fy) = (x / cell, y / cell);
        let (ix, iy) = ((fx as usize).min(gw - 2), (fy as usize).min(gh - 2));
        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
        let g = |i: usize, j: usize| grid[j * gw + i];
        (1.0 - ty) * ((1.0 - tx) * g(ix, iy) + tx * g(ix + 1, iy))
            + ty * ((1.0 - tx) * g(ix, iy + 1) + tx * g(ix + 1, iy + 1))
    };

    // The defect: inside the plate, clear of its edge.
    let defect = (label == 1).then(|| {
        let kind = if rng.chance(0.5) {
            MarkKind::Scratch
        } else {
            MarkKind::Spot
        };
        let probe = stroke(
            &mut rng,
            kind,
            0.0,
            0.0,
            unit,
            cfg.defect_scale,
            cfg.defect_contrast,
        );
        // the whole bounding box, and the pixels it touches, on the product
        let need = probe.reach() + 1.0 + 2.0 * unit;
        let (mut x, mut y) = (plate.cx, plate.cy);
        for _ in 0..1000 {
            let px = plate.cx + rng.uniform(-1.0, 1.0) as f32 * ex;
            let py = plate.cy + rng.uniform(-1.0, 1.0) as f32 * ey;
            if plate.sdf(px, py) <= -need {
                (x, y) = (px, py);
                break;
            }
        }
        (kind, translate(probe, x, y))
    });
    // The decoy: on the belt, clear of the plate and of the image border.
    let decoy = if has_decoy {
        let kind = if rng.chance(0.5) {
            MarkKind::Scratch
        } else {
            MarkKind::Spot
        };
        let probe = stroke(
            &mut rng,
            kind,
            0.0,
            0.0,
            unit,
            cfg.defect_scale * cfg.decoy_scale,
            cfg.decoy_contrast,
        );
        let need = probe.reach() + 1.0 + 2.0 * unit;
        let mut found = None;
        for _ in 0..4000 {
            let px = rng.uniform(f64::from(need), f64::from(wf - need)) as f32;
            let py = rng.uniform(f64::from(need), f64::from(hf - need)) as f32;
            if plate.sdf(px, py) >= need + 2.0 * unit {
                found = Some((px, py));
                break;
            }
        }
        found.map(|(x, y)| (kind, translate(probe, x, y)))
    } else {
        None
    };

    let mut image = vec![0f32; w * h];
    let mut mask = vec![0u8; w * h];
    let (sdx, sdy) = (shade_dir.cos(), shade_dir.sin());
    for r in 0..h {
        for c in 0..w {
            let (x, y) = (c as f32 + 0.5, r as f32 + 0.5);
            let stripes = 0.045 * (std::f32::consts::TAU * x / period + phase).cos();
            let mut belt_v = belt + stripes + streaks[r];
            let d = plate.sdf(x, y);
            let alpha = (0.5 - d).clamp(0.0, 1.0);
            let rel = ((x - plate.cx) * sdx + (y - plate.cy) * sdy) / (plate.hx.max(plate.hy));
            let mut prod_v = bright + shade * rel + texture(x, y);
            if let Some((_, s)) = &defect {
                prod_v -= s.darkening(x, y);
            }
            if let Some((_, s)) = &decoy {
                belt_v -= s.darkening(x, y);
            }
            let noise = cfg.noise * (2.0 * rng.next_f64() as f32 - 1.0);
            let v = belt_v * (1.0 - alpha) + prod_v * alpha + noise;
            image[r * w + c] = (v.clamp(0.0, 1.0) * 255.0).round() / 255.0;
            mask[r * w + c] = u8::from(d <= 0.0);
        }
    }
    let to_mark = |(kind, s): (MarkKind, Stroke)| Mark {
        kind,
        x: 0.5 * (s.ax + s.bx),
        y: 0.5 * (s.ay + s.by),
        bbox: s.bbox(),
    };
    SynthSample {
        width: cfg.width,
        height: cfg.height,
        image,
        mask,
        label,
        split: cfg.split,
        defect: defect.map(to_mark),
        decoy: decoy.map(to_mark),
    }
}

fn translate(s: Stroke, x: f32, y: f32) -> Stroke {
    Stroke {
        ax: s.ax + x,
        ay: s.ay + y,
        bx: s.bx + x,
        by: s.by + y,
        ..s
    }
}
