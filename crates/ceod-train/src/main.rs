//! `ceod-train`: the researcher's binary (filled in by the train issue).

fn main() {
    eprintln!("ceod-train: no subcommands yet");
    std::process::exit(2);
}
