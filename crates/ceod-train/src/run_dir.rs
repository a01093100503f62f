//! The run folder `runs/<name>/` and atomic file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then renamed
/// over the target, so a reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot flush {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// The files of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub root: PathBuf,
}

impl RunDir {
    /// Opens (creating it) the run folder `root`.
    pub fn create(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the run folder {}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// `config.json`: the resolved configuration.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    /// `metrics.jsonl`: one line per epoch.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `last.safetensors`: the checkpoint after the last finished epoch.
    pub fn last(&self) -> PathBuf {
        self.root.join("last.safetensors")
    }
    /// `best.safetensors`: the checkpoint with the best validation metric so far.
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }
    /// `last.state.safetensors`: optimiser moments and loop state belonging to `last`.
    pub fn state(&self) -> PathBuf {
        self.root.join("last.state.safetensors")
    }
    /// `curves/`: training-curve PNGs.
    pub fn curves(&self) -> PathBuf {
        self.root.join("curves")
    }
    /// `overlays/`: heat-map overlays written after training.
    pub fn overlays(&self) -> PathBuf {
        self.root.join("overlays")
    }
}

/// The files of an earlier run in `root` (`config.json`, `metrics.jsonl`, any
/// `.safetensors` checkpoint), sorted; empty when the folder is absent or holds no run.
pub fn existing_run_files(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == "config.json" || n == "metrics.jsonl" || n.ends_with(".safetensors")
                })
        })
        .collect();
    found.sort();
    found
}

/// Deletes the files of an earlier run in `root` (those of [`existing_run_files`]), so that a
/// replaced run leaves no stale checkpoint behind.
pub fn clear_run(root: &Path) -> anyhow::Result<()> {
    for p in existing_run_files(root) {
        std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
    }
    Ok(())
}

/// Rewrites a JSON-lines file from all its records, atomically (so after a resume the file holds
/// exactly the epochs of the restored state, never a line of an epoch that was rolled back).
pub fn write_jsonl_atomic<T: Serialize>(path: &Path, records: &[T]) -> anyhow::Result<()> {
    let mut s = String::new();
    for r in records {
        s.push_str(&serde_json::to_string(r)?);
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn existing_runs_are_found_and_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert!(existing_run_files(&d.join("absent")).is_empty());
        std::fs::write(d.join("notes.txt"), b"keep").unwrap();
        assert!(existing_run_files(d).is_empty());
        std::fs::write(d.join("metrics.jsonl"), b"{}").unwrap();
        std::fs::write(d.join("best.safetensors"), b"x").unwrap();
        assert_eq!(
            existing_run_files(d),
            vec![d.join("best.safetensors"), d.join("metrics.jsonl")]
        );
        clear_run(d).unwrap();
        assert!(existing_run_files(d).is_empty());
        assert!(d.join("notes.txt").exists());
    }

    #[test]
    fn jsonl_has_one_line_per_record() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.jsonl");
        write_jsonl_atomic(
            &p,
            &[
                serde_json::json!({"epoch": 1}),
                serde_json::json!({"epoch": 2}),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["epoch"], 2);
    }
}
