//! The walk from a parsed TOML document to a [`Config`]: every key checked, every default applied.

use std::collections::BTreeMap;
use std::path::Path;

use kstream_contract::env;
use toml::de::{DeTable, DeValue};

use super::rules;
use super::rules::Problem;
use super::walk::{At, Cx, Reported, Table, value};
use super::{
    Architecture, BucketConfig, Config, ConfigError, ConsumerConfig, LOG_RETENTION_DAYS,
    MAX_USER_TAGS, OnFailure, StartingPosition, StreamConfig, StreamEncryption, StreamMode,
};

/// Top-level keys that hold values.
pub(super) const ROOT_KEYS: &[&str] = &["name", "region", "endpoint_url"];
/// Top-level keys that hold tables.
pub(super) const ROOT_TABLES: &[&str] = &["stream", "bucket", "consumer", "tags"];
pub(super) const STREAM_KEYS: &[&str] = &[
    "name",
    "mode",
    "shard_count",
    "retention_hours",
    "encryption",
    "kms_key_id",
];
pub(super) const BUCKET_KEYS: &[&str] = &["name"];
pub(super) const CONSUMER_KEYS: &[&str] = &[
    "function_name",
    "role_name",
    "memory_mb",
    "timeout_s",
    "architecture",
    "batch_size",
    "parallelization_factor",
    "maximum_batching_window_s",
    "starting_position",
    "maximum_retry_attempts",
    "bisect_batch_on_function_error",
    "maximum_record_age_s",
    "on_failure",
    "log_retention_days",
    "key_prefix",
    "write_concurrency",
    "zip",
];

/// Every table and its keys, to tell a user which table a misplaced key belongs in.
pub(super) const KNOWN_KEYS: &[(&str, &[&str])] = &[
    ("", ROOT_KEYS),
    ("stream", STREAM_KEYS),
    ("bucket", BUCKET_KEYS),
    ("consumer", CONSUMER_KEYS),
];

const DEFAULT_SHARD_COUNT: u32 = 2;
const DEFAULT_RETENTION_HOURS: u32 = 24;
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_TIMEOUT_S: u32 = 30;
const DEFAULT_BATCH_SIZE: u32 = 100;
const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: i32 = 10;
const DEFAULT_LOG_RETENTION_DAYS: u32 = 14;

/// Other names people use for the architectures.
const ARCHITECTURE_ALIASES: &[(&str, &str)] = &[
    ("aarch64", "arm64"),
    ("arm", "arm64"),
    ("amd64", "x86_64"),
    ("x64", "x86_64"),
    ("x86", "x86_64"),
];

/// Parses `text` and validates it into a [`Config`], reporting every problem found.
#[allow(clippy::result_large_err)] // see `load`
pub(super) fn validate(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let document = DeTable::parse(text).map_err(|err| syntax_error(text, path, &err))?;
    let mut cx = Cx {
        text,
        path,
        problems: Vec::new(),
    };
    let root = Table {
        path: "",
        offset: 0,
        entries: document.get_ref(),
    };
    cx.unknown_keys(&root, ROOT_KEYS, ROOT_TABLES);

    let name = cx.string(&root, "name", rules::deployment_name);
    let name = cx.required(&root, "name", "\"<deployment name>\"", name);
    let region = value(cx.string(&root, "region", rules::region));
    let endpoint_url = value(cx.string(&root, "endpoint_url", rules::endpoint_url));

    let stream = match cx.table(&root, "stream", true) {
        Some(table) => stream(&mut cx, &table),
        None => StreamConfig {
            name: String::new(),
            mode: StreamMode::Provisioned,
            shard_count: DEFAULT_SHARD_COUNT,
            retention_hours: DEFAULT_RETENTION_HOURS,
            encryption: StreamEncryption::aws_managed(),
        },
    };
    let bucket = match cx.table(&root, "bucket", true) {
        Some(table) => bucket(&mut cx, &table),
        None => BucketConfig {
            name: String::new(),
        },
    };
    let empty = DeTable::default();
    let consumer_table = cx.table(&root, "consumer", false);
    // An absent `[consumer]` goes through the same walk, so its defaults come from one place.
    let consumer_table = consumer_table.unwrap_or(Table {
        path: "consumer",
        offset: 0,
        entries: &empty,
    });
    let consumer = consumer(&mut cx, &consumer_table, name.as_ref(), path);
    let tags = match cx.table(&root, "tags", false) {
        Some(table) => tags(&mut cx, &table),
        None => BTreeMap::new(),
    };

    let config = Config {
        path: path.to_owned(),
        name: name.map(|at| at.value).unwrap_or_default(),
        region,
        endpoint_url,
        stream,
        bucket,
        consumer,
        tags,
    };
    cx.finish(config)
}

fn stream(cx: &mut Cx<'_>, table: &Table<'_>) -> StreamConfig {
    cx.unknown_keys(table, STREAM_KEYS, &[]);
    let name = cx.string(table, "name", rules::stream_name);
    let name = cx.required(table, "name", "\"<stream name>\"", name);
    let mode = cx.choice(
        table,
        "mode",
        &StreamMode::ALL,
        StreamMode::as_str,
        &[
            ("on-demand", "on_demand"),
            ("ondemand", "on_demand"),
            ("ON_DEMAND", "on_demand"),
            ("PROVISIONED", "provisioned"),
        ],
        StreamMode::Provisioned,
    );
    if mode == StreamMode::OnDemand
        && let Some(count) = table.get("shard_count")
    {
        let key = table.key("shard_count");
        let message = format!(
            "`{key}` applies to provisioned streams only, and `{}` is \"on_demand\"",
            table.key("mode")
        );
        let help =
            Some("remove `shard_count`: Kinesis manages an on-demand stream's shards".into());
        cx.report(count.span().start, key, Problem { message, help });
    }
    StreamConfig {
        name: name.map(|at| at.value).unwrap_or_default(),
        mode,
        shard_count: cx.unsigned(table, "shard_count", 1..=1000, DEFAULT_SHARD_COUNT),
        retention_hours: cx.unsigned(table, "retention_hours", 24..=8760, DEFAULT_RETENTION_HOURS),
        encryption: encryption(cx, table),
    }
}

/// `stream.encryption` as spelled in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EncryptionKind {
    Kms,
    None,
}

impl EncryptionKind {
    const ALL: [EncryptionKind; 2] = [EncryptionKind::Kms, EncryptionKind::None];

    const fn as_str(self) -> &'static str {
        match self {
            EncryptionKind::Kms => "kms",
            EncryptionKind::None => "none",
        }
    }
}

/// `encryption` and `kms_key_id`: a key only makes sense with `encryption = "kms"`.
fn encryption(cx: &mut Cx<'_>, table: &Table<'_>) -> StreamEncryption {
    let kind = cx.choice(
        table,
        "encryption",
        &EncryptionKind::ALL,
        EncryptionKind::as_str,
        &[("sse", "kms"), ("off", "none")],
        EncryptionKind::Kms,
    );
    let key = cx.string(table, "kms_key_id", rules::kms_key_id);
    match (kind, key) {
        (EncryptionKind::None, Ok(Some(at))) => {
            let message = format!(
                "`{}` is set to `{}`, but `{}` is \"none\"",
                table.key("kms_key_id"),
                at.value,
                table.key("encryption")
            );
            cx.report(
                at.offset,
                table.key("kms_key_id"),
                Problem::new(message).help(
                    "remove `kms_key_id`, or set `encryption = \"kms\"` to encrypt with that key",
                ),
            );
            StreamEncryption::None
        }
        (EncryptionKind::None, _) => StreamEncryption::None,
        (EncryptionKind::Kms, Ok(Some(at))) => StreamEncryption::Kms { key_id: at.value },
        (EncryptionKind::Kms, _) => StreamEncryption::aws_managed(),
    }
}

/// `[tags]`: string keys to string values, each checked against the tag rules every service
/// kstream tags shares (S3's and IAM's are the narrowest).
fn tags(cx: &mut Cx<'_>, table: &Table<'_>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    // Lowercased key → the key as written: IAM treats keys that differ only in case as one.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in table.entries.iter() {
        let name = key.get_ref().as_ref();
        let full = rules::tag_path(name);
        let mut ok = true;
        for problem in rules::tag_key(&full, name) {
            cx.report(key.span().start, full.clone(), problem);
            ok = false;
        }
        let DeValue::String(text) = value.get_ref() else {
            let message = format!(
                "`{full}` must be a string, got {}",
                super::walk::kind(value.get_ref())
            );
            cx.report(
                value.span().start,
                full,
                Problem::new(message)
                    .help("tag values are strings: put the value in double quotes"),
            );
            continue;
        };
        for problem in rules::tag_value(&full, text) {
            cx.report(value.span().start, full.clone(), problem);
            ok = false;
        }
        if let Some(first) = seen.insert(name.to_lowercase(), name.to_string()) {
            let message = format!(
                "`{full}` and `{}` differ only in case, which IAM does not tell apart",
                rules::tag_path(&first)
            );
            cx.report(
                key.span().start,
                full,
                Problem::new(message).help("keep one of them"),
            );
            ok = false;
        }
        if ok {
            tags.insert(name.to_string(), text.to_string());
        }
    }
    let count = table.entries.len();
    if count > MAX_USER_TAGS {
        let message = format!(
            "`[tags]` has {count} tags, more than {MAX_USER_TAGS}: AWS allows 50 tags per resource, and kstream puts two of its own on the role (`kstream:deployment`, `kstream:region`)"
        );
        cx.report(
            table.offset,
            "tags".to_owned(),
            Problem::new(message).help(format!("remove {} of them", count - MAX_USER_TAGS)),
        );
    }
    tags
}

fn bucket(cx: &mut Cx<'_>, table: &Table<'_>) -> BucketConfig {
    cx.unknown_keys(table, BUCKET_KEYS, &[]);
    let name = cx.string(table, "name", rules::bucket_name);
    let name = cx.required(table, "name", "\"<globally unique bucket name>\"", name);
    BucketConfig {
        name: name.map(|at| at.value).unwrap_or_default(),
    }
}

/// `[consumer]`; `name` is the valid deployment name (for defaults), `path` the config file.
fn consumer(
    cx: &mut Cx<'_>,
    table: &Table<'_>,
    name: Option<&At<String>>,
    path: &Path,
) -> ConsumerConfig {
    cx.unknown_keys(table, CONSUMER_KEYS, &[]);

    // Where each name came from, so a default that is too long points at what made it so.
    let function_name = match cx.string(table, "function_name", rules::function_name) {
        Ok(Some(at)) => Some((at.value, at.offset, "consumer.function_name")),
        Ok(None) => name.and_then(|name| {
            let default = format!("{}-consumer", name.value);
            let ok = cx.derived_fits(
                "consumer.function_name",
                "<name>-consumer",
                &default,
                rules::FUNCTION_NAME_MAX,
                name.offset,
                "name",
            );
            ok.then_some((default, name.offset, "name"))
        }),
        Err(Reported) => None,
    };
    let role_name = match cx.string(table, "role_name", rules::role_name) {
        Ok(Some(at)) => at.value,
        Ok(None) => match &function_name {
            Some((function_name, offset, source)) => {
                let default = format!("{function_name}-role");
                cx.derived_fits(
                    "consumer.role_name",
                    "<function_name>-role",
                    &default,
                    rules::ROLE_NAME_MAX,
                    *offset,
                    source,
                );
                default
            }
            None => String::new(),
        },
        Err(Reported) => String::new(),
    };

    let maximum_record_age_s = maximum_record_age(cx, table);
    let log_retention_days = log_retention(cx, table);
    let on_failure = value(cx.string(table, "on_failure", rules::on_failure))
        .map(|destination| rules::parse_on_failure(&destination))
        .unwrap_or(OnFailure::Queue);
    let key_prefix = value(cx.string(table, "key_prefix", rules::key_prefix));
    let zip = value(cx.string(table, "zip", rules::zip));
    // Relative to the config file, so the config means the same from any working directory.
    let zip = zip.map(|zip| path.parent().unwrap_or(Path::new("")).join(zip));

    ConsumerConfig {
        function_name: function_name
            .map(|(function_name, _, _)| function_name)
            .unwrap_or_default(),
        role_name,
        memory_mb: cx.unsigned(table, "memory_mb", 128..=10240, DEFAULT_MEMORY_MB),
        timeout_s: cx.unsigned(table, "timeout_s", 1..=900, DEFAULT_TIMEOUT_S),
        architecture: cx.choice(
            table,
            "architecture",
            &Architecture::ALL,
            Architecture::as_str,
            ARCHITECTURE_ALIASES,
            Architecture::X86_64,
        ),
        batch_size: cx.unsigned(table, "batch_size", 1..=10000, DEFAULT_BATCH_SIZE),
        parallelization_factor: cx.unsigned(table, "parallelization_factor", 1..=10, 1),
        maximum_batching_window_s: cx.unsigned(table, "maximum_batching_window_s", 0..=300, 0),
        starting_position: cx.choice(
            table,
            "starting_position",
            &StartingPosition::ALL,
            StartingPosition::as_str,
            &[],
            StartingPosition::TrimHorizon,
        ),
        maximum_retry_attempts: cx.signed(
            table,
            "maximum_retry_attempts",
            -1..=10000,
            DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
        ),
        bisect_batch_on_function_error: cx.boolean(table, "bisect_batch_on_function_error", true),
        maximum_record_age_s,
        on_failure,
        log_retention_days,
        key_prefix: key_prefix.unwrap_or_default(),
        write_concurrency: cx.unsigned(
            table,
            "write_concurrency",
            env::WRITE_CONCURRENCY_RANGE,
            env::DEFAULT_WRITE_CONCURRENCY,
        ),
        zip,
    }
}

/// `maximum_record_age_s`: -1 (no limit) or 60 to 604800, as Lambda allows.
fn maximum_record_age(cx: &mut Cx<'_>, table: &Table<'_>) -> i32 {
    let key = "maximum_record_age_s";
    match cx.integer(table, key, -1..=604_800) {
        Ok(Some(at)) if at.value == -1 || at.value >= 60 => at.value as i32,
        Ok(Some(at)) => {
            let message = format!(
                "`{}` must be -1 (no limit) or from 60 to 604800, got {}",
                table.key(key),
                at.value
            );
            cx.report(at.offset, table.key(key), Problem::new(message));
            -1
        }
        Ok(None) | Err(Reported) => -1,
    }
}

/// `log_retention_days`: one of the periods CloudWatch Logs accepts.
fn log_retention(cx: &mut Cx<'_>, table: &Table<'_>) -> u32 {
    let key = "log_retention_days";
    match cx.integer(table, key, 1..=3653) {
        Ok(Some(at)) if LOG_RETENTION_DAYS.contains(&(at.value as u32)) => at.value as u32,
        Ok(Some(at)) => {
            let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            let message = format!(
                "`{}` must be one of the periods CloudWatch Logs accepts, got {}",
                table.key(key),
                at.value
            );
            cx.report(
                at.offset,
                table.key(key),
                Problem::new(message).help(format!("choose one of {}", allowed.join(", "))),
            );
            DEFAULT_LOG_RETENTION_DAYS
        }
        Ok(None) | Err(Reported) => DEFAULT_LOG_RETENTION_DAYS,
    }
}

/// A TOML syntax error: the parser's position and the first line of its message.
fn syntax_error(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let first_line = err.message().lines().next().unwrap_or_default();
    let mut message = first_line.trim().trim_end_matches('.').to_owned();
    if message.is_empty() {
        message = "invalid TOML".to_owned();
    }
    // The parser says only "duplicate key"; its span covers the key, so name it.
    if message == "duplicate key"
        && let Some(key) = text.get(span.clone()).filter(|key| !key.trim().is_empty())
    {
        message = format!("duplicate key `{}`", key.trim());
    }
    ConfigError::at(
        path,
        text,
        span.start,
        None,
        format!("syntax error: {message}"),
        None,
    )
}
