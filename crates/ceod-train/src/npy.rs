//! A reader for NumPy `.npy` files holding one 2-D `float32` or `float64` array.

use std::path::Path;

/// Why a `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not a `.npy` file of the supported kind.
    #[error("not a supported .npy file: {0}")]
    Format(String),
}

/// A 2-D array read from a `.npy` file, row-major, values widened to `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Array2 {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height × width` values, row-major.
    pub data: Vec<f64>,
}

/// Reads a `.npy` file (format versions 1–3; dtypes `<f4`, `>f4`, `<f8`, `>f8`; C or Fortran order).
pub fn read_npy(path: &Path) -> Result<Array2, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_npy(&bytes)
}

/// Parses the bytes of a `.npy` file; see [`read_npy`].
///
/// ```
/// use ceod_train::npy::parse_npy;
/// let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
/// let mut b = b"\x93NUMPY\x01\x00".to_vec();
/// let mut h = header.to_string();
/// while (10 + h.len() + 1) % 64 != 0 { h.push(' '); }
/// h.push('\n');
/// b.extend_from_slice(&(h.len() as u16).to_le_bytes());
/// b.extend_from_slice(h.as_bytes());
/// for v in [0.5f32, 2.0] { b.extend_from_slice(&v.to_le_bytes()); }
/// let a = parse_npy(&b).unwrap();
/// assert_eq!((a.height, a.width, a.data), (1, 2, vec![0.5, 2.0]));
/// ```
pub fn parse_npy(bytes: &[u8]) -> Result<Array2, NpyError> {
    let bad = |m: &str| NpyError::Format(m.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(NpyError::Format(format!("format version {v} is unknown"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("no 'descr' in the header"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| bad("no 'fortran_order' in the header"))?;
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return Err(NpyError::Format(format!("fortran_order {other}"))),
    };
    let shape = dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in the header"))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| NpyError::Format(format!("shape {shape}")))
        })
        .collect::<Result<_, _>>()?;
    let [height, width] = dims[..] else {
        return Err(NpyError::Format(format!(
            "a 2-D array is needed, the shape is {shape}"
        )));
    };
    let (size, little, double) = match descr {
        "<f4" | "=f4" | "|f4" => (4, true, false),
        ">f4" => (4, false, false),
        "<f8" | "=f8" | "|f8" => (8, true, true),
        ">f8" => (8, false, true),
        other => {
            return Err(NpyError::Format(format!(
                "dtype {other} (f32 or f64 needed)"
            )));
        }
    };
    let n = height
        .checked_mul(width)
        .ok_or_else(|| bad("shape overflows"))?;
    let body = &bytes[end..];
    if body.len() < n * size {
        return Err(NpyError::Format(format!(
            "{} data bytes, {} needed",
            body.len(),
            n * size
        )));
    }
    let values: Vec<f64> = body[..n * size]
        .chunks_exact(size)
        .map(|c| match (double, little) {
            (false, true) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            (false, false) => f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            (true, le) => {
                let a = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                if le {
                    f64::from_le_bytes(a)
                } else {
                    f64::from_be_bytes(a)
                }
            }
        })
        .collect();
    let data = if fortran {
        // column-major: element (r, c) is at c·height + r
        let mut d = vec![0.0; n];
        for r in 0..height {
            for c in 0..width {
                d[r * width + c] = values[c * height + r];
            }
        }
        d
    } else {
        values
    };
    Ok(Array2 {
        height,
        width,
        data,
    })
}

/// The raw text of `key`'s value in the header's Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat_a = format!("'{key}'");
    let pat_b = format!("\"{key}\"");
    let at = header
        .find(&pat_a)
        .map(|i| i + pat_a.len())
        .or_else(|| header.find(&pat_b).map(|i| i + pat_b.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a `.npy` file by hand following the format specification.
    fn npy(version: u8, descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let fo = if fortran { "True" } else { "False" };
        let mut h = format!("{{'descr': '{descr}', 'fortran_order': {fo}, 'shape': {shape}, }}");
        let pre = if version == 1 { 10 } else { 12 };
        while (pre + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY".to_vec();
        b.extend_from_slice(&[version, 0]);
        if version == 1 {
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            b.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn f64_c_order_2x3() {
        let vals = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.5];
        let body: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse_npy(&npy(1, "<f8", false, "(2, 3)", &body)).unwrap();
        assert_eq!((a.height, a.width), (2, 3));
        assert_eq!(a.data, vals);
    }

    #[test]
    fn fortran_order_is_transposed_to_row_major() {
        // [[1, 2, 3], [4, 5, 6]] in column-major order is 1 4 2 5 3 6
        let col = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0];
        let body: Vec<u8> = col.iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse_npy(&npy(2, "<f4", true, "(2, 3)", &body)).unwrap();
        assert_eq!(a.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn big_endian_f32() {
        let body: Vec<u8> = [0.25f32, -1.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = parse_npy(&npy(1, ">f4", false, "(2, 1)", &body)).unwrap();
        assert_eq!((a.height, a.width, a.data), (2, 1, vec![0.25, -1.0]));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let body = [0u8; 8];
        assert!(parse_npy(b"hello world").is_err());
        assert!(parse_npy(&npy(1, "<i8", false, "(1, 1)", &body)).is_err());
        assert!(parse_npy(&npy(1, "<f4", false, "(2,)", &body)).is_err());
        assert!(parse_npy(&npy(1, "<f4", false, "(2, 2, 2)", &body)).is_err());
        // truncated data: 3×3 f32 needs 36 bytes
        assert!(parse_npy(&npy(1, "<f4", false, "(3, 3)", &body)).is_err());
    }
}
