//! Where the loop reports its progress: a bar on a terminal, log lines otherwise.

use std::io::IsTerminal;

/// Receives the progress of a phase (an epoch, an evaluation) of known length.
pub trait ProgressSink {
    /// A phase of `total` steps begins.
    fn begin(&mut self, label: &str, total: u64);
    /// One step is done; `message` is a short status (the running loss).
    fn step(&mut self, message: &str);
    /// The phase is done; `summary` says how it went.
    fn finish(&mut self, summary: &str);
}

/// An indicatif bar on stderr.
#[derive(Debug, Default)]
pub struct BarSink {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressSink for BarSink {
    fn begin(&mut self, label: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        self.bar = Some(bar);
    }
    fn step(&mut self, message: &str) {
        if let Some(b) = &self.bar {
            b.set_message(message.to_string());
            b.inc(1);
        }
    }
    fn finish(&mut self, summary: &str) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("{summary}");
    }
}

/// Log lines through `tracing` (a line per phase; steps at debug level).
#[derive(Debug, Default)]
pub struct LogSink {
    label: String,
    done: u64,
    total: u64,
}

impl ProgressSink for LogSink {
    fn begin(&mut self, label: &str, total: u64) {
        self.label = label.to_string();
        self.done = 0;
        self.total = total;
    }
    fn step(&mut self, message: &str) {
        self.done += 1;
        tracing::debug!("{} {}/{} {}", self.label, self.done, self.total, message);
    }
    fn finish(&mut self, summary: &str) {
        tracing::info!("{summary}");
    }
}

/// No output at all (benches, library use).
#[derive(Debug, Default)]
pub struct NullSink;

impl ProgressSink for NullSink {
    fn begin(&mut self, _: &str, _: u64) {}
    fn step(&mut self, _: &str) {}
    fn finish(&mut self, _: &str) {}
}

/// A bar when stderr is a terminal, log lines otherwise.
pub fn default_sink() -> Box<dyn ProgressSink> {
    if std::io::stderr().is_terminal() {
        Box::new(BarSink::default())
    } else {
        Box::new(LogSink::default())
    }
}
