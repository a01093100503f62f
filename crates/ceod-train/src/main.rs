//! `ceod-train`: train, eval, explain, overlap, demo, experiment.
//!
//! Exit codes: 0 success, 1 the run failed (bad data, a NaN loss, an I/O error), 2 a usage or
//! configuration error.

use std::process::ExitCode;

use ceod_train::cli::{Cli, Command, explicit_flags};
use ceod_train::commands;
use ceod_train::config::UsageError;
use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // glibc's default mmap threshold returns every large tensor buffer to the OS and faults it
    // back in on the next step; raised thresholds keep them (docs/PERFORMANCE.md, allocator)
    let _ = ceod_core::cpu::tune_allocator();
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Train(a), Some(("train", sub)), Some(train)) = (
        &mut cli.command,
        matches.subcommand(),
        command.find_subcommand("train"),
    ) {
        a.explicit = explicit_flags(train, sub);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal: logs redirected to a file stay plain text
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match &cli.command {
        Command::Train(a) => commands::train(a),
        Command::Eval(a) => commands::eval(a),
        Command::Explain(a) => commands::explain_cmd(a),
        Command::Overlap(a) => commands::overlap_cmd(a),
        Command::Demo(a) => commands::demo(a),
        Command::Experiment(a) => ceod_train::experiment::runner::experiment_cmd(a),
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
