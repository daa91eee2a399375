//! `kstream put --aggregate`: user records packed into KPL aggregated records
//! (`kstream_contract::kpl`), one open aggregate per shard, so that small records go far past
//! a shard's 1,000 records/s: the shard limits count one aggregated record of up to 1 MiB.
//!
//! - **Grouping.** A user record belongs to the shard whose hash key range holds its explicit
//!   hash key, or else the MD5 of its partition key (Kinesis's rule, [`ShardMap`]). Each shard
//!   has its own aggregate, sent with an explicit hash key at the start of the shard's range
//!   and the partition key of its first user record, so Kinesis puts it in that shard.
//! - **Packing.** An aggregate is closed when the next user record would take its data plus
//!   the outer partition key past [`MAX_RECORD_BYTES`] (the aggregator's exact size), when the
//!   input pauses and it has been open for [`AGGREGATE_LINGER`] (a slow `--lines` input is
//!   not held back), when it has been open for [`AGGREGATE_MAX_AGE`] however fast the input
//!   (a shard whose records are rare), when the aggregates open over all shards hold more than
//!   [`MAX_OPEN_BYTES`] (the fullest goes first: memory stays bounded with many shards), and
//!   when the input ends. While the input keeps coming, the engine asks for the next record
//!   only when a shard has room, often a second later: flushing by time then would send
//!   nearly empty aggregates, each holding a shard's window for a whole second.
//! - **Not packed.** A user record too large to fit in an aggregate even alone, or whose hash
//!   key no open shard covers, is sent as a plain Kinesis record, as the KPL does.
//! - **Counting.** The engine (`engine`) puts the Kinesis records with its usual batching,
//!   pacing, retries and backoff. [`put_aggregated`] translates each of its events into one
//!   event per user record and its summary into user records: when an aggregated record
//!   fails for good, every user record in it is reported and counted as not written.
//!   [`Summary::aggregated`] keeps the Kinesis-level counts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use kstream_contract::kpl::Aggregator;
use tokio::time::Instant;

use super::limits::{MAX_BATCH_BYTES, MAX_RECORD_BYTES};
use super::shard_map::ShardMap;
use super::summary::{Aggregated, NOT_SENT, Summary};
use super::{Entry, Event, PutOptions, PutRecords, Source, THROTTLED, put_until};
use crate::interrupt::Stop;

/// Longest time a user record waits in an open aggregate (the KPL's default
/// `RecordMaxBufferedTime`).
pub const AGGREGATE_LINGER: Duration = Duration::from_millis(100);

/// Longest time a user record waits in an open aggregate while the input keeps coming but
/// its shard's records are rare.
pub const AGGREGATE_MAX_AGE: Duration = Duration::from_secs(5);

/// Most bytes the open aggregates of all shards hold together before the fullest is closed.
pub const MAX_OPEN_BYTES: usize = MAX_BATCH_BYTES;

/// A Kinesis record made of user records: an aggregate, or one user record sent plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The Kinesis record to put.
    pub entry: Entry,
    /// Input positions of its user records, in subsequence order.
    pub users: Vec<u64>,
    /// Bytes of its user records (data and partition keys).
    pub user_bytes: u64,
}

/// An aggregate being filled for one shard.
#[derive(Debug)]
struct Open {
    aggregator: Aggregator,
    users: Vec<u64>,
    user_bytes: u64,
    since: Instant,
}

/// Packs user records into per-shard aggregates; see the module docs. Pure: the caller says
/// what time it is.
#[derive(Debug)]
pub struct Packer {
    shards: ShardMap,
    open: Vec<Option<Open>>,
    open_bytes: usize,
    ready: VecDeque<Packed>,
    max_record: usize,
    max_open: usize,
    linger: Duration,
}

impl Packer {
    /// A packer for these shards, within Kinesis's record limit.
    pub fn new(shards: ShardMap, linger: Duration) -> Packer {
        Packer::with_limits(shards, linger, MAX_RECORD_BYTES, MAX_OPEN_BYTES)
    }

    /// A packer whose Kinesis records hold at most `max_record` bytes (data plus partition
    /// key), holding at most about `max_open` bytes in open aggregates.
    pub fn with_limits(
        shards: ShardMap,
        linger: Duration,
        max_record: usize,
        max_open: usize,
    ) -> Packer {
        let open = (0..shards.len()).map(|_| None).collect();
        Packer {
            shards,
            open,
            open_bytes: 0,
            ready: VecDeque::new(),
            max_record,
            max_open,
            linger,
        }
    }

    /// Add user record `index` at `now`; closing an aggregate makes a [`Packed`] ready.
    pub fn push(&mut self, index: u64, entry: Entry, now: Instant) {
        let Some(shard) = self.shards.shard_of_hash(entry.hash_key()) else {
            self.ready.push_back(plain(index, entry));
            return;
        };
        let hash_key = entry.explicit_hash_key.map(|h| h.to_string());
        let (key, data_len) = (entry.partition_key.as_str(), entry.data.len());
        let size_with = |aggregator: &Aggregator| {
            let outer = aggregator.first_partition_key().unwrap_or(key).len();
            aggregator.encoded_len_with(key, hash_key.as_deref(), data_len) + outer
        };
        if self.open[shard]
            .as_ref()
            .is_some_and(|open| size_with(&open.aggregator) > self.max_record)
        {
            self.close(shard);
        }
        if self.open[shard].is_none() && size_with(&Aggregator::new()) > self.max_record {
            self.ready.push_back(plain(index, entry));
            return;
        }
        if self.open[shard].is_none() {
            let aggregator = Aggregator::new();
            self.open_bytes += aggregator.encoded_len();
            self.open[shard] = Some(Open {
                aggregator,
                users: Vec::new(),
                user_bytes: 0,
                since: now,
            });
        }
        let Some(open) = self.open[shard].as_mut() else {
            return;
        };
        let before = open.aggregator.encoded_len();
        open.user_bytes += entry.size() as u64;
        open.users.push(index);
        open.aggregator
            .push(&entry.partition_key, hash_key.as_deref(), entry.data);
        self.open_bytes += open.aggregator.encoded_len() - before;
        if self.open_bytes > self.max_open {
            let fullest = (0..self.open.len()).max_by_key(|&s| {
                self.open[s]
                    .as_ref()
                    .map_or(0, |o| o.aggregator.encoded_len())
            });
            if let Some(shard) = fullest {
                self.close(shard);
            }
        }
    }

    /// Close the aggregates that have been open for the linger time at `now` (the input
    /// paused).
    pub fn flush_due(&mut self, now: Instant) {
        self.flush_older(now, self.linger);
    }

    /// Close the aggregates that have been open for `age` or longer at `now`.
    pub fn flush_older(&mut self, now: Instant, age: Duration) {
        for shard in 0..self.open.len() {
            if self.open[shard]
                .as_ref()
                .is_some_and(|o| now.saturating_duration_since(o.since) >= age)
            {
                self.close(shard);
            }
        }
    }

    /// Close every open aggregate (the input ended).
    pub fn flush_all(&mut self) {
        for shard in 0..self.open.len() {
            self.close(shard);
        }
    }

    /// When the oldest open aggregate falls due, if any is open.
    pub fn next_due(&self) -> Option<Instant> {
        self.open
            .iter()
            .flatten()
            .map(|o| o.since + self.linger)
            .min()
    }

    /// The next Kinesis record to put, if one is ready.
    pub fn pop(&mut self) -> Option<Packed> {
        self.ready.pop_front()
    }

    /// Whether a Kinesis record is ready.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// User records held, ready or in open aggregates.
    pub fn held_users(&self) -> u64 {
        let ready: usize = self.ready.iter().map(|p| p.users.len()).sum();
        let open: usize = self.open.iter().flatten().map(|o| o.users.len()).sum();
        (ready + open) as u64
    }

    /// Kinesis records held: ready ones and open aggregates.
    pub fn held_records(&self) -> u64 {
        (self.ready.len() + self.open.iter().flatten().count()) as u64
    }

    /// Turn shard `shard`'s open aggregate, if any, into a ready Kinesis record.
    fn close(&mut self, shard: usize) {
        let Some(open) = self.open[shard].take() else {
            return;
        };
        let size = open.aggregator.encoded_len();
        self.open_bytes -= size;
        let key = open
            .aggregator
            .first_partition_key()
            .unwrap_or_default()
            .to_string();
        let entry = Entry::new(key, open.aggregator.finish())
            .with_explicit_hash_key(self.shards.shards()[shard].start);
        self.ready.push_back(Packed {
            entry,
            users: open.users,
            user_bytes: open.user_bytes,
        });
    }
}

/// User record `index` as a Kinesis record of its own.
fn plain(index: u64, entry: Entry) -> Packed {
    Packed {
        user_bytes: entry.size() as u64,
        users: vec![index],
        entry,
    }
}

/// What each Kinesis record handed to the engine holds, by its position; shared between the
/// source and the event translation.
#[derive(Debug, Default)]
struct Book {
    records: HashMap<u64, Users>,
    /// User records never handed to the engine, once the put is over.
    unread_users: u64,
}

/// The user records of one Kinesis record.
#[derive(Debug, Clone)]
struct Users {
    indexes: Vec<u64>,
    bytes: u64,
}

fn lock(book: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|e| e.into_inner())
}

/// A [`Source`] of Kinesis records packed from a source of user records.
struct Aggregating<S> {
    inner: S,
    inner_done: bool,
    packer: Packer,
    /// User records read from `inner`.
    pulled: u64,
    /// Kinesis records handed out.
    handed: u64,
    book: Arc<Mutex<Book>>,
    /// What time it is (a test's clock, else [`Instant::now`]).
    clock: Box<dyn Fn() -> Instant + Send>,
}

impl<S: Source + Send> Source for Aggregating<S> {
    fn next_record(&mut self) -> Poll<Option<Entry>> {
        // While input keeps coming, an aggregate waits to be filled (the engine asks again as
        // soon as a shard has room): only a shard whose records are rare makes it old.
        self.packer.flush_older((self.clock)(), AGGREGATE_MAX_AGE);
        loop {
            if let Some(packed) = self.packer.pop() {
                let users = Users {
                    indexes: packed.users,
                    bytes: packed.user_bytes,
                };
                lock(&self.book).records.insert(self.handed, users);
                self.handed += 1;
                return Poll::Ready(Some(packed.entry));
            }
            if self.inner_done {
                return Poll::Ready(None);
            }
            match self.inner.next_record() {
                Poll::Ready(Some(entry)) => {
                    // The time of this push: filling an aggregate may take a while.
                    self.packer.push(self.pulled, entry, (self.clock)());
                    self.pulled += 1;
                }
                Poll::Ready(None) => {
                    self.inner_done = true;
                    self.packer.flush_all();
                }
                Poll::Pending => {
                    // The input paused: what waited for the linger time goes now.
                    self.packer.flush_due((self.clock)());
                    if !self.packer.has_ready() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    async fn ready(&mut self) {
        if self.packer.has_ready() || self.inner_done {
            return;
        }
        match self.packer.next_due() {
            Some(due) => {
                tokio::select! {
                    _ = self.inner.ready() => {}
                    _ = tokio::time::sleep_until(due) => {}
                }
            }
            None => self.inner.ready().await,
        }
    }

    fn unread(&mut self) -> u64 {
        let users = self.packer.held_users() + self.inner.unread();
        lock(&self.book).unread_users = users;
        self.packer.held_records()
    }
}

/// User-level counts gathered from the engine's events.
#[derive(Debug, Default)]
struct Counts {
    acknowledged: u64,
    bytes: u64,
    retries: u64,
    throttled: u64,
    per_shard: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

/// Put every user record of `source`, packed into aggregated records per shard of
/// `opts.shards` (without a shard map, every record is sent plain). `Acked`, `Retrying` and
/// `GaveUp` events name user records (by input position), once per user record; `Sent`
/// counts the call's Kinesis records. The summary counts user records, with the Kinesis
/// records in [`Summary::aggregated`]. `opts.rate` would pace Kinesis records, not user
/// records: callers leave it unset. See the module docs.
pub async fn put_aggregated<P, S>(
    client: &P,
    source: S,
    opts: &PutOptions,
    stop: &Stop,
    observe: &mut dyn FnMut(Event<'_>),
) -> Summary
where
    P: PutRecords,
    S: Source + Send,
{
    let shards = opts
        .shards
        .clone()
        .unwrap_or_else(|| ShardMap::new(Vec::new()));
    // Each aggregate costs thousands of records to make: read ahead two per shard (at least
    // one call's worth), not the engine's default of several calls, so the first call goes
    // out at once.
    let opts = &PutOptions {
        read_ahead_bytes: Some((2 * shards.len() * MAX_RECORD_BYTES).max(MAX_BATCH_BYTES)),
        ..opts.clone()
    };
    let book = Arc::new(Mutex::new(Book::default()));
    let source = Aggregating {
        inner: source,
        inner_done: false,
        packer: Packer::new(shards, AGGREGATE_LINGER),
        pulled: 0,
        handed: 0,
        book: Arc::clone(&book),
        clock: Box::new(Instant::now),
    };
    let mut counts = Counts::default();
    let engine = put_until(client, source, opts, stop, &mut |event| {
        translate(event, &book, &mut counts, observe);
    })
    .await;
    let unread = lock(&book).unread_users;
    if unread > 0 {
        *counts.errors.entry(NOT_SENT.into()).or_default() += unread;
    }
    let not_written: u64 = counts.errors.values().sum();
    Summary {
        records: counts.acknowledged + not_written,
        acknowledged: counts.acknowledged,
        not_written,
        bytes: counts.bytes,
        retries: counts.retries,
        throttled: counts.throttled,
        calls: engine.calls,
        per_shard: counts.per_shard,
        errors: counts.errors,
        aborted: engine.aborted,
        stream_not_found: engine.stream_not_found,
        elapsed: engine.elapsed,
        aggregated: Some(Aggregated {
            records: engine.records,
            acknowledged: engine.acknowledged,
            bytes: engine.bytes,
        }),
    }
}

/// One engine event about Kinesis record `index` as one event per user record in it.
fn translate(
    event: Event<'_>,
    book: &Mutex<Book>,
    counts: &mut Counts,
    observe: &mut dyn FnMut(Event<'_>),
) {
    let index = match event {
        Event::Sent { .. } => return observe(event),
        Event::Acked { index, .. }
        | Event::Retrying { index, .. }
        | Event::GaveUp { index, .. } => index,
    };
    let settled = !matches!(event, Event::Retrying { .. });
    let users = {
        let mut book = lock(book);
        if settled {
            book.records.remove(&index)
        } else {
            book.records.get(&index).cloned()
        }
    };
    // Every event names a record the source handed out; nothing else can be counted.
    let Some(users) = users else { return };
    let n = users.indexes.len() as u64;
    match event {
        Event::Sent { .. } => {}
        Event::Acked {
            shard_id,
            sequence_number,
            ..
        } => {
            counts.acknowledged += n;
            counts.bytes += users.bytes;
            *counts.per_shard.entry(shard_id.to_string()).or_default() += n;
            for &user in &users.indexes {
                observe(Event::Acked {
                    index: user,
                    shard_id,
                    sequence_number,
                });
            }
        }
        Event::Retrying { code, attempts, .. } => {
            counts.retries += n;
            if code == THROTTLED {
                counts.throttled += n;
            }
            for &user in &users.indexes {
                observe(Event::Retrying {
                    index: user,
                    code,
                    attempts,
                });
            }
        }
        Event::GaveUp { code, message, .. } => {
            if code == THROTTLED {
                counts.throttled += n;
            }
            *counts.errors.entry(code.to_string()).or_default() += n;
            for &user in &users.indexes {
                observe(Event::GaveUp {
                    index: user,
                    code,
                    message,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use kstream_contract::kpl::{self, UserRecord};

    use super::*;
    use crate::producer::{Backoff, CallError, EntryResult, LineKey, LineSource, ShardRange};

    /// The user records of a packed Kinesis record (a plain one is its own user record).
    fn users_of(entry: &Entry) -> Vec<UserRecord> {
        match kpl::decode(&entry.data).expect("valid aggregate") {
            Some(users) => users,
            None => vec![UserRecord {
                partition_key: entry.partition_key.clone(),
                explicit_hash_key: entry.explicit_hash_key.map(|h| h.to_string()),
                data: entry.data.clone(),
            }],
        }
    }

    fn drain(packer: &mut Packer) -> Vec<Packed> {
        std::iter::from_fn(|| packer.pop()).collect()
    }

    fn packer(shards: u32) -> Packer {
        Packer::new(ShardMap::uniform(shards), AGGREGATE_LINGER)
    }

    #[test]
    fn user_records_are_grouped_by_the_shard_their_key_hashes_to() {
        // MD5("a") is below 2^127 (shard 0 of 2), MD5("b") above (shard 1).
        let mut p = packer(2);
        let now = Instant::now();
        for (i, key) in ["a", "b", "a", "b", "a"].iter().enumerate() {
            p.push(i as u64, Entry::new(*key, format!("d{i}")), now);
        }
        assert!(!p.has_ready(), "nothing is full or due yet");
        assert_eq!((p.held_users(), p.held_records()), (5, 2));
        p.flush_all();
        let packed = drain(&mut p);
        assert_eq!(packed.len(), 2);
        let map = ShardMap::uniform(2);
        for (shard, (p, want)) in packed.iter().zip([vec![0, 2, 4], vec![1, 3]]).enumerate() {
            assert_eq!(p.users, want);
            // Sent at the start of its shard's range, under its first user record's key.
            assert_eq!(p.entry.explicit_hash_key, Some(map.shards()[shard].start));
            assert_eq!(map.shard_of_hash(p.entry.hash_key()), Some(shard));
            let users = users_of(&p.entry);
            assert_eq!(p.entry.partition_key, users[0].partition_key);
            for (user, index) in users.iter().zip(&p.users) {
                assert_eq!(user.data, format!("d{index}").into_bytes());
                assert_eq!(map.shard_of(&user.partition_key), Some(shard));
            }
        }
        assert!(kpl::is_aggregated(&packed[0].entry.data));
    }

    #[test]
    fn explicit_hash_keys_choose_the_shard_at_the_range_boundaries() {
        let map = ShardMap::uniform(2);
        let boundary = map.shards()[1].start;
        let mut p = packer(2);
        let now = Instant::now();
        // "a" alone would go to shard 0; explicit hash keys override the partition key.
        let cases = [(boundary - 1, 0), (boundary, 1), (u128::MAX, 1), (0, 0)];
        for (i, (hash, _)) in cases.iter().enumerate() {
            p.push(
                i as u64,
                Entry::new("a", vec![i as u8]).with_explicit_hash_key(*hash),
                now,
            );
        }
        p.flush_all();
        let packed = drain(&mut p);
        assert_eq!(packed[0].users, [0, 3]);
        assert_eq!(packed[1].users, [1, 2]);
        for p in &packed {
            for (user, index) in users_of(&p.entry).iter().zip(&p.users) {
                let (hash, _) = cases[*index as usize];
                // The user record keeps its own explicit hash key inside the aggregate.
                assert_eq!(user.explicit_hash_key, Some(hash.to_string()));
            }
        }
        // A hash key no open shard covers (a gap left by a closed shard) is sent plain.
        let mut gap = Packer::new(
            ShardMap::new(vec![ShardRange {
                shard_id: "s".into(),
                start: boundary,
                end: u128::MAX,
            }]),
            AGGREGATE_LINGER,
        );
        gap.push(7, Entry::new("a", "x"), now);
        let plain = drain(&mut gap);
        assert_eq!(plain[0].entry, Entry::new("a", "x"));
        assert_eq!(plain[0].users, [7]);
    }

    /// The largest data length a user record under `key` may have to fit in `aggregator`.
    fn room(aggregator: &Aggregator, outer: &str, key: &str) -> usize {
        let fits =
            |len| aggregator.encoded_len_with(key, None, len) + outer.len() <= MAX_RECORD_BYTES;
        let mut len = MAX_RECORD_BYTES;
        while !fits(len) {
            len -= 1;
        }
        len
    }

    #[test]
    fn records_fill_an_aggregate_to_exactly_one_mib_and_no_further() {
        let now = Instant::now();
        // One user record that makes the aggregate, with its outer key, exactly 1 MiB.
        let exact = room(&Aggregator::new(), "k", "k");
        let mut p = packer(1);
        p.push(0, Entry::new("k", vec![1; exact]), now);
        p.flush_all();
        let packed = drain(&mut p);
        assert_eq!(packed[0].entry.size(), MAX_RECORD_BYTES);
        assert!(kpl::is_aggregated(&packed[0].entry.data));
        // One byte more cannot be aggregated: it goes plain, as it is.
        let mut p = packer(1);
        p.push(0, Entry::new("k", vec![1; exact + 1]), now);
        assert_eq!(drain(&mut p)[0].entry, Entry::new("k", vec![1; exact + 1]));

        // Two records: the second exactly fills the room the first left.
        let first = Entry::new("first", vec![2; 300_000]);
        let mut a = Aggregator::new();
        a.push("first", None, first.data.clone());
        let second = room(&a, "first", "second");
        let mut p = packer(1);
        p.push(0, first.clone(), now);
        p.push(1, Entry::new("second", vec![3; second]), now);
        assert!(!p.has_ready());
        p.flush_all();
        let packed = drain(&mut p);
        assert_eq!(packed.len(), 1);
        assert_eq!(packed[0].entry.size(), MAX_RECORD_BYTES);
        assert_eq!(packed[0].entry.partition_key, "first");
        // One byte more closes the first aggregate and starts the next.
        let mut p = packer(1);
        p.push(0, first, now);
        p.push(1, Entry::new("second", vec![3; second + 1]), now);
        let closed = drain(&mut p);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].users, [0]);
        assert!(closed[0].entry.size() < MAX_RECORD_BYTES);
        p.flush_all();
        let next = drain(&mut p);
        assert_eq!(
            (next[0].users.clone(), next[0].entry.partition_key.clone()),
            (vec![1], "second".to_string())
        );
        assert!(next[0].entry.size() <= MAX_RECORD_BYTES);
    }

    #[test]
    fn open_aggregates_are_flushed_after_the_linger_time() {
        let mut p = packer(2);
        let t0 = Instant::now();
        p.push(0, Entry::new("a", "x"), t0);
        p.push(1, Entry::new("b", "y"), t0 + Duration::from_millis(50));
        assert_eq!(p.next_due(), Some(t0 + AGGREGATE_LINGER));
        p.flush_due(t0 + AGGREGATE_LINGER - Duration::from_millis(1));
        assert!(!p.has_ready());
        p.flush_due(t0 + AGGREGATE_LINGER);
        assert_eq!(
            drain(&mut p)
                .iter()
                .map(|p| p.users.clone())
                .collect::<Vec<_>>(),
            [vec![0]]
        );
        assert_eq!(p.next_due(), Some(t0 + Duration::from_millis(150)));
        // A record added later does not postpone the aggregate it joins.
        p.push(2, Entry::new("b", "z"), t0 + Duration::from_millis(140));
        p.flush_due(t0 + Duration::from_millis(150));
        assert_eq!(drain(&mut p)[0].users, [1, 2]);
        assert_eq!(p.next_due(), None);
    }

    #[test]
    fn open_aggregates_stay_within_their_memory_bound() {
        let mut p = Packer::with_limits(
            ShardMap::uniform(2),
            AGGREGATE_LINGER,
            MAX_RECORD_BYTES,
            1000,
        );
        let now = Instant::now();
        p.push(0, Entry::new("a", vec![0; 400]), now);
        p.push(1, Entry::new("b", vec![0; 300]), now);
        assert!(!p.has_ready());
        p.push(2, Entry::new("b", vec![0; 300]), now);
        // Over the bound: the fullest (shard 1, 600 bytes of data) is closed.
        let closed = drain(&mut p);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].users, [1, 2]);
        assert_eq!(p.held_users(), 1);
    }

    #[test]
    fn aggregates_wait_for_more_input_while_it_keeps_coming() {
        let now = Arc::new(Mutex::new(Instant::now()));
        let clock = Arc::clone(&now);
        let advance = |by: Duration| *now.lock().unwrap() += by;
        // Two 100-byte records under "a" fill an aggregate; a third starts the next.
        let mut two = Aggregator::new();
        two.push("a", None, vec![0; 100]);
        two.push("a", None, vec![0; 100]);
        let max_record = two.encoded_len() + 1;
        let keys = ["a", "b", "a", "a", "a", "a"];
        let input: Vec<Entry> = keys.iter().map(|k| Entry::new(*k, vec![0; 100])).collect();
        let mut source = Aggregating {
            inner: input.into_iter(),
            inner_done: false,
            packer: Packer::with_limits(
                ShardMap::uniform(2),
                AGGREGATE_LINGER,
                max_record,
                MAX_OPEN_BYTES,
            ),
            pulled: 0,
            handed: 0,
            book: Arc::new(Mutex::new(Book::default())),
            clock: Box::new(move || *clock.lock().unwrap()),
        };
        let next_users = |source: &mut Aggregating<_>| {
            let Poll::Ready(Some(entry)) = source.next_record() else {
                panic!("a record")
            };
            users_of(&entry).len()
        };
        // Records 0 and 2 fill shard 0's aggregate; record 3 opens the next.
        assert_eq!(next_users(&mut source), 2);
        // Longer than the linger time passes before the engine asks again (its shards were
        // full): the input did not pause, so the open aggregates are filled, not flushed.
        advance(Duration::from_secs(1));
        assert_eq!(next_users(&mut source), 2, "records 3 and 4, not 3 alone");
        // Shard 1's lone record (and record 5) go once they are too old.
        advance(AGGREGATE_MAX_AGE);
        assert_eq!(next_users(&mut source), 1);
        assert_eq!(next_users(&mut source), 1);
        assert_eq!(source.next_record(), Poll::Ready(None));
        assert_eq!(lock(&source.book).records.len(), 4);
    }

    /// Fails every Kinesis record whose partition key is `doomed` for good, and throttles
    /// every other one on its first attempt.
    #[derive(Default)]
    struct Fake {
        doomed: &'static str,
        calls: Mutex<Vec<Entry>>,
    }

    impl PutRecords for Fake {
        async fn put_records(&self, entries: &[Entry]) -> Result<Vec<EntryResult>, CallError> {
            tokio::task::yield_now().await;
            let mut calls = self.calls.lock().unwrap();
            Ok(entries
                .iter()
                .map(|e| {
                    let again = calls.contains(e);
                    calls.push(e.clone());
                    if e.partition_key == self.doomed {
                        EntryResult::Failed {
                            code: "KMSAccessDeniedException".into(),
                            message: "denied".into(),
                            retryable: false,
                        }
                    } else if !again {
                        EntryResult::Failed {
                            code: THROTTLED.into(),
                            message: "Rate exceeded".into(),
                            retryable: true,
                        }
                    } else {
                        EntryResult::Ok {
                            shard_id: format!("shardId-{}", u8::from(e.hash_key() != 0)),
                            sequence_number: "1".into(),
                        }
                    }
                })
                .collect())
        }
    }

    fn opts() -> PutOptions {
        PutOptions {
            shards: Some(ShardMap::uniform(2)),
            backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            seed: Some(7),
            ..PutOptions::default()
        }
    }

    #[tokio::test]
    async fn every_user_record_is_acknowledged_or_reported_failed() {
        let fake = Fake {
            doomed: "b",
            ..Fake::default()
        };
        // 10 user records for shard 0 ("a"), 5 for shard 1 ("b"), interleaved.
        let input: Vec<Entry> = (0..15)
            .map(|i| Entry::new(if i % 3 == 1 { "b" } else { "a" }, format!("r{i}")))
            .collect();
        let (mut acked, mut failed, mut retried) = (HashSet::new(), HashSet::new(), 0);
        let summary =
            put_aggregated(
                &fake,
                input.into_iter(),
                &opts(),
                &Stop::new(),
                &mut |e| match e {
                    Event::Acked { index, .. } => assert!(acked.insert(index)),
                    Event::GaveUp { index, code, .. } => {
                        assert_eq!(code, "KMSAccessDeniedException");
                        assert!(failed.insert(index));
                    }
                    Event::Retrying { .. } => retried += 1,
                    Event::Sent { .. } => {}
                },
            )
            .await;
        assert_eq!(failed, (0..15).filter(|i| i % 3 == 1).collect());
        assert_eq!(acked, (0..15).filter(|i| i % 3 != 1).collect());
        assert_eq!(
            (summary.records, summary.acknowledged, summary.not_written),
            (15, 10, 5)
        );
        assert_eq!(
            summary.errors,
            BTreeMap::from([("KMSAccessDeniedException".to_string(), 5)])
        );
        // The shard-0 aggregate was throttled once: its 10 user records were retried.
        assert_eq!((summary.retries, summary.throttled, retried), (10, 10, 10));
        assert_eq!(
            summary.per_shard,
            BTreeMap::from([("shardId-0".to_string(), 10)])
        );
        let user_bytes: u64 = (0..15)
            .filter(|i| i % 3 != 1)
            .map(|i| 1 + format!("r{i}").len() as u64)
            .sum();
        assert_eq!(summary.bytes, user_bytes);
        let aggregated = summary.aggregated.expect("aggregated counts");
        assert_eq!((aggregated.records, aggregated.acknowledged), (2, 1));
        // Three calls: both aggregates, the retry of the throttled one.
        assert_eq!(summary.calls, 2);
        assert_eq!(fake.calls.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_slow_input_is_not_held_back() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (source, _stats) = LineSource::spawn(
            Box::new(reader),
            LineKey::Fixed("k".into()),
            "stdin".into(),
            |_| {},
        )
        .unwrap();
        let fake = Fake::default();
        let opts = opts();
        let (stop, mut observe) = (Stop::new(), |_: Event<'_>| {});
        let put = put_aggregated(&fake, source, &opts, &stop, &mut observe);
        let feed = async {
            std::io::Write::write_all(&mut writer, b"one\ntwo\n").unwrap();
            let started = std::time::Instant::now();
            // The input stays open: the linger time alone sends the records.
            while fake.calls.lock().unwrap().is_empty() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "records held back"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let first = fake.calls.lock().unwrap()[0].clone();
            let data: Vec<Vec<u8>> = users_of(&first).into_iter().map(|u| u.data).collect();
            assert_eq!(data, [b"one".to_vec(), b"two".to_vec()]);
            drop(writer);
        };
        let (summary, ()) = tokio::join!(put, feed);
        assert_eq!((summary.records, summary.acknowledged), (2, 2));
    }

    #[tokio::test]
    async fn a_stopped_put_counts_the_user_records_it_never_sent() {
        let fake = Fake::default();
        let stop = Stop::new();
        stop.trigger(crate::interrupt::Signal::Interrupt);
        let input: Vec<Entry> = (0..7).map(|i| Entry::new("a", format!("r{i}"))).collect();
        let summary = put_aggregated(&fake, input.into_iter(), &opts(), &stop, &mut |_| {}).await;
        assert_eq!((summary.records, summary.not_written), (7, 7));
        assert_eq!(summary.errors, BTreeMap::from([(NOT_SENT.to_string(), 7)]));
    }
}
