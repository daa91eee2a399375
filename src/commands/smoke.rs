//! `kstream smoke`: an end-to-end check of a deployment, what CI runs after `apply`.
//!
//! Puts N records with unique markers (partition key `smoke-<run id>-<i>`), then polls the
//! bucket, with a deadline, until each record is an object with exactly the record's bytes.
//! The object of a record is found by its key: `<key_prefix><encoded partition key>-` then
//! the arrival time, then `-<sequence number>.txt` (the consumer's key rule, matched by
//! `kstream_contract`'s [`KeyRule::is_key_of`]). Prints the
//! put→object latency (p50/p95/max, measured from the put's acknowledgement to the poll that
//! saw the object, so within one poll interval) and fails naming every record that is
//! missing or different.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use kstream_contract::{KeyRule, encode_partition_key};
use serde::Serialize;
use serde_json::json;

use super::{Context, put};
use crate::aws::objects;
use crate::aws::records::StreamWriter;
use crate::cli::SmokeArgs;
use crate::producer::{Entry, Event, PutOptions, put_all};
use crate::ui::Progress;

/// First pause between listings; it grows to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
/// Largest pause between listings: also the resolution of the latencies measured.
const MAX_POLL: Duration = Duration::from_millis(250);
/// Most record names listed in an error.
const MAX_NAMED: usize = 20;

/// Latency percentiles (nearest rank), in seconds rounded to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median, in seconds.
    pub p50: f64,
    /// 95th percentile, in seconds.
    pub p95: f64,
    /// Largest, in seconds.
    pub max: f64,
}

/// Percentiles of `samples`, or `None` when there are none.
pub fn latency(samples: &[Duration]) -> Option<Latency> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = |q: f64| {
        let d = sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        (d.as_secs_f64() * 1000.0).round() / 1000.0
    };
    (!sorted.is_empty()).then(|| Latency {
        p50: rank(0.50),
        p95: rank(0.95),
        max: rank(1.0),
    })
}

/// The smoke records of run `run_id`: unique keys, data with the marker and non-ASCII bytes.
pub fn smoke_records(run_id: &str, count: u32) -> Vec<Entry> {
    (0..count)
        .map(|i| {
            let key = format!("smoke-{run_id}-{i}");
            let data = format!(
                "kstream smoke {run_id} record {i} of {count} ✓ {:016x}\n",
                rand::random::<u64>()
            );
            Entry::new(key, data)
        })
        .collect()
}

/// One smoke record's fate.
#[derive(Debug, Clone, Default)]
struct Tracked {
    sequence_number: Option<String>,
    acked_at: Option<Instant>,
    object: Option<String>,
    latency: Option<Duration>,
    different: bool,
}

/// Run `kstream smoke`.
pub(crate) async fn run(ctx: &Context, args: &SmokeArgs) -> Result<()> {
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let stream = config.stream.name.clone();
    let bucket = config.bucket.name.clone();
    let keys = KeyRule::new(config.consumer.key_prefix.as_str())
        .context("invalid `consumer.key_prefix`")?;
    let progress = Progress::stderr();
    let run_id = format!("{:08x}", rand::random::<u32>());
    let records = smoke_records(&run_id, args.count);
    let mut tracked = vec![Tracked::default(); records.len()];

    eprintln!(
        "kstream: smoke run `{run_id}`: putting {} records into stream `{stream}`",
        records.len()
    );
    let writer = StreamWriter::new(&clients, &stream);
    let opts = PutOptions {
        shards: put::shard_map(&writer, &progress).await?,
        ..PutOptions::default()
    };
    let summary = put_all(&writer, records.clone(), &opts, &mut |e| {
        if let Event::Acked {
            index,
            sequence_number,
            ..
        } = e
        {
            let t = &mut tracked[index as usize];
            t.sequence_number = Some(sequence_number.to_string());
            t.acked_at = Some(Instant::now());
        }
    })
    .await;
    put::check(&summary, &stream, opts.max_attempts)?;

    let what = format!("{} objects in bucket `{bucket}`", records.len());
    eprintln!(
        "kstream: all {} records put; checking the bucket for up to {}",
        records.len(),
        humantime::format_duration(args.timeout)
    );
    progress.waiting(&what);
    let started = Instant::now();
    let deadline = started + args.timeout;
    let list_prefix = format!(
        "{}{}",
        keys.prefix(),
        encode_partition_key(&format!("smoke-{run_id}-"))
    );
    let mut pause = FIRST_POLL;
    loop {
        let (listed, _) = objects::list(&clients, &bucket, &list_prefix, None).await?;
        let seen_at = Instant::now();
        for object in listed {
            // `smoke-<run>-<i>-…`: the record number follows the listing prefix.
            let Some(i) = object.key[list_prefix.len()..]
                .split('-')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| *i < records.len())
            else {
                continue;
            };
            let t = &mut tracked[i];
            let Some(seq) = &t.sequence_number else {
                continue;
            };
            if t.object.is_some() || !keys.is_key_of(&object.key, &records[i].partition_key, seq) {
                continue;
            }
            let body = objects::get(&clients, &bucket, &object.key).await?;
            t.different = body.as_deref() != Some(records[i].data.as_slice());
            t.latency = t.acked_at.map(|at| seen_at - at);
            t.object = Some(object.key);
        }
        let arrived = tracked.iter().filter(|t| t.object.is_some()).count();
        let now = Instant::now();
        if arrived == records.len() || now >= deadline {
            break;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 3 / 2).min(MAX_POLL);
    }
    progress.done(&what, started.elapsed());

    let name = |i: usize| records[i].partition_key.clone();
    let missing: Vec<String> = (0..records.len())
        .filter(|&i| tracked[i].object.is_none())
        .map(name)
        .collect();
    let different: Vec<String> = (0..records.len())
        .filter(|&i| tracked[i].different)
        .map(name)
        .collect();
    let samples: Vec<Duration> = tracked
        .iter()
        .filter(|t| !t.different)
        .filter_map(|t| t.latency)
        .collect();
    let stats = latency(&samples);
    let arrived = records.len() - missing.len() - different.len();
    let value = json!({
        "run_id": run_id,
        "stream": stream,
        "bucket": bucket,
        "records": records.len(),
        "arrived": arrived,
        "missing": missing,
        "different": different,
        "latency_s": stats,
        "objects": tracked.iter().map(|t| t.object.clone()).collect::<Vec<_>>(),
    });
    ctx.output.print(&value, || {
        let mut text = format!(
            "smoke `{run_id}`: {arrived} of {} records arrived as identical objects\n",
            records.len()
        );
        if let Some(l) = stats {
            let _ = writeln!(
                text,
                "put→object latency: p50 {:.2} s, p95 {:.2} s, max {:.2} s",
                l.p50, l.p95, l.max
            );
        }
        text
    })?;

    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of {} records did not arrive within {}: {}",
            missing.len(),
            records.len(),
            humantime::format_duration(args.timeout),
            names(&missing)
        ));
    }
    if !different.is_empty() {
        problems.push(format!(
            "{} object{} differ from the record put: {}",
            different.len(),
            if different.len() == 1 { "" } else { "s" },
            names(&different)
        ));
    }
    if !problems.is_empty() {
        bail!(
            "smoke run `{run_id}` failed: {}\n  hint: see the consumer's logs with `kstream logs --since 10m`",
            problems.join("; ")
        );
    }
    Ok(())
}

fn names(keys: &[String]) -> String {
    let mut text = keys
        .iter()
        .take(MAX_NAMED)
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > MAX_NAMED {
        let _ = write!(text, " and {} more", keys.len() - MAX_NAMED);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=20).map(|i| Duration::from_millis(i * 100)).collect();
        let l = latency(&samples).unwrap();
        assert_eq!((l.p50, l.p95, l.max), (1.0, 1.9, 2.0));
        let one = latency(&[Duration::from_millis(1500)]).unwrap();
        assert_eq!((one.p50, one.p95, one.max), (1.5, 1.5, 1.5));
        assert!(latency(&[]).is_none());
    }

    #[test]
    fn smoke_records_are_unique_and_marked() {
        let records = smoke_records("0a1b2c3d", 3);
        assert_eq!(records[2].partition_key, "smoke-0a1b2c3d-2");
        assert!(
            String::from_utf8(records[2].data.clone())
                .unwrap()
                .starts_with("kstream smoke 0a1b2c3d record 2 of 3 ✓ ")
        );
        assert_ne!(records[0].data, records[1].data);
    }

    #[test]
    fn error_names_are_bounded() {
        let keys: Vec<String> = (0..25).map(|i| format!("k{i}")).collect();
        let text = names(&keys);
        assert!(text.starts_with("`k0`, `k1`"));
        assert!(text.ends_with("`k19` and 5 more"));
    }
}
