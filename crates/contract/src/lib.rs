//! The contract between the `kstream` CLI and the `consumer` Lambda, defined once.
//!
//! Both sides link this crate, so they cannot drift apart:
//!
//! - [`key`]: the object key rule (`<prefix><encoded partition key>-<YYYY-MM-DD-HHMMSS>-<seq>.txt`),
//!   which the consumer applies and `kstream smoke` matches objects by;
//! - [`env`]: the environment variables `kstream` sets on the function and the consumer reads;
//! - [`kpl`]: the KPL aggregated record format, which `kstream put --aggregate` writes and the
//!   consumer unpacks into one object per user record;
//! - the limits both sides check: [`MAX_KEY_PREFIX_BYTES`], [`MAX_PARTITION_KEY_CHARS`],
//!   [`S3_MAX_KEY_BYTES`], [`MAX_ENCODED_PARTITION_KEY_BYTES`].
//!
//! It depends on neither the AWS SDK nor an async runtime: it is linked into the Lambda zip.

pub mod env;
pub mod key;
pub mod kpl;

pub use key::{KeyError, KeyRule, PrefixTooLong, encode_partition_key};

/// S3's limit on the length of an object key, in bytes.
pub const S3_MAX_KEY_BYTES: usize = 1024;

/// Longest encoded partition key kept in an object key, in bytes.
pub const MAX_ENCODED_PARTITION_KEY_BYTES: usize = 512;

/// Longest accepted key prefix, in bytes (leaves room for the rest of the key within 1,024).
pub const MAX_KEY_PREFIX_BYTES: usize = 256;

/// Longest Kinesis partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
