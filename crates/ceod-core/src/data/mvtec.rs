//! An MVTec-AD-style folder: `train/good`, `test/<kind>`, `ground_truth/<kind>/*_mask.png`.

use std::path::{Path, PathBuf};

use crate::data::sample::{Sample, Split};
use crate::data_error::DataError;

/// Image extensions recognised in dataset folders (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"];

/// Reads an MVTec-style category folder.
///
/// - `train/<kind>/*` and `test/<kind>/*` are images; kind `good` is label 0, every other
///   kind label 1; the split is the folder (`train` or `test`; a `val`/`validation` folder
///   is read as [`Split::Val`]).
/// - The mask of `test/<kind>/<name>.<ext>` is `ground_truth/<kind>/<name>_mask.png` when that
///   file exists (MVTec's masks mark the defect, so for CEOD they are the area where a
///   defect's evidence belongs); good images and images without one get no mask.
///
/// Files are listed in sorted order, so the result is the same on every run. A folder
/// without `train` and `test` is a [`DataError::Layout`] error.
///
/// ```no_run
/// let samples = ceod_core::data::read_mvtec("mvtec/bottle")?;
/// # Ok::<(), ceod_core::DataError>(())
/// ```
pub fn read_mvtec(root: impl AsRef<Path>) -> Result<Vec<Sample>, DataError> {
    let root = root.as_ref();
    if !root.is_dir() {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            message: "not a folder".into(),
        });
    }
    let mut samples = Vec::new();
    let mut found = false;
    for (folder, split) in [
        ("train", Split::Train),
        ("val", Split::Val),
        ("validation", Split::Val),
        ("test", Split::Test),
    ] {
        let dir = root.join(folder);
        if !dir.is_dir() {
            continue;
        }
        found = true;
        for kind_dir in sorted_entries(&dir)? {
            if !kind_dir.is_dir() {
                continue;
            }
            let kind = kind_dir
                .file_name()
                .map(|k| k.to_string_lossy().into_owned())
                .unwrap_or_default();
            let good = kind.eq_ignore_ascii_case("good");
            for file in sorted_entries(&kind_dir)? {
                if !is_image(&file) {
                    continue;
                }
                let mask = if good {
                    None
                } else {
                    file.file_stem()
                        .map(|stem| {
                            root.join("ground_truth")
                                .join(&kind)
                                .join(format!("{}_mask.png", stem.to_string_lossy()))
                        })
                        .filter(|m| m.is_file())
                };
                samples.push(Sample {
                    image: file,
                    label: usize::from(!good),
                    mask,
                    split: Some(split),
                    group: None,
                });
            }
        }
    }
    if !found {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            message: "no `train` or `test` folder (expected an MVTec-style layout: \
                      train/good, test/<kind>, ground_truth/<kind>/*_mask.png)"
                .into(),
        });
    }
    Ok(samples)
}

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        out.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}
