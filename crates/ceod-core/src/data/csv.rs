//! A small RFC 4180 CSV reader and writer (quoted fields, `""` escapes, line breaks inside
//! quotes, LF or CRLF line ends, an optional UTF-8 byte-order mark).

/// One record: its fields and the 1-based line on which it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Splits `text` into records. Blank lines are skipped. On malformed input returns the
/// 1-based line and what is wrong.
pub(crate) fn parse(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted_field = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if field.is_empty() && !quoted_field => {
                    quoted_field = true;
                    let open_line = line;
                    loop {
                        match chars.next() {
                            None => {
                                return Err((open_line, "unterminated quoted field".into()));
                            }
                            Some('"') => {
                                if chars.peek() == Some(&'"') {
                                    chars.next();
                                    field.push('"');
                                } else {
                                    break;
                                }
                            }
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    match chars.peek() {
                        None | Some(',') | Some('\n') | Some('\r') => {}
                        Some(c) => {
                            return Err((line, format!("unexpected `{c}` after a closing quote")));
                        }
                    }
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted_field = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') => {
                    return Err((line, "a quote inside an unquoted field".into()));
                }
                Some(c) => field.push(c),
            }
        }
        let blank = fields.len() == 1 && fields[0].trim().is_empty() && !quoted_field;
        if !blank {
            records.push(Record {
                line: start,
                fields,
            });
        }
    }
    Ok(records)
}

/// Writes one field, quoted when it has to be.
pub(crate) fn quote(field: &str) -> String {
    let needs = field.contains([',', '"', '\n', '\r'])
        || field.starts_with(char::is_whitespace)
        || field.ends_with(char::is_whitespace);
    if needs {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(usize, Vec<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.fields))
            .collect()
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_quoted_and_crlf() {
        let got = fields("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\r\n\r\nlast,\n");
        assert_eq!(
            got,
            vec![
                (1, v(&["a", "b"])),
                (2, v(&["x,1", "say \"hi\""])),
                (4, v(&["last", ""])),
            ]
        );
    }

    #[test]
    fn newline_inside_quotes_counts_lines() {
        let got = fields("h\n\"two\nlines\"\nnext\n");
        assert_eq!(
            got,
            vec![(1, v(&["h"])), (2, v(&["two\nlines"])), (4, v(&["next"]))]
        );
    }

    #[test]
    fn bom_and_no_final_newline() {
        assert_eq!(fields("\u{feff}a,b"), vec![(1, v(&["a", "b"]))]);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("a\n\"open").unwrap_err().0, 2);
        assert_eq!(parse("a\nb\"c\n").unwrap_err().0, 2);
        assert_eq!(parse("a\n\"x\"y\n").unwrap_err().0, 2);
    }

    #[test]
    fn quote_round_trips() {
        let items = [
            "plain",
            "with,comma",
            "with \"quote\"",
            " padded",
            "multi\nline",
            "",
        ];
        let line = items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(",");
        let got = parse(&format!("{line}\n")).unwrap();
        assert_eq!(got[0].fields, v(&items));
    }
}
