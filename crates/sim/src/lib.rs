//! A Kinesis PutRecords simulator for the producer benchmark (`benches/put.rs`) and tests:
//! no network, but Kinesis's routing and write limits. A test-support crate, so it never
//! ships in the `kstream` library.
//!
//! - Each record goes to the shard whose hash key range holds its explicit hash key, or else
//!   the MD5 of its partition key.
//! - Each shard accepts at most 1,000 records and 1 MiB (data plus partition keys) in any
//!   sliding one-second window; the excess entries fail with
//!   `ProvisionedThroughputExceededException` while the rest of the call succeeds, as AWS does.
//! - A call takes a small random latency; records count against the window when they arrive,
//!   halfway through it.
//! - A call that breaks the API limits (more than 500 records or 5 MiB, an invalid record)
//!   fails whole with `InvalidArgumentException`, so a benchmark also checks the batching.
//!
//! It also keeps the books a benchmark needs: records received, accepted, throttled, and
//! distinct records accepted (a record accepted twice would be a duplicate). It deaggregates
//! every KPL aggregated record it accepts (`kstream_contract::kpl`) and counts its user
//! records too: distinct ones, and those that sit in a shard their own hash key does not
//! route to (`misrouted`), so an aggregating producer is checked at the user-record level.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use md5::{Digest as _, Md5};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

use kstream_contract::kpl;

use kstream::producer::{
    CallError, Entry, EntryResult, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, PutRecords, ShardLimits,
    ShardMap, THROTTLED, validate,
};

/// Simulated stream settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Open shards, splitting the hash key space evenly.
    pub shards: u32,
    /// Per-shard write limits enforced over a sliding window.
    pub limits: ShardLimits,
    /// Shortest latency of a call.
    pub latency: Duration,
    /// Random extra latency of a call, up to this much.
    pub jitter: Duration,
    /// Seed of the latency jitter.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            shards: 2,
            limits: ShardLimits::KINESIS,
            latency: Duration::from_millis(15),
            jitter: Duration::from_millis(10),
            seed: 1,
        }
    }
}

/// What the simulator saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// PutRecords calls.
    pub calls: u64,
    /// Entries received, retries included.
    pub received: u64,
    /// Entries written.
    pub accepted: u64,
    /// Entries refused with `ProvisionedThroughputExceededException`.
    pub throttled: u64,
    /// Distinct records written (by partition key and data).
    pub distinct: u64,
    /// Entries written per shard.
    pub per_shard: Vec<u64>,
    /// User records in the written entries (an aggregated record holds many, a plain one is
    /// one).
    pub user_records: u64,
    /// Distinct user records written (by partition key and data).
    pub distinct_users: u64,
    /// Written user records whose own hash key (explicit, else the MD5 of their partition
    /// key) belongs to another shard than the one their aggregated record went to.
    pub misrouted: u64,
    /// Written records that start like an aggregated record but do not decode.
    pub invalid_aggregates: u64,
}

/// A simulated PROVISIONED stream; see the module docs.
#[derive(Debug)]
pub struct Simulator {
    map: ShardMap,
    config: SimConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    windows: Vec<VecDeque<(Instant, u64)>>,
    bytes: Vec<u64>,
    rng: StdRng,
    seen: HashSet<[u8; 16]>,
    seen_users: HashSet<[u8; 16]>,
    /// Accepted aggregated records not yet deaggregated, with their shard.
    aggregates: Vec<(usize, Entry)>,
    stats: SimStats,
}

impl Simulator {
    /// A stream of `config.shards` shards.
    pub fn new(config: SimConfig) -> Simulator {
        let map = ShardMap::uniform(config.shards);
        let n = map.len();
        Simulator {
            map,
            state: Mutex::new(State {
                windows: vec![VecDeque::new(); n],
                bytes: vec![0; n],
                rng: StdRng::seed_from_u64(config.seed),
                seen: HashSet::new(),
                seen_users: HashSet::new(),
                aggregates: Vec::new(),
                stats: SimStats {
                    per_shard: vec![0; n],
                    ..SimStats::default()
                },
            }),
            config,
        }
    }

    /// The shards, as ListShards would report them.
    pub fn shard_map(&self) -> &ShardMap {
        &self.map
    }

    /// What happened so far.
    pub fn stats(&self) -> SimStats {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        for (shard, entry) in std::mem::take(&mut state.aggregates) {
            self.count_users(state, &entry, shard);
        }
        state.stats.clone()
    }

    fn latency(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.config.latency + self.config.jitter.mul_f64(state.rng.random::<f64>())
    }

    /// Route and admit (or throttle) every entry of one call, at `now`.
    fn admit(&self, entries: &[Entry], now: Instant) -> Vec<EntryResult> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        let limits = self.config.limits;
        state.stats.calls += 1;
        state.stats.received += entries.len() as u64;
        entries
            .iter()
            .map(|e| {
                let shard = self.map.shard_of_hash(e.hash_key()).unwrap_or(0);
                let (window, bytes) = (&mut state.windows[shard], &mut state.bytes[shard]);
                while let Some(&(at, b)) = window.front() {
                    if now.duration_since(at) < limits.window {
                        break;
                    }
                    window.pop_front();
                    *bytes -= b;
                }
                let size = e.size() as u64;
                if window.len() as u64 >= limits.records || *bytes + size > limits.bytes {
                    state.stats.throttled += 1;
                    return EntryResult::Failed {
                        code: THROTTLED.into(),
                        message: format!(
                            "Rate exceeded for shard {} in stream sim under account 000000000000.",
                            self.map.shards()[shard].shard_id
                        ),
                        retryable: true,
                    };
                }
                window.push_back((now, size));
                *bytes += size;
                state.stats.accepted += 1;
                state.stats.per_shard[shard] += 1;
                if state.seen.insert(record_digest(&e.partition_key, &e.data)) {
                    state.stats.distinct += 1;
                }
                if kpl::is_aggregated(&e.data) {
                    // Deaggregated when the stats are read, not while the call is timed.
                    state.aggregates.push((shard, e.clone()));
                } else {
                    self.count_users(state, e, shard);
                }
                EntryResult::Ok {
                    shard_id: self.map.shards()[shard].shard_id.clone(),
                    sequence_number: format!("{:02}{:054}", shard, state.stats.per_shard[shard]),
                }
            })
            .collect()
    }
}

impl Simulator {
    /// Count the user records of a written record that went to shard `shard`.
    fn count_users(&self, state: &mut State, e: &Entry, shard: usize) {
        let users = match kpl::decode(&e.data) {
            Ok(Some(users)) => users,
            Ok(None) => vec![kpl::UserRecord {
                partition_key: e.partition_key.clone(),
                explicit_hash_key: e.explicit_hash_key.map(|h| h.to_string()),
                data: e.data.clone(),
            }],
            Err(_) => {
                state.stats.invalid_aggregates += 1;
                return;
            }
        };
        for user in users {
            state.stats.user_records += 1;
            let hash = match &user.explicit_hash_key {
                Some(h) => h.parse::<u128>().ok(),
                None => Some(kstream::producer::hash_key(&user.partition_key)),
            };
            if hash.and_then(|h| self.map.shard_of_hash(h)) != Some(shard) {
                state.stats.misrouted += 1;
            }
            if state
                .seen_users
                .insert(record_digest(&user.partition_key, &user.data))
            {
                state.stats.distinct_users += 1;
            }
        }
    }
}

/// Identity of a record: its partition key and data.
fn record_digest(partition_key: &str, data: &[u8]) -> [u8; 16] {
    let mut digest = Md5::new();
    digest.update(partition_key.as_bytes());
    digest.update([0]);
    digest.update(data);
    digest.finalize().into()
}

fn invalid(message: String) -> CallError {
    CallError {
        code: "InvalidArgumentException".into(),
        message,
        retryable: false,
        stream_not_found: false,
    }
}

impl PutRecords for Simulator {
    async fn put_records(&self, entries: &[Entry]) -> Result<Vec<EntryResult>, CallError> {
        if entries.is_empty() || entries.len() > MAX_BATCH_RECORDS {
            return Err(invalid(format!("{} records in one call", entries.len())));
        }
        let bytes: usize = entries.iter().map(Entry::size).sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(invalid(format!("{bytes} bytes in one call")));
        }
        if let Some(e) = entries.iter().find_map(|e| validate(e).err()) {
            return Err(invalid(e.to_string()));
        }
        let latency = self.latency();
        tokio::time::sleep(latency / 2).await;
        let results = self.admit(entries, Instant::now());
        tokio::time::sleep(latency - latency / 2).await;
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use kstream::producer::{Backoff, PutOptions, put_all};

    use super::*;

    fn sim(records: u64, bytes: u64) -> Simulator {
        Simulator::new(SimConfig {
            shards: 2,
            limits: ShardLimits {
                records,
                bytes,
                window: Duration::from_millis(100),
            },
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 1,
        })
    }

    fn ok(results: &[EntryResult]) -> usize {
        results
            .iter()
            .filter(|r| matches!(r, EntryResult::Ok { .. }))
            .count()
    }

    #[tokio::test]
    async fn throttles_the_excess_entries_of_a_shard_only() {
        let sim = sim(3, 1 << 20);
        // "a" hashes to shard 0, "b" to shard 1.
        let mut entries: Vec<Entry> = (0..5).map(|i| Entry::new("a", format!("{i}"))).collect();
        entries.push(Entry::new("b", "x"));
        let results = sim.put_records(&entries).await.unwrap();
        assert_eq!(ok(&results[..5]), 3);
        assert!(
            matches!(&results[3], EntryResult::Failed { code, retryable: true, .. } if code == THROTTLED)
        );
        assert!(
            matches!(&results[5], EntryResult::Ok { shard_id, .. } if shard_id == "shardId-000000000001")
        );
        let stats = sim.stats();
        assert_eq!(
            (stats.accepted, stats.throttled, stats.per_shard.clone()),
            (4, 2, vec![3, 1])
        );
    }

    #[tokio::test]
    async fn the_window_slides() {
        let sim = sim(2, 1 << 20);
        let entries = vec![
            Entry::new("a", "1"),
            Entry::new("a", "2"),
            Entry::new("a", "3"),
        ];
        assert_eq!(ok(&sim.put_records(&entries).await.unwrap()), 2);
        assert_eq!(ok(&sim.put_records(&entries[2..]).await.unwrap()), 0);
        tokio::time::sleep(Duration::from_millis(110)).await;
        assert_eq!(ok(&sim.put_records(&entries[2..]).await.unwrap()), 1);
        assert_eq!(sim.stats().distinct, 3);
    }

    #[tokio::test]
    async fn byte_limit_counts_partition_keys() {
        let sim = sim(1000, 10);
        let entries = vec![Entry::new("a", "12345678"), Entry::new("a", "1")];
        let results = sim.put_records(&entries).await.unwrap();
        // 8 + 1 bytes fit; another 1 + 1 would make 11.
        assert_eq!(ok(&results), 1);
    }

    #[tokio::test]
    async fn explicit_hash_keys_route_and_share_the_shard_limits() {
        let sim = sim(3, 1 << 20);
        // "a" hashes to shard 0; an explicit hash key at the top of the range sends it to 1.
        let top = Entry::new("a", "x").with_explicit_hash_key(u128::MAX);
        let entries: Vec<Entry> = (0..4)
            .map(|i| top.clone().with_explicit_hash_key(u128::MAX - i))
            .collect();
        let results = sim.put_records(&entries).await.unwrap();
        assert_eq!(
            ok(&results),
            3,
            "shard 1's record limit applies by explicit hash key"
        );
        assert!(
            matches!(&results[0], EntryResult::Ok { shard_id, .. } if shard_id == "shardId-000000000001")
        );
        let stats = sim.stats();
        assert_eq!(stats.per_shard, vec![0, 3]);
        // Plain records routed by explicit hash key are where their own hash key says.
        assert_eq!((stats.user_records, stats.misrouted), (3, 0));
    }

    #[tokio::test]
    async fn aggregated_records_count_one_against_the_limits_and_are_deaggregated() {
        let sim = sim(2, 1 << 20);
        let mut agg = kpl::Aggregator::new();
        for i in 0..5 {
            agg.push("a", None, format!("u{i}").into_bytes());
        }
        agg.push("b", None, b"elsewhere".to_vec());
        let packed = Entry::new("a", agg.finish()).with_explicit_hash_key(0);
        let results = sim
            .put_records(&[packed.clone(), Entry::new("a", "1")])
            .await
            .unwrap();
        assert_eq!(ok(&results), 2, "six user records count as one record");
        let stats = sim.stats();
        assert_eq!(stats.user_records, 7);
        assert_eq!(stats.distinct_users, 7);
        // "b" hashes to shard 1, but its aggregated record went to shard 0.
        assert_eq!(stats.misrouted, 1);
        let third = sim.put_records(&[packed]).await.unwrap();
        assert_eq!(ok(&third), 0, "the third record of the window is throttled");
    }

    #[tokio::test]
    async fn calls_over_the_api_limits_fail_whole() {
        let sim = sim(1000, 1 << 20);
        let many: Vec<Entry> = (0..501).map(|i| Entry::new("a", format!("{i}"))).collect();
        let err = sim.put_records(&many).await.unwrap_err();
        assert_eq!(err.code, "InvalidArgumentException");
        assert!(!err.retryable);
        let bad = [Entry::new("", "x")];
        assert!(sim.put_records(&bad).await.is_err());
    }

    #[tokio::test]
    async fn the_producer_keeps_up_with_a_rate_while_calls_take_time() {
        let sim = Simulator::new(SimConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..SimConfig::default()
        });
        let opts = PutOptions {
            rate: Some(1000.0),
            concurrency: 4,
            shards: Some(sim.shard_map().clone()),
            backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            seed: Some(7),
            ..PutOptions::default()
        };
        let records: Vec<Entry> = (0..500)
            .map(|i| Entry::new(format!("k{i}"), format!("record-{i}")))
            .collect();
        let summary = put_all(&sim, records, &opts, &mut |_| {}).await;
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
}
