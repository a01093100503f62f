//! `--watch DIR`: a polling watcher (std only) for files that appear while the binary runs.
//!
//! Each poll lists the directory recursively with the same filter as input directories
//! ([`crate::inputs::walk_dir_excluding`]: image extensions, no hidden names, not the
//! `--cam-out` directory). A file is taken, once and
//! never again (by path), when it is complete:
//! - its size and modification time are the same in two consecutive polls, or
//! - it is seen for the first time with a modification time older than the previous poll by more
//!   than [`MOVED_IN_MARGIN`]: it was written before that poll and could not be seen then, so it
//!   was renamed or moved in, complete (a writer that writes `frame.tmp` and renames it to
//!   `frame.png` is served at the first poll that sees it, otherwise one interval later). The
//!   margin covers coarse file-system clocks (the kernel stamps files with a clock that lags by up
//!   to a tick; FAT has 2 s granularity).
//!
//! An empty file is taken by the same rules (a writer that has created the file and is about to
//! write keeps changing it), as an [`Input::Failed`] item: `empty file`. Files present when the
//! watcher starts are skipped unless [`WatchOptions::include_existing`] is set.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::inputs::{Exclude, Input, walk_dir_excluding};

/// How much older than the previous poll a newly seen file must be to count as moved in whole.
pub const MOVED_IN_MARGIN: Duration = Duration::from_secs(2);

/// Options of [`DirWatcher`].
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOptions {
    /// Time between polls.
    pub interval: Duration,
    /// Also take the files already there at start (default: only files that appear later).
    pub include_existing: bool,
    /// Directories left out of the watch (the `--cam-out` directory), with everything under them.
    pub exclude: Exclude,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(200),
            include_existing: false,
            exclude: Exclude::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    len: u64,
    mtime: Option<SystemTime>,
}

/// A directory watcher that yields each completely written image file once.
///
/// ```
/// use ceod_infer::watch::{DirWatcher, WatchOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
/// assert!(w.poll().unwrap().is_empty());
/// std::fs::write(dir.path().join("a.png"), b"not yet decoded").unwrap();
/// let mut taken = Vec::new();
/// for _ in 0..3 {
///     taken.extend(w.poll().unwrap()); // seen, then stable: taken
/// }
/// let paths: Vec<_> = taken.iter().map(|i| i.path().to_path_buf()).collect();
/// assert_eq!(paths, vec![dir.path().join("a.png")]);
/// ```
#[derive(Debug)]
pub struct DirWatcher {
    root: PathBuf,
    options: WatchOptions,
    taken: HashSet<PathBuf>,
    pending: HashMap<PathBuf, Stat>,
    last_poll: Option<SystemTime>,
}

/// Errors of the watcher.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watched path is not a readable directory.
    #[error("cannot watch {path}: {reason}")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be watched.
        reason: String,
    },
}

impl DirWatcher {
    /// Starts watching `root`; unless `include_existing`, the files there now are never taken.
    pub fn new(root: &Path, options: WatchOptions) -> Result<Self, WatchError> {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(WatchError::NotADirectory {
                    path: root.to_path_buf(),
                    reason: "not a directory".into(),
                });
            }
            Err(e) => {
                return Err(WatchError::NotADirectory {
                    path: root.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        }
        let mut w = Self {
            root: root.to_path_buf(),
            options,
            taken: HashSet::new(),
            pending: HashMap::new(),
            last_poll: None,
        };
        if !w.options.include_existing {
            for item in walk_dir_excluding(&w.root, &w.options.exclude) {
                if let Input::File(p) = item {
                    w.taken.insert(p);
                }
            }
            w.last_poll = Some(SystemTime::now());
        }
        Ok(w)
    }

    /// The poll interval.
    pub fn interval(&self) -> Duration {
        self.options.interval
    }

    /// The watched directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Lists the directory once and returns the files that became complete, sorted by path
    /// (an empty one as an [`Input::Failed`] item).
    ///
    /// Listing errors of subdirectories are logged and retried at the next poll.
    pub fn poll(&mut self) -> Result<Vec<Input>, WatchError> {
        let now = SystemTime::now();
        let mut ready = Vec::new();
        let mut still_pending = HashMap::new();
        for item in walk_dir_excluding(&self.root, &self.options.exclude) {
            let path = match item {
                Input::File(p) => p,
                Input::Failed { path, error } => {
                    tracing::debug!(path = %path.display(), %error, "watch: listing failed, retrying");
                    continue;
                }
            };
            if self.taken.contains(&path) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue; // vanished between listing and stat
            };
            let stat = Stat {
                len: meta.len(),
                mtime: meta.modified().ok(),
            };
            let stable = self.pending.get(&path) == Some(&stat);
            let moved_in = !self.pending.contains_key(&path)
                && matches!((stat.mtime, self.last_poll), (Some(m), Some(l)) if m + MOVED_IN_MARGIN < l);
            if stable || moved_in {
                self.taken.insert(path.clone());
                ready.push(if stat.len == 0 {
                    Input::Failed {
                        path,
                        error: "empty file".into(),
                    }
                } else {
                    Input::File(path)
                });
            } else {
                still_pending.insert(path, stat);
            }
        }
        self.pending = still_pending;
        self.last_poll = Some(now);
        ready.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    fn files(items: Vec<Input>) -> Vec<PathBuf> {
        items
            .into_iter()
            .map(|i| match i {
                Input::File(p) => p,
                Input::Failed { path, error } => panic!("{}: {error}", path.display()),
            })
            .collect()
    }

    #[test]
    fn a_file_that_stays_empty_is_taken_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
        let p = dir.path().join("zero.png");
        fs::File::create(&p).unwrap();
        assert!(w.poll().unwrap().is_empty(), "first sight");
        let got = w.poll().unwrap();
        assert_eq!(
            got,
            vec![Input::Failed {
                path: p,
                error: "empty file".into()
            }]
        );
        assert!(files(w.poll().unwrap()).is_empty(), "never twice");
    }

    #[test]
    fn existing_files_are_skipped_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("old.png"), b"abc").unwrap();
        let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
        assert!(files(w.poll().unwrap()).is_empty());
        assert!(files(w.poll().unwrap()).is_empty());
        let opts = WatchOptions {
            include_existing: true,
            ..Default::default()
        };
        let mut w = DirWatcher::new(dir.path(), opts).unwrap();
        let mut got = files(w.poll().unwrap());
        got.extend(files(w.poll().unwrap()));
        assert_eq!(got, vec![dir.path().join("old.png")]);
    }

    #[test]
    fn a_growing_file_waits_until_its_size_is_stable_and_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
        let p = dir.path().join("frame.png");
        let mut f = fs::File::create(&p).unwrap();
        assert!(
            files(w.poll().unwrap()).is_empty(),
            "an empty file is not taken at first sight"
        );
        f.write_all(b"part one").unwrap();
        f.flush().unwrap();
        assert!(
            files(w.poll().unwrap()).is_empty(),
            "first sight of a fresh file"
        );
        f.write_all(b" and part two").unwrap();
        f.flush().unwrap();
        assert!(
            files(w.poll().unwrap()).is_empty(),
            "size changed since last poll"
        );
        assert_eq!(
            files(w.poll().unwrap()),
            vec![p.clone()],
            "stable over two polls"
        );
        for _ in 0..3 {
            assert!(files(w.poll().unwrap()).is_empty(), "never twice");
        }
        f.write_all(b" more").unwrap();
        drop(f);
        assert!(
            files(w.poll().unwrap()).is_empty(),
            "rewritten file is not taken again"
        );
        assert!(files(w.poll().unwrap()).is_empty());
    }

    #[test]
    fn a_file_renamed_in_is_taken_at_the_first_poll_that_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("frame.png.part");
        fs::write(&tmp, b"complete image bytes").unwrap();
        // Written (and closed) a while ago, as a camera's finished frame would be.
        let old = SystemTime::now() - 3 * MOVED_IN_MARGIN;
        fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
        assert!(
            files(w.poll().unwrap()).is_empty(),
            ".part is not an image extension"
        );
        let dst = dir.path().join("frame.png");
        fs::rename(&tmp, &dst).unwrap();
        assert_eq!(files(w.poll().unwrap()), vec![dst]);
    }

    #[test]
    fn subdirectories_are_watched_and_hidden_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DirWatcher::new(dir.path(), WatchOptions::default()).unwrap();
        fs::create_dir(dir.path().join("cam2")).unwrap();
        fs::write(dir.path().join("cam2/x.bmp"), b"bytes").unwrap();
        fs::write(dir.path().join(".y.png"), b"bytes").unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(files(w.poll().unwrap()));
        }
        assert_eq!(got, vec![dir.path().join("cam2/x.bmp")]);
    }

    #[test]
    fn watching_a_file_or_nothing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.png");
        fs::write(&f, b"x").unwrap();
        assert!(DirWatcher::new(&f, WatchOptions::default()).is_err());
        assert!(DirWatcher::new(&dir.path().join("nope"), WatchOptions::default()).is_err());
    }
}
