//! Output records (one per image) and their formats: JSON lines, CSV, text.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The decision for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Score below the threshold: the part is accepted.
    Good,
    /// Score at or above the threshold: the part is rejected.
    Defect,
    /// The image could not be processed (see the record's `error`).
    Error,
}

impl Decision {
    /// `good` for `score < threshold`, `defect` otherwise (a NaN score is an error); the
    /// comparison is made in `f64`, as ceod-core's `predict` makes it.
    ///
    /// ```
    /// use ceod_infer::record::Decision;
    /// assert_eq!(Decision::from_score(0.49, 0.5), Decision::Good);
    /// assert_eq!(Decision::from_score(0.5, 0.5), Decision::Defect);
    /// assert_eq!(Decision::from_score(f32::NAN, 0.5), Decision::Error);
    /// ```
    pub fn from_score(score: f32, threshold: f64) -> Self {
        if score.is_nan() {
            Decision::Error
        } else if f64::from(score) >= threshold {
            Decision::Defect
        } else {
            Decision::Good
        }
    }

    /// The lower-case name used in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Good => "good",
            Decision::Defect => "defect",
            Decision::Error => "error",
        }
    }
}

/// One output record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The image path, as given or found; serialised lossily (a name that is not valid UTF-8
    /// gets U+FFFD in place of the bad bytes, so every file still gets its record).
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The defect probability in `[0, 1]`; `None` on error.
    pub score: Option<f32>,
    /// The decision.
    pub decision: Decision,
    /// The threshold applied (`--threshold`, else the model card's).
    pub threshold: f64,
    /// The model id (checkpoint file stem `@` a short hash of the checkpoint bytes).
    pub model: String,
    /// Milliseconds spent on this image: reading, decoding and preprocessing it, plus its share
    /// of the batch's forward pass (the batch time divided by the batch size).
    pub ms: f64,
    /// The heat-map overlay PNG written for this image (`--cam-out`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy_opt_path"
    )]
    pub cam_png: Option<PathBuf>,
    /// The error, for a record whose decision is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn lossy_opt_path<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => lossy_path(p, s),
        None => s.serialize_none(),
    }
}

/// An error text fit for one record: line breaks and runs of white space become one space,
/// white space around it is trimmed, and a context repeated right after itself (`a: a: b`,
/// `x: y: x: y`, as error chains whose messages include their cause give) is kept once.
///
/// ```
/// use ceod_infer::record::clean_error;
/// assert_eq!(
///     clean_error("w/c.png: w/c.png: not a decodable image"),
///     "w/c.png: not a decodable image"
/// );
/// assert_eq!(
///     clean_error("f.png: unexpected end of file: unexpected end of file"),
///     "f.png: unexpected end of file"
/// );
/// assert_eq!(
///     clean_error("e.jpg: Format error: Not enough bytes\n"),
///     "e.jpg: Format error: Not enough bytes"
/// );
/// assert_eq!(clean_error("a: b: a: b: c"), "a: b: c");
/// ```
pub fn clean_error(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: Vec<&str> = Vec::new();
    for part in one_line.split(": ") {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        out.push(part);
        // Drop a block of the last k parts that repeats the k parts before it.
        let n = out.len();
        if let Some(k) = (1..=n / 2).find(|&k| out[n - 2 * k..n - k] == out[n - k..]) {
            out.truncate(n - k);
        }
    }
    out.join(": ")
}

/// The output format of the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Json,
    /// Comma-separated values with a header line.
    Csv,
    /// Aligned, human-readable lines.
    Text,
}

/// Writes records to `out` in one format; flushes after every batch of records.
#[derive(Debug)]
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
}

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "path,score,decision,threshold,model,ms,cam_png,error";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl<W: Write> RecordWriter<W> {
    /// A writer of `format` records to `out`.
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            header_done: false,
        }
    }

    /// Writes the records and flushes, so a reader (or a killed run) sees every finished record.
    ///
    /// ```
    /// use ceod_infer::record::{Decision, Format, Record, RecordWriter};
    /// let rec = Record {
    ///     path: "a.png".into(),
    ///     score: Some(0.75),
    ///     decision: Decision::Defect,
    ///     threshold: 0.5,
    ///     model: "m@0123456789ab".into(),
    ///     ms: 1.5,
    ///     cam_png: None,
    ///     error: None,
    /// };
    /// let mut w = RecordWriter::new(Vec::new(), Format::Csv);
    /// w.write(&[rec]).unwrap();
    /// let text = String::from_utf8(w.into_inner()).unwrap();
    /// assert_eq!(
    ///     text,
    ///     "path,score,decision,threshold,model,ms,cam_png,error\n\
    ///      a.png,0.75,defect,0.5,m@0123456789ab,1.500,,\n"
    /// );
    /// ```
    pub fn write(&mut self, records: &[Record]) -> io::Result<()> {
        for r in records {
            match self.format {
                Format::Json => {
                    serde_json::to_writer(&mut self.out, r)?;
                    self.out.write_all(b"\n")?;
                }
                Format::Csv => {
                    if !self.header_done {
                        writeln!(self.out, "{CSV_HEADER}")?;
                        self.header_done = true;
                    }
                    let score = r.score.map(|s| s.to_string()).unwrap_or_default();
                    let cam = r
                        .cam_png
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    writeln!(
                        self.out,
                        "{},{},{},{},{},{:.3},{},{}",
                        csv_field(&r.path.display().to_string()),
                        score,
                        r.decision.as_str(),
                        r.threshold,
                        csv_field(&r.model),
                        r.ms,
                        csv_field(&cam),
                        csv_field(r.error.as_deref().unwrap_or("")),
                    )?;
                }
                Format::Text => match (r.score, &r.error) {
                    (Some(s), None) => writeln!(
                        self.out,
                        "{:<6} {:.4} {} {:.4}  {:>8.2} ms  {}",
                        r.decision.as_str(),
                        s,
                        if r.decision == Decision::Defect {
                            ">="
                        } else {
                            "< "
                        },
                        r.threshold,
                        r.ms,
                        r.path.display()
                    )?,
                    (_, err) => {
                        // The line names the path once: an error that starts with it loses it.
                        let path = r.path.display().to_string();
                        let err = err.as_deref().unwrap_or("no score");
                        let err = err
                            .strip_prefix(path.as_str())
                            .and_then(|e| e.strip_prefix(": "))
                            .unwrap_or(err);
                        writeln!(
                            self.out,
                            "{:<6} {:>15}  {:>8.2} ms  {}: {}",
                            Decision::Error.as_str(),
                            "-",
                            r.ms,
                            path,
                            err
                        )?
                    }
                },
            }
        }
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, score: Option<f32>, error: Option<&str>) -> Record {
        Record {
            path: path.into(),
            score,
            decision: score.map_or(Decision::Error, |s| Decision::from_score(s, 0.5)),
            threshold: 0.5,
            model: "m@abc".into(),
            ms: 2.0,
            cam_png: None,
            error: error.map(String::from),
        }
    }

    #[test]
    fn json_lines_have_the_fields_and_error_only_when_failed() {
        let mut w = RecordWriter::new(Vec::new(), Format::Json);
        w.write(&[
            rec("a.png", Some(0.25), None),
            rec("b.png", None, Some("bad")),
        ])
        .unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["path"], "a.png");
        assert_eq!(lines[0]["score"], 0.25);
        assert_eq!(lines[0]["decision"], "good");
        assert_eq!(lines[0]["threshold"], 0.5);
        assert_eq!(lines[0]["model"], "m@abc");
        assert_eq!(lines[0]["ms"], 2.0);
        assert!(lines[0].get("error").is_none());
        assert!(lines[1]["score"].is_null());
        assert_eq!(lines[1]["decision"], "error");
        assert_eq!(lines[1]["error"], "bad");
    }

    #[cfg(unix)]
    #[test]
    fn json_paths_that_are_not_utf8_are_written_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let mut r = rec("x", Some(0.25), None);
        r.path = PathBuf::from(std::ffi::OsStr::from_bytes(b"dir/bad\xff.png"));
        r.cam_png = Some(PathBuf::from(std::ffi::OsStr::from_bytes(
            b"c/bad\xff.overlay.png",
        )));
        let mut w = RecordWriter::new(Vec::new(), Format::Json);
        w.write(&[r]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(v["path"], "dir/bad\u{fffd}.png");
        assert_eq!(v["cam_png"], "c/bad\u{fffd}.overlay.png");
    }

    #[test]
    fn csv_quotes_fields_with_commas_and_quotes_and_writes_one_header() {
        let mut w = RecordWriter::new(Vec::new(), Format::Csv);
        w.write(&[rec("a,b.png", Some(0.75), None)]).unwrap();
        w.write(&[rec("c.png", None, Some("said \"no\""))]).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "\"a,b.png\",0.75,defect,0.5,m@abc,2.000,,");
        assert_eq!(
            lines[2],
            "c.png,,error,0.5,m@abc,2.000,,\"said \"\"no\"\"\""
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn text_lines_name_decision_and_path() {
        let mut w = RecordWriter::new(Vec::new(), Format::Text);
        w.write(&[
            rec("a.png", Some(0.75), None),
            rec("b.png", None, Some("bad")),
        ])
        .unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("defect 0.7500 >= 0.5000"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("a.png"));
        assert!(lines[1].starts_with("error"));
        assert!(lines[1].ends_with("b.png: bad"));
    }
}
