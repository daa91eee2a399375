//! `kstream put`: one record (`--data`, `--data-file`), one record per line (`--lines`) or
//! generated load (`--count`), written through the producer engine (`crate::producer`).
//!
//! Flags and single records are validated before the first call. `--lines` streams: records
//! are sent as lines arrive, in bounded memory (`producer::LineSource`), and a bad line is
//! reported with its number and counted as not written. The summary goes to stderr, `--json`
//! to stdout; records that could not be written make the command fail with their exact count.

use std::io::{Read, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::{Context, Output, UsageError};
use crate::aws::records::StreamWriter;
use crate::cli::PutArgs;
use crate::interrupt::{Interrupted, Stop};
use crate::producer::{
    Entry, Event, GeneratedKey, Generator, LineKey, LineSource, LineStats, LoadError,
    MAX_RECORD_BYTES, PartitionKeys, PutOptions, ShardMap, Source, Summary, put_aggregated,
    put_all, put_until, validate,
};
use crate::ui::{self, Progress};

/// Data bytes of a generated record unless `--size` says otherwise.
pub const DEFAULT_SIZE: usize = 100;

/// What `put` will send, read and validated from the arguments.
#[derive(Debug)]
pub enum Input {
    /// One record (`--data`, `--data-file`).
    Single(Entry),
    /// Records from lines (`--lines`), read as they arrive.
    Lines(Lines),
    /// Generated load (`--count`).
    Generate(Generator),
}

/// `--lines` being read: the records, what the reader found besides them, and the input's name.
#[derive(Debug)]
pub struct Lines {
    source: LineSource,
    stats: Arc<LineStats>,
    name: String,
}

/// How the start of an aggregated put says so.
const AGGREGATED: &str = ", aggregated (KPL) per shard";

/// Error code counted for lines that could not become records.
pub const INVALID_LINE: &str = "InvalidLine";

impl Input {
    /// Validate the input the arguments name: a single record is read here (at most the
    /// record limit), lines start being read on a thread.
    pub fn from_args(args: &PutArgs) -> Result<Input> {
        if args.partition_key.as_deref() == Some("") {
            return Err(UsageError(
                "`--partition-key` is empty; a partition key needs 1 to 256 characters".into(),
            )
            .into());
        }
        if args.aggregate {
            refuse_with_aggregate(args)?;
        }
        if let Some(text) = &args.data {
            return single(args, text.clone().into_bytes());
        }
        if let Some(path) = &args.data_file {
            let data = read_record_file(path)?;
            return single(args, data);
        }
        if let Some(path) = &args.lines {
            return lines(args, path);
        }
        if let Some(count) = args.count {
            return generate(args, count);
        }
        Err(UsageError(
            "nothing to put: give `--data`, `--data-file`, `--lines` or `--count`".into(),
        )
        .into())
    }
}

/// What `--aggregate` cannot honour, refused before anything is read or called.
fn refuse_with_aggregate(args: &PutArgs) -> Result<(), UsageError> {
    let single = if args.data.is_some() {
        Some("--data")
    } else if args.data_file.is_some() {
        Some("--data-file")
    } else {
        None
    };
    if let Some(flag) = single {
        return Err(UsageError(format!(
            "`--aggregate` packs many records into one; `{flag}` puts a single record\n  hint: leave out `--aggregate`, or put records with `--lines` or `--count`"
        )));
    }
    if args.rate.is_some() {
        return Err(UsageError(
            "`--aggregate` cannot honour `--rate`: aggregated records leave as their shard's limits allow, not at a rate of user records\n  hint: leave out `--rate` or `--aggregate`".into(),
        ));
    }
    Ok(())
}

fn single(args: &PutArgs, data: Vec<u8>) -> Result<Input> {
    let key = args.partition_key.clone().unwrap_or_default();
    let entry = Entry::new(key, data);
    validate(&entry).map_err(|e| UsageError(e.to_string()))?;
    Ok(Input::Single(entry))
}

/// `--lines`: one record per line of the file (or stdin), keyed as the flags say.
fn lines(args: &PutArgs, path: &Path) -> Result<Input> {
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
    if let LineKey::Fixed(k) = &key {
        validate(&Entry::new(k.clone(), Vec::new()))
            .map_err(|e| UsageError(format!("`--partition-key`: {e}")))?;
    }
    let name = input_name(path);
    let (source, stats) = LineSource::spawn(open_input(path)?, key, name.clone(), |e| {
        eprintln!("kstream: {e}; not sent");
    })
    .context("failed to start reading the lines")?;
    Ok(Input::Lines(Lines {
        source,
        stats,
        name,
    }))
}

/// `--count`: generated records of `--size` bytes under `--partition-key(s)`.
fn generate(args: &PutArgs, count: u64) -> Result<Input> {
    let key = match (&args.partition_key, args.partition_keys) {
        (Some(k), _) => GeneratedKey::Fixed(k.clone()),
        (None, keys) => GeneratedKey::Keys(keys.unwrap_or(PartitionKeys::Random)),
    };
    let generator = Generator::new(
        count,
        args.size.unwrap_or(DEFAULT_SIZE),
        key,
        rand::random(),
    )
    .map_err(load_error)?;
    Ok(Input::Generate(generator))
}

/// A generator's refusal in the words of the flags that caused it.
fn load_error(e: LoadError) -> UsageError {
    UsageError(match e {
        LoadError::Key(e) => format!("`--partition-key`: {e}"),
        LoadError::TooLarge { size, key_bytes } => format!(
            "`--size {size}` plus a {key_bytes}-byte partition key exceeds the {MAX_RECORD_BYTES}-byte (1 MiB) record limit"
        ),
    })
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        format!("`{}`", path.display())
    }
}

/// `path`, or stdin for `-`, for reading.
fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    match std::fs::File::open(path) {
        Ok(file) => Ok(Box::new(file)),
        Err(e) => Err(UsageError(format!("cannot read `{}`: {e}", path.display())).into()),
    }
}

/// The bytes of `--data-file`: at most the record limit is read (plus one byte, to tell a
/// file over it), so no input, not even `/dev/zero`, is read without end.
fn read_record_file(path: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    open_input(path)?
        .take(MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("failed to read {}", input_name(path)))?;
    if data.len() > MAX_RECORD_BYTES {
        return Err(UsageError(format!(
            "`--data-file`: {} is larger than the {MAX_RECORD_BYTES}-byte (1 MiB) record limit\n  hint: split it, or put it as lines with `--lines`",
            input_name(path)
        ))
        .into());
    }
    Ok(data)
}

/// The stream's shard map for pacing, or `None` (with a note) when it cannot be listed.
pub async fn shard_map(writer: &StreamWriter, progress: &Progress) -> Result<Option<ShardMap>> {
    let stream = writer.stream();
    match writer.open_shards().await {
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

/// The stream's shard map for `--aggregate`, which cannot group records without it.
async fn aggregate_shard_map(writer: &StreamWriter) -> Result<ShardMap> {
    let stream = writer.stream();
    match writer.open_shards().await {
        Ok(Some(map)) if !map.is_empty() => Ok(map),
        Ok(Some(_)) => Err(anyhow!(
            "stream `{stream}` has no open shard to aggregate records for\n  hint: wait until it is ACTIVE (`kstream status`)"
        )),
        Ok(None) => Err(anyhow!(
            "stream `{stream}` does not exist\n  hint: run `kstream apply` first"
        )),
        Err(e) => Err(e.context(
            "`--aggregate` needs the stream's shards to group records by shard\n  hint: allow `kinesis:ListShards`, or put without `--aggregate`",
        )),
    }
}

/// Run `kstream put`.
pub(crate) async fn run(ctx: &Context, args: &PutArgs) -> Result<()> {
    let input = Input::from_args(args)?;
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let writer = StreamWriter::new(&clients, &config.stream.name);
    let mut opts = PutOptions {
        concurrency: args.concurrency as usize,
        max_attempts: args.max_attempts,
        rate: args.rate,
        ..PutOptions::default()
    };
    // Many records: a signal stops the put, which reports what was written and what not.
    let stop = Stop::new();
    match input {
        Input::Single(entry) => put_one(ctx.output, &writer, entry, &opts).await,
        Input::Lines(lines) => {
            stop.listen("put")
                .context("failed to listen for SIGINT and SIGTERM")?;
            let done = put_lines(ctx.output, &writer, lines, opts, args.aggregate, &stop).await;
            interrupted(done, &stop)
        }
        Input::Generate(generator) => {
            stop.listen("put")
                .context("failed to listen for SIGINT and SIGTERM")?;
            let total = Some(generator.len() as u64);
            let summary =
                put_many(&writer, generator, total, &mut opts, args.aggregate, &stop).await?;
            let done = finish(ctx.output, &summary, writer.stream(), opts.max_attempts);
            interrupted(done, &stop)
        }
    }
}

/// A put a signal stopped fails with the signal in its chain (exit code 128 + its number).
fn interrupted(done: Result<()>, stop: &Stop) -> Result<()> {
    match (done, stop.signal()) {
        (Err(e), Some(signal)) => {
            Err(anyhow::Error::new(Interrupted(signal)).context(format!("{e:#}")))
        }
        (done, _) => done,
    }
}

/// `--lines`: records sent as lines arrive; bad lines, reported as read, count as not written.
async fn put_lines(
    output: Output,
    writer: &StreamWriter,
    lines: Lines,
    mut opts: PutOptions,
    aggregate: bool,
    stop: &Stop,
) -> Result<()> {
    let Lines {
        source,
        stats,
        name,
    } = lines;
    eprintln!(
        "kstream: putting one record per line of {name} into stream `{}`, as lines arrive{}",
        writer.stream(),
        if aggregate { AGGREGATED } else { "" }
    );
    let mut summary = put_many(writer, source, None, &mut opts, aggregate, stop).await?;
    let invalid = stats.invalid();
    if invalid > 0 {
        summary.records += invalid;
        summary.not_written += invalid;
        *summary.errors.entry(INVALID_LINE.into()).or_default() += invalid;
    }
    finish(output, &summary, writer.stream(), opts.max_attempts)?;
    match stats.error() {
        Some(error) if summary.aborted.is_none() => Err(anyhow!(
            "{error}\n  the records of the lines before were put; the rest were not read"
        )),
        _ => Ok(()),
    }
}

/// One record, one call: no ListShards, no progress; prints the shard and sequence number.
async fn put_one(
    output: Output,
    writer: &StreamWriter,
    entry: Entry,
    opts: &PutOptions,
) -> Result<()> {
    let stream = writer.stream();
    let mut ack = None;
    let summary = put_all(writer, vec![entry], opts, &mut |e| {
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
    let mut value = summary_json(&summary, stream);
    if let Some((shard_id, sequence_number)) = &ack {
        value["shard_id"] = json!(shard_id);
        value["sequence_number"] = json!(sequence_number);
    }
    output.print(&value, || match &ack {
        Some((shard, seq)) => format!("{shard}\t{seq}\n"),
        None => String::new(),
    })?;
    check(&summary, stream, opts.max_attempts)
}

/// Many records (`total` of them, when known), paced per shard, with progress on stderr.
async fn put_many<S: Source + Send>(
    writer: &StreamWriter,
    records: S,
    total: Option<u64>,
    opts: &mut PutOptions,
    aggregate: bool,
    stop: &Stop,
) -> Result<Summary> {
    let progress = Progress::stderr();
    opts.shards = if aggregate {
        Some(aggregate_shard_map(writer).await?)
    } else {
        shard_map(writer, &progress).await?
    };
    if let Some(total) = total {
        eprintln!(
            "kstream: putting {total} record{} into stream `{}`{}",
            if total == 1 { "" } else { "s" },
            writer.stream(),
            if aggregate { AGGREGATED } else { "" }
        );
    }
    let mut bar = PutProgress::new(total);
    let mut observe = |e: Event<'_>| bar.event(&e);
    let summary = if aggregate {
        put_aggregated(writer, records, opts, stop, &mut observe).await
    } else {
        put_until(writer, records, opts, stop, &mut observe).await
    };
    bar.finish();
    Ok(summary)
}

/// Print the summary (stderr, and stdout with `--json`) and fail if any record was not written.
fn finish(output: Output, summary: &Summary, stream: &str, max_attempts: u32) -> Result<()> {
    eprint!("{}", render_summary(summary, stream));
    if output.json {
        output.print(&summary_json(summary, stream), String::new)?;
    }
    check(summary, stream, max_attempts)
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
    if let Some(a) = &s.aggregated {
        out.push_str(&format!(
            "  aggregated (KPL) into {} of {} Kinesis record{} ({})\n",
            a.acknowledged,
            a.records,
            if a.records == 1 { "" } else { "s" },
            human_bytes(a.bytes)
        ));
    }
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
    let only_invalid_lines = s.errors.keys().all(|code| code == INVALID_LINE);
    Err(match &s.aborted {
        None if only_invalid_lines => anyhow!(
            "{counted}: each line was reported above\n  hint: fix those lines and put them again"
        ),
        Some(why) if s.stream_not_found => anyhow!(
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
    total: Option<u64>,
    acked: u64,
    retried: u64,
    started: Instant,
    last: Instant,
}

impl PutProgress {
    const BAR_EVERY: Duration = Duration::from_millis(200);
    const LINE_EVERY: Duration = Duration::from_secs(5);

    fn new(total: Option<u64>) -> PutProgress {
        let bar = ui::stderr_is_terminal().then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::new(total),
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} acknowledged · {msg}",
                ),
                None => (
                    ProgressBar::no_length(),
                    "{spinner} [{elapsed_precise}] {pos} acknowledged · {msg}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
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
                let of = self.total.map(|t| format!(" of {t}")).unwrap_or_default();
                let _ = writeln!(
                    err,
                    "  put: {}{of} acknowledged, {} retried, {rate:.0} records/s",
                    self.acked, self.retried
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

    #[test]
    fn generator_refusals_name_the_flags() {
        let err = Generator::new(
            1,
            MAX_RECORD_BYTES,
            GeneratedKey::Keys(PartitionKeys::Random),
            1,
        )
        .map_err(load_error)
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--size 1048576` plus a 32-byte partition key exceeds the 1048576-byte (1 MiB) record limit"
        );
        let err = Generator::new(1, 1, GeneratedKey::Fixed(String::new()), 1)
            .map_err(load_error)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--partition-key`: partition key is empty; it needs 1 to 256 characters"
        );
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
            stream_not_found: false,
            elapsed: Duration::from_millis(2500),
            aggregated: None,
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
    fn aggregated_puts_name_their_kinesis_records_too() {
        let mut s = summary(20000, &[], None);
        s.aggregated = Some(crate::producer::Aggregated {
            records: 3,
            acknowledged: 3,
            bytes: 2_200_000,
        });
        let text = render_summary(&s, "demo");
        assert!(
            text.starts_with("kstream: put 20000 of 20000 records"),
            "{text}"
        );
        assert!(
            text.contains("\n  aggregated (KPL) into 3 of 3 Kinesis records (2.1 MiB)\n"),
            "{text}"
        );
        let json = summary_json(&s, "demo");
        assert_eq!(json["aggregated"]["records"], 3);
        assert_eq!(json["acknowledged"], 20000);
        // Without `--aggregate` the JSON has no such key.
        assert!(
            summary_json(&summary(1, &[], None), "demo")
                .get("aggregated")
                .is_none()
        );
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
        let mut missing = summary(
            0,
            &[("NotSent", 1)],
            Some("ResourceNotFoundException: Stream demo under account 000000000000 not found."),
        );
        missing.stream_not_found = true;
        let err = check(&missing, "demo", 10).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "the put stopped: ResourceNotFoundException: Stream demo under account 000000000000 not found.\n  \
             1 of 1 record was not written (1 NotSent)\n  \
             hint: does stream `demo` exist? run `kstream apply` first"
        );
        // The hint follows the typed classification, not the error text.
        missing.stream_not_found = false;
        let err = check(&missing, "demo", 10).unwrap_err();
        assert!(!format!("{err:#}").contains("hint"), "{err:#}");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
