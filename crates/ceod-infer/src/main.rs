//! `ceod-infer`: the factory-line binary (filled in by the infer issue).

fn main() {
    eprintln!("ceod-infer: not built yet");
    std::process::exit(2);
}
