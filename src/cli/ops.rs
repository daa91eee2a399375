//! Arguments of the operations commands: `put`, `objects`, `logs`, `status`, `smoke`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::builder::RangedU64ValueParser;
use clap::{ArgGroup, Args};

use crate::producer::{KeyTemplate, MAX_RECORD_BYTES, PartitionKeys};

/// Slowest `--rate`: one record every 1,000 seconds.
pub const MIN_RATE: f64 = 0.001;
/// Fastest `--rate`: a million records per second (a thousand shards' worth).
pub const MAX_RATE: f64 = 1_000_000.0;
/// Most objects `objects --limit` lists.
pub const MAX_LIST_LIMIT: u64 = 1_000_000;
/// Shortest and longest `smoke --timeout`.
pub const SMOKE_TIMEOUT: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(24 * 3600));
/// Longest look-back of `logs --since` (CloudWatch keeps events for at most ten years).
pub const MAX_SINCE: Duration = Duration::from_secs(3653 * 24 * 3600);

/// Arguments of `put`.
#[derive(Debug, Args, Clone)]
#[command(group(ArgGroup::new("input").required(true).args(["data", "data_file", "lines", "count"])))]
pub struct PutArgs {
    /// Partition key of the record(s): 1-256 characters
    #[arg(short = 'k', long, value_name = "KEY", conflicts_with_all = ["key_template", "key_field", "partition_keys"])]
    pub partition_key: Option<String>,
    /// Put one record with this text as data
    #[arg(long, value_name = "TEXT", requires = "partition_key")]
    pub data: Option<String>,
    /// Put one record with this file's bytes as data (`-` reads stdin)
    #[arg(long, value_name = "PATH", requires = "partition_key")]
    pub data_file: Option<PathBuf>,
    /// Put one record per line of FILE (stdin without FILE, or with `-`)
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub lines: Option<PathBuf>,
    /// Partition key of each line from a template: `{n}` is the record number from 0,
    /// `{line_no}` the line number from 1 (e.g. `user-{n}`)
    #[arg(
        long,
        help = super::keep_placeholders("Partition key of each line from a template, like `user-{n}`:\n`{n}` is the record number from 0,\n`{line_no}` the line number from 1"),
        value_name = "TEMPLATE",
        requires = "lines",
        conflicts_with = "key_field"
    )]
    pub key_template: Option<KeyTemplate>,
    /// Partition key of each line from this field of the JSON object on the line
    #[arg(long, value_name = "NAME", requires = "lines")]
    pub key_field: Option<String>,
    /// Generate N records (load generator), at least 1
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Bytes of data per generated record, 0 to 1048576 (1 MiB, with the key) [default: 100]
    #[arg(long, value_name = "BYTES", requires = "count", value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_RECORD_BYTES as u64))]
    pub size: Option<usize>,
    /// Partition keys of generated records: `random` (one per record) or N distinct keys [default: random]
    #[arg(long, value_name = "random|N", requires = "count")]
    pub partition_keys: Option<PartitionKeys>,
    /// Most new records per second, 0.001 to 1000000 (default: as fast as the shards accept them)
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Most PutRecords calls in flight
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Most attempts per record; records still failing then count as not written
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Pack the records of `--lines` or `--count` into KPL aggregated records, up to 1 MiB
    /// each and grouped by shard: far more than 1,000 small records/s per shard (the
    /// consumer deaggregates them)
    #[arg(long)]
    pub aggregate: bool,
}

/// Arguments of `objects`.
#[derive(Debug, Args, Clone)]
pub struct ObjectsArgs {
    /// List only keys starting with P [default: the config's `consumer.key_prefix`]
    #[arg(long, value_name = "P", conflicts_with = "cat")]
    pub prefix: Option<String>,
    /// List at most N objects (0: all), up to 1000000
    #[arg(long, value_name = "N", default_value_t = 1000, conflicts_with = "cat", value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_LIST_LIMIT))]
    pub limit: usize,
    /// Write the bytes of the object KEY to stdout, exactly
    #[arg(long, value_name = "KEY")]
    pub cat: Option<String>,
}

/// Arguments of `logs`.
#[derive(Debug, Args, Clone)]
pub struct LogsArgs {
    /// Show events from this long ago (`10m`, `2h`, at most ten years) or since an RFC 3339 time
    #[arg(long, value_name = "WHEN", default_value = "10m", value_parser = parse_since)]
    pub since: Since,
    /// Keep polling for new events until interrupted
    #[arg(short, long)]
    pub follow: bool,
}

/// Arguments of `smoke`.
#[derive(Debug, Args, Clone, Copy)]
pub struct SmokeArgs {
    /// Records to put
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub count: u32,
    /// Longest wait for the objects after the put (`60s`, `2m`), from 1s to 24h
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// Where `logs` starts: a duration ago, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before now (`10m`).
    Ago(Duration),
    /// This time (`2024-03-09T07:05:04Z`).
    At(SystemTime),
}

/// `--since`: a duration up to [`MAX_SINCE`], or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(ago) = humantime::parse_duration(s) {
        return if ago <= MAX_SINCE {
            Ok(Since::Ago(ago))
        } else {
            Err("at most ten years (`3653d`) ago".into())
        };
    }
    humantime::parse_rfc3339_weak(s)
        .map(Since::At)
        .map_err(|_| {
            "expected a duration like `10m` or an RFC 3339 time like `2024-03-09T07:05:04Z`".into()
        })
}

/// `--rate`: a finite number of records per second within [`MIN_RATE`, `MAX_RATE`].
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number of records per second, like `100` or `0.5`".to_string())?;
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "expected {MIN_RATE} to {MAX_RATE} records per second"
        ))
    }
}

/// `smoke --timeout`: a duration within [`SMOKE_TIMEOUT`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration like `60s` or `2m`"))?;
    let (min, max) = SMOKE_TIMEOUT;
    if (min..=max).contains(&d) {
        Ok(d)
    } else {
        Err("expected 1s to 24h".into())
    }
}
