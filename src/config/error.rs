//! [`ConfigError`]: what is wrong with a config file, where, and what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A config file that could not be read or does not validate.
///
/// `Display` is the user-facing report, one block per problem:
///
/// ```text
/// invalid config `deploy.toml` at line 7, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 0
///   help: <what to do>
/// ```
///
/// The `help:` line is present only when there is help. The first problem in file order is in
/// the fields; the rest, in file order, are in [`ConfigError::more`].
#[derive(Debug, thiserror::Error)]
#[error("{}", Report(self))]
pub struct ConfigError {
    /// The config file, as given.
    pub path: PathBuf,
    /// 1-based line of the offending value; 0 when there is no position (the file is unreadable).
    pub line: usize,
    /// 1-based column of the offending value, in characters; 0 when there is no position.
    pub column: usize,
    /// Full dotted key the problem is about (`consumer.memory_mb`), if any.
    pub key: Option<String>,
    /// What is wrong: lowercase, no trailing period, names in backticks.
    pub message: String,
    /// What the user can do about it.
    pub help: Option<String>,
    /// Further problems in the same file, in file order (each with an empty `more`).
    pub more: Vec<ConfigError>,
}

impl ConfigError {
    /// This problem followed by the ones in [`ConfigError::more`].
    pub fn problems(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(self).chain(&self.more)
    }

    /// A problem at byte `offset` of `text`.
    pub(crate) fn at(
        path: &Path,
        text: &str,
        offset: usize,
        key: Option<String>,
        message: String,
        help: Option<String>,
    ) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            path: path.to_owned(),
            line,
            column,
            key,
            message,
            help,
            more: Vec::new(),
        }
    }

    /// The file could not be read.
    pub(crate) fn io(path: &Path, err: &std::io::Error) -> Self {
        let (message, help) = if err.kind() == std::io::ErrorKind::NotFound {
            (
                "file not found".to_owned(),
                Some("create one with `kstream init`".to_owned()),
            )
        } else {
            (lowercase_first(&err.to_string()), None)
        };
        Self {
            path: path.to_owned(),
            line: 0,
            column: 0,
            key: None,
            message,
            help,
            more: Vec::new(),
        }
    }

    /// The file is not UTF-8; `bytes` is its content.
    pub(crate) fn utf8(path: &Path, bytes: &[u8], err: &std::string::FromUtf8Error) -> Self {
        let valid = err.utf8_error().valid_up_to();
        // The prefix up to `valid` is UTF-8 by definition; it positions the first bad byte.
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let message = format!("the file is not valid UTF-8 (byte 0x{:02x})", bytes[valid]);
        Self::at(
            path,
            before,
            before.len(),
            None,
            message,
            Some("save the file as UTF-8".to_owned()),
        )
    }
}

/// Renders a [`ConfigError`] and everything in its `more`.
struct Report<'a>(&'a ConfigError);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.problems().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = problem.path.display();
            if problem.line == 0 {
                write!(f, "cannot read config `{path}`: {}", problem.message)?;
            } else {
                let (line, column) = (problem.line, problem.column);
                write!(
                    f,
                    "invalid config `{path}` at line {line}, column {column}: {}",
                    problem.message
                )?;
            }
            if let Some(help) = &problem.help {
                write!(f, "\n  help: {help}")?;
            }
        }
        Ok(())
    }
}

/// 1-based line and character column of byte `offset` in `text` (clamped to the text).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
