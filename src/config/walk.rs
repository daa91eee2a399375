//! The typed accessors of the config walk: a table of the document, the validation context
//! that reads values from it and records every problem with its position.

use std::ops::RangeInclusive;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::rules::{self, Problem};
use super::validate::KNOWN_KEYS;
use super::{Config, ConfigError};

/// A value and the byte offset where it starts in the config text.
pub(super) struct At<T> {
    pub(super) value: T,
    pub(super) offset: usize,
}

/// Marks a value whose problem has already been reported.
pub(super) struct Reported;

/// A value that is absent (`Ok(None)`), valid (`Ok(Some)`) or reported as a problem (`Err`).
pub(super) type Got<T> = Result<Option<At<T>>, Reported>;

/// The value of `got` if it is present and valid.
pub(super) fn value<T>(got: Got<T>) -> Option<T> {
    got.ok().flatten().map(|at| at.value)
}

/// One table of the document: its dotted path (`""` at the top), where it starts, its entries.
pub(super) struct Table<'d> {
    pub(super) path: &'static str,
    pub(super) offset: usize,
    pub(super) entries: &'d DeTable<'d>,
}

impl<'d> Table<'d> {
    pub(super) fn get(&self, key: &str) -> Option<&'d Spanned<DeValue<'d>>> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    /// The full dotted key of `key` in this table.
    pub(super) fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// How the table is named in messages.
    pub(super) fn header(&self) -> String {
        if self.path.is_empty() {
            "the top level".to_owned()
        } else {
            format!("`[{}]`", self.path)
        }
    }
}

/// The validation context: the text for positions, and every problem found so far.
pub(super) struct Cx<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
    pub(super) problems: Vec<(usize, ConfigError)>,
}

impl Cx<'_> {
    pub(super) fn report(&mut self, offset: usize, key: String, problem: Problem) {
        let error = ConfigError::at(
            self.path,
            self.text,
            offset,
            Some(key),
            problem.message,
            problem.help,
        );
        self.problems.push((offset, error));
    }

    /// `config` if nothing was reported, else every problem in file order.
    #[allow(clippy::result_large_err)] // see `load`
    pub(super) fn finish(mut self, config: Config) -> Result<Config, ConfigError> {
        self.problems.sort_by_key(|(offset, _)| *offset);
        let mut problems = self.problems.into_iter().map(|(_, problem)| problem);
        match problems.next() {
            None => Ok(config),
            Some(mut first) => {
                first.more = problems.collect();
                Err(first)
            }
        }
    }

    /// Reports every key of `table` that is neither in `keys` nor in `tables`.
    pub(super) fn unknown_keys(&mut self, table: &Table<'_>, keys: &[&str], tables: &[&str]) {
        for (key, value) in table.entries.iter() {
            let key_name = key.get_ref().as_ref();
            if keys.contains(&key_name) || tables.contains(&key_name) {
                continue;
            }
            let full = table.key(key_name);
            let message = if value.get_ref().is_table() {
                format!("unknown table `[{full}]`")
            } else {
                format!("unknown key `{full}`")
            };
            let help = unknown_key_help(table, key_name, keys, tables);
            // A `[table]` header is pointed at from its `[`; any other key at the key itself.
            let header = value.span().start;
            let is_header = self
                .text
                .get(header..)
                .is_some_and(|rest| rest.starts_with('['));
            let offset = if is_header { header } else { key.span().start };
            self.report(
                offset,
                full,
                Problem {
                    message,
                    help: Some(help),
                },
            );
        }
    }

    /// The table at `key` of `parent`; reports it if it is missing (and `required`) or not a table.
    pub(super) fn table<'d>(
        &mut self,
        parent: &Table<'d>,
        key: &'static str,
        required: bool,
    ) -> Option<Table<'d>> {
        let Some(value) = parent.get(key) else {
            if required {
                let message = format!("missing required table `[{key}]`");
                let help = format!("add a `[{key}]` table with at least `name = \"...\"`");
                self.report(
                    parent.offset,
                    key.to_owned(),
                    Problem {
                        message,
                        help: Some(help),
                    },
                );
            }
            return None;
        };
        match value.get_ref() {
            DeValue::Table(entries) => Some(Table {
                path: key,
                offset: value.span().start,
                entries,
            }),
            other => {
                let message = format!("`{key}` must be a table, got {}", kind(other));
                let help = format!("write `[{key}]` on a line of its own, then its keys below it");
                self.report(
                    value.span().start,
                    key.to_owned(),
                    Problem {
                        message,
                        help: Some(help),
                    },
                );
                None
            }
        }
    }

    /// `got`, reporting it as missing if it is absent.
    pub(super) fn required<T>(
        &mut self,
        table: &Table<'_>,
        key: &str,
        example: &str,
        got: Got<T>,
    ) -> Option<At<T>> {
        match got {
            Ok(Some(at)) => Some(at),
            Ok(None) => {
                let help = if table.path.is_empty() {
                    format!("add `{key} = {example}` at the top of the file, before any table")
                } else {
                    format!("add `{key} = {example}` under {}", table.header())
                };
                let message = format!("missing required key `{}`", table.key(key));
                self.report(
                    table.offset,
                    table.key(key),
                    Problem {
                        message,
                        help: Some(help),
                    },
                );
                None
            }
            Err(Reported) => None,
        }
    }

    /// A string at `key`, checked by `rule` (which gets the full key for its messages).
    pub(super) fn string(
        &mut self,
        table: &Table<'_>,
        key: &str,
        rule: fn(&str, &str) -> Vec<Problem>,
    ) -> Got<String> {
        let Some(value) = table.get(key) else {
            return Ok(None);
        };
        let full = table.key(key);
        let offset = value.span().start;
        let DeValue::String(s) = value.get_ref() else {
            let message = format!("`{full}` must be a string, got {}", kind(value.get_ref()));
            let help = format!("put the value in double quotes: `{key} = \"...\"`");
            self.report(
                offset,
                full,
                Problem {
                    message,
                    help: Some(help),
                },
            );
            return Err(Reported);
        };
        let problems = rule(&full, s);
        if problems.is_empty() {
            return Ok(Some(At {
                value: s.to_string(),
                offset,
            }));
        }
        for problem in problems {
            self.report(offset, full.clone(), problem);
        }
        Err(Reported)
    }

    /// An integer at `key` within `range`.
    pub(super) fn integer(
        &mut self,
        table: &Table<'_>,
        key: &str,
        range: RangeInclusive<i64>,
    ) -> Got<i64> {
        let Some(value) = table.get(key) else {
            return Ok(None);
        };
        let full = table.key(key);
        let offset = value.span().start;
        let (low, high) = (range.start(), range.end());
        let expected = format!("`{full}` must be an integer from {low} to {high}");
        let DeValue::Integer(integer) = value.get_ref() else {
            let message = format!("{expected}, got {}", kind(value.get_ref()));
            // A quoted number is the common slip; say so.
            let help = match value.get_ref() {
                DeValue::String(s) if s.trim().parse::<i64>().is_ok() => Some(format!(
                    "write the number without quotes: `{key} = {}`",
                    s.trim()
                )),
                _ => None,
            };
            self.report(offset, full, Problem { message, help });
            return Err(Reported);
        };
        match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(n) if range.contains(&n) => Ok(Some(At { value: n, offset })),
            _ => {
                // As written, so `0x10` and `1_000` read back as the user typed them.
                let written = &self.text[value.span()];
                self.report(
                    offset,
                    full,
                    Problem {
                        message: format!("{expected}, got {written}"),
                        help: None,
                    },
                );
                Err(Reported)
            }
        }
    }

    /// An integer at `key` within `range` (a subrange of `u32`), or `default`.
    pub(super) fn unsigned(
        &mut self,
        table: &Table<'_>,
        key: &str,
        range: RangeInclusive<u32>,
        default: u32,
    ) -> u32 {
        let range = i64::from(*range.start())..=i64::from(*range.end());
        let got = self.integer(table, key, range).ok().flatten();
        got.and_then(|at| u32::try_from(at.value).ok())
            .unwrap_or(default)
    }

    /// An integer at `key` within `range` (a subrange of `i32`), or `default`.
    pub(super) fn signed(
        &mut self,
        table: &Table<'_>,
        key: &str,
        range: RangeInclusive<i32>,
        default: i32,
    ) -> i32 {
        let range = i64::from(*range.start())..=i64::from(*range.end());
        let got = self.integer(table, key, range).ok().flatten();
        got.and_then(|at| i32::try_from(at.value).ok())
            .unwrap_or(default)
    }

    /// A boolean at `key`, or `default`.
    pub(super) fn boolean(&mut self, table: &Table<'_>, key: &str, default: bool) -> bool {
        let Some(value) = table.get(key) else {
            return default;
        };
        if let DeValue::Boolean(b) = value.get_ref() {
            return *b;
        }
        let full = table.key(key);
        let message = format!(
            "`{full}` must be `true` or `false`, got {}",
            kind(value.get_ref())
        );
        let help = match value.get_ref() {
            DeValue::String(s) if s.as_ref() == "true" || s.as_ref() == "false" => {
                Some(format!("write the boolean without quotes: `{key} = {s}`"))
            }
            _ => None,
        };
        self.report(value.span().start, full, Problem { message, help });
        default
    }

    /// One of `choices`, spelled as `name` gives it (exact, case-sensitive), at `key`, or
    /// `default`.
    pub(super) fn choice<T: Copy>(
        &mut self,
        table: &Table<'_>,
        key: &str,
        choices: &[T],
        name: fn(T) -> &'static str,
        aliases: &[(&str, &str)],
        default: T,
    ) -> T {
        let Some(value) = table.get(key) else {
            return default;
        };
        if let DeValue::String(s) = value.get_ref()
            && let Some(choice) = choices.iter().find(|choice| name(**choice) == s.as_ref())
        {
            return *choice;
        }
        let full = table.key(key);
        let allowed: Vec<String> = choices
            .iter()
            .map(|choice| format!("`\"{}\"`", name(*choice)))
            .collect();
        let allowed = join_or(&allowed);
        let (got, help) = match value.get_ref() {
            DeValue::String(s) => {
                let alias = aliases
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(s))
                    .map(|(_, choice)| *choice);
                let near =
                    alias.or_else(|| rules::closest(s, choices.iter().map(|choice| name(*choice))));
                (
                    format!("`{s:?}`"),
                    near.map(|name| format!("did you mean `\"{name}\"`?")),
                )
            }
            other => (kind(other).to_owned(), None),
        };
        let message = format!("`{full}` must be {allowed}, got {got}");
        self.report(value.span().start, full, Problem { message, help });
        default
    }

    /// Checks that a derived default name fits in `max` characters; if not, reports it at
    /// `offset`, the value of `source` it was derived from. Returns whether it fits.
    pub(super) fn derived_fits(
        &mut self,
        key: &str,
        pattern: &str,
        value: &str,
        max: usize,
        offset: usize,
        source: &str,
    ) -> bool {
        let length = value.chars().count();
        if length <= max {
            return true;
        }
        let message = format!(
            "the default `{key}` (`{pattern}`) would be {length} characters long, more than {max}"
        );
        let (table, leaf) = key.split_once('.').unwrap_or(("", key));
        let help = format!("set `{leaf}` under `[{table}]`, or shorten `{source}`");
        self.report(
            offset,
            key.to_owned(),
            Problem {
                message,
                help: Some(help),
            },
        );
        false
    }
}

/// Help for an unknown `key` in `table`: where it belongs, the likely typo, or what is allowed.
pub(super) fn unknown_key_help(
    table: &Table<'_>,
    key: &str,
    keys: &[&str],
    tables: &[&str],
) -> String {
    let elsewhere: Vec<&str> = KNOWN_KEYS
        .iter()
        .filter(|(path, known)| *path != table.path && known.contains(&key))
        .map(|(path, _)| *path)
        .collect();
    if let [path] = elsewhere.as_slice() {
        return if path.is_empty() {
            // TOML puts every key after a `[table]` header into that table.
            format!("`{key}` is a top-level key: move it above the first `[table]` header")
        } else {
            format!("`{key}` belongs in `[{path}]`")
        };
    }
    if let Some(near) = rules::closest(key, keys.iter().copied()) {
        return format!("did you mean `{near}`?");
    }
    if let Some(near) = rules::closest(key, tables.iter().copied()) {
        return format!("did you mean `[{near}]`?");
    }
    let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    if table.path.is_empty() {
        let tables: Vec<String> = tables.iter().map(|t| format!("`[{t}]`")).collect();
        format!(
            "allowed top-level keys are {}, and tables {}",
            join_and(&keys),
            join_and(&tables)
        )
    } else {
        format!("allowed keys in {} are {}", table.header(), join_and(&keys))
    }
}

/// What kind of TOML value this is, with its article.
pub(super) fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(super) fn join_and(items: &[String]) -> String {
    join(items, "and")
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn join_or(items: &[String]) -> String {
    join(items, "or")
}

pub(super) fn join(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}
