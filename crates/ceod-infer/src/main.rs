//! `ceod-infer`: a ceod checkpoint and images in, one decision per image out.
//!
//! `main` parses the flags, validates them into a [`Config`], runs, and maps the outcome to the
//! exit code (0 all good, 1 some part rejected, 2 an error; see `--help`).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ceod_infer::{Args, Config, run};

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal: logs redirected to a file stay plain text
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    // Before anything allocates: keep glibc from mmap-ing (and page-faulting) every large
    // tensor of a batch anew (docs/PERFORMANCE.md, "Fast CPU path").
    let _ = ceod_core::cpu::tune_allocator();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(args.verbose, args.quiet);
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ceod-infer: {e}");
            return ExitCode::from(2);
        }
    };
    match run::run(&config) {
        Ok(summary) => ExitCode::from(summary.exit_code()),
        Err(e) => {
            eprintln!("ceod-infer: {e:#}");
            ExitCode::from(2)
        }
    }
}
