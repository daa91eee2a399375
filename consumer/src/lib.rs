//! kstream's Lambda consumer: each Kinesis record becomes exactly one S3 object (each user
//! record of a KPL aggregated record, one object).
//!
//! - [`event`]: the Kinesis event decoded in one pass ([`Batch`]);
//! - [`handler`]: one batch in, aggregated records unpacked (`kstream_contract::kpl`),
//!   objects written concurrently, per-record failures out.
//! - [`sink`]: the [`ObjectSink`] trait and its S3 adapter (the only AWS code).
//!
//! The object key rule and the environment variable names are kstream's contract with the
//! CLI, defined in `kstream_contract` ([`KeyRule`], `kstream_contract::env`).
//!
//! `main.rs` only reads [`Settings`], builds the S3 client and runs the Lambda runtime.

pub mod event;
pub mod handler;
pub mod sink;

pub use event::Batch;
pub use handler::{EventError, handle_event};
pub use kstream_contract::KeyRule;
pub use sink::{ObjectSink, S3Sink, SinkError};

use std::error::Error as StdError;

use kstream_contract::{PrefixTooLong, env};

/// The consumer's configuration, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Bucket every object is written to.
    pub bucket: String,
    /// Key rule with the deployment's prefix.
    pub keys: KeyRule,
    /// Most objects written at once within one batch (`KSTREAM_WRITE_CONCURRENCY`).
    pub write_concurrency: usize,
}

/// The environment does not describe a usable configuration.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `KSTREAM_BUCKET` is unset or empty.
    #[error(
        "`{}` is not set: the consumer needs the name of the bucket to write to",
        env::BUCKET
    )]
    MissingBucket,
    /// `KSTREAM_KEY_PREFIX` is too long.
    #[error("invalid `{}`", env::KEY_PREFIX)]
    KeyPrefix(#[source] PrefixTooLong),
    /// `KSTREAM_WRITE_CONCURRENCY` is not a number in range.
    #[error(
        "`{}` must be an integer from {} to {}, got `{value}`: deploy the function with `kstream apply`, which sets it from `consumer.write_concurrency`",
        env::WRITE_CONCURRENCY,
        env::WRITE_CONCURRENCY_RANGE.start(),
        env::WRITE_CONCURRENCY_RANGE.end()
    )]
    WriteConcurrency {
        /// The value found.
        value: String,
    },
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let bucket = lookup(env::BUCKET)
            .filter(|bucket| !bucket.is_empty())
            .ok_or(SettingsError::MissingBucket)?;
        let prefix = lookup(env::KEY_PREFIX).unwrap_or_default();
        let keys = KeyRule::new(prefix).map_err(SettingsError::KeyPrefix)?;
        let write_concurrency = match lookup(env::WRITE_CONCURRENCY) {
            None => env::DEFAULT_WRITE_CONCURRENCY,
            Some(value) => value
                .parse()
                .ok()
                .filter(|n| env::WRITE_CONCURRENCY_RANGE.contains(n))
                .ok_or(SettingsError::WriteConcurrency { value })?,
        };
        Ok(Self {
            bucket,
            keys,
            write_concurrency: write_concurrency as usize,
        })
    }
}

/// An error and its causes on one line, outermost first, separated by `: `.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn bucket_is_required() {
        for vars in [&[][..], &[(env::BUCKET, "")][..]] {
            let err = settings(vars).unwrap_err();
            assert_eq!(
                err.to_string(),
                "`KSTREAM_BUCKET` is not set: the consumer needs the name of the bucket to write to"
            );
        }
    }

    #[test]
    fn key_prefix_defaults_to_empty() {
        let got = settings(&[(env::BUCKET, "b")]).unwrap();
        assert_eq!(got.bucket, "b");
        assert_eq!(got.keys.prefix(), "");
        let got = settings(&[(env::BUCKET, "b"), (env::KEY_PREFIX, "events/")]).unwrap();
        assert_eq!(got.keys.prefix(), "events/");
    }

    #[test]
    fn write_concurrency_defaults_and_is_range_checked() {
        let got = settings(&[(env::BUCKET, "b")]).unwrap();
        assert_eq!(got.write_concurrency, 32);
        for (value, want) in [("1", 1), ("256", 256), ("8", 8)] {
            let got = settings(&[(env::BUCKET, "b"), (env::WRITE_CONCURRENCY, value)]).unwrap();
            assert_eq!(got.write_concurrency, want);
        }
        for value in ["0", "257", "", "-1", "eight", " 8"] {
            let err = settings(&[(env::BUCKET, "b"), (env::WRITE_CONCURRENCY, value)]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "`KSTREAM_WRITE_CONCURRENCY` must be an integer from 1 to 256, got `{value}`: deploy the function with `kstream apply`, which sets it from `consumer.write_concurrency`"
                )
            );
        }
    }

    #[test]
    fn overlong_key_prefix_is_reported_with_its_cause() {
        let prefix = "p".repeat(300);
        let err = settings(&[(env::BUCKET, "b"), (env::KEY_PREFIX, &prefix)]).unwrap_err();
        assert_eq!(
            error_chain(&err),
            "invalid `KSTREAM_KEY_PREFIX`: key prefix is 300 bytes long; at most 256 bytes are allowed"
        );
    }
}
