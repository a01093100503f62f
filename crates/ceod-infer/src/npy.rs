//! A minimal NPY v1.0 writer (and reader, for round trips) for `float32` arrays.
//!
//! The format: the magic `\x93NUMPY`, version `1.0`, a little-endian `u16` header length, an ASCII
//! Python dict `{'descr': '<f4', 'fortran_order': False, 'shape': (h, w), }` padded with spaces and
//! ended by `\n` so that the data starts at a multiple of 64 bytes, then the values in C order,
//! little-endian.

use std::io;
use std::path::Path;

/// The NPY magic string.
const MAGIC: &[u8] = b"\x93NUMPY";
/// Data alignment of the header (numpy uses 64 since 1.14).
const ALIGN: usize = 64;

/// Errors of the NPY writer and reader.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The shape does not match the number of values.
    #[error("npy: shape {shape:?} holds {expected} values, got {got}")]
    ShapeMismatch {
        /// The shape given.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
        /// The number of values given.
        got: usize,
    },
    /// The bytes are not an NPY v1.0 little-endian float32 C-order array.
    #[error("npy: {0}")]
    Format(String),
    /// Reading or writing failed.
    #[error("npy: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `data` (C order) with `shape` as NPY v1.0 `<f4` bytes.
///
/// ```
/// let bytes = ceod_infer::npy::encode_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
/// assert_eq!(bytes.len() % 4, 0);
/// let (shape, values) = ceod_infer::npy::decode_f32(&bytes).unwrap();
/// assert_eq!(shape, vec![2, 3]);
/// assert_eq!(values[4], 4.0);
/// ```
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>, NpyError> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(NpyError::ShapeMismatch {
            shape: shape.to_vec(),
            expected,
            got: data.len(),
        });
    }
    let shape_txt = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of ALIGN.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let header_len = u16::try_from(header.len())
        .map_err(|_| NpyError::Format(format!("header too long for v1.0 ({shape:?})")))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes `data` with `shape` as an NPY v1.0 `<f4` file, atomically (temporary file, then
/// rename: see [`crate::atomic`]).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let bytes = encode_f32(shape, data)?;
    crate::atomic::write_bytes(path, &bytes)?;
    Ok(())
}

/// Parses NPY v1.0 `<f4` C-order bytes into `(shape, values)`.
///
/// Only what [`encode_f32`] writes (and numpy writes for such arrays) is accepted.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let bad = |m: &str| NpyError::Format(m.to_string());
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not an NPY file (magic)"));
    }
    if bytes[6] != 1 || bytes[7] != 0 {
        return Err(bad("only version 1.0 is read"));
    }
    let hlen = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let data_start = 10 + hlen;
    let header = bytes
        .get(10..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated or non-ASCII header"))?;
    if !header.ends_with('\n') {
        return Err(bad("header does not end with a newline"));
    }
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") {
        return Err(bad("dtype is not '<f4'"));
    }
    if !compact.contains("'fortran_order':False") {
        return Err(bad("only C order is read"));
    }
    let shape_start = compact.find("'shape':(").ok_or_else(|| bad("no shape"))? + "'shape':(".len();
    let shape_end = compact[shape_start..]
        .find(')')
        .ok_or_else(|| bad("unterminated shape"))?
        + shape_start;
    let shape = compact[shape_start..shape_end]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("bad shape entry")))
        .collect::<Result<Vec<_>, _>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[data_start..];
    if data.len() != 4 * n {
        return Err(NpyError::Format(format!(
            "shape {shape:?} needs {} data bytes, found {}",
            4 * n,
            data.len()
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_literal() {
        let bytes = encode_f32(&[16, 16], &[0.5; 256]).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(
            header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 16), }")
        );
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + hlen + 256 * 4);
        // 0.5f32 little-endian is 00 00 00 3f.
        assert_eq!(&bytes[10 + hlen..10 + hlen + 4], &[0, 0, 0, 0x3f]);
    }

    #[test]
    fn round_trip_shapes() {
        for shape in [vec![], vec![5], vec![3, 7], vec![2, 3, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
            let bytes = encode_f32(&shape, &data).unwrap();
            let (s, v) = decode_f32(&bytes).unwrap();
            assert_eq!(s, shape);
            assert_eq!(v, data);
        }
    }

    #[test]
    fn shape_mismatch_is_refused() {
        assert!(matches!(
            encode_f32(&[2, 2], &[1.0; 3]),
            Err(NpyError::ShapeMismatch {
                expected: 4,
                got: 3,
                ..
            })
        ));
    }

    #[test]
    fn truncated_data_is_refused() {
        let bytes = encode_f32(&[4], &[1.0; 4]).unwrap();
        assert!(decode_f32(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_f32(b"nope").is_err());
    }
}
