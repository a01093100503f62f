//! Output paths that must not replace the command's inputs (`eval --out`, `explain --out`).

use std::path::{Path, PathBuf};

use crate::config::UsageError;

/// The path as it resolves on disk: canonicalised when it exists, otherwise its canonicalised
/// parent joined with its file name (the path itself when neither resolves).
pub fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |p| p.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// A usage error when the output `out` of `flag` resolves to one of `inputs`.
///
/// ```
/// use ceod_train::out_guard::refuse_inputs;
/// let dir = tempfile::tempdir().unwrap();
/// let model = dir.path().join("m.safetensors");
/// std::fs::write(&model, b"weights").unwrap();
/// assert!(refuse_inputs("--out", &model, [model.as_path()]).is_err());
/// assert!(refuse_inputs("--out", &dir.path().join("eval.json"), [model.as_path()]).is_ok());
/// ```
pub fn refuse_inputs<'a>(
    flag: &str,
    out: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<(), UsageError> {
    let target = resolve(out);
    for input in inputs {
        if resolve(input) == target {
            return Err(UsageError(format!(
                "{flag} {} is an input of this command ({}): it would be overwritten; \
                 choose another path",
                out.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_are_recognised() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let data = d.join("data.csv");
        std::fs::write(&data, b"image,label\n").unwrap();
        let other = d.join("sub/../data.csv");
        assert!(refuse_inputs("--out", &other, [data.as_path()]).is_err());
        assert!(refuse_inputs("--out", &d.join("sub/data.csv"), [data.as_path()]).is_ok());
        // a file that does not exist yet resolves through its parent
        assert_eq!(
            resolve(&d.join("sub/../new.json")),
            resolve(d).join("new.json")
        );
    }
}
