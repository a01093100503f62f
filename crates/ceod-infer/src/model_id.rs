//! The model id written in every record: the checkpoint's file stem, `@`, and the first 12 hex
//! digits of the FNV-1a 64-bit hash of the checkpoint file's bytes (weights and card together,
//! so retrained weights under the same file name get a new id).

use std::path::Path;

/// FNV-1a, 64 bits (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`).
///
/// ```
/// // The published test vectors of FNV-1a 64.
/// assert_eq!(ceod_infer::model_id::fnv1a64(b""), 0xcbf29ce484222325);
/// assert_eq!(ceod_infer::model_id::fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
/// assert_eq!(ceod_infer::model_id::fnv1a64(b"foobar"), 0x85944171f73967e8);
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `stem@hhhhhhhhhhhh` for the checkpoint at `path` with content `bytes`.
///
/// ```
/// use std::path::Path;
/// let id = ceod_infer::model_id::model_id(Path::new("/models/line3.safetensors"), b"foobar");
/// assert_eq!(id, "line3@85944171f739");
/// ```
pub fn model_id(path: &Path, bytes: &[u8]) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string());
    let hash = format!("{:016x}", fnv1a64(bytes));
    format!("{stem}@{}", &hash[..12])
}
