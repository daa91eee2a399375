//! The result of a put: what was written, what was not and why, and how fast.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Error code counted for records never sent because the put stopped early.
pub const NOT_SENT: &str = "NotSent";

/// The result of a put: counts, and why records were not written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Records in the input.
    pub records: u64,
    /// Records written.
    pub acknowledged: u64,
    /// Records not written (`records - acknowledged`).
    pub not_written: u64,
    /// Bytes written (data and partition keys).
    pub bytes: u64,
    /// Entries sent again after a failure.
    pub retries: u64,
    /// Entry failures due to throttling (`ProvisionedThroughputExceededException`).
    pub throttled: u64,
    /// PutRecords calls made.
    pub calls: u64,
    /// Records written per shard id.
    pub per_shard: BTreeMap<String, u64>,
    /// Records not written, by the last error code (`NotSent` after an abort).
    pub errors: BTreeMap<String, u64>,
    /// The call error that stopped the put early, if any.
    pub aborted: Option<String>,
    /// Whether the put stopped because the stream does not exist.
    #[serde(skip)]
    pub stream_not_found: bool,
    /// Time from the first call to the last response.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// With `--aggregate`: the Kinesis records the user records were packed into (the other
    /// counts are in user records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregated: Option<Aggregated>,
}

/// The Kinesis records of an aggregated put (`kstream put --aggregate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Aggregated {
    /// Kinesis records made (KPL aggregated records, and user records too large to pack).
    pub records: u64,
    /// Of those, written.
    pub acknowledged: u64,
    /// Their bytes written (aggregated data and outer partition keys), as the shard limits
    /// count them.
    pub bytes: u64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Summary {
    /// The summary of a put of `records` records before anything happened.
    pub(super) fn start(records: u64) -> Summary {
        Summary {
            records,
            acknowledged: 0,
            not_written: 0,
            bytes: 0,
            retries: 0,
            throttled: 0,
            calls: 0,
            per_shard: BTreeMap::new(),
            errors: BTreeMap::new(),
            aborted: None,
            stream_not_found: false,
            elapsed: Duration::ZERO,
            aggregated: None,
        }
    }

    /// Records written per second.
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.acknowledged as f64, self.elapsed)
    }

    /// MiB written per second.
    pub fn mib_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / (1024.0 * 1024.0), self.elapsed)
    }

    /// Whether every record was written.
    pub fn complete(&self) -> bool {
        self.not_written == 0
    }
}

fn per_sec(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}
