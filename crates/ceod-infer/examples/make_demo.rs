//! Writes a seeded `ceodnet-s` checkpoint (128×128 grey) and `N` synthetic PNG images, for trying
//! the binary and for `benches/run.sh`: `cargo run -p ceod-infer --example make_demo -- DIR [N]`.

use std::path::PathBuf;

use candle_core::{DType, Device};
use ceod_core::synth::{SynthConfig, generate};
use ceod_core::{CeodNet, ModelCard, ModelConfig, Preprocess, data::Split, save_checkpoint};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "ceod-demo".into()));
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let images = dir.join("images");
    std::fs::create_dir_all(&images)?;
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = CeodNet::seeded(&cfg, 0, DType::F32, &Device::Cpu)?;
    let card = ModelCard::new(cfg, Preprocess::default());
    save_checkpoint(dir.join("ceodnet-s.safetensors"), &net, &card)?;
    let samples = generate(&SynthConfig::for_split(Split::Test, n, 7))?;
    for (i, s) in samples.iter().enumerate() {
        s.to_gray_image().save(images.join(format!("{i:04}.png")))?;
    }
    println!("{}", dir.display());
    Ok(())
}
