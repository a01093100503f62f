//! Decoy MNIST, the protocol of Ross et al. 2017 ("Right for the Right Reasons").
//!
//! Every 28 × 28 digit gets a 4 × 4 patch in one of its four corners, drawn at random per image.
//! In the training and validation splits the patch's grey level encodes the label — `255 − 25·y`
//! on MNIST's 0–255 scale, as in the authors' code — so the patch alone predicts the digit; in
//! the test split it encodes a random digit, independent of the label (the authors'
//! `randomize=True`). The area of interest is the image minus the four corner patches, the same
//! mask for every image (`28·28 − 4·16 = 720` pixels). With `decoy: false` no patch is painted
//! (the "trained on clean data" reference); the mask stays the same.
//!
//! The patch is painted on the raw grey levels in `[0, 1]`, before the normalisation (the
//! preprocessing's `mean`/`std` are applied after it here, and `--normalise` statistics are
//! computed by the runner from these training images).
//!
//! MNIST is read with candle-datasets' IDX reader (`mnist::load_dir`, behind this crate's `mnist`
//! feature) from `<root>/mnist/*.gz`, decompressed once into a cache folder under the OS temp
//! dir (atomically, keyed by the sizes of the `.gz` files); the hub loader is never used.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ceod_core::data::LoadedSample;
use ceod_core::{Placement, PreparedImage, PreparedMask, Preprocess};
use serde::{Deserialize, Serialize};

use super::ExperimentData;
use crate::dataset::{Dataset, Item};
use crate::rng::SplitMix64;

/// The side of an MNIST image.
pub const SIDE: usize = 28;
/// The side of the decoy patch.
pub const PATCH: usize = 4;
/// The four IDX files of MNIST (uncompressed names; `.gz` in the data folder).
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn yes() -> bool {
    true
}

/// The `data` object of a Decoy-MNIST experiment (`"kind": "decoy-mnist"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoyMnistSpec {
    /// Training images: a seeded subset of MNIST's 60,000 training digits, stratified by class.
    pub n_train: usize,
    /// Validation images: drawn like `n_train` from the rest of the training digits (disjoint
    /// from them), decoyed like training.
    pub n_val: usize,
    /// Test images: a seeded, stratified subset of MNIST's 10,000 test digits, with random
    /// patches.
    pub n_test: usize,
    /// Paint the decoy patches (default true); false gives clean images in every split.
    #[serde(default = "yes")]
    pub decoy: bool,
}

impl DecoyMnistSpec {
    /// A short description for logs and the model card.
    pub fn describe(&self) -> String {
        format!(
            "decoy MNIST {}/{}/{}{}",
            self.n_train,
            self.n_val,
            self.n_test,
            if self.decoy { "" } else { " (clean, no decoy)" }
        )
    }
}

/// One of the four corners of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    /// Rows 0–3, columns 0–3.
    TopLeft,
    /// Rows 0–3, the last four columns.
    TopRight,
    /// The last four rows, columns 0–3.
    BottomLeft,
    /// The last four rows and columns.
    BottomRight,
}

impl Corner {
    /// All four, in the order `below(4)` picks them.
    pub const ALL: [Corner; 4] = [
        Corner::TopLeft,
        Corner::TopRight,
        Corner::BottomLeft,
        Corner::BottomRight,
    ];

    /// The top-left pixel `(x, y)` of the corner's patch in a `side × side` image.
    pub fn origin(self, side: usize) -> (usize, usize) {
        let far = side.saturating_sub(PATCH);
        match self {
            Corner::TopLeft => (0, 0),
            Corner::TopRight => (far, 0),
            Corner::BottomLeft => (0, far),
            Corner::BottomRight => (far, far),
        }
    }

    /// Whether pixel `(x, y)` of a `side × side` image is in this corner's patch.
    pub fn contains(self, x: usize, y: usize, side: usize) -> bool {
        let (x0, y0) = self.origin(side);
        (x0..x0 + PATCH).contains(&x) && (y0..y0 + PATCH).contains(&y)
    }
}

/// The patch's grey level in `[0, 1]` for digit `d`: `(255 − 25·d) / 255` (Ross et al.).
///
/// ```
/// use ceod_train::experiment::data::decoy_mnist::decoy_value;
/// assert_eq!(decoy_value(0), 1.0);
/// assert_eq!(decoy_value(9), 30.0 / 255.0);
/// ```
pub fn decoy_value(digit: u8) -> f32 {
    (255.0 - 25.0 * f32::from(digit.min(10))) / 255.0
}

/// Paints the `PATCH × PATCH` patch of grey level `value` into `corner` of the row-major
/// `side × side` image `img`.
pub fn paint(img: &mut [f32], side: usize, corner: Corner, value: f32) {
    let (x0, y0) = corner.origin(side);
    for y in y0..(y0 + PATCH).min(side) {
        for x in x0..(x0 + PATCH).min(side) {
            if let Some(p) = img.get_mut(y * side + x) {
                *p = value;
            }
        }
    }
}

/// The area of interest of every image: 1 everywhere except the four corner patches.
///
/// ```
/// use ceod_train::experiment::data::decoy_mnist::{SIDE, area_of_interest};
/// let m = area_of_interest(SIDE);
/// assert_eq!(m.iter().filter(|&&v| v == 1).count(), 28 * 28 - 4 * 16);
/// ```
pub fn area_of_interest(side: usize) -> Vec<u8> {
    (0..side * side)
        .map(|i| {
            let (x, y) = (i % side, i / side);
            u8::from(!Corner::ALL.iter().any(|c| c.contains(x, y, side)))
        })
        .collect()
}

/// Disjoint, seeded, class-stratified subsets of the indices `0..labels.len()` of sizes
/// `sizes` (in order): each class gets its share of each subset (largest remainders), drawn
/// without replacement from a shuffled list of that class.
///
/// # Errors
/// When the sizes add up to more than there are samples.
pub fn stratified_subsets(
    labels: &[u8],
    sizes: &[usize],
    rng: &mut SplitMix64,
) -> anyhow::Result<Vec<Vec<usize>>> {
    let total: usize = sizes.iter().sum();
    if total > labels.len() {
        bail!("{total} images asked for, only {} available", labels.len());
    }
    let n_classes = labels
        .iter()
        .copied()
        .max()
        .map_or(0, |m| usize::from(m) + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    for list in &mut by_class {
        rng.shuffle(list);
    }
    let mut next = vec![0usize; n_classes];
    let mut out = Vec::with_capacity(sizes.len());
    for &size in sizes {
        // the quota of each class among what is left, by largest remainder
        let left: Vec<usize> = (0..n_classes)
            .map(|k| by_class[k].len() - next[k])
            .collect();
        let pool: usize = left.iter().sum();
        let mut quota: Vec<usize> = left.iter().map(|&l| size * l / pool.max(1)).collect();
        let mut order: Vec<usize> = (0..n_classes).collect();
        order.sort_by_key(|&k| std::cmp::Reverse((size * left[k]) % pool.max(1)));
        let mut missing = size - quota.iter().sum::<usize>();
        for &k in order.iter().cycle().take(n_classes * 2) {
            if missing == 0 {
                break;
            }
            if quota[k] < left[k] {
                quota[k] += 1;
                missing -= 1;
            }
        }
        let mut subset = Vec::with_capacity(size);
        for k in 0..n_classes {
            subset.extend_from_slice(&by_class[k][next[k]..next[k] + quota[k]]);
            next[k] += quota[k];
        }
        rng.shuffle(&mut subset);
        out.push(subset);
    }
    Ok(out)
}

/// MNIST in memory: grey levels 0–255, row-major 28 × 28 per image.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// Training images, `60000 · 784` bytes.
    pub train_images: Vec<u8>,
    /// Training labels.
    pub train_labels: Vec<u8>,
    /// Test images, `10000 · 784` bytes.
    pub test_images: Vec<u8>,
    /// Test labels.
    pub test_labels: Vec<u8>,
}

/// The folder the decompressed IDX files are cached in for the `.gz` files in `dir`: under the
/// OS temp dir, named after the four files' sizes (a different copy of MNIST gets its own).
///
/// # Errors
/// A missing `.gz` file (named).
pub fn cache_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut key = String::from("ceod-mnist");
    for f in FILES {
        let p = dir.join(format!("{f}.gz"));
        let len = std::fs::metadata(&p)
            .with_context(|| format!("MNIST file {} is missing", p.display()))?
            .len();
        key.push_str(&format!("-{len}"));
    }
    Ok(std::env::temp_dir().join(key))
}

/// Decompresses the four `.gz` files of `dir` into [`cache_dir`] (each written to a temporary
/// name and renamed, so a file there is complete); files already there are kept. Returns the
/// cache folder.
///
/// # Errors
/// Missing or corrupt `.gz` files, I/O errors.
#[cfg(feature = "mnist")]
pub fn decompress(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Read;
    let cache = cache_dir(dir)?;
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create the MNIST cache {}", cache.display()))?;
    for f in FILES {
        let out = cache.join(f);
        if out.is_file() {
            continue;
        }
        let src = dir.join(format!("{f}.gz"));
        let file =
            std::fs::File::open(&src).with_context(|| format!("cannot open {}", src.display()))?;
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot decompress {}", src.display()))?;
        crate::run_dir::write_atomic(&out, &bytes)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(cache)
}

/// Reads MNIST from `dir` (the folder with the four `.gz` files) with candle-datasets' reader.
///
/// # Errors
/// Missing or malformed files; a build without the `mnist` feature.
#[cfg(feature = "mnist")]
pub fn read_mnist(dir: &Path) -> anyhow::Result<Mnist> {
    Ok((*read_mnist_shared(dir)?).clone())
}

/// [`read_mnist`], kept in memory for the process: one experiment builds its data once per
/// seed, and MNIST is decoded only the first time (per folder).
///
/// # Errors
/// As [`read_mnist`].
#[cfg(feature = "mnist")]
pub fn read_mnist_shared(dir: &Path) -> anyhow::Result<std::sync::Arc<Mnist>> {
    use std::sync::{Arc, Mutex};
    type Slot = Option<(PathBuf, Arc<Mnist>)>;
    static LAST: Mutex<Slot> = Mutex::new(None);
    if let Ok(slot) = LAST.lock()
        && let Some((p, m)) = slot.as_ref()
        && p == dir
    {
        return Ok(m.clone());
    }
    let m = Arc::new(read_uncached(dir)?);
    if let Ok(mut slot) = LAST.lock() {
        *slot = Some((dir.to_path_buf(), m.clone()));
    }
    Ok(m)
}

#[cfg(feature = "mnist")]
fn read_uncached(dir: &Path) -> anyhow::Result<Mnist> {
    let cache = decompress(dir)?;
    let d = candle_datasets::vision::mnist::load_dir(&cache)
        .with_context(|| format!("reading the MNIST IDX files in {}", cache.display()))?;
    let bytes = |t: &candle_core::Tensor| -> anyhow::Result<Vec<u8>> {
        // the reader scales to [0, 1]: back to the exact bytes
        Ok(t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect())
    };
    let m = Mnist {
        train_images: bytes(&d.train_images)?,
        train_labels: d.train_labels.to_vec1::<u8>()?,
        test_images: bytes(&d.test_images)?,
        test_labels: d.test_labels.to_vec1::<u8>()?,
    };
    let px = SIDE * SIDE;
    if m.train_images.len() != m.train_labels.len() * px
        || m.test_images.len() != m.test_labels.len() * px
    {
        bail!(
            "{}: the MNIST images are not 28 x 28 or do not match their labels",
            dir.display()
        );
    }
    if let Some(bad) = m
        .train_labels
        .iter()
        .chain(&m.test_labels)
        .find(|&&l| l > 9)
    {
        bail!("{}: an MNIST label is {bad}, not a digit", dir.display());
    }
    Ok(m)
}

/// Without the `mnist` feature there is no reader: a clear error.
///
/// # Errors
/// Always.
#[cfg(not(feature = "mnist"))]
pub fn read_mnist(dir: &Path) -> anyhow::Result<Mnist> {
    read_mnist_shared(dir).map(|m| (*m).clone())
}

/// Without the `mnist` feature there is no reader: a clear error.
///
/// # Errors
/// Always.
#[cfg(not(feature = "mnist"))]
pub fn read_mnist_shared(dir: &Path) -> anyhow::Result<std::sync::Arc<Mnist>> {
    bail!(
        "the decoy-mnist data ({}) needs ceod-train's `mnist` feature (candle-datasets' MNIST \
         reader): rebuild with `--features mnist` (on by default)",
        dir.display()
    )
}

/// One decoyed item: the digit `image` (0–255), its patch painted when `patch` is given, the
/// preprocessing's normalisation applied after it, and the corner-free area of interest.
fn item(
    name: String,
    image: &[u8],
    label: u8,
    patch: Option<(Corner, f32)>,
    mask: &[u8],
    pre: &Preprocess,
) -> Item {
    let mut data: Vec<f32> = image.iter().map(|&v| f32::from(v) / 255.0).collect();
    if let Some((corner, value)) = patch {
        paint(&mut data, SIDE, corner, value);
    }
    let mean = pre.mean.first().copied().unwrap_or(0.0);
    let std = pre.std.first().copied().unwrap_or(1.0);
    if mean != 0.0 || std != 1.0 {
        for v in &mut data {
            *v = (*v - mean) / std;
        }
    }
    Item {
        name,
        path: None,
        sample: LoadedSample {
            image: PreparedImage {
                data,
                channels: 1,
                height: SIDE,
                width: SIDE,
                source_size: (SIDE as u32, SIDE as u32),
                content: Placement {
                    x: 0,
                    y: 0,
                    width: SIDE as u32,
                    height: SIDE as u32,
                },
            },
            mask: Some(PreparedMask {
                data: mask.to_vec(),
                height: SIDE,
                width: SIDE,
            }),
            label: usize::from(label),
        },
    }
}

/// How a split's patches are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchRule {
    /// No patch.
    None,
    /// The patch encodes the label (training, validation).
    Label,
    /// The patch encodes a random digit (test).
    Random,
}

/// The items of `indices` of `images`/`labels`, patched by `rule` (corners and random digits
/// from `rng`), named `{prefix}{index}`.
#[allow(clippy::too_many_arguments)]
pub fn make_items(
    images: &[u8],
    labels: &[u8],
    indices: &[usize],
    rule: PatchRule,
    prefix: &str,
    pre: &Preprocess,
    rng: &mut SplitMix64,
) -> Vec<Item> {
    let px = SIDE * SIDE;
    let mask = area_of_interest(SIDE);
    indices
        .iter()
        .map(|&i| {
            let label = labels[i];
            let patch = match rule {
                PatchRule::None => None,
                PatchRule::Label => {
                    let corner = Corner::ALL[rng.below(4) as usize];
                    Some((corner, decoy_value(label)))
                }
                PatchRule::Random => {
                    let corner = Corner::ALL[rng.below(4) as usize];
                    Some((corner, decoy_value(rng.below(10) as u8)))
                }
            };
            item(
                format!("{prefix}{i:05}"),
                &images[i * px..(i + 1) * px],
                label,
                patch,
                &mask,
                pre,
            )
        })
        .collect()
}

/// Builds the Decoy-MNIST data of `spec` from `<root>/mnist/`.
///
/// Besides the main test split (random patches) there is one test variant, `clean`: the same
/// test digits without any patch.
///
/// # Errors
/// A missing MNIST folder or file, a build without the `mnist` feature, a preprocessing that is
/// not 28 × 28 with one channel, more images asked for than MNIST has.
pub fn build(
    spec: &DecoyMnistSpec,
    root: &Path,
    pre: &Preprocess,
    seed: u64,
) -> anyhow::Result<ExperimentData> {
    if (pre.width as usize, pre.height as usize, pre.channels) != (SIDE, SIDE, 1) {
        bail!(
            "decoy-mnist keeps MNIST's 28x28 grey images: train with --size 28x28 --channels 1 \
             (got {}x{} with {} channels)",
            pre.width,
            pre.height,
            pre.channels
        );
    }
    let dir = root.join("mnist");
    let m = read_mnist_shared(&dir)?;
    let mut rng = SplitMix64::new(seed ^ 0xDEC0_1D00_0000_0017);
    let tv = stratified_subsets(&m.train_labels, &[spec.n_train, spec.n_val], &mut rng)
        .context("decoy-mnist: n_train + n_val out of MNIST's training digits")?;
    let te = stratified_subsets(&m.test_labels, &[spec.n_test], &mut rng)
        .context("decoy-mnist: n_test out of MNIST's test digits")?;
    let (train_rule, test_rule) = if spec.decoy {
        (PatchRule::Label, PatchRule::Random)
    } else {
        (PatchRule::None, PatchRule::None)
    };
    let train = make_items(
        &m.train_images,
        &m.train_labels,
        &tv[0],
        train_rule,
        "train-",
        pre,
        &mut rng,
    );
    let val = make_items(
        &m.train_images,
        &m.train_labels,
        &tv[1],
        train_rule,
        "train-",
        pre,
        &mut rng,
    );
    let test = make_items(
        &m.test_images,
        &m.test_labels,
        &te[0],
        test_rule,
        "test-",
        pre,
        &mut rng,
    );
    let clean = make_items(
        &m.test_images,
        &m.test_labels,
        &te[0],
        PatchRule::None,
        "test-",
        pre,
        &mut rng,
    );
    let notes = vec![
        format!(
            "{}: {} training and {} validation digits (seeded, stratified subsets of MNIST's \
             60,000 training digits), {} test digits (of the 10,000)",
            spec.describe(),
            train.len(),
            val.len(),
            test.len()
        ),
        if spec.decoy {
            "a 4x4 patch in a random corner; grey level 255 - 25*label in training and \
             validation, 255 - 25*(a random digit) in test (Ross et al. 2017); painted before \
             the normalisation"
                .to_string()
        } else {
            "clean digits: no patch in any split".to_string()
        },
        "area of interest: the image minus its four 4x4 corner patches (720 of 784 pixels)"
            .to_string(),
        "test variant `clean`: the same test digits without a patch".to_string(),
    ];
    Ok(ExperimentData {
        dataset: Dataset {
            train,
            val,
            test,
            skipped: Vec::new(),
        },
        test_variants: vec![("clean".to_string(), clean)],
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_values_and_positions_by_pixel() {
        for corner in Corner::ALL {
            let mut img = vec![0.5f32; SIDE * SIDE];
            paint(&mut img, SIDE, corner, 0.25);
            let (x0, y0) = corner.origin(SIDE);
            let mut painted = 0;
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let inside = x >= x0 && x < x0 + 4 && y >= y0 && y < y0 + 4;
                    let v = img[y * SIDE + x];
                    assert_eq!(v, if inside { 0.25 } else { 0.5 }, "{corner:?} ({x},{y})");
                    painted += usize::from(inside);
                }
            }
            assert_eq!(painted, 16);
        }
        assert_eq!(Corner::BottomRight.origin(SIDE), (24, 24));
        assert_eq!(Corner::TopRight.origin(SIDE), (24, 0));
        // 255 − 25·y on the 0–255 scale
        for d in 0..10u8 {
            assert_eq!(decoy_value(d) * 255.0, 255.0 - 25.0 * f32::from(d));
        }
    }

    #[test]
    fn mask_is_the_image_minus_the_corners() {
        let m = area_of_interest(SIDE);
        assert_eq!(m.len(), 784);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 28 * 28 - 4 * 16);
        // pixel by pixel: 0 exactly where some corner's patch is
        for y in 0..SIDE {
            for x in 0..SIDE {
                let corner = !(4..24).contains(&x) && !(4..24).contains(&y);
                assert_eq!(m[y * SIDE + x] == 0, corner, "({x},{y})");
            }
        }
    }

    fn fill(i: usize) -> u8 {
        1 + 2 * (i % 20) as u8
    }

    fn fake_mnist(n: usize) -> (Vec<u8>, Vec<u8>) {
        // digit i % 10, image filled with an odd level below 40 (never a patch level, which
        // are 30 and 55..=255)
        let images: Vec<u8> = (0..n).flat_map(|i| vec![fill(i); 784]).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        (images, labels)
    }

    #[test]
    fn label_rule_encodes_the_label_and_random_rule_does_not() {
        let (images, labels) = fake_mnist(400);
        let idx: Vec<usize> = (0..400).collect();
        let pre = Preprocess {
            width: 28,
            height: 28,
            ..Default::default()
        };
        let mut rng = SplitMix64::new(1);
        let patch_of = |it: &Item| -> (Corner, f32) {
            let d = &it.sample.image.data;
            let found: Vec<Corner> = Corner::ALL
                .into_iter()
                .filter(|c| {
                    let (x0, y0) = c.origin(SIDE);
                    (0..16).all(|k| {
                        let v = d[(y0 + k / 4) * SIDE + x0 + k % 4];
                        v != d[14 * SIDE + 14]
                    })
                })
                .collect();
            assert_eq!(found.len(), 1, "{}: patches in {found:?}", it.name);
            let (x0, y0) = found[0].origin(SIDE);
            (found[0], d[y0 * SIDE + x0])
        };
        let train = make_items(
            &images,
            &labels,
            &idx,
            PatchRule::Label,
            "t",
            &pre,
            &mut rng,
        );
        let mut corners = [0usize; 4];
        for it in &train {
            let (c, v) = patch_of(it);
            assert_eq!(v, decoy_value(it.sample.label as u8), "{}", it.name);
            corners[Corner::ALL.iter().position(|&k| k == c).unwrap()] += 1;
        }
        // every corner is used (400 draws of 4)
        assert!(corners.iter().all(|&n| n > 60), "{corners:?}");
        let test = make_items(
            &images,
            &labels,
            &idx,
            PatchRule::Random,
            "t",
            &pre,
            &mut rng,
        );
        let agree = test
            .iter()
            .filter(|it| patch_of(it).1 == decoy_value(it.sample.label as u8))
            .count();
        // a random digit matches the label about 1 time in 10 (40 of 400): far from all
        assert!(agree < 80, "{agree} of 400 test patches encode the label");
        assert!(agree > 10, "{agree}");
        let clean = make_items(&images, &labels, &idx, PatchRule::None, "t", &pre, &mut rng);
        for (it, &i) in clean.iter().zip(&idx) {
            assert!(
                it.sample
                    .image
                    .data
                    .iter()
                    .all(|&v| v == f32::from(fill(i)) / 255.0)
            );
            let m = it.sample.mask.as_ref().unwrap();
            assert_eq!(m.data, area_of_interest(SIDE));
        }
    }

    #[test]
    fn subsets_are_disjoint_stratified_and_seeded() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let mut rng = SplitMix64::new(3);
        let s = stratified_subsets(&labels, &[100, 50], &mut rng).unwrap();
        assert_eq!((s[0].len(), s[1].len()), (100, 50));
        for k in 0..10u8 {
            assert_eq!(s[0].iter().filter(|&&i| labels[i] == k).count(), 10);
            assert_eq!(s[1].iter().filter(|&&i| labels[i] == k).count(), 5);
        }
        let mut all: Vec<usize> = s.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 150);
        let again = stratified_subsets(&labels, &[100, 50], &mut SplitMix64::new(3)).unwrap();
        assert_eq!(again, s);
        let other = stratified_subsets(&labels, &[100, 50], &mut SplitMix64::new(4)).unwrap();
        assert_ne!(other, s);
        assert!(stratified_subsets(&labels, &[1001], &mut rng).is_err());
        // uneven classes and sizes: the total is exact
        let uneven: Vec<u8> = (0..97).map(|i| (i % 7 % 3) as u8).collect();
        let s = stratified_subsets(&uneven, &[33, 64], &mut rng).unwrap();
        assert_eq!((s[0].len(), s[1].len()), (33, 64));
    }
}
