//! The deployment config: `deploy.toml` parsed and validated into a typed desired state.
//!
//! Nothing here talks to AWS. A config that fails validation never reaches a client.
//!
//! Loading runs in two steps, like ripgrep's low-level → high-level arguments: the text is
//! parsed into a span-carrying TOML document (`toml::de::DeTable`), then `validate` walks
//! it table by table and builds a [`Config`]. Walking the document by hand, rather than
//! deserializing with serde, keeps the full dotted key and the exact position of every
//! value at hand, so each message names the key and points at the value that is wrong.
//!
//! Every problem in the file is reported, not only the first: a [`ConfigError`] is the first
//! problem in file order and carries the rest in [`ConfigError::more`]. A TOML syntax error
//! stops parsing, so it is always reported alone.

mod error;
mod rules;
mod starter;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use starter::starter;

/// Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// `x86_64`
    X86_64,
    /// `arm64`
    Arm64,
}

impl Architecture {
    /// Every architecture, in the order messages list them.
    pub const ALL: [Architecture; 2] = [Architecture::X86_64, Architecture::Arm64];

    /// The name in `deploy.toml` and in the Lambda API: `x86_64` or `arm64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Rust target triple the consumer is built for.
    pub const fn target_triple(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The architecture Lambda names `name`, if kstream knows it.
    pub fn from_aws(name: &str) -> Option<Architecture> {
        Self::ALL.into_iter().find(|arch| arch.as_str() == name)
    }
}

/// The stream's capacity mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// A fixed number of shards, billed per shard-hour.
    Provisioned,
    /// Shards managed by Kinesis, billed per GB written and read.
    OnDemand,
}

impl StreamMode {
    /// Every mode, in the order messages list them.
    pub const ALL: [StreamMode; 2] = [StreamMode::Provisioned, StreamMode::OnDemand];

    /// The name in `deploy.toml`: `provisioned` or `on_demand`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "provisioned",
            StreamMode::OnDemand => "on_demand",
        }
    }

    /// The name in the Kinesis API: `PROVISIONED` or `ON_DEMAND`.
    pub const fn as_aws(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        }
    }
}

/// Where a new event source mapping starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    /// Oldest record still retained.
    TrimHorizon,
    /// Only records put after the mapping exists.
    Latest,
}

impl StartingPosition {
    /// Every starting position kstream configures, in the order messages list them.
    pub const ALL: [StartingPosition; 2] =
        [StartingPosition::TrimHorizon, StartingPosition::Latest];

    /// The name in `deploy.toml` and in the Lambda API: `TRIM_HORIZON` or `LATEST`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
        }
    }

    /// The starting position Lambda names `name`, if kstream configures it (`AT_TIMESTAMP`
    /// is not).
    pub fn from_aws(name: &str) -> Option<StartingPosition> {
        Self::ALL
            .into_iter()
            .find(|position| position.as_str() == name)
    }
}

/// Where the event source mapping sends a batch it gives up on (`consumer.on_failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// An SQS queue kstream creates and owns: `<function_name>-failures`.
    Queue,
    /// Nowhere: a batch given up on is skipped, and only the function's logs tell.
    None,
    /// An existing SQS queue, by ARN.
    SqsArn(String),
    /// An existing SNS topic, by ARN.
    SnsArn(String),
}

/// Most user tags in `[tags]`: AWS allows 50 tags per resource, and the role carries two of
/// kstream's own (`kstream:deployment`, `kstream:region`).
pub const MAX_USER_TAGS: usize = 48;

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A validated deployment: what the user wants to exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// File the config came from (for messages).
    pub path: PathBuf,
    /// Deployment name, tagged on every resource as `kstream:deployment`.
    pub name: String,
    /// Region; `None` means the standard AWS region chain.
    pub region: Option<String>,
    /// Endpoint override (LocalStack); `AWS_ENDPOINT_URL` is honoured too.
    pub endpoint_url: Option<String>,
    /// `[stream]`
    pub stream: StreamConfig,
    /// `[bucket]`
    pub bucket: BucketConfig,
    /// `[consumer]`
    pub consumer: ConsumerConfig,
    /// `[tags]`: the user's tags, put on every resource kstream creates.
    pub tags: BTreeMap<String, String>,
}

/// `[stream]`
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Kinesis stream name: 1-128 of `[a-zA-Z0-9_.-]`.
    pub name: String,
    /// Capacity mode (default provisioned).
    pub mode: StreamMode,
    /// Shards of the PROVISIONED stream: 1-1000 (default 2); unused ON_DEMAND.
    pub shard_count: u32,
    /// How long records stay readable, in hours: 24-8760 (default 24).
    pub retention_hours: u32,
    /// Encryption at rest (default: KMS with the AWS-managed key `alias/aws/kinesis`).
    pub encryption: StreamEncryption,
}

/// How the stream is encrypted at rest (`stream.encryption`, `stream.kms_key_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEncryption {
    /// Not encrypted (`encryption = "none"`).
    None,
    /// Server-side encryption with a KMS key: a key ID, key ARN, alias name or alias ARN.
    Kms {
        /// The key as configured (Kinesis takes every spelling).
        key_id: String,
    },
}

impl StreamEncryption {
    /// The default: the AWS-managed key of Kinesis.
    pub fn aws_managed() -> StreamEncryption {
        StreamEncryption::Kms {
            key_id: crate::kms::AWS_MANAGED_KINESIS_KEY.to_string(),
        }
    }

    /// The key, when encrypted.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            StreamEncryption::None => None,
            StreamEncryption::Kms { key_id } => Some(key_id),
        }
    }

    /// The stream's KMS key when it is one that IAM policies must grant: any key but the
    /// AWS-managed `alias/aws/kinesis` (whose key policy already lets every principal of the
    /// account that may use the stream use it through Kinesis).
    pub fn customer_key(&self) -> Option<&str> {
        let key = self.key_id()?;
        let managed = crate::kms::KeyRef::parse(key).is_ok_and(|k| k.is_aws_managed());
        (!managed).then_some(key)
    }
}

/// `[bucket]`
#[derive(Debug, Clone, PartialEq)]
pub struct BucketConfig {
    /// S3 general purpose bucket name, checked against the S3 naming rules.
    pub name: String,
}

/// `[consumer]`
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// Lambda function name: 1-64 of `[a-zA-Z0-9_-]` (default `<name>-consumer`).
    pub function_name: String,
    /// IAM role the function runs as: 1-64 of `[A-Za-z0-9+=,.@_-]` (default `<function_name>-role`).
    pub role_name: String,
    /// Function memory in MB: 128-10240 (default 128).
    pub memory_mb: u32,
    /// Function timeout in seconds: 1-900 (default 30).
    pub timeout_s: u32,
    /// Function architecture (default `x86_64`).
    pub architecture: Architecture,
    /// Most records per invocation: 1-10000 (default 100).
    pub batch_size: u32,
    /// Concurrent batches per shard: 1-10 (default 1).
    pub parallelization_factor: u32,
    /// Longest the mapping gathers records before invoking, in seconds: 0-300 (default 0).
    pub maximum_batching_window_s: u32,
    /// Where a new event source mapping starts reading (default `TRIM_HORIZON`).
    pub starting_position: StartingPosition,
    /// Retries of a failed batch: -1 (until the records expire) to 10000 (default 10).
    pub maximum_retry_attempts: i32,
    /// Split a failing batch in two and retry each half (default `true`).
    pub bisect_batch_on_function_error: bool,
    /// Oldest record the mapping still sends, in seconds: -1 (no limit) or 60-604800
    /// (default -1).
    pub maximum_record_age_s: i32,
    /// Where a batch given up on goes (default: the deployment's own queue).
    pub on_failure: OnFailure,
    /// Days the function's log group keeps logs: one of [`LOG_RETENTION_DAYS`] (default 14).
    pub log_retention_days: u32,
    /// Prefix of every object key, e.g. `events/` (may be empty).
    pub key_prefix: String,
    /// Most objects the consumer writes at once: 1-256 (default 32), passed to the function
    /// as `KSTREAM_WRITE_CONCURRENCY`.
    pub write_concurrency: u32,
    /// A prebuilt `bootstrap` zip; `None` means kstream builds the workspace's consumer.
    pub zip: Option<PathBuf>,
}

/// Check a command-line flag's value with the rule its config key follows (`--region`,
/// `--endpoint-url`): the problem as `message\n  hint: …`, for a usage error.
pub fn check_flag(flag: &str, value: &str) -> Result<(), String> {
    let problems = match flag {
        "--region" => rules::region(flag, value),
        "--endpoint-url" => rules::endpoint_url(flag, value),
        _ => Vec::new(),
    };
    match problems.into_iter().next() {
        None => Ok(()),
        Some(p) => Err(match p.help {
            Some(help) => format!("{}\n  hint: {help}", p.message),
            None => p.message,
        }),
    }
}

/// Reads and validates the config file at `path`.
///
/// A missing or unreadable file is a [`ConfigError`] too; it has no position (`line == 0`).
// A config error is built at most once per run, then reported and the process exits, so its
// size (a few `String`s) costs nothing worth a `Box` in every caller's signature.
#[allow(clippy::result_large_err)]
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| ConfigError::io(path, &err))?;
    let text =
        String::from_utf8(bytes).map_err(|err| ConfigError::utf8(path, err.as_bytes(), &err))?;
    parse(&text, path)
}

/// Parses and validates config `text`; `path` is used in messages and to resolve `consumer.zip`.
#[allow(clippy::result_large_err)] // see `load`
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    validate::validate(text, path)
}
