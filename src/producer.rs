//! The producer engine behind `kstream put` and `kstream smoke`: it batches records into
//! PutRecords calls, keeps a bounded number of calls in flight, paces each shard under its
//! write limits and re-sends only the entries that failed, until every record is acknowledged
//! or has used up its attempts.
//!
//! Pure logic over the [`PutRecords`] trait: the SDK adapter is `aws::records`, the
//! benchmark's throttling simulator is `sim`, and the unit tests use an in-memory fake.
//!
//! # How records flow
//!
//! - Records come from an iterator, read ahead only a bounded amount, and are sorted into one
//!   *lane* per shard, predicted from the MD5 of the partition key over the shards' hash key
//!   ranges exactly as Kinesis routes them. Without a shard map there is a single lane.
//! - A lane with a shard map has a [`ShardLimits`] window: a record holds its share of the
//!   shard's records/s and bytes/s budget from the moment it is sent until one window after
//!   its acknowledgement. Kinesis counts a record at some instant between the two, so a
//!   producer that respects the window is never throttled by a sliding-window limiter,
//!   whatever the call latency, at the cost of one latency per window.
//! - A failed entry returns to its lane's retry queue with exponential backoff and jitter.
//!   While a lane has retries waiting, it takes no fresh record: retries come first, which
//!   also paces the producer when no shard map is known.
//! - Nothing is dropped silently: every record ends as acknowledged or counted in
//!   [`Summary::not_written`], with the error that stopped it.
//! - Records of one partition key may be acknowledged out of order when some of them are
//!   retried, as with any PutRecords producer; each record's object key carries its own
//!   sequence number, so this does not affect the consumer.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use md5::{Digest as _, Md5};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::Serialize;
use tokio::time::Instant;

/// Most records in one PutRecords call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Most bytes (data and partition keys) in one PutRecords call.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes of one record, data and partition key together.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub use kstream_contract::MAX_PARTITION_KEY_CHARS;
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
}

impl Entry {
    /// A record of `data` under `partition_key`.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            partition_key: partition_key.into(),
            data: data.into(),
        }
    }

    /// Bytes the record counts for against Kinesis limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

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
}

/// Something that accepts PutRecords calls: Kinesis, the simulator, a test fake.
pub trait PutRecords {
    /// Put `entries` (at most 500, at most 5 MiB) and return one result per entry, in order.
    fn put_records(
        &self,
        entries: &[Entry],
    ) -> impl Future<Output = Result<Vec<EntryResult>, CallError>> + Send;
}

/// One shard's hash key range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardRange {
    /// Shard id (`shardId-000000000000`).
    pub shard_id: String,
    /// Lowest hash key, inclusive.
    pub start: u128,
    /// Highest hash key, inclusive.
    pub end: u128,
}

/// The open shards of a stream, for routing records like Kinesis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    shards: Vec<ShardRange>,
}

impl ShardMap {
    /// A map of these shards (any order).
    pub fn new(mut shards: Vec<ShardRange>) -> ShardMap {
        shards.sort_by_key(|s| s.start);
        ShardMap { shards }
    }

    /// `count` shards splitting the hash key space evenly, as CreateStream does.
    pub fn uniform(count: u32) -> ShardMap {
        let count = u128::from(count.max(1));
        let step = u128::MAX / count;
        let shards = (0..count)
            .map(|i| ShardRange {
                shard_id: format!("shardId-{i:012}"),
                start: if i == 0 { 0 } else { step * i + 1 },
                end: if i + 1 == count {
                    u128::MAX
                } else {
                    step * (i + 1)
                },
            })
            .collect();
        ShardMap { shards }
    }

    /// The shards, by ascending hash key.
    pub fn shards(&self) -> &[ShardRange] {
        &self.shards
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether the map has no shard.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Index of the shard whose range holds the partition key's hash key, if any.
    pub fn shard_of(&self, partition_key: &str) -> Option<usize> {
        let hash = hash_key(partition_key);
        let i = self.shards.partition_point(|s| s.start <= hash);
        let i = i.checked_sub(1)?;
        (self.shards[i].end >= hash).then_some(i)
    }
}

/// The 128-bit hash key Kinesis derives from a partition key: its MD5, big-endian.
pub fn hash_key(partition_key: &str) -> u128 {
    let digest: [u8; 16] = Md5::digest(partition_key.as_bytes()).into();
    u128::from_be_bytes(digest)
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

/// Exponential backoff with jitter for re-sending failed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Pause after the first failure (before jitter).
    pub base: Duration,
    /// Largest pause.
    pub max: Duration,
}

impl Backoff {
    /// The pause before attempt `failures + 1`: `base · 2^(failures-1)`, at most `max`, of
    /// which a random half is kept ("equal jitter"), so failed entries do not return in step.
    pub fn pause(&self, failures: u32, rng: &mut impl rand::Rng) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1 << exp).min(self.max);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
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
    /// Time from the first call to the last response.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Summary {
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

/// Error code counted for records never sent because the put stopped early.
pub const NOT_SENT: &str = "NotSent";

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
    let mut engine = Engine::new(source.into_iter(), opts);
    let mut in_flight = FuturesUnordered::new();
    let concurrency = opts.concurrency.max(1);
    loop {
        let now = Instant::now();
        engine.refill(now);
        while in_flight.len() < concurrency && engine.aborted.is_none() {
            let Some(batch) = engine.next_batch(now) else {
                break;
            };
            engine.summary.calls += 1;
            observe(Event::Sent {
                records: batch.entries.len(),
                retries: batch.meta.iter().filter(|m| m.attempts > 1).count(),
            });
            in_flight.push(async move {
                let result = client.put_records(&batch.entries).await;
                (batch, result)
            });
        }
        if in_flight.is_empty() && engine.is_idle() {
            break;
        }
        let wake = engine.next_wake(now);
        if in_flight.is_empty() {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    // Unreachable by construction (an idle lane always admits a record);
                    // stop rather than spin, and count what is left as not written.
                    engine.aborted = Some("internal error: the producer stalled".into());
                    break;
                }
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
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
        }
    }
    engine.finish(observe)
}

/// A record waiting to be (re-)sent.
#[derive(Debug)]
struct Pending {
    index: u64,
    entry: Entry,
    attempts: u32,
    lane: usize,
}

/// Bookkeeping of one entry in a call; `entries` and `meta` of a [`Batch`] run in parallel
/// so the entries can be passed as a slice.
#[derive(Debug, Clone, Copy)]
struct Meta {
    index: u64,
    attempts: u32,
    lane: usize,
}

#[derive(Debug, Default)]
struct Batch {
    entries: Vec<Entry>,
    meta: Vec<Meta>,
    bytes: usize,
}

/// A failed record waiting for its backoff; ordered by due time, then input order.
#[derive(Debug)]
struct Due {
    at: Instant,
    item: Pending,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.item.index) == (other.at, other.item.index)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.item.index).cmp(&(other.at, other.item.index))
    }
}

/// A shard's budget: what is in flight plus what was accepted within the last window.
#[derive(Debug)]
struct Window {
    limits: ShardLimits,
    in_flight: (u64, u64),
    held: VecDeque<(Instant, u64, u64)>,
    held_sum: (u64, u64),
}

impl Window {
    fn new(limits: ShardLimits) -> Window {
        Window {
            limits,
            in_flight: (0, 0),
            held: VecDeque::new(),
            held_sum: (0, 0),
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, r, b)) = self.held.front() {
            if at > now {
                break;
            }
            self.held.pop_front();
            self.held_sum.0 -= r;
            self.held_sum.1 -= b;
        }
    }

    fn used(&self) -> (u64, u64) {
        (
            self.in_flight.0 + self.held_sum.0,
            self.in_flight.1 + self.held_sum.1,
        )
    }

    /// Whether one more record of `bytes` fits; an unused shard always takes one record, so
    /// limits smaller than a record cannot stall the producer.
    fn fits(&self, bytes: u64) -> bool {
        let (r, b) = self.used();
        (r == 0 && b == 0) || (r < self.limits.records && b + bytes <= self.limits.bytes)
    }

    fn start(&mut self, bytes: u64) {
        self.in_flight.0 += 1;
        self.in_flight.1 += bytes;
    }

    /// A sent record got its answer: a written one holds its budget for one more window.
    fn finish(&mut self, now: Instant, bytes: u64, written: bool) {
        self.in_flight.0 -= 1;
        self.in_flight.1 -= bytes;
        if written {
            let at = now + self.limits.window;
            match self.held.back_mut() {
                Some(last) if last.0 == at => {
                    last.1 += 1;
                    last.2 += bytes;
                }
                _ => self.held.push_back((at, 1, bytes)),
            }
            self.held_sum.0 += 1;
            self.held_sum.1 += bytes;
        }
    }

    fn next_release(&self) -> Option<Instant> {
        self.held.front().map(|h| h.0)
    }
}

#[derive(Debug)]
struct Lane {
    fresh: VecDeque<Pending>,
    retry: BinaryHeap<Reverse<Due>>,
    window: Option<Window>,
}

impl Lane {
    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.retry.is_empty()
    }

    /// Size of the record this lane would send next: a due retry, else (only when no retry
    /// waits) the oldest fresh record.
    fn peek(&self, now: Instant) -> Option<usize> {
        match self.retry.peek() {
            Some(Reverse(due)) if due.at <= now => Some(due.item.entry.size()),
            Some(_) => None,
            None => self.fresh.front().map(|p| p.entry.size()),
        }
    }

    fn pop(&mut self) -> Option<Pending> {
        match self.retry.pop() {
            Some(Reverse(due)) => Some(due.item),
            None => self.fresh.pop_front(),
        }
    }
}

/// Read ahead at most this many fresh records per call in flight (plus one batch).
const LOOKAHEAD_BATCHES: usize = 1;

struct Engine<I> {
    source: I,
    source_done: bool,
    total: u64,
    pulled: u64,
    lanes: Vec<Lane>,
    shards: Option<ShardMap>,
    cursor: usize,
    fresh: (usize, usize),
    lookahead: (usize, usize),
    rate: Option<f64>,
    next_admit: Option<Instant>,
    started: Instant,
    last_response: Option<Instant>,
    max_attempts: u32,
    backoff: Backoff,
    rng: StdRng,
    aborted: Option<String>,
    summary: Summary,
}

impl<I: ExactSizeIterator<Item = Entry>> Engine<I> {
    fn new(source: I, opts: &PutOptions) -> Engine<I> {
        let shards = opts.shards.clone().filter(|m| !m.is_empty());
        let lanes = (0..shards.as_ref().map_or(1, ShardMap::len))
            .map(|_| Lane {
                fresh: VecDeque::new(),
                retry: BinaryHeap::new(),
                window: shards.as_ref().map(|_| Window::new(opts.limits)),
            })
            .collect();
        let batches = opts.concurrency.max(1) + LOOKAHEAD_BATCHES;
        let total = source.len() as u64;
        Engine {
            source,
            source_done: false,
            total,
            pulled: 0,
            lanes,
            shards,
            cursor: 0,
            fresh: (0, 0),
            lookahead: (MAX_BATCH_RECORDS * batches, MAX_BATCH_BYTES * batches),
            rate: opts.rate.filter(|r| *r > 0.0),
            next_admit: None,
            started: Instant::now(),
            last_response: None,
            max_attempts: opts.max_attempts.max(1),
            backoff: opts.backoff,
            rng: match opts.seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            },
            aborted: None,
            summary: Summary {
                records: total,
                acknowledged: 0,
                not_written: 0,
                bytes: 0,
                retries: 0,
                throttled: 0,
                calls: 0,
                per_shard: BTreeMap::new(),
                errors: BTreeMap::new(),
                aborted: None,
                elapsed: Duration::ZERO,
            },
        }
    }

    /// Read fresh records into their lanes, up to the look-ahead and the `rate`.
    fn refill(&mut self, now: Instant) {
        self.next_admit = None;
        while !self.source_done
            && self.aborted.is_none()
            && self.fresh.0 < self.lookahead.0
            && self.fresh.1 < self.lookahead.1
        {
            if let Some(rate) = self.rate {
                let at = self.started + Duration::from_secs_f64(self.pulled as f64 / rate);
                if at > now {
                    self.next_admit = Some(at);
                    break;
                }
            }
            let Some(entry) = self.source.next() else {
                self.source_done = true;
                break;
            };
            let lane = self
                .shards
                .as_ref()
                .and_then(|m| m.shard_of(&entry.partition_key))
                .unwrap_or(0);
            self.fresh.0 += 1;
            self.fresh.1 += entry.size();
            self.lanes[lane].fresh.push_back(Pending {
                index: self.pulled,
                entry,
                attempts: 0,
                lane,
            });
            self.pulled += 1;
        }
    }

    /// The next call: up to 500 records and 5 MiB, taken from the lanes in turn, each only
    /// while its shard has budget left.
    fn next_batch(&mut self, now: Instant) -> Option<Batch> {
        let lanes = self.lanes.len();
        let per_turn = (MAX_BATCH_RECORDS / lanes).max(1);
        let mut batch = Batch::default();
        'fill: loop {
            let mut took = false;
            for step in 0..lanes {
                let lane = &mut self.lanes[(self.cursor + step) % lanes];
                if let Some(w) = &mut lane.window {
                    w.expire(now);
                }
                for _ in 0..per_turn {
                    let Some(size) = lane.peek(now) else { break };
                    if batch.entries.len() == MAX_BATCH_RECORDS
                        || batch.bytes + size > MAX_BATCH_BYTES
                    {
                        break 'fill;
                    }
                    if lane.window.as_ref().is_some_and(|w| !w.fits(size as u64)) {
                        break;
                    }
                    let Some(mut item) = lane.pop() else { break };
                    if let Some(w) = &mut lane.window {
                        w.start(size as u64);
                    }
                    if item.attempts == 0 {
                        self.fresh.0 -= 1;
                        self.fresh.1 -= size;
                    }
                    item.attempts += 1;
                    batch.bytes += size;
                    batch.meta.push(Meta {
                        index: item.index,
                        attempts: item.attempts,
                        lane: item.lane,
                    });
                    batch.entries.push(item.entry);
                    took = true;
                }
            }
            if !took {
                break;
            }
        }
        self.cursor = (self.cursor + 1) % lanes;
        (!batch.entries.is_empty()).then_some(batch)
    }

    /// Account for a call's answer: acknowledge, schedule retries, or give up.
    fn complete(
        &mut self,
        batch: Batch,
        result: Result<Vec<EntryResult>, CallError>,
        now: Instant,
        observe: &mut dyn FnMut(Event<'_>),
    ) {
        self.last_response = Some(now);
        let n = batch.entries.len();
        let results = match result {
            Ok(results) if results.len() == n => results,
            // The call's effect is unknown: send again (at-least-once, like any timeout).
            Ok(results) => vec![
                EntryResult::Failed {
                    code: "InvalidResponse".into(),
                    message: format!(
                        "PutRecords returned {} results for {n} records",
                        results.len()
                    ),
                    retryable: true,
                };
                n
            ],
            Err(e) => {
                if !e.retryable && self.aborted.is_none() {
                    self.aborted = Some(e.to_string());
                }
                vec![
                    EntryResult::Failed {
                        code: e.code,
                        message: e.message,
                        retryable: e.retryable,
                    };
                    n
                ]
            }
        };
        let mut pauses: Vec<(u32, Instant)> = Vec::new();
        for ((entry, meta), result) in batch.entries.into_iter().zip(batch.meta).zip(results) {
            let size = entry.size() as u64;
            let lane = &mut self.lanes[meta.lane];
            match result {
                EntryResult::Ok {
                    shard_id,
                    sequence_number,
                } => {
                    if let Some(w) = &mut lane.window {
                        w.finish(now, size, true);
                    }
                    self.summary.acknowledged += 1;
                    self.summary.bytes += size;
                    *self.summary.per_shard.entry(shard_id.clone()).or_default() += 1;
                    observe(Event::Acked {
                        index: meta.index,
                        shard_id: &shard_id,
                        sequence_number: &sequence_number,
                    });
                }
                EntryResult::Failed {
                    code,
                    message,
                    retryable,
                } => {
                    if let Some(w) = &mut lane.window {
                        w.finish(now, size, false);
                    }
                    if code == THROTTLED {
                        self.summary.throttled += 1;
                    }
                    if retryable && meta.attempts < self.max_attempts && self.aborted.is_none() {
                        // Entries that failed together are re-sent together, in one call.
                        let at = match pauses.iter().find(|p| p.0 == meta.attempts) {
                            Some(p) => p.1,
                            None => {
                                let at = now + self.backoff.pause(meta.attempts, &mut self.rng);
                                pauses.push((meta.attempts, at));
                                at
                            }
                        };
                        self.summary.retries += 1;
                        observe(Event::Retrying {
                            index: meta.index,
                            code: &code,
                            attempts: meta.attempts,
                        });
                        lane.retry.push(Reverse(Due {
                            at,
                            item: Pending {
                                index: meta.index,
                                entry,
                                attempts: meta.attempts,
                                lane: meta.lane,
                            },
                        }));
                    } else {
                        *self.summary.errors.entry(code.clone()).or_default() += 1;
                        observe(Event::GaveUp {
                            index: meta.index,
                            code: &code,
                            message: &message,
                        });
                    }
                }
            }
        }
    }

    /// Nothing left to send or wait for.
    fn is_idle(&self) -> bool {
        (self.source_done || self.aborted.is_some())
            && (self.aborted.is_some() || self.lanes.iter().all(Lane::is_empty))
    }

    /// When something may become sendable: a retry falls due, a shard's budget frees up, or
    /// the rate admits the next record.
    fn next_wake(&self, now: Instant) -> Option<Instant> {
        let mut wake = self.next_admit;
        let mut consider = |at: Instant| {
            if at > now {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        for lane in &self.lanes {
            if let Some(Reverse(due)) = lane.retry.peek() {
                consider(due.at);
            }
            if !lane.is_empty()
                && let Some(at) = lane.window.as_ref().and_then(Window::next_release)
            {
                consider(at);
            }
        }
        wake
    }

    /// Count whatever was not written (after an abort) and close the summary.
    fn finish(mut self, observe: &mut dyn FnMut(Event<'_>)) -> Summary {
        let mut left: Vec<Pending> = Vec::new();
        for lane in &mut self.lanes {
            left.extend(lane.retry.drain().map(|Reverse(d)| d.item));
            left.extend(lane.fresh.drain(..));
        }
        left.sort_by_key(|p| p.index);
        for p in &left {
            observe(Event::GaveUp {
                index: p.index,
                code: NOT_SENT,
                message: "not sent: the put stopped early",
            });
        }
        let unread = self.total - self.pulled;
        let not_sent = left.len() as u64 + unread;
        if not_sent > 0 {
            *self.summary.errors.entry(NOT_SENT.into()).or_default() += not_sent;
        }
        self.summary.not_written = self.total - self.summary.acknowledged;
        debug_assert_eq!(
            self.summary.not_written,
            self.summary.errors.values().sum::<u64>()
        );
        self.summary.aborted = self.aborted;
        self.summary.elapsed = self
            .last_response
            .map_or(Duration::ZERO, |t| t - self.started);
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Fails the chosen records (by data) on their first `n` attempts with `code`; records
    /// every call it receives.
    #[derive(Default)]
    struct Fake {
        fail: HashMap<Vec<u8>, (u32, &'static str)>,
        fatal_on_call: Option<usize>,
        calls: Mutex<Vec<Vec<Entry>>>,
        seen: Mutex<HashMap<Vec<u8>, u32>>,
    }

    impl Fake {
        fn failing(records: &[u64], times: u32, code: &'static str) -> Fake {
            Fake {
                fail: records.iter().map(|i| (data(*i), (times, code))).collect(),
                ..Fake::default()
            }
        }

        fn calls(&self) -> Vec<Vec<Entry>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl PutRecords for Fake {
        async fn put_records(&self, entries: &[Entry]) -> Result<Vec<EntryResult>, CallError> {
            let call = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(entries.to_vec());
                calls.len()
            };
            assert!(
                entries.len() <= MAX_BATCH_RECORDS,
                "{} records in one call",
                entries.len()
            );
            let bytes: usize = entries.iter().map(Entry::size).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes in one call");
            tokio::task::yield_now().await;
            if self.fatal_on_call == Some(call) {
                return Err(CallError {
                    code: "ResourceNotFoundException".into(),
                    message: "Stream s under account 000000000000 not found.".into(),
                    retryable: false,
                });
            }
            let mut seen = self.seen.lock().unwrap();
            Ok(entries
                .iter()
                .map(|e| {
                    let attempt = seen.entry(e.data.clone()).or_default();
                    *attempt += 1;
                    match self.fail.get(&e.data) {
                        Some((times, code)) if *attempt <= *times => EntryResult::Failed {
                            code: code.to_string(),
                            message: "Rate exceeded for shard shardId-000000000000".into(),
                            retryable: *code != "ValidationException",
                        },
                        _ => EntryResult::Ok {
                            shard_id: format!("shardId-{:012}", e.partition_key.len() % 2),
                            sequence_number: format!("seq-{}", String::from_utf8_lossy(&e.data)),
                        },
                    }
                })
                .collect())
        }
    }

    fn data(i: u64) -> Vec<u8> {
        format!("record-{i}").into_bytes()
    }

    fn records(n: u64) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry::new(format!("k{i}"), data(i)))
            .collect()
    }

    fn fast() -> PutOptions {
        PutOptions {
            concurrency: 1,
            backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            seed: Some(7),
            ..PutOptions::default()
        }
    }

    #[derive(Default, Debug)]
    struct Log {
        acked: Vec<(u64, String)>,
        retrying: Vec<(u64, u32)>,
        gave_up: Vec<(u64, String)>,
        sent: Vec<(usize, usize)>,
    }

    async fn run(fake: &Fake, input: Vec<Entry>, opts: &PutOptions) -> (Summary, Log) {
        let mut log = Log::default();
        let summary = put_all(fake, input, opts, &mut |e| match e {
            Event::Sent { records, retries } => log.sent.push((records, retries)),
            Event::Acked {
                index,
                sequence_number,
                ..
            } => log.acked.push((index, sequence_number.to_string())),
            Event::Retrying {
                index, attempts, ..
            } => log.retrying.push((index, attempts)),
            Event::GaveUp { index, code, .. } => log.gave_up.push((index, code.to_string())),
        })
        .await;
        (summary, log)
    }

    #[tokio::test]
    async fn every_record_is_acknowledged_once_in_input_order() {
        let fake = Fake::default();
        let (summary, log) = run(&fake, records(1200), &fast()).await;
        let indexes: Vec<u64> = log.acked.iter().map(|a| a.0).collect();
        assert_eq!(indexes, (0..1200).collect::<Vec<_>>());
        // Each ack carries the sequence number of its own record.
        assert!(
            log.acked
                .iter()
                .all(|(i, seq)| *seq == format!("seq-record-{i}"))
        );
        assert_eq!(summary.acknowledged, 1200);
        assert_eq!(summary.not_written, 0);
        assert_eq!(summary.retries, 0);
        assert_eq!(summary.calls, 3);
        assert_eq!(summary.per_shard.values().sum::<u64>(), 1200);
        assert_eq!(log.sent, vec![(500, 0), (500, 0), (200, 0)]);
        assert!(summary.complete());
    }

    #[tokio::test]
    async fn only_failed_entries_are_sent_again() {
        let fake = Fake::failing(&[3, 7, 250], 2, THROTTLED);
        let (summary, log) = run(&fake, records(300), &fast()).await;
        let calls = fake.calls();
        assert_eq!(calls[0].len(), 300);
        // Every later call carries only the failed records.
        let again: Vec<Vec<Vec<u8>>> = calls[1..]
            .iter()
            .map(|c| c.iter().map(|e| e.data.clone()).collect())
            .collect();
        assert_eq!(again, vec![vec![data(3), data(7), data(250)]; 2]);
        assert_eq!(summary.acknowledged, 300);
        assert_eq!(summary.retries, 6);
        assert_eq!(summary.throttled, 6);
        assert_eq!(summary.calls, 3);
        assert_eq!(
            log.retrying,
            vec![(3, 1), (7, 1), (250, 1), (3, 2), (7, 2), (250, 2)]
        );
        assert_eq!(log.sent[1..], [(3, 3), (3, 3)]);
        // Failed records are acknowledged after the rest, still in input order among themselves.
        let last: Vec<u64> = log.acked[297..].iter().map(|a| a.0).collect();
        assert_eq!(last, vec![3, 7, 250]);
        let mut all: Vec<u64> = log.acked.iter().map(|a| a.0).collect();
        all.sort_unstable();
        assert_eq!(all, (0..300).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn internal_failures_are_retried_too() {
        let fake = Fake::failing(&[0], 1, INTERNAL_FAILURE);
        let (summary, _) = run(&fake, records(2), &fast()).await;
        assert_eq!(
            (summary.acknowledged, summary.retries, summary.throttled),
            (2, 1, 0)
        );
    }

    #[tokio::test]
    async fn bound_reached_reports_the_exact_count_not_written() {
        let fake = Fake::failing(&[1, 4, 5], 100, THROTTLED);
        let opts = PutOptions {
            max_attempts: 4,
            ..fast()
        };
        let (summary, log) = run(&fake, records(10), &opts).await;
        assert_eq!(summary.acknowledged, 7);
        assert_eq!(summary.not_written, 3);
        assert_eq!(summary.errors, BTreeMap::from([(THROTTLED.to_string(), 3)]));
        assert_eq!(summary.retries, 9);
        assert_eq!(fake.calls().len(), 4);
        let gave_up: Vec<u64> = log.gave_up.iter().map(|g| g.0).collect();
        assert_eq!(gave_up, vec![1, 4, 5]);
        assert!(!summary.complete());
    }

    #[tokio::test]
    async fn non_retryable_entries_are_not_sent_again() {
        let fake = Fake::failing(&[2], 100, "ValidationException");
        let (summary, log) = run(&fake, records(5), &fast()).await;
        assert_eq!(fake.calls().len(), 1);
        assert_eq!(summary.not_written, 1);
        assert_eq!(log.gave_up, vec![(2, "ValidationException".to_string())]);
    }

    #[tokio::test]
    async fn fatal_call_error_stops_and_counts_everything_unwritten() {
        let fake = Fake {
            fatal_on_call: Some(2),
            ..Fake::default()
        };
        let (summary, _) = run(&fake, records(1600), &fast()).await;
        assert_eq!(summary.acknowledged, 500);
        assert_eq!(summary.not_written, 1100);
        assert_eq!(fake.calls().len(), 2);
        assert_eq!(
            summary.errors,
            BTreeMap::from([
                ("ResourceNotFoundException".to_string(), 500),
                (NOT_SENT.to_string(), 600)
            ])
        );
        assert!(
            summary
                .aborted
                .as_deref()
                .unwrap()
                .starts_with("ResourceNotFoundException: ")
        );
    }

    #[tokio::test]
    async fn batches_split_at_500_records() {
        let fake = Fake::default();
        let opts = PutOptions {
            concurrency: 3,
            ..fast()
        };
        let (summary, _) = run(&fake, records(1001), &opts).await;
        let sizes: Vec<usize> = fake.calls().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500, 1]);
        assert_eq!(summary.acknowledged, 1001);
    }

    #[tokio::test]
    async fn batches_split_at_5_mib_counting_partition_keys() {
        // 1 MiB records (data plus a 2-byte key): five fit in 5 MiB, a sixth does not.
        let input: Vec<Entry> = (0..11)
            .map(|i| {
                let key = format!("k{i}");
                let mut body = data(i);
                body.resize(MAX_RECORD_BYTES - key.len(), b'x');
                Entry::new(key, body)
            })
            .collect();
        assert!(input.iter().all(|e| validate(e).is_ok()));
        let fake = Fake::default();
        let (summary, _) = run(&fake, input, &fast()).await;
        let sizes: Vec<usize> = fake.calls().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![5, 5, 1]);
        assert_eq!(summary.acknowledged, 11);
        assert_eq!(summary.bytes, 11 * MAX_RECORD_BYTES as u64);
    }

    #[tokio::test]
    async fn concurrent_calls_stay_within_the_bound() {
        struct Slow {
            in_flight: Mutex<(usize, usize)>,
        }
        impl PutRecords for Slow {
            async fn put_records(&self, entries: &[Entry]) -> Result<Vec<EntryResult>, CallError> {
                {
                    let mut f = self.in_flight.lock().unwrap();
                    f.0 += 1;
                    f.1 = f.1.max(f.0);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.in_flight.lock().unwrap().0 -= 1;
                Ok(entries
                    .iter()
                    .map(|_| EntryResult::Ok {
                        shard_id: "s".into(),
                        sequence_number: "1".into(),
                    })
                    .collect())
            }
        }
        let slow = Slow {
            in_flight: Mutex::new((0, 0)),
        };
        let opts = PutOptions {
            concurrency: 3,
            ..fast()
        };
        let summary = put_all(&slow, records(5000), &opts, &mut |_| {}).await;
        assert_eq!(summary.acknowledged, 5000);
        assert_eq!(slow.in_flight.lock().unwrap().1, 3);
    }

    #[tokio::test]
    async fn shard_pacing_holds_each_shards_budget() {
        // 2 shards of 10 records per 50 ms: 60 records need at least 2 further windows.
        let opts = PutOptions {
            shards: Some(ShardMap::uniform(2)),
            limits: ShardLimits {
                records: 10,
                bytes: 1 << 20,
                window: Duration::from_millis(50),
            },
            concurrency: 4,
            ..fast()
        };
        let fake = Fake::default();
        let input: Vec<Entry> = (0..60)
            .map(|i| Entry::new(format!("key-{i}"), data(i)))
            .collect();
        let (summary, _) = run(&fake, input, &opts).await;
        assert_eq!(summary.acknowledged, 60);
        let map = ShardMap::uniform(2);
        for call in fake.calls() {
            for shard in 0..2 {
                let n = call
                    .iter()
                    .filter(|e| map.shard_of(&e.partition_key) == Some(shard))
                    .count();
                assert!(n <= 10, "{n} records for shard {shard} in one call");
            }
        }
        assert!(
            summary.elapsed >= Duration::from_millis(100),
            "{:?}",
            summary.elapsed
        );
    }

    #[tokio::test]
    async fn rate_limits_new_records() {
        let opts = PutOptions {
            rate: Some(200.0),
            ..fast()
        };
        let fake = Fake::default();
        let (summary, _) = run(&fake, records(21), &opts).await;
        assert_eq!(summary.acknowledged, 21);
        assert!(
            summary.elapsed >= Duration::from_millis(100),
            "{:?}",
            summary.elapsed
        );
    }

    #[tokio::test]
    async fn rate_is_kept_up_with_while_calls_take_time() {
        let sim = crate::sim::Simulator::new(crate::sim::SimConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..crate::sim::SimConfig::default()
        });
        let opts = PutOptions {
            rate: Some(1000.0),
            concurrency: 4,
            shards: Some(sim.shard_map().clone()),
            ..fast()
        };
        let summary = put_all(&sim, records(500), &opts, &mut |_| {}).await;
        assert_eq!(summary.acknowledged, 500);
        // 500 records at 1,000/s: half a second, plus the last call's latency (and slack for a
        // busy machine).
        assert!(
            summary.elapsed < Duration::from_millis(1000),
            "{:?}",
            summary.elapsed
        );
        assert!(
            summary.elapsed >= Duration::from_millis(499),
            "{:?}",
            summary.elapsed
        );
    }

    #[tokio::test]
    async fn empty_input_makes_no_call() {
        let fake = Fake::default();
        let (summary, _) = run(&fake, Vec::new(), &fast()).await;
        assert_eq!(summary.calls, 0);
        assert!(fake.calls().is_empty());
        assert!(summary.complete());
    }

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
    fn hash_keys_route_like_kinesis() {
        // MD5("a") = 0cc175b9…, MD5("b") = 92eb5ffe…: below and above 2^127.
        assert_eq!(hash_key("a") >> 96, 0x0cc1_75b9);
        let map = ShardMap::uniform(2);
        assert_eq!(map.shard_of("a"), Some(0));
        assert_eq!(map.shard_of("b"), Some(1));
        assert_eq!(map.shards()[0].end + 1, map.shards()[1].start);
        assert_eq!(map.shards()[1].start, 1u128 << 127);
        assert_eq!(map.shards()[1].end, u128::MAX);
        let three = ShardMap::uniform(3);
        for w in three.shards().windows(2) {
            assert_eq!(w[0].end + 1, w[1].start);
        }
        // A gap in the map (a closed shard's range) routes nowhere.
        let gap = ShardMap::new(vec![ShardRange {
            shard_id: "s".into(),
            start: 1 << 127,
            end: u128::MAX,
        }]);
        assert_eq!(gap.shard_of("a"), None);
        assert_eq!(gap.shard_of("b"), Some(0));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_max() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(1);
        for (failures, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let p = b.pause(failures, &mut rng);
                let full = Duration::from_millis(full);
                assert!(p >= full / 2 && p <= full, "{failures}: {p:?}");
            }
        }
    }
}
