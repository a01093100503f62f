//! Running the `ceod-train` binary from integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ceod-train"))
}

/// Runs the binary with `args` in `cwd` (logs at `warn`); prints its stderr when it fails.
pub fn run(args: &[&str], cwd: &Path) -> Output {
    let out = bin()
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("ceod-train runs");
    if !out.status.success() {
        eprintln!(
            "stderr of {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}
