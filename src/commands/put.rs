//! `kstream put`: one record (`--data`, `--data-file`), one record per line (`--lines`) or
//! generated load (`--count`), written through the producer engine (`crate::producer`).
//!
//! Input is read and validated before the first call: a bad line stops the put before any
//! record is sent, naming the line. The summary goes to stderr, `--json` to stdout; records
//! that could not be written make the command fail with their exact count.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use rand::distr::Alphanumeric;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use super::{Context, UsageError};
use crate::aws::records::{self, StreamWriter};
use crate::cli::PutArgs;
use crate::producer::{
    Entry, Event, MAX_RECORD_BYTES, PutOptions, ShardMap, Summary, put_all, validate,
};
use crate::ui::{self, Progress};

/// Data bytes of a generated record unless `--size` says otherwise.
pub const DEFAULT_SIZE: usize = 100;

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

/// Partition keys of generated records (`--partition-keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKeys {
    /// A random key per record: spreads evenly over the shards.
    Random,
    /// `key-0` … `key-<N-1>`, in turn.
    Distinct(u64),
}

impl FromStr for PartitionKeys {
    type Err = String;

    fn from_str(s: &str) -> Result<PartitionKeys, String> {
        match s {
            "random" => Ok(PartitionKeys::Random),
            _ => match s.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(PartitionKeys::Distinct(n)),
                _ => Err(format!(
                    "expected `random` or a number of distinct keys (at least 1), got `{s}`"
                )),
            },
        }
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

/// One record per line of `bytes` (`\n` or `\r\n` endings; a final newline ends the last
/// line rather than starting an empty one), keyed by `key`, each validated.
pub fn parse_lines(bytes: &[u8], key: &LineKey, input: &str) -> Result<Vec<Entry>, LineError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line_no = i as u64 + 1;
            let error = |message: String| LineError {
                line: line_no,
                input: input.to_string(),
                message,
            };
            let partition_key = match key {
                LineKey::Fixed(k) => k.clone(),
                LineKey::Template(t) => t.render(i as u64, line_no),
                LineKey::Field(name) => field_key(line, name).map_err(error)?,
            };
            let entry = Entry::new(partition_key, line.to_vec());
            validate(&entry).map_err(|e| error(e.to_string()))?;
            Ok(entry)
        })
        .collect()
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

/// Partition key of each generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratedKey {
    /// The same key for every record.
    Fixed(String),
    /// One of [`PartitionKeys`].
    Keys(PartitionKeys),
}

impl GeneratedKey {
    /// The longest key this produces, in bytes.
    fn max_len(&self) -> usize {
        match self {
            GeneratedKey::Fixed(k) => k.len(),
            GeneratedKey::Keys(PartitionKeys::Random) => 32,
            GeneratedKey::Keys(PartitionKeys::Distinct(n)) => {
                "key-".len() + (n - 1).to_string().len()
            }
        }
    }
}

/// The load generator: `count` records of `size` bytes, printable ASCII, each starting with
/// its zero-padded number (so every record is distinct).
#[derive(Debug, Clone)]
pub struct Generator {
    count: u64,
    size: usize,
    key: GeneratedKey,
    next: u64,
    rng: SmallRng,
    filler: Vec<u8>,
}

const FILLER_BYTES: usize = 8192;

impl Generator {
    /// A generator of `count` records of `size` bytes; fails when a record would break the
    /// Kinesis limits.
    pub fn new(
        count: u64,
        size: usize,
        key: GeneratedKey,
        seed: u64,
    ) -> Result<Generator, UsageError> {
        if let GeneratedKey::Fixed(k) = &key {
            validate(&Entry::new(k.clone(), Vec::new()))
                .map_err(|e| UsageError(format!("`--partition-key`: {e}")))?;
        }
        if size + key.max_len() > MAX_RECORD_BYTES {
            return Err(UsageError(format!(
                "`--size {size}` plus a {}-byte partition key exceeds the {MAX_RECORD_BYTES}-byte (1 MiB) record limit",
                key.max_len()
            )));
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        let filler = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(FILLER_BYTES)
            .collect();
        Ok(Generator {
            count,
            size,
            key,
            next: 0,
            rng,
            filler,
        })
    }
}

impl Iterator for Generator {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.next >= self.count {
            return None;
        }
        let n = self.next;
        self.next += 1;
        let key = match &self.key {
            GeneratedKey::Fixed(k) => k.clone(),
            GeneratedKey::Keys(PartitionKeys::Random) => {
                format!("{:032x}", self.rng.random::<u128>())
            }
            GeneratedKey::Keys(PartitionKeys::Distinct(d)) => format!("key-{}", n % d),
        };
        let mut data = Vec::with_capacity(self.size);
        data.extend_from_slice(format!("{n:010} ").as_bytes());
        data.truncate(self.size);
        let mut offset = (n as usize).wrapping_mul(7919) % FILLER_BYTES;
        while data.len() < self.size {
            let take = (self.size - data.len()).min(FILLER_BYTES - offset);
            data.extend_from_slice(&self.filler[offset..offset + take]);
            offset = 0;
        }
        Some(Entry::new(key, data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.count - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

/// What `put` will send, read and validated from the arguments.
#[derive(Debug)]
pub enum Input {
    /// One record (`--data`, `--data-file`).
    Single(Entry),
    /// Records from lines (`--lines`).
    Lines(Vec<Entry>),
    /// Generated load (`--count`).
    Generate(Generator),
}

impl Input {
    /// Read and validate the input the arguments name (files and stdin are read here).
    pub fn from_args(args: &PutArgs) -> Result<Input> {
        if let Some(rate) = args.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(UsageError(format!(
                "`--rate` must be a positive number of records per second, got {rate}"
            ))
            .into());
        }
        if let Some(text) = &args.data {
            return single(args, text.clone().into_bytes());
        }
        if let Some(path) = &args.data_file {
            let data = read_input(path)?;
            return single(args, data);
        }
        if let Some(path) = &args.lines {
            let key = match (&args.partition_key, &args.key_template, &args.key_field) {
                (Some(k), _, _) => LineKey::Fixed(k.clone()),
                (_, Some(t), _) => LineKey::Template(t.clone()),
                (_, _, Some(f)) => LineKey::Field(f.clone()),
                _ => {
                    return Err(UsageError(
                        "`--lines` needs a partition key: `--partition-key`, `--key-template` or `--key-field`".into(),
                    )
                    .into());
                }
            };
            let bytes = read_input(path)?;
            let name = input_name(path);
            let entries =
                parse_lines(&bytes, &key, &name).map_err(|e| UsageError(e.to_string()))?;
            return Ok(Input::Lines(entries));
        }
        if let Some(count) = args.count {
            let key = match (&args.partition_key, args.partition_keys) {
                (Some(k), _) => GeneratedKey::Fixed(k.clone()),
                (None, keys) => GeneratedKey::Keys(keys.unwrap_or(PartitionKeys::Random)),
            };
            let generator = Generator::new(
                count,
                args.size.unwrap_or(DEFAULT_SIZE),
                key,
                rand::random(),
            )?;
            return Ok(Input::Generate(generator));
        }
        Err(UsageError(
            "nothing to put: give `--data`, `--data-file`, `--lines` or `--count`".into(),
        )
        .into())
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        match self {
            Input::Single(_) => 1,
            Input::Lines(v) => v.len() as u64,
            Input::Generate(g) => g.len() as u64,
        }
    }

    /// Whether there is no record at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn single(args: &PutArgs, data: Vec<u8>) -> Result<Input> {
    let key = args.partition_key.clone().unwrap_or_default();
    let entry = Entry::new(key, data);
    validate(&entry).map_err(|e| UsageError(e.to_string()))?;
    Ok(Input::Single(entry))
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        format!("`{}`", path.display())
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("failed to read stdin")?;
        Ok(bytes)
    } else {
        std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read `{}`: {e}", path.display())).into())
    }
}

/// The stream's shard map for pacing, or `None` (with a note) when it cannot be listed.
pub async fn shard_map(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    progress: &Progress,
) -> Result<Option<ShardMap>> {
    match records::open_shards(kinesis, stream).await {
        Ok(Some(map)) if !map.is_empty() => Ok(Some(map)),
        Ok(Some(_)) => Ok(None),
        Ok(None) => Err(anyhow!(
            "stream `{stream}` does not exist\n  hint: run `kstream apply` first"
        )),
        Err(e) => {
            progress.note(&format!("{e:#}; putting without per-shard pacing"));
            Ok(None)
        }
    }
}

/// Run `kstream put`.
pub(crate) async fn run(ctx: &Context, args: &PutArgs) -> Result<()> {
    let input = Input::from_args(args)?;
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let stream = config.stream.name.clone();
    let writer = StreamWriter::new(clients.kinesis.clone(), &stream);
    let mut opts = PutOptions {
        concurrency: args.concurrency as usize,
        max_attempts: args.max_attempts,
        rate: args.rate,
        ..PutOptions::default()
    };
    let total = input.len();
    let summary = match input {
        Input::Single(entry) => {
            // One record, one call: no ListShards, no progress.
            let mut ack = None;
            let summary = put_all(&writer, vec![entry], &opts, &mut |e| {
                if let Event::Acked {
                    shard_id,
                    sequence_number,
                    ..
                } = e
                {
                    ack = Some((shard_id.to_string(), sequence_number.to_string()));
                }
            })
            .await;
            let mut value = summary_json(&summary, &stream);
            if let Some((shard_id, sequence_number)) = &ack {
                value["shard_id"] = json!(shard_id);
                value["sequence_number"] = json!(sequence_number);
            }
            ctx.output.print(&value, || match &ack {
                Some((shard, seq)) => format!("{shard}\t{seq}\n"),
                None => String::new(),
            })?;
            return check(&summary, &stream, args.max_attempts);
        }
        input => {
            let progress = Progress::stderr();
            opts.shards = shard_map(&clients.kinesis, &stream, &progress).await?;
            eprintln!(
                "kstream: putting {total} record{} into stream `{stream}`",
                if total == 1 { "" } else { "s" }
            );
            let mut bar = PutProgress::new(total);
            let summary = match input {
                Input::Lines(entries) => {
                    put_all(&writer, entries, &opts, &mut |e| bar.event(&e)).await
                }
                Input::Generate(generator) => {
                    put_all(&writer, generator, &opts, &mut |e| bar.event(&e)).await
                }
                Input::Single(_) => unreachable!("handled above"),
            };
            bar.finish();
            summary
        }
    };
    eprint!("{}", render_summary(&summary, &stream));
    if ctx.output.json {
        ctx.output
            .print(&summary_json(&summary, &stream), String::new)?;
    }
    check(&summary, &stream, args.max_attempts)
}

/// The summary as JSON: the engine's counts plus rates.
pub fn summary_json(summary: &Summary, stream: &str) -> Value {
    let mut value = serde_json::to_value(summary).unwrap_or_default();
    value["stream"] = json!(stream);
    value["records_per_sec"] = json!(round2(summary.records_per_sec()));
    value["mib_per_sec"] = json!(round2(summary.mib_per_sec()));
    value
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The human summary printed on stderr.
pub fn render_summary(s: &Summary, stream: &str) -> String {
    let mut out = format!(
        "kstream: put {} of {} record{} ({}) into stream `{stream}` in {:.1} s: {:.0} records/s, {:.2} MiB/s\n",
        s.acknowledged,
        s.records,
        if s.records == 1 { "" } else { "s" },
        human_bytes(s.bytes),
        s.elapsed.as_secs_f64(),
        s.records_per_sec(),
        s.mib_per_sec(),
    );
    out.push_str(&format!(
        "  {} call{}, {} retried ({} throttled), {} not written\n",
        s.calls,
        if s.calls == 1 { "" } else { "s" },
        s.retries,
        s.throttled,
        s.not_written
    ));
    let width = s.per_shard.keys().map(String::len).max().unwrap_or(0);
    for (shard, n) in &s.per_shard {
        out.push_str(&format!("  {shard:<width$}  {n}\n"));
    }
    out
}

/// Fail with the exact number of records not written, if any.
pub fn check(s: &Summary, stream: &str, max_attempts: u32) -> Result<()> {
    if s.complete() {
        return Ok(());
    }
    let reasons = s
        .errors
        .iter()
        .map(|(code, n)| format!("{n} {code}"))
        .collect::<Vec<_>>()
        .join(", ");
    let counted = format!(
        "{} of {} record{} {} not written ({reasons})",
        s.not_written,
        s.records,
        if s.records == 1 { "" } else { "s" },
        if s.not_written == 1 { "was" } else { "were" }
    );
    Err(match &s.aborted {
        Some(why) if why.starts_with("ResourceNotFoundException") => anyhow!(
            "the put stopped: {why}\n  {counted}\n  hint: does stream `{stream}` exist? run `kstream apply` first"
        ),
        Some(why) => anyhow!("the put stopped: {why}\n  {counted}"),
        None => anyhow!(
            "{counted} after {max_attempts} attempts each\n  hint: lower `--rate`, raise `--max-attempts`, or give stream `{stream}` more shards"
        ),
    })
}

/// `512 B`, `4.9 KiB`, `1.2 MiB`, `3.0 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Progress of a put on stderr: a bar on a terminal, a line every few seconds otherwise.
struct PutProgress {
    bar: Option<ProgressBar>,
    total: u64,
    acked: u64,
    retried: u64,
    started: Instant,
    last: Instant,
}

impl PutProgress {
    const BAR_EVERY: Duration = Duration::from_millis(200);
    const LINE_EVERY: Duration = Duration::from_secs(5);

    fn new(total: u64) -> PutProgress {
        let bar = ui::stderr_is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} acknowledged · {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        PutProgress {
            bar,
            total,
            acked: 0,
            retried: 0,
            started: now,
            last: now,
        }
    }

    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Acked { .. } => self.acked += 1,
            Event::Retrying { .. } => self.retried += 1,
            _ => return,
        }
        let now = Instant::now();
        let every = if self.bar.is_some() {
            Self::BAR_EVERY
        } else {
            Self::LINE_EVERY
        };
        if now - self.last < every {
            return;
        }
        self.last = now;
        let rate = self.acked as f64 / (now - self.started).as_secs_f64().max(1e-3);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.acked);
                bar.set_message(format!("{rate:.0} records/s · {} retried", self.retried));
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "  put: {} of {} acknowledged, {} retried, {rate:.0} records/s",
                    self.acked, self.total, self.retried
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::producer::MAX_PARTITION_KEY_CHARS;

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
    }

    #[test]
    fn partition_keys_parse() {
        assert_eq!("random".parse(), Ok(PartitionKeys::Random));
        assert_eq!("8".parse(), Ok(PartitionKeys::Distinct(8)));
        assert!("0".parse::<PartitionKeys>().is_err());
        assert!("many".parse::<PartitionKeys>().is_err());
    }

    #[test]
    fn generator_makes_distinct_records_of_the_size() {
        let g = Generator::new(5, 40, GeneratedKey::Keys(PartitionKeys::Distinct(2)), 1).unwrap();
        assert_eq!(g.len(), 5);
        let entries: Vec<Entry> = g.collect();
        assert_eq!(entries.len(), 5);
        assert!(
            entries
                .iter()
                .all(|e| e.data.len() == 40 && e.data.is_ascii())
        );
        assert!(entries[3].data.starts_with(b"0000000003 "));
        let keys: Vec<&str> = entries.iter().map(|e| e.partition_key.as_str()).collect();
        assert_eq!(keys, ["key-0", "key-1", "key-0", "key-1", "key-0"]);
        let random: Vec<Entry> = Generator::new(3, 4, GeneratedKey::Keys(PartitionKeys::Random), 1)
            .unwrap()
            .collect();
        assert!(
            random
                .iter()
                .all(|e| e.partition_key.len() == 32 && e.data.len() == 4)
        );
        assert_ne!(random[0].partition_key, random[1].partition_key);
        let big: Vec<Entry> = Generator::new(1, 20000, GeneratedKey::Fixed("k".into()), 1)
            .unwrap()
            .collect();
        assert_eq!(big[0].data.len(), 20000);
    }

    #[test]
    fn generator_refuses_records_over_the_limit() {
        let err = Generator::new(
            1,
            MAX_RECORD_BYTES,
            GeneratedKey::Keys(PartitionKeys::Random),
            1,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--size 1048576` plus a 32-byte partition key exceeds the 1048576-byte (1 MiB) record limit"
        );
        assert!(
            Generator::new(1, MAX_RECORD_BYTES - 1, GeneratedKey::Fixed("k".into()), 1).is_ok()
        );
        assert!(Generator::new(1, 1, GeneratedKey::Fixed(String::new()), 1).is_err());
    }

    fn summary(acknowledged: u64, errors: &[(&str, u64)], aborted: Option<&str>) -> Summary {
        let not_written: u64 = errors.iter().map(|e| e.1).sum();
        Summary {
            records: acknowledged + not_written,
            acknowledged,
            not_written,
            bytes: acknowledged * 100,
            retries: 3,
            throttled: 2,
            calls: 4,
            per_shard: BTreeMap::from([
                ("shardId-000000000000".to_string(), acknowledged / 2),
                (
                    "shardId-000000000001".to_string(),
                    acknowledged - acknowledged / 2,
                ),
            ]),
            errors: errors.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            aborted: aborted.map(str::to_string),
            elapsed: Duration::from_millis(2500),
        }
    }

    #[test]
    fn summary_text() {
        assert_eq!(
            render_summary(&summary(5000, &[], None), "demo"),
            "kstream: put 5000 of 5000 records (488.3 KiB) into stream `demo` in 2.5 s: 2000 records/s, 0.19 MiB/s\n  \
             4 calls, 3 retried (2 throttled), 0 not written\n  \
             shardId-000000000000  2500\n  \
             shardId-000000000001  2500\n"
        );
        let json = summary_json(&summary(10, &[], None), "demo");
        assert_eq!(json["records_per_sec"], 4.0);
        assert_eq!(json["elapsed"], 2.5);
        assert_eq!(json["per_shard"]["shardId-000000000001"], 5);
    }

    #[test]
    fn failures_say_exactly_how_many_records_were_not_written() {
        assert!(check(&summary(10, &[], None), "demo", 10).is_ok());
        let err = check(
            &summary(97, &[("ProvisionedThroughputExceededException", 3)], None),
            "demo",
            10,
        )
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "3 of 100 records were not written (3 ProvisionedThroughputExceededException) after 10 attempts each\n  \
             hint: lower `--rate`, raise `--max-attempts`, or give stream `demo` more shards"
        );
        let err = check(
            &summary(
                0,
                &[("NotSent", 1)],
                Some(
                    "ResourceNotFoundException: Stream demo under account 000000000000 not found.",
                ),
            ),
            "demo",
            10,
        )
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "the put stopped: ResourceNotFoundException: Stream demo under account 000000000000 not found.\n  \
             1 of 1 record was not written (1 NotSent)\n  \
             hint: does stream `demo` exist? run `kstream apply` first"
        );
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
