//! A manifest CSV: `image,label[,mask][,split][,group]`, paths relative to the CSV.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::data::csv;
use crate::data::sample::{Sample, Split};
use crate::data_error::DataError;

/// Options of [`Manifest::read_with_options`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// The column holding the image path (default `image`).
    pub image_column: String,
    /// The column holding the label (default `label`); for example `defect` for a CSV whose
    /// label column has another name.
    pub label_column: String,
    /// The column holding the mask path (default `mask`).
    pub mask_column: String,
    /// The column holding the split (default `split`).
    pub split_column: String,
    /// The column holding the group (default `group`).
    pub group_column: String,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        Self {
            image_column: "image".into(),
            label_column: "label".into(),
            mask_column: "mask".into(),
            split_column: "split".into(),
            group_column: "group".into(),
        }
    }
}

/// The samples listed by a manifest CSV.
///
/// The first line is a header naming the columns (in any order, case-insensitive); `image`
/// and `label` are required, `mask`, `split` and `group` optional, other columns ignored.
/// Fields may be quoted (RFC 4180). Paths are relative to the CSV's folder (absolute paths
/// are kept). A label is `0`/`1` or a class index; an empty `mask`, `split` or `group` field
/// means "none". An image listed twice is an error (naming both lines and whether the labels
/// contradict each other). Errors name the file and the line.
///
/// ```
/// use ceod_core::data::{Manifest, Split};
/// use std::path::Path;
///
/// let csv = "image,label,mask,split\nimg/a.png,1,masks/a.png,train\n\"img/b,2.png\",0,,test\n";
/// let m = Manifest::parse(csv, Path::new("/data/set/manifest.csv"))?;
/// assert_eq!(m.samples.len(), 2);
/// assert_eq!(m.samples[0].image, Path::new("/data/set/img/a.png"));
/// assert_eq!(m.samples[0].mask.as_deref(), Some(Path::new("/data/set/masks/a.png")));
/// assert_eq!(m.samples[1].split, Some(Split::Test));
/// assert_eq!(m.samples[1].mask, None);
/// # Ok::<(), ceod_core::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The CSV file.
    pub path: PathBuf,
    /// Its samples, in file order.
    pub samples: Vec<Sample>,
}

impl Manifest {
    /// Reads the manifest at `path` with the default column names.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DataError> {
        Self::read_with_options(path, &ManifestOptions::default())
    }

    /// Reads the manifest at `path` with the given column names.
    pub fn read_with_options(
        path: impl AsRef<Path>,
        options: &ManifestOptions,
    ) -> Result<Self, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| DataError::Manifest {
            path: path.to_path_buf(),
            line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            message: "not valid UTF-8".into(),
        })?;
        Self::parse_with_options(&text, path, options)
    }

    /// Parses manifest text as if it were the file `path` (used to resolve relative paths
    /// and in error messages).
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, DataError> {
        Self::parse_with_options(text, path, &ManifestOptions::default())
    }

    /// [`Manifest::parse`] with the given column names.
    pub fn parse_with_options(
        text: &str,
        path: impl AsRef<Path>,
        options: &ManifestOptions,
    ) -> Result<Self, DataError> {
        let path = path.as_ref();
        let err = |line: usize, message: String| DataError::Manifest {
            path: path.to_path_buf(),
            line,
            message,
        };
        let records = csv::parse(text).map_err(|(line, m)| err(line, m))?;
        let mut records = records.into_iter();
        let header = records
            .next()
            .ok_or_else(|| err(1, "empty manifest: a header line is required".into()))?;
        let mut columns: HashMap<String, usize> = HashMap::new();
        for (i, name) in header.fields.iter().enumerate() {
            let key = name.trim().to_ascii_lowercase();
            if columns.insert(key.clone(), i).is_some() {
                return Err(err(header.line, format!("column `{key}` appears twice")));
            }
        }
        let find = |name: &str| columns.get(&name.to_ascii_lowercase()).copied();
        let require = |name: &str| {
            find(name).ok_or_else(|| {
                err(
                    header.line,
                    format!(
                        "no `{name}` column in the header (columns: {})",
                        header.fields.join(", ")
                    ),
                )
            })
        };
        let image_col = require(&options.image_column)?;
        let label_col = require(&options.label_column)?;
        let mask_col = find(&options.mask_column);
        let split_col = find(&options.split_column);
        let group_col = find(&options.group_column);
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let mut samples = Vec::new();
        // image path -> (line, label) of its first row
        let mut seen: HashMap<PathBuf, (usize, usize)> = HashMap::new();
        for rec in records {
            if rec.fields.len() != header.fields.len() {
                return Err(err(
                    rec.line,
                    format!(
                        "{} fields, the header has {}",
                        rec.fields.len(),
                        header.fields.len()
                    ),
                ));
            }
            let get =
                |col: Option<usize>| col.map(|c| rec.fields[c].trim()).filter(|s| !s.is_empty());
            let image =
                get(Some(image_col)).ok_or_else(|| err(rec.line, "empty image path".into()))?;
            let label_text = get(Some(label_col)).unwrap_or("");
            let label: usize = label_text.parse().map_err(|_| {
                err(
                    rec.line,
                    format!("label `{label_text}` is not 0/1 or a class index"),
                )
            })?;
            let split = get(split_col)
                .map(|s| s.parse::<Split>())
                .transpose()
                .map_err(|e| err(rec.line, e.to_string()))?;
            let image = resolve(image);
            if let Some(&(first, first_label)) = seen.get(&image) {
                let labels = if first_label == label {
                    format!("label {label} both times")
                } else {
                    format!("contradicting labels {first_label} and {label}")
                };
                return Err(err(
                    rec.line,
                    format!(
                        "image `{}` is listed twice (lines {first} and {}, {labels}): each image \
                         may appear once, or one copy would be counted twice or straddle a split",
                        image.display(),
                        rec.line
                    ),
                ));
            }
            seen.insert(image.clone(), (rec.line, label));
            samples.push(Sample {
                image,
                label,
                mask: get(mask_col).map(resolve),
                split,
                group: get(group_col).map(str::to_string),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            samples,
        })
    }

    /// Writes `samples` as a manifest CSV at `path` with the columns
    /// `image,label,mask,split,group` (paths relative to the CSV's folder when they lie
    /// under it). The file is written to a temporary name and renamed.
    pub fn write(path: impl AsRef<Path>, samples: &[Sample]) -> Result<(), DataError> {
        let path = path.as_ref();
        let text = Self::to_csv(path, samples);
        let tmp = path.with_extension("csv.partial");
        std::fs::write(&tmp, text).map_err(|e| DataError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            DataError::io(path, e)
        })
    }

    /// The CSV text [`Manifest::write`] writes for the file `path`.
    pub fn to_csv(path: impl AsRef<Path>, samples: &[Sample]) -> String {
        let base = path.as_ref().parent().unwrap_or(Path::new(""));
        let rel = |p: &Path| {
            let shown = p.strip_prefix(base).unwrap_or(p);
            let s = shown.to_string_lossy();
            // Manifests use `/` on every platform.
            let s = if cfg!(windows) {
                s.replace('\\', "/")
            } else {
                s.into_owned()
            };
            csv::quote(&s)
        };
        let mut out = String::from("image,label,mask,split,group\n");
        for s in samples {
            let fields = [
                rel(&s.image),
                s.label.to_string(),
                s.mask.as_deref().map(rel).unwrap_or_default(),
                s.split.map(|x| x.as_str().to_string()).unwrap_or_default(),
                s.group.as_deref().map(csv::quote).unwrap_or_default(),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }
}
