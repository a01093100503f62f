//! Atomic file writes: the bytes go to a temporary file beside the target, which is then renamed
//! over it, so a reader (or a crash) never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name used for `path`: `.<file name>.tmp-<pid>` in the same folder (a rename
/// within one folder is atomic on the file systems this runs on).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temporary file, flush, rename). On an error the temporary
/// file is removed and `path` is untouched.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("ceod-infer-atomic-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let p = dir.join("a.bin");
/// ceod_infer::atomic::write_bytes(&p, b"abc")?;
/// assert_eq!(std::fs::read(&p)?, b"abc");
/// assert!(!ceod_infer::atomic::temp_path(&p).exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// The I/O error of creating, writing or renaming.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_an_existing_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        std::fs::write(&p, b"old contents").unwrap();
        write_bytes(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        // the target's folder does not exist: create fails, nothing is left behind
        let p = dir.path().join("missing").join("x.npy");
        assert!(write_bytes(&p, b"new").is_err());
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
