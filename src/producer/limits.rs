//! The Kinesis limits a put works within: per call, per record and per shard, and the
//! [`Volume`] (records and bytes) they are counted in.

use std::ops::{AddAssign, SubAssign};
use std::time::Duration;

use super::Entry;

/// Most records in one PutRecords call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Most bytes (data and partition keys) in one PutRecords call.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes of one record, data and partition key together.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest partition key, in Unicode characters (the contract's limit, which the consumer
/// checks too).
pub use kstream_contract::MAX_PARTITION_KEY_CHARS;

/// Why a record cannot be put at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The partition key is the empty string.
    #[error("partition key is empty; it needs 1 to {MAX_PARTITION_KEY_CHARS} characters")]
    EmptyKey,
    /// The partition key has more than [`MAX_PARTITION_KEY_CHARS`] characters.
    #[error("partition key is {0} characters long; at most {MAX_PARTITION_KEY_CHARS} are allowed")]
    KeyTooLong(usize),
    /// Data and partition key exceed [`MAX_RECORD_BYTES`].
    #[error(
        "record is {0} bytes (data and partition key); at most {MAX_RECORD_BYTES} bytes (1 MiB) are allowed"
    )]
    TooLarge(usize),
}

/// Check a record against the Kinesis limits before anything is sent.
pub fn validate(entry: &Entry) -> Result<(), RecordError> {
    if entry.partition_key.is_empty() {
        return Err(RecordError::EmptyKey);
    }
    let chars = entry.partition_key.chars().count();
    if chars > MAX_PARTITION_KEY_CHARS {
        return Err(RecordError::KeyTooLong(chars));
    }
    if entry.size() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge(entry.size()));
    }
    Ok(())
}

/// Per-shard write limits the producer paces itself under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLimits {
    /// Records per window.
    pub records: u64,
    /// Bytes (data and partition keys) per window.
    pub bytes: u64,
    /// Length of the window.
    pub window: Duration,
}

impl ShardLimits {
    /// Kinesis's write limits for a PROVISIONED shard: 1,000 records/s and 1 MiB/s.
    pub const KINESIS: ShardLimits = ShardLimits {
        records: 1000,
        bytes: 1024 * 1024,
        window: Duration::from_secs(1),
    };
}

/// A number of records and their bytes (data and partition keys), as Kinesis limits count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Volume {
    /// Records.
    pub records: u64,
    /// Their bytes, data and partition keys.
    pub bytes: u64,
}

impl Volume {
    /// One record of `bytes`.
    pub fn record(bytes: u64) -> Volume {
        Volume { records: 1, bytes }
    }

    /// Whether there is nothing at all.
    pub fn is_zero(self) -> bool {
        self == Volume::default()
    }

    /// Whether both counts are strictly below those of `limit`.
    pub fn is_below(self, limit: Volume) -> bool {
        self.records < limit.records && self.bytes < limit.bytes
    }
}

impl AddAssign for Volume {
    fn add_assign(&mut self, other: Volume) {
        self.records += other.records;
        self.bytes += other.bytes;
    }
}

impl SubAssign for Volume {
    fn sub_assign(&mut self, other: Volume) {
        self.records -= other.records;
        self.bytes -= other.bytes;
    }
}

impl std::ops::Add for Volume {
    type Output = Volume;

    fn add(mut self, other: Volume) -> Volume {
        self += other;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_limit() {
        assert_eq!(validate(&Entry::new("", "x")), Err(RecordError::EmptyKey));
        assert_eq!(validate(&Entry::new("é".repeat(256), "x")), Ok(()));
        let long = Entry::new("é".repeat(257), "x");
        assert_eq!(
            validate(&long).unwrap_err().to_string(),
            "partition key is 257 characters long; at most 256 are allowed"
        );
        let big = Entry::new("k", vec![0; MAX_RECORD_BYTES]);
        assert_eq!(
            validate(&big).unwrap_err().to_string(),
            "record is 1048577 bytes (data and partition key); at most 1048576 bytes (1 MiB) are allowed"
        );
        assert_eq!(
            validate(&Entry::new("k", vec![0; MAX_RECORD_BYTES - 1])),
            Ok(())
        );
    }

    #[test]
    fn volumes_add_and_compare_both_counts() {
        let mut v = Volume::default();
        assert!(v.is_zero());
        v += Volume::record(10);
        v += Volume::record(5);
        assert_eq!(
            v,
            Volume {
                records: 2,
                bytes: 15
            }
        );
        assert!(v.is_below(Volume {
            records: 3,
            bytes: 16
        }));
        assert!(!v.is_below(Volume {
            records: 2,
            bytes: 100
        }));
        assert!(!v.is_below(Volume {
            records: 100,
            bytes: 15
        }));
        v -= Volume::record(15);
        assert_eq!(v, Volume::record(0));
    }
}
