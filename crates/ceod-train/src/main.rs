//! `ceod-train`: train, eval, explain, overlap, demo.

fn main() {
    std::process::exit(2);
}
