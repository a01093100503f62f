//! The raw command-line flags (clap derive); [`crate::Config::from_args`] validates them.

use std::path::PathBuf;

use clap::Parser;

use crate::record::Format;

/// What the exit codes mean (shown at the end of `--help`).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every image was processed and every part is good (score below the threshold)
  1  every image was processed and at least one part is rejected (decision `defect`)
  2  an error: bad flags, a model file that cannot be used (missing, not a ceod checkpoint,
     unknown format version), a device that is not available, no input at all (no INPUT
     names an image file: an empty directory, an empty list on stdin; or a --watch that reaches
     its --timeout without any file to process), stdout closed,
     or ANY input that could not be processed (missing, unreadable, not a decodable image);
     such an input still gets its own record (decision `error`) and the others go on";

/// `ceod-infer`: a ceod checkpoint and images in, one decision per image out.
///
/// The model card inside the checkpoint decides the preprocessing (size, channels, resize rule,
/// normalisation) and the threshold, so there are no flags to get them wrong.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ceod-infer",
    version,
    about = "Classify images as good or defect with a ceod checkpoint.",
    long_about = "Classify images as good or defect with a ceod checkpoint.\n\n\
        One record per image on stdout (JSON lines by default: path, score, decision, threshold, \
        model, ms); logs on stderr. The checkpoint's model card decides the preprocessing and \
        the threshold.",
    after_help = EXIT_CODES
)]
pub struct Args {
    /// The checkpoint: a `.safetensors` file with a ceod model card.
    #[arg(short, long, value_name = "M.safetensors")]
    pub model: PathBuf,

    /// Image files, directories (searched recursively for png, jpg/jpeg, bmp, tif/tiff), or `-`
    /// to read a list of paths from stdin, one per line.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Watch this directory (recursively) and classify each image file that appears in it, once,
    /// when it is completely written (size and time unchanged over two polls, or renamed in).
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,

    /// Milliseconds between two polls of `--watch`.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub watch_interval_ms: u64,

    /// With `--watch`, also classify the files already in the directory at start.
    #[arg(long)]
    pub watch_existing: bool,

    /// Stop after this many records (inputs and watched files together); a warning says how many
    /// inputs were left unprocessed.
    #[arg(long, value_name = "N")]
    pub max_files: Option<usize>,

    /// Stop watching after this many seconds (the INPUTs are always processed completely).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub timeout: Option<f64>,

    /// Output format of the records.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Decision threshold on the defect probability, in [0, 1]; default: the model card's.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub threshold: Option<f64>,

    /// Images per forward pass (throughput); a watched directory never waits to fill a batch.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub batch: usize,

    /// Write, per image, a heat-map overlay PNG and the raw CAM as float32 `.npy`, at feature
    /// resolution and at image size, into this directory (created if missing):
    /// `<stem>.overlay.png`, `<stem>.cam.npy` (h × w), `<stem>.cam_image.npy` (image rows ×
    /// columns); a stem seen before in the run gets `-2`, `-3`, …
    #[arg(long, value_name = "DIR")]
    pub cam_out: Option<PathBuf>,

    /// Compute device: `cpu`, `cuda`, `cuda:N`, `metal` or `auto` (GPU if this build and the
    /// machine have one, else CPU).
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    pub device: String,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}
