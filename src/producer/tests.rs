//! The engine's behaviour through [`put_all`], against an in-memory fake.

use std::collections::{BTreeMap, HashMap};
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
                stream_not_found: true,
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
    assert!(summary.stream_not_found);
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
async fn empty_input_makes_no_call() {
    let fake = Fake::default();
    let (summary, _) = run(&fake, Vec::new(), &fast()).await;
    assert_eq!(summary.calls, 0);
    assert!(fake.calls().is_empty());
    assert!(summary.complete());
}

#[tokio::test]
async fn a_stop_sends_nothing_more_and_counts_the_rest_as_not_sent() {
    use crate::interrupt::{Signal, Stop};
    let fake = Fake::default();
    let stop = Stop::new();
    stop.trigger(Signal::Interrupt);
    let summary = super::put_until(
        &fake,
        records(1200).into_iter(),
        &fast(),
        &stop,
        &mut |_| {},
    )
    .await;
    assert_eq!(summary.records, 1200);
    assert_eq!(summary.acknowledged, 0);
    assert_eq!(summary.not_written, 1200);
    assert_eq!(summary.calls, 0);
    assert_eq!(summary.errors.get(super::NOT_SENT), Some(&1200));
    assert!(
        summary
            .aborted
            .as_deref()
            .is_some_and(|a| a.starts_with("SIGINT received")),
        "{:?}",
        summary.aborted
    );
}

#[tokio::test]
async fn a_stop_mid_put_finishes_the_call_in_flight_and_sends_no_other() {
    use crate::interrupt::{Signal, Stop};
    let fake = Fake::default();
    let stop = Stop::new();
    let opts = PutOptions {
        concurrency: 1,
        ..fast()
    };
    let signal = stop.clone();
    // The signal arrives while the first call (500 records) is answered.
    let summary = super::put_until(&fake, records(1200).into_iter(), &opts, &stop, &mut |e| {
        if matches!(e, Event::Acked { .. }) {
            signal.trigger(Signal::Terminate);
        }
    })
    .await;
    assert_eq!(fake.calls().len(), 1);
    assert_eq!(summary.records, 1200);
    assert_eq!(summary.acknowledged, 500);
    assert_eq!(summary.errors.get(super::NOT_SENT), Some(&700));
    assert!(
        summary
            .aborted
            .as_deref()
            .is_some_and(|a| a.starts_with("SIGTERM received")),
        "{:?}",
        summary.aborted
    );
}
