//! The producer engine behind `kstream put` and `kstream smoke`: it batches records into
//! PutRecords calls, keeps a bounded number of calls in flight, paces each shard under its
//! write limits and re-sends only the entries that failed, until every record is acknowledged
//! or has used up its attempts. It also owns where records come from ([`Source`]): lines of
//! input, read as they arrive in bounded memory ([`LineSource`]), and generated load
//! ([`Generator`]).
//!
//! Pure logic over the [`PutRecords`] trait: the SDK adapter is `aws::records`, the
//! benchmark's throttling simulator is the `kstream-sim` crate, and the unit tests use an
//! in-memory fake.
//!
//! # How records flow
//!
//! - Records come from a [`Source`] (an iterator, or lines arriving over time), read ahead
//!   only a bounded amount, and are sorted into one
//!   *lane* per shard, predicted from the MD5 of the partition key over the shards' hash key
//!   ranges exactly as Kinesis routes them (`shard_map`). Without a shard map there is a
//!   single lane (`lane`).
//! - A lane with a shard map has a [`ShardLimits`] window (`window`): a record holds its
//!   share of the shard's records/s and bytes/s budget from the moment it is sent until one
//!   window after its acknowledgement. Kinesis counts a record at some instant between the
//!   two, so a producer that respects the window is never throttled by a sliding-window
//!   limiter, whatever the call latency, at the cost of one latency per window.
//! - A failed entry returns to its lane's retry queue with exponential backoff and jitter
//!   (`backoff`). While a lane has retries waiting, it takes no fresh record: retries come
//!   first, which also paces the producer when no shard map is known.
//! - Nothing is dropped silently: every record ends as acknowledged or counted in
//!   [`Summary::not_written`], with the error that stopped it.
//! - Records of one partition key may be acknowledged out of order when some of them are
//!   retried, as with any PutRecords producer; each record's object key carries its own
//!   sequence number, so this does not affect the consumer.
//!
//! [`put_all`] drives the loop (calls in flight, sleeps); `engine` holds the state and
//! decides, without waiting or I/O.

mod aggregate;
mod backoff;
mod engine;
mod input;
mod lane;
mod limits;
mod lines;
mod load;
mod shard_map;
mod summary;
#[cfg(test)]
mod tests;
mod window;

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

pub use aggregate::{AGGREGATE_LINGER, AGGREGATE_MAX_AGE, Packed, Packer, put_aggregated};
pub use backoff::Backoff;
use engine::Engine;

use crate::interrupt::Stop;
pub use input::{KeyTemplate, LineError, LineKey};
pub use limits::{
    MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES, RecordError,
    ShardLimits, validate,
};
pub use lines::{LineSource, LineStats};
pub use load::{GeneratedKey, Generator, LoadError, PartitionKeys};
pub use shard_map::{ShardMap, ShardRange, hash_key};
pub use summary::{Aggregated, NOT_SENT, Summary};

/// Error code of an entry refused because its shard is over its write limit.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";
/// Error code of an entry that failed inside Kinesis.
pub const INTERNAL_FAILURE: &str = "InternalFailure";

/// One record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Partition key: decides the shard, 1–256 Unicode characters.
    pub partition_key: String,
    /// The data blob.
    pub data: Vec<u8>,
    /// Explicit hash key: when set, it decides the shard instead of the partition key's MD5.
    pub explicit_hash_key: Option<u128>,
}

impl Entry {
    /// A record of `data` under `partition_key`.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            partition_key: partition_key.into(),
            data: data.into(),
            explicit_hash_key: None,
        }
    }

    /// The same record routed by `hash_key` instead of its partition key.
    pub fn with_explicit_hash_key(mut self, hash_key: u128) -> Entry {
        self.explicit_hash_key = Some(hash_key);
        self
    }

    /// The 128-bit hash key Kinesis routes the record by: its explicit hash key, else the
    /// MD5 of its partition key.
    pub fn hash_key(&self) -> u128 {
        self.explicit_hash_key
            .unwrap_or_else(|| shard_map::hash_key(&self.partition_key))
    }

    /// Bytes the record counts for against Kinesis limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The outcome of one entry of a PutRecords call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    /// Written.
    Ok {
        /// Shard the record went to.
        shard_id: String,
        /// Its sequence number.
        sequence_number: String,
    },
    /// Not written.
    Failed {
        /// Kinesis error code (`ProvisionedThroughputExceededException`, `InternalFailure`, …).
        code: String,
        /// Kinesis error message.
        message: String,
        /// Whether sending it again may succeed.
        retryable: bool,
    },
}

/// A PutRecords call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CallError {
    /// Error code (`ResourceNotFoundException`, `TimeoutError`, …).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// Whether the call's entries may be sent again; otherwise the whole put stops.
    pub retryable: bool,
    /// Whether the stream does not exist, as the client classified the error (not its text).
    pub stream_not_found: bool,
}

/// Something that accepts PutRecords calls: Kinesis, the simulator, a test fake.
pub trait PutRecords {
    /// Put `entries` (at most 500, at most 5 MiB) and return one result per entry, in order.
    fn put_records(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryResult>, CallError>> + Send;
}

/// How to put.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// Most PutRecords calls in flight at once (at least 1).
    pub concurrency: usize,
    /// Most times one record is sent (at least 1).
    pub max_attempts: u32,
    /// Pause before re-sending a failed entry.
    pub backoff: Backoff,
    /// Most new records per second (retries come on top), or unlimited.
    pub rate: Option<f64>,
    /// The stream's open shards; `None` disables per-shard pacing.
    pub shards: Option<ShardMap>,
    /// The per-shard limits to pace under when `shards` is known.
    pub limits: ShardLimits,
    /// Seed of the jitter, for reproducible runs; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Most bytes of fresh records read ahead of the calls; `None`: as many as the calls in
    /// flight plus one can hold.
    pub read_ahead_bytes: Option<usize>,
}

impl Default for PutOptions {
    fn default() -> PutOptions {
        PutOptions {
            concurrency: 4,
            max_attempts: 10,
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
            rate: None,
            shards: None,
            limits: ShardLimits::KINESIS,
            seed: None,
            read_ahead_bytes: None,
        }
    }
}

/// What happened, as it happens (for progress and per-record bookkeeping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A PutRecords call was sent with `records` entries, `retries` of them re-sent.
    Sent {
        /// Entries in the call.
        records: usize,
        /// Of those, entries sent before.
        retries: usize,
    },
    /// Record number `index` (0-based, in input order) was written.
    Acked {
        /// Position of the record in the input.
        index: u64,
        /// Shard it went to.
        shard_id: &'a str,
        /// Its sequence number.
        sequence_number: &'a str,
    },
    /// Record `index` failed and will be sent again.
    Retrying {
        /// Position of the record in the input.
        index: u64,
        /// Why it failed.
        code: &'a str,
        /// Attempts so far.
        attempts: u32,
    },
    /// Record `index` will not be written.
    GaveUp {
        /// Position of the record in the input.
        index: u64,
        /// The last error.
        code: &'a str,
        /// Its message.
        message: &'a str,
    },
}

/// Where a put's records come from: an iterator of known length (every `ExactSizeIterator`
/// is one), or records that arrive over time ([`LineSource`]).
pub trait Source {
    /// The next record if one is ready, `Pending` if none is yet, `Ready(None)` at the end.
    fn next_record(&mut self) -> Poll<Option<Entry>>;
    /// Wait until [`Source::next_record`] would not return `Pending`. Cancel-safe: dropping
    /// the future loses no record.
    fn ready(&mut self) -> impl Future<Output = ()> + Send;
    /// Records the source holds that were never handed out (counted as not sent when the put
    /// stops early).
    fn unread(&mut self) -> u64;
}

impl<I: ExactSizeIterator<Item = Entry>> Source for I {
    fn next_record(&mut self) -> Poll<Option<Entry>> {
        Poll::Ready(self.next())
    }

    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    fn unread(&mut self) -> u64 {
        self.len() as u64
    }
}

/// Put every record of `source`, reporting each step to `observe`; see the module docs.
///
/// Never fails: records that could not be written are counted in the summary, with the
/// reason, and a call error that makes going on pointless stops the put (`aborted`).
pub async fn put_all<P, I>(
    client: &P,
    source: I,
    opts: &PutOptions,
    observe: &mut dyn FnMut(Event<'_>),
) -> Summary
where
    P: PutRecords,
    I: IntoIterator<Item = Entry>,
    I::IntoIter: ExactSizeIterator,
{
    put_from(client, source.into_iter(), opts, observe).await
}

/// Put every record of `source` as it becomes ready; [`put_all`] for any [`Source`].
pub async fn put_from<P, S>(
    client: &P,
    source: S,
    opts: &PutOptions,
    observe: &mut dyn FnMut(Event<'_>),
) -> Summary
where
    P: PutRecords,
    S: Source,
{
    put_until(client, source, opts, &Stop::new(), observe).await
}

/// [`put_from`] until `stop` is set (a signal): then no further record is taken and no
/// further call is sent, the calls in flight complete, and the records left count as
/// [`NOT_SENT`], with the signal as the reason (`aborted`).
pub async fn put_until<P, S>(
    client: &P,
    source: S,
    opts: &PutOptions,
    stop: &Stop,
    observe: &mut dyn FnMut(Event<'_>),
) -> Summary
where
    P: PutRecords,
    S: Source,
{
    let mut engine = Engine::new(source, opts);
    let mut in_flight = FuturesUnordered::new();
    let concurrency = opts.concurrency.max(1);
    loop {
        if let Some(signal) = stop.signal() {
            engine.interrupt(format!(
                "{} received; the calls in flight were finished",
                signal.name()
            ));
        }
        let running = stop.signal().is_none();
        let now = Instant::now();
        engine.refill(now);
        while in_flight.len() < concurrency {
            let Some(batch) = engine.next_call(now, observe) else {
                break;
            };
            in_flight.push(async move {
                let result = client.put_records(&batch.entries).await;
                (batch, result)
            });
        }
        if in_flight.is_empty() && engine.is_idle() {
            break;
        }
        let wake = engine.next_wake(now);
        let waiting = engine.waits_for_source();
        if in_flight.is_empty() {
            if wake.is_none() && !waiting {
                engine.stall();
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                _ = engine.source_mut().ready(), if waiting => {}
                _ = stop.stopped(), if running => {}
            }
            continue;
        }
        tokio::select! {
            biased;
            done = in_flight.next() => {
                if let Some((batch, result)) = done {
                    engine.complete(batch, result, Instant::now(), observe);
                }
            }
            _ = engine.source_mut().ready(), if waiting => {}
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
            _ = stop.stopped(), if running => {}
        }
    }
    engine.finish(observe)
}
