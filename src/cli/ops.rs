//! Arguments of the operations commands: `put`, `objects`, `logs`, `status`, `smoke`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use crate::producer::{KeyTemplate, PartitionKeys};

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
        value_name = "TEMPLATE",
        requires = "lines",
        conflicts_with = "key_field"
    )]
    pub key_template: Option<KeyTemplate>,
    /// Partition key of each line from this field of the JSON object on the line
    #[arg(long, value_name = "NAME", requires = "lines")]
    pub key_field: Option<String>,
    /// Generate N records (load generator)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Bytes of data per generated record [default: 100]
    #[arg(long, value_name = "BYTES", requires = "count")]
    pub size: Option<usize>,
    /// Partition keys of generated records: `random` (one per record) or N distinct keys [default: random]
    #[arg(long, value_name = "random|N", requires = "count")]
    pub partition_keys: Option<PartitionKeys>,
    /// Most new records per second (default: as fast as the shards accept them)
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Most PutRecords calls in flight
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Most attempts per record; records still failing then count as not written
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
}

/// Arguments of `objects`.
#[derive(Debug, Args, Clone)]
pub struct ObjectsArgs {
    /// List only keys starting with P [default: the config's `consumer.key_prefix`]
    #[arg(long, value_name = "P", conflicts_with = "cat")]
    pub prefix: Option<String>,
    /// List at most N objects (0: all)
    #[arg(long, value_name = "N", default_value_t = 1000, conflicts_with = "cat")]
    pub limit: usize,
    /// Write the bytes of the object KEY to stdout, exactly
    #[arg(long, value_name = "KEY")]
    pub cat: Option<String>,
}

/// Arguments of `logs`.
#[derive(Debug, Args, Clone)]
pub struct LogsArgs {
    /// Show events from this long ago (`10m`, `2h`) or since an RFC 3339 time
    #[arg(long, value_name = "WHEN", default_value = "10m")]
    pub since: String,
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
    /// Longest wait for the objects after the put (`60s`, `2m`)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}
