//! The state of one put: records read ahead into per-shard lanes, the calls they make up,
//! and what each answer does to them (acknowledge, retry after a backoff, or give up).
//! [`super::put_all`] drives it; nothing here waits or does I/O.

use std::collections::BTreeMap;
use std::task::Poll;
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::lane::{Lane, Pending};
use super::limits::{MAX_BATCH_BYTES, MAX_BATCH_RECORDS, Volume};
use super::shard_map::ShardMap;
use super::summary::{NOT_SENT, Summary};
use super::window::Window;
use super::{CallError, Entry, EntryResult, Event, PutOptions, Source, THROTTLED};

/// Read ahead at most this many fresh records per call in flight (plus one batch).
const LOOKAHEAD_BATCHES: usize = 1;

/// Longest pause the rate can ask for before one record (a century: never, in practice).
const MAX_ADMIT_SECS: f64 = 100.0 * 365.0 * 86_400.0;

/// When record number `pulled` may be read at `rate` records per second. Clamped, so no
/// rate and no count can overflow a `Duration` or an `Instant`.
fn admit_at(started: Instant, pulled: u64, rate: f64) -> Instant {
    let secs = pulled as f64 / rate;
    let secs = if secs.is_finite() {
        secs.clamp(0.0, MAX_ADMIT_SECS)
    } else {
        MAX_ADMIT_SECS
    };
    started
        .checked_add(Duration::from_secs_f64(secs))
        .unwrap_or(started)
}

/// Bookkeeping of one entry in a call; `entries` and `meta` of a [`Batch`] run in parallel
/// so the entries can be passed as a slice.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    index: u64,
    attempts: u32,
    lane: usize,
}

/// The entries of one PutRecords call.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// What is sent.
    pub entries: Vec<Entry>,
    /// Where each entry came from.
    pub meta: Vec<Meta>,
    bytes: usize,
}

impl Batch {
    /// Whether a record of `size` bytes would break the call limits.
    fn is_full_for(&self, size: usize) -> bool {
        self.entries.len() == MAX_BATCH_RECORDS || self.bytes + size > MAX_BATCH_BYTES
    }

    fn push(&mut self, item: Pending, size: usize) {
        self.bytes += size;
        self.meta.push(Meta {
            index: item.index,
            attempts: item.attempts,
            lane: item.lane,
        });
        self.entries.push(item.entry);
    }

    /// Entries sent before.
    fn retries(&self) -> usize {
        self.meta.iter().filter(|m| m.attempts > 1).count()
    }
}

/// How one lane's turn at filling a batch ended.
enum Turn {
    /// The batch reached a call limit.
    BatchFull,
    /// The lane ran out of due records or budget, having added some or none.
    Done { took: bool },
}

/// The answer to one call, being settled entry by entry.
struct Answer {
    /// When it arrived.
    at: Instant,
    /// Retry time chosen per attempt count: entries that failed together are re-sent
    /// together, in one call.
    retry_at: BTreeMap<u32, Instant>,
}

/// One put in progress; see the module docs.
pub(super) struct Engine<S> {
    source: S,
    source_done: bool,
    /// The source had nothing ready while there was room for more.
    source_pending: bool,
    pulled: u64,
    lanes: Vec<Lane>,
    shards: Option<ShardMap>,
    cursor: usize,
    fresh: Volume,
    lookahead: Volume,
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

impl<S: Source> Engine<S> {
    /// A put of every record of `source`.
    pub fn new(source: S, opts: &PutOptions) -> Engine<S> {
        let shards = opts.shards.clone().filter(|m| !m.is_empty());
        let lanes = (0..shards.as_ref().map_or(1, ShardMap::len))
            .map(|_| Lane::new(shards.as_ref().map(|_| Window::new(opts.limits))))
            .collect();
        let batches = opts.concurrency.max(1) + LOOKAHEAD_BATCHES;
        Engine {
            source,
            source_done: false,
            source_pending: false,
            pulled: 0,
            lanes,
            shards,
            cursor: 0,
            fresh: Volume::default(),
            lookahead: Volume {
                records: (MAX_BATCH_RECORDS * batches) as u64,
                bytes: opts
                    .read_ahead_bytes
                    .unwrap_or(MAX_BATCH_BYTES * batches)
                    .max(1) as u64,
            },
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
            summary: Summary::start(0),
        }
    }

    /// Read fresh records into their lanes, up to the look-ahead and the `rate`.
    pub fn refill(&mut self, now: Instant) {
        self.next_admit = None;
        self.source_pending = false;
        while !self.source_done && self.aborted.is_none() && self.fresh.is_below(self.lookahead) {
            if let Some(rate) = self.rate {
                let at = admit_at(self.started, self.pulled, rate);
                if at > now {
                    self.next_admit = Some(at);
                    break;
                }
            }
            let entry = match self.source.next_record() {
                Poll::Ready(Some(entry)) => entry,
                Poll::Ready(None) => {
                    self.source_done = true;
                    break;
                }
                Poll::Pending => {
                    self.source_pending = true;
                    break;
                }
            };
            let lane = self.lane_of(&entry);
            self.fresh += Volume::record(entry.size() as u64);
            self.lanes[lane].fresh.push_back(Pending {
                index: self.pulled,
                entry,
                attempts: 0,
                lane,
            });
            self.pulled += 1;
        }
    }

    /// Whether the last refill stopped because the source had nothing ready yet: the driver
    /// then also waits for [`Source::ready`].
    pub fn waits_for_source(&self) -> bool {
        self.source_pending && self.aborted.is_none()
    }

    /// The source, to wait on.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// The lane of the shard Kinesis will route `entry` to (lane 0 without a shard map).
    fn lane_of(&self, entry: &Entry) -> usize {
        self.shards
            .as_ref()
            .and_then(|m| m.shard_of_hash(entry.hash_key()))
            .unwrap_or(0)
    }

    /// The next call to send, counted and reported, unless the put stopped or nothing is
    /// sendable now.
    pub fn next_call(&mut self, now: Instant, observe: &mut dyn FnMut(Event<'_>)) -> Option<Batch> {
        if self.aborted.is_some() {
            return None;
        }
        let batch = self.next_batch(now)?;
        self.summary.calls += 1;
        observe(Event::Sent {
            records: batch.entries.len(),
            retries: batch.retries(),
        });
        Some(batch)
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
                match self.take_turn((self.cursor + step) % lanes, per_turn, now, &mut batch) {
                    Turn::BatchFull => break 'fill,
                    Turn::Done { took: t } => took |= t,
                }
            }
            if !took {
                break;
            }
        }
        self.cursor = (self.cursor + 1) % lanes;
        (!batch.entries.is_empty()).then_some(batch)
    }

    /// Move up to `per_turn` records of lane `lane` into `batch`, while its shard has budget.
    fn take_turn(&mut self, lane: usize, per_turn: usize, now: Instant, batch: &mut Batch) -> Turn {
        let lane = &mut self.lanes[lane];
        if let Some(w) = &mut lane.window {
            w.expire(now);
        }
        let mut took = false;
        for _ in 0..per_turn {
            let Some(size) = lane.peek(now) else { break };
            if batch.is_full_for(size) {
                return Turn::BatchFull;
            }
            if lane.window.as_ref().is_some_and(|w| !w.fits(size as u64)) {
                break;
            }
            let Some(mut item) = lane.pop() else { break };
            if let Some(w) = &mut lane.window {
                w.start(size as u64);
            }
            if item.attempts == 0 {
                self.fresh -= Volume::record(size as u64);
            }
            item.attempts += 1;
            batch.push(item, size);
            took = true;
        }
        Turn::Done { took }
    }

    /// Account for a call's answer: acknowledge, schedule retries, or give up.
    pub fn complete(
        &mut self,
        batch: Batch,
        result: Result<Vec<EntryResult>, CallError>,
        now: Instant,
        observe: &mut dyn FnMut(Event<'_>),
    ) {
        self.last_response = Some(now);
        let results = self.entry_results(batch.entries.len(), result);
        let mut answer = Answer {
            at: now,
            retry_at: BTreeMap::new(),
        };
        for ((entry, meta), result) in batch.entries.into_iter().zip(batch.meta).zip(results) {
            self.settle(entry, meta, result, &mut answer, observe);
        }
    }

    /// One result per entry of an `n`-entry call. A call that failed as a whole fails each
    /// entry with its error (and stops the put if it is not retryable); an answer with the
    /// wrong number of results has an unknown effect, so every entry is sent again
    /// (at-least-once, like any timeout).
    fn entry_results(
        &mut self,
        n: usize,
        result: Result<Vec<EntryResult>, CallError>,
    ) -> Vec<EntryResult> {
        match result {
            Ok(results) if results.len() == n => results,
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
                    self.summary.stream_not_found = e.stream_not_found;
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
        }
    }

    /// Settle one entry of `answer`: release its shard budget, then acknowledge it, send it
    /// again later, or give up on it.
    fn settle(
        &mut self,
        entry: Entry,
        meta: Meta,
        result: EntryResult,
        answer: &mut Answer,
        observe: &mut dyn FnMut(Event<'_>),
    ) {
        let size = entry.size() as u64;
        let written = matches!(result, EntryResult::Ok { .. });
        if let Some(w) = &mut self.lanes[meta.lane].window {
            w.finish(answer.at, size, written);
        }
        match result {
            EntryResult::Ok {
                shard_id,
                sequence_number,
            } => {
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
                if code == THROTTLED {
                    self.summary.throttled += 1;
                }
                if retryable && meta.attempts < self.max_attempts && self.aborted.is_none() {
                    self.retry(entry, meta, &code, answer, observe);
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

    /// Put a failed entry back into its lane, due after the backoff of its attempt count.
    fn retry(
        &mut self,
        entry: Entry,
        meta: Meta,
        code: &str,
        answer: &mut Answer,
        observe: &mut dyn FnMut(Event<'_>),
    ) {
        let now = answer.at;
        let at = *answer
            .retry_at
            .entry(meta.attempts)
            .or_insert_with(|| now + self.backoff.pause(meta.attempts, &mut self.rng));
        self.summary.retries += 1;
        observe(Event::Retrying {
            index: meta.index,
            code,
            attempts: meta.attempts,
        });
        let item = Pending {
            index: meta.index,
            entry,
            attempts: meta.attempts,
            lane: meta.lane,
        };
        self.lanes[meta.lane].schedule(at, item);
    }

    /// Nothing left to send or wait for.
    pub fn is_idle(&self) -> bool {
        (self.source_done || self.aborted.is_some())
            && (self.aborted.is_some() || self.lanes.iter().all(Lane::is_empty))
    }

    /// When something may become sendable: a retry falls due, a shard's budget frees up, or
    /// the rate admits the next record.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        let mut wake = self.next_admit;
        let mut consider = |at: Instant| {
            if at > now {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        for lane in &self.lanes {
            if let Some(at) = lane.next_due() {
                consider(at);
            }
            if !lane.is_empty()
                && let Some(at) = lane.window.as_ref().and_then(Window::next_release)
            {
                consider(at);
            }
        }
        wake
    }

    /// Stop with nothing in flight and nothing to wait for. Unreachable by construction (an
    /// idle lane always admits a record); stopping beats spinning, and what is left counts as
    /// not written.
    pub fn stall(&mut self) {
        self.aborted = Some("internal error: the producer stalled".into());
    }

    /// Stop taking records and sending calls (a signal): the calls in flight are still
    /// completed, and what is left counts as not sent.
    pub fn interrupt(&mut self, reason: String) {
        if self.aborted.is_none() {
            self.aborted = Some(reason);
        }
    }

    /// Count whatever was not written (after an abort) and close the summary.
    pub fn finish(mut self, observe: &mut dyn FnMut(Event<'_>)) -> Summary {
        let unread = self.give_up_on_the_rest(observe);
        self.summary.records = self.pulled + unread;
        self.summary.not_written = self.summary.records - self.summary.acknowledged;
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

    /// Report every record still waiting, and count it and every unread one as not sent;
    /// returns the number of records the source held that were never pulled.
    fn give_up_on_the_rest(&mut self, observe: &mut dyn FnMut(Event<'_>)) -> u64 {
        let mut left: Vec<Pending> = self.lanes.iter_mut().flat_map(Lane::drain).collect();
        left.sort_by_key(|p| p.index);
        for p in &left {
            observe(Event::GaveUp {
                index: p.index,
                code: NOT_SENT,
                message: "not sent: the put stopped early",
            });
        }
        let unread = self.source.unread();
        let not_sent = left.len() as u64 + unread;
        if not_sent > 0 {
            *self.summary.errors.entry(NOT_SENT.into()).or_default() += not_sent;
        }
        unread
    }
}
