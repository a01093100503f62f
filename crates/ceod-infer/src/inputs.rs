//! Input collection: files, directories (recursively), `-` for a list of paths on stdin.
//!
//! Rules:
//! - a file named on the command line (or on stdin) is always taken, whatever its extension: the
//!   decoder looks at its content;
//! - a directory is walked recursively in sorted order; it contributes the files whose extension
//!   is one the `image` crate is built with here ([`IMAGE_EXTENSIONS`], case-insensitive); hidden
//!   entries (names starting with `.`) are skipped; symbolic links to files are followed, links to
//!   directories are not (no cycles; logged at info level, once per link); a dangling link with
//!   an image extension becomes an [`Input::Failed`] item;
//! - directories listed in an [`Exclude`] (the `--cam-out` directory) are not walked, compared
//!   by canonical path, so a run never classifies its own heat-map overlays;
//! - a path that does not exist or cannot be listed becomes an [`Input::Failed`] item: it gets its
//!   own error record and the run goes on.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// File extensions taken from directories: the formats the `image` dependency is built with.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff"];

/// One item to process: an image path, or a path that already failed before decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A file to decode and classify.
    File(PathBuf),
    /// A path that could not be used (missing, unreadable directory, ...), with the reason.
    Failed {
        /// The path as given or found.
        path: PathBuf,
        /// Why it failed.
        error: String,
    },
}

impl Input {
    /// The path of the item.
    pub fn path(&self) -> &Path {
        match self {
            Input::File(p) => p,
            Input::Failed { path, .. } => path,
        }
    }
}

/// True when `path` has one of the [`IMAGE_EXTENSIONS`] (case-insensitive).
///
/// ```
/// use std::path::Path;
/// assert!(ceod_infer::inputs::has_image_extension(Path::new("a/b.PNG")));
/// assert!(ceod_infer::inputs::has_image_extension(Path::new("frame.tiff")));
/// assert!(!ceod_infer::inputs::has_image_extension(Path::new("notes.txt")));
/// assert!(!ceod_infer::inputs::has_image_extension(Path::new("png")));
/// ```
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// True for names starting with `.` (hidden files, editors' and copy tools' temporary files).
pub fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with('.'))
}

/// Directories that directory walks and `--watch` leave out (with everything under them),
/// compared by canonical path; the first time one is left out it is logged at debug level.
///
/// Clones share what was logged (this and the links to directories not followed), so each
/// message appears once per run.
///
/// ```
/// use ceod_infer::inputs::{Exclude, walk_dir_excluding};
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join("cams")).unwrap();
/// std::fs::write(dir.path().join("cams/a.overlay.png"), b"x").unwrap();
/// std::fs::write(dir.path().join("b.png"), b"x").unwrap();
/// let ex = Exclude::new([dir.path().join("cams")]);
/// let found = walk_dir_excluding(dir.path(), &ex);
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].path(), dir.path().join("b.png"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    dirs: Vec<PathBuf>,
    logged: Arc<AtomicBool>,
    linked_dirs_logged: Arc<Mutex<HashSet<PathBuf>>>,
}

impl PartialEq for Exclude {
    fn eq(&self, other: &Self) -> bool {
        self.dirs == other.dirs
    }
}

impl Exclude {
    /// Leaves out `dirs` (canonicalised now; a directory that cannot be canonicalised, e.g. one
    /// that does not exist yet, is kept as given).
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        Self {
            dirs: dirs
                .into_iter()
                .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
                .collect(),
            logged: Arc::default(),
            linked_dirs_logged: Arc::default(),
        }
    }

    /// Logs (at info, once per path and run) that the link to a directory `path` is not followed.
    fn log_linked_dir(&self, path: &Path) {
        let first = self
            .linked_dirs_logged
            .lock()
            .map(|mut set| set.insert(path.to_path_buf()))
            .unwrap_or(true);
        if first {
            tracing::info!(path = %path.display(), "symbolic link to a directory: not followed");
        }
    }

    /// True when `dir` is one of the excluded directories or lies under one (logs the first time).
    pub fn contains(&self, dir: &Path) -> bool {
        if self.dirs.is_empty() {
            return false;
        }
        let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let hit = self.dirs.iter().any(|d| canon.starts_with(d));
        if hit && !self.logged.swap(true, Ordering::Relaxed) {
            tracing::debug!(dir = %dir.display(), "not walked: the --cam-out directory (or under it)");
        }
        hit
    }
}

/// All image files under `dir`, recursively, sorted by path within each directory (depth first).
///
/// Entries that cannot be read are returned as [`Input::Failed`].
pub fn walk_dir(dir: &Path) -> Vec<Input> {
    walk_dir_excluding(dir, &Exclude::default())
}

/// As [`walk_dir`], leaving out the directories of `exclude` and everything under them.
pub fn walk_dir_excluding(dir: &Path, exclude: &Exclude) -> Vec<Input> {
    let mut out = Vec::new();
    walk_into(dir, exclude, &mut out);
    out
}

fn walk_into(dir: &Path, exclude: &Exclude, out: &mut Vec<Input>) {
    if exclude.contains(dir) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            out.push(Input::Failed {
                path: dir.to_path_buf(),
                error: format!("cannot list directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<(PathBuf, Entry)> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.push(Input::Failed {
                    path: dir.to_path_buf(),
                    error: format!("cannot read directory entry: {e}"),
                });
                continue;
            }
        };
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        // file_type() does not follow links: a link to a directory is not descended into.
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        let kind = match entry.file_type() {
            Ok(t) if t.is_dir() => Entry::Dir,
            _ if is_link => match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => Entry::LinkedDir,
                Ok(_) => Entry::File,
                Err(e) => Entry::Dangling(e.to_string()),
            },
            _ => Entry::File,
        };
        paths.push((path, kind));
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        match kind {
            Entry::Dir => walk_into(&path, exclude, out),
            Entry::LinkedDir => exclude.log_linked_dir(&path),
            Entry::Dangling(e) if has_image_extension(&path) => out.push(Input::Failed {
                error: format!("dangling symbolic link: {e}"),
                path,
            }),
            Entry::Dangling(_) => {}
            Entry::File if has_image_extension(&path) && path.is_file() => {
                out.push(Input::File(path));
            }
            Entry::File => {}
        }
    }
}

/// What a directory entry is, links followed once.
enum Entry {
    Dir,
    LinkedDir,
    Dangling(String),
    File,
}

/// Expands one command-line argument (a file, a directory, or a path that fails).
///
/// `-` is not handled here (see [`InputStream`]).
pub fn expand(arg: &Path) -> Vec<Input> {
    expand_excluding(arg, &Exclude::default())
}

/// As [`expand`], a directory being walked with [`walk_dir_excluding`].
pub fn expand_excluding(arg: &Path, exclude: &Exclude) -> Vec<Input> {
    match std::fs::metadata(arg) {
        Ok(m) if m.is_dir() => walk_dir_excluding(arg, exclude),
        Ok(_) => vec![Input::File(arg.to_path_buf())],
        Err(e) => vec![Input::Failed {
            path: arg.to_path_buf(),
            error: format!("cannot open: {e}"),
        }],
    }
}

/// Lazily expands command-line inputs in order; `-` reads one path per line from a reader
/// (stdin in the binary) as the lines arrive, so `find ... | ceod-infer -` streams.
///
/// Blank lines are skipped; a trailing `\r` is removed; a path read from the list is expanded like
/// a command-line argument (a directory named there is walked too).
///
/// ```
/// use ceod_infer::inputs::{Input, InputStream};
/// use std::path::PathBuf;
/// let list = std::io::Cursor::new("a.png\n\nb.png\r\n");
/// let items: Vec<Input> =
///     InputStream::new(vec![PathBuf::from("-")], Box::new(list)).collect();
/// let paths: Vec<_> = items.iter().map(|i| i.path().to_path_buf()).collect();
/// // Missing files are failed items with their own record, in order.
/// assert_eq!(paths, vec![PathBuf::from("a.png"), PathBuf::from("b.png")]);
/// ```
pub struct InputStream {
    args: VecDeque<PathBuf>,
    stdin: Option<Box<dyn BufRead>>,
    reading_stdin: bool,
    stdin_used: bool,
    queue: VecDeque<Input>,
    exclude: Exclude,
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream")
            .field("args", &self.args)
            .field("reading_stdin", &self.reading_stdin)
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl InputStream {
    /// A stream over `args`; `stdin` is read where an argument is `-` (only the first `-` reads
    /// it; a second `-` has nothing left to read).
    pub fn new(args: Vec<PathBuf>, stdin: Box<dyn BufRead>) -> Self {
        Self {
            args: args.into(),
            stdin: Some(stdin),
            reading_stdin: false,
            stdin_used: false,
            queue: VecDeque::new(),
            exclude: Exclude::default(),
        }
    }

    /// Counts the items not taken yet, expanding the remaining arguments, without reading more of
    /// stdin (a list on stdin may never end); the flag is true when stdin still had lines to give
    /// (or was never read) there.
    ///
    /// ```
    /// use ceod_infer::inputs::InputStream;
    /// use std::path::PathBuf;
    /// let list = std::io::Cursor::new("a.png\nb.png\n");
    /// let mut s = InputStream::new(vec!["x.png".into(), "-".into()], Box::new(list));
    /// assert_eq!(s.next().unwrap().path(), std::path::Path::new("x.png"));
    /// assert_eq!(s.count_rest_without_stdin(), (0, true));
    /// ```
    pub fn count_rest_without_stdin(&mut self) -> (usize, bool) {
        let mut n = self.queue.len();
        self.queue.clear();
        let mut stdin_unread = self.reading_stdin;
        while let Some(arg) = self.args.pop_front() {
            if arg.as_os_str() == "-" {
                if !self.stdin_used {
                    self.stdin_used = true;
                    stdin_unread = true;
                }
                continue;
            }
            n += expand_excluding(&arg, &self.exclude).len();
        }
        (n, stdin_unread)
    }

    /// Leaves the directories of `exclude` out of the directory walks.
    pub fn excluding(mut self, exclude: Exclude) -> Self {
        self.exclude = exclude;
        self
    }

    fn next_stdin_line(&mut self) -> Option<Input> {
        let reader = self.stdin.as_mut()?;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    self.reading_stdin = false;
                    self.stdin = None;
                    return None;
                }
                Ok(_) => {
                    let trimmed = line.trim_end_matches(['\n', '\r']);
                    if trimmed.trim().is_empty() {
                        continue;
                    }
                    self.queue
                        .extend(expand_excluding(Path::new(trimmed), &self.exclude));
                    if let Some(item) = self.queue.pop_front() {
                        return Some(item);
                    }
                }
                Err(e) => {
                    self.reading_stdin = false;
                    self.stdin = None;
                    return Some(Input::Failed {
                        path: PathBuf::from("-"),
                        error: format!("cannot read the path list on stdin: {e}"),
                    });
                }
            }
        }
    }
}

impl Iterator for InputStream {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.reading_stdin {
                if let Some(item) = self.next_stdin_line() {
                    return Some(item);
                }
                continue;
            }
            let arg = self.args.pop_front()?;
            if arg.as_os_str() == "-" {
                if !self.stdin_used {
                    self.stdin_used = true;
                    self.reading_stdin = true;
                }
                continue;
            }
            self.queue.extend(expand_excluding(&arg, &self.exclude));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(p: &Path) {
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn walk_is_recursive_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for name in [
            "b.png",
            "a.JPG",
            "c.txt",
            "sub/z.tif",
            "sub/deeper/y.bmp",
            ".hidden.png",
            ".git/x.png",
            "sub/w.jpeg",
            "sub/v.tiff",
            "noext",
        ] {
            touch(&r.join(name));
        }
        let got: Vec<PathBuf> = walk_dir(r)
            .into_iter()
            .map(|i| match i {
                Input::File(p) => p.strip_prefix(r).unwrap().to_path_buf(),
                Input::Failed { path, error } => panic!("{path:?}: {error}"),
            })
            .collect();
        let want: Vec<PathBuf> = [
            "a.JPG",
            "b.png",
            "sub/deeper/y.bmp",
            "sub/v.tiff",
            "sub/w.jpeg",
            "sub/z.tif",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn explicit_files_are_taken_whatever_the_extension_and_missing_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("frame.raw");
        touch(&f);
        let missing = dir.path().join("missing.png");
        let items: Vec<Input> =
            InputStream::new(vec![f.clone(), missing.clone()], Box::new(std::io::empty()))
                .collect();
        assert_eq!(items[0], Input::File(f));
        assert!(matches!(&items[1], Input::Failed { path, .. } if *path == missing));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn stdin_list_is_read_in_place_of_dash_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        let sub = dir.path().join("sub");
        touch(&a);
        touch(&sub.join("b.png"));
        touch(&sub.join("c.png"));
        let list = format!("{}\n\n{}\r\n", a.display(), sub.display());
        let first = dir.path().join("first.png");
        touch(&first);
        let items: Vec<PathBuf> = InputStream::new(
            vec![first.clone(), "-".into(), "-".into()],
            Box::new(std::io::Cursor::new(list)),
        )
        .map(|i| i.path().to_path_buf())
        .collect();
        assert_eq!(items, vec![first, a, sub.join("b.png"), sub.join("c.png")]);
    }
}
