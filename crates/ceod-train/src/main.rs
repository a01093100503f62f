//! `ceod-train`: train, eval, explain, overlap, demo.
//!
//! Exit codes: 0 success, 1 the run failed (bad data, a NaN loss, an I/O error), 2 a usage or
//! configuration error.

use std::process::ExitCode;

use ceod_train::cli::{Cli, Command};
use ceod_train::commands;
use ceod_train::config::UsageError;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let result = match &cli.command {
        Command::Train(a) => commands::train(a),
        Command::Eval(a) => commands::eval(a),
        Command::Explain(a) => commands::explain_cmd(a),
        Command::Overlap(a) => commands::overlap_cmd(a),
        Command::Demo(a) => commands::demo(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<UsageError>().is_some()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
