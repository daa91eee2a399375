//! Records from lines of input (`kstream put --lines`): one record per line, its partition
//! key fixed, rendered from a [`KeyTemplate`], or read from a field of the line's JSON object.
//! Every record is validated before it is sent; a bad line is named (`LineError`) and
//! skipped. Reading the lines, in bounded memory, is `lines`.

use std::str::FromStr;

use serde_json::Value;

use super::{Entry, validate};

/// A partition key template for `--lines`: text with `{n}` (record number from 0) and
/// `{line_no}` (line number from 1); `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Number,
    LineNo,
}

impl FromStr for KeyTemplate {
    type Err = String;

    fn from_str(s: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err("unclosed `{` in the key template".into()),
                        }
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(match name.as_str() {
                        "n" => Part::Number,
                        "line_no" => Part::LineNo,
                        _ => {
                            return Err(format!(
                                "unknown placeholder `{{{name}}}`; use `{{n}}` or `{{line_no}}`"
                            ));
                        }
                    });
                }
                '}' => {
                    return Err(
                        "unmatched `}` in the key template; write `}}` for a literal brace".into(),
                    );
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if parts.is_empty() {
            return Err("the key template is empty".into());
        }
        Ok(KeyTemplate { parts })
    }
}

impl KeyTemplate {
    /// The key of record `n` (from 0) on line `line_no` (from 1).
    pub fn render(&self, n: u64, line_no: u64) -> String {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => key.push_str(t),
                Part::Number => key.push_str(&n.to_string()),
                Part::LineNo => key.push_str(&line_no.to_string()),
            }
        }
        key
    }
}

/// Where the partition key of each line comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKey {
    /// The same key for every line (`--partition-key`).
    Fixed(String),
    /// A template (`--key-template`).
    Template(KeyTemplate),
    /// A field of the JSON object on the line (`--key-field`).
    Field(String),
}

/// A line that cannot become a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of {input}: {message}")]
pub struct LineError {
    /// Line number, from 1.
    pub line: u64,
    /// The file (in backticks) or `stdin`.
    pub input: String,
    /// What is wrong.
    pub message: String,
}

/// The record of one line (its bytes without the `\n`; a final `\r` is dropped) on line
/// `line_no` (from 1), keyed by `key` and validated; the error says what is wrong with it.
pub fn record_of_line(mut line: Vec<u8>, key: &LineKey, line_no: u64) -> Result<Entry, String> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let partition_key = match key {
        LineKey::Fixed(k) => k.clone(),
        LineKey::Template(t) => t.render(line_no - 1, line_no),
        LineKey::Field(name) => field_key(&line, name)?,
    };
    let entry = Entry::new(partition_key, line);
    validate(&entry).map_err(|e| e.to_string())?;
    Ok(entry)
}

fn field_key(line: &[u8], name: &str) -> Result<String, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    match object.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        None | Some(Value::Null) => Err(format!("field `{name}` is missing")),
        Some(_) => Err(format!("field `{name}` is not a string or number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::lines::{LineRead, read_records};
    use crate::producer::{MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES};

    /// The records of `bytes`, or the first bad line.
    fn parse_lines(bytes: &[u8], key: &LineKey, input: &str) -> Result<Vec<Entry>, LineError> {
        let mut out = Vec::new();
        let mut first_error = None;
        read_records(bytes, key, input, &mut |item| {
            match item {
                LineRead::Record(e) => out.push(e),
                LineRead::Invalid(e) => first_error = first_error.take().or(Some(e)),
                LineRead::Idle => {}
            }
            true
        })
        .unwrap();
        first_error.map_or(Ok(out), Err)
    }

    fn fixed(k: &str) -> LineKey {
        LineKey::Fixed(k.into())
    }

    #[test]
    fn lines_become_records() {
        let entries = parse_lines(b"one\r\ntwo\n\nfour", &fixed("k"), "stdin").unwrap();
        let data: Vec<&[u8]> = entries.iter().map(|e| e.data.as_slice()).collect();
        assert_eq!(data, [b"one".as_slice(), b"two", b"", b"four"]);
        assert!(entries.iter().all(|e| e.partition_key == "k"));
        assert_eq!(parse_lines(b"a\n", &fixed("k"), "stdin").unwrap().len(), 1);
        assert!(parse_lines(b"", &fixed("k"), "stdin").unwrap().is_empty());
        // Bytes are kept as they are, UTF-8 or not.
        let binary = parse_lines(b"\xff\x00\n", &fixed("k"), "stdin").unwrap();
        assert_eq!(binary[0].data, b"\xff\x00");
    }

    #[test]
    fn templates_number_records_and_lines() {
        let t: KeyTemplate = "user-{n}/{line_no}-{{x}}".parse().unwrap();
        assert_eq!(t.render(0, 1), "user-0/1-{x}");
        let entries = parse_lines(
            b"a\nb\n",
            &LineKey::Template("{line_no}".parse().unwrap()),
            "stdin",
        )
        .unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e.partition_key.as_str()).collect();
        assert_eq!(keys, ["1", "2"]);
        assert_eq!(
            "k-{id}".parse::<KeyTemplate>().unwrap_err(),
            "unknown placeholder `{id}`; use `{n}` or `{line_no}`"
        );
        assert_eq!(
            "k-{n".parse::<KeyTemplate>().unwrap_err(),
            "unclosed `{` in the key template"
        );
        assert!("k}".parse::<KeyTemplate>().is_err());
        assert!("".parse::<KeyTemplate>().is_err());
    }

    #[test]
    fn key_fields_of_json_lines() {
        let key = LineKey::Field("user".into());
        let entries = parse_lines(
            b"{\"user\":\"ann\",\"n\":1}\n{\"user\":42}\n",
            &key,
            "`in.jsonl`",
        )
        .unwrap();
        assert_eq!(entries[0].partition_key, "ann");
        assert_eq!(entries[1].partition_key, "42");
        assert_eq!(entries[0].data, b"{\"user\":\"ann\",\"n\":1}");
        let err =
            parse_lines(b"{\"user\":\"a\"}\n{\"name\":\"b\"}\n", &key, "`in.jsonl`").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2 of `in.jsonl`: field `user` is missing"
        );
        let err = parse_lines(b"[1]\n", &key, "stdin").unwrap_err();
        assert_eq!(err.to_string(), "line 1 of stdin: not a JSON object");
        let err = parse_lines(b"{\"user\":{}}\n", &key, "stdin").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1 of stdin: field `user` is not a string or number"
        );
        assert!(
            parse_lines(b"nope\n", &key, "stdin")
                .unwrap_err()
                .message
                .starts_with("not valid JSON")
        );
    }

    #[test]
    fn invalid_lines_are_named() {
        let long = "k".repeat(MAX_PARTITION_KEY_CHARS + 1);
        let err = parse_lines(b"a\nb\nc\n", &fixed(&long), "stdin").unwrap_err();
        assert_eq!(err.line, 1);
        let key = LineKey::Field("k".into());
        let input = "{\"k\":\"ok\"}\n{\"k\":\"\"}\n";
        let err = parse_lines(input.as_bytes(), &key, "`x`").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2 of `x`: partition key is empty; it needs 1 to 256 characters"
        );
        let mut big = vec![b'a'; MAX_RECORD_BYTES];
        big.insert(0, b'\n');
        let err = parse_lines(&big, &fixed("k"), "`big`").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.starts_with("record is 1048577 bytes"),
            "{}",
            err.message
        );
        big.push(b'a');
        let err = parse_lines(&big, &fixed("k"), "`big`").unwrap_err();
        assert_eq!(
            err.message,
            "longer than the 1048576-byte (1 MiB) record limit"
        );
    }
}
