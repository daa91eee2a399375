//! Producer throughput benchmark (`cargo bench --bench put`): the real producer engine
//! (`kstream::producer`) with the real load generator against the Kinesis PutRecords
//! simulator (the `kstream-sim` test-support crate in `crates/sim`, 2 shards, 1,000 records/s
//! and 1 MiB/s each over sliding one-second windows, 15–25 ms per call), printed as a
//! markdown table.
//!
//! With `AWS_ENDPOINT_URL` set (LocalStack) and `KSTREAM_BENCH_CONFIG` naming a config whose
//! stream exists, a second table compares `kstream put --count` with one
//! `aws kinesis put-record` process per record (the seed's way); it is skipped, with a note,
//! otherwise or when the `aws` CLI is missing.
//!
//! `KSTREAM_BENCH_SECONDS` (default 30) sets how long each simulator scenario should take at
//! the limit; `KSTREAM_BENCH_ONLY=<text>` runs only the scenarios whose name contains it.
//!
//! The `--aggregate` rows pack 100 B user records into KPL aggregated records per shard
//! (`kstream::producer::put_aggregated`). They count user records (records/s) and the
//! stream's bytes as the shard limits count them (the aggregated records and their partition
//! keys: MiB/s). The simulator deaggregates what it accepts: the row fails the benchmark if a
//! user record is lost, written twice, or sits in a shard its key does not hash to.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use kstream::interrupt::Stop;
use kstream::producer::{
    Event, GeneratedKey, Generator, PartitionKeys, PutOptions, ShardLimits, put_aggregated, put_all,
};
use kstream_sim::{SimConfig, Simulator};

const SHARDS: u32 = 2;

struct Scenario {
    name: &'static str,
    size: usize,
    keys: GeneratedKey,
    paced: bool,
    /// `kstream put --aggregate`.
    aggregate: bool,
    /// Records/s the stream can take for this scenario (for sizing the run).
    ceiling: f64,
}

fn main() {
    let seconds: f64 = std::env::var("KSTREAM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30.0);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let limits = ShardLimits::KINESIS;
    let bytes_ceiling = |size: usize| limits.bytes as f64 / (size + 32) as f64;
    let scenarios = [
        Scenario {
            name: "100 B, random keys",
            size: 100,
            keys: GeneratedKey::Keys(PartitionKeys::Random),
            paced: true,
            aggregate: false,
            ceiling: 2000.0,
        },
        Scenario {
            name: "100 B, random keys, no shard map",
            size: 100,
            keys: GeneratedKey::Keys(PartitionKeys::Random),
            paced: false,
            aggregate: false,
            ceiling: 2000.0,
        },
        Scenario {
            name: "4 KiB, random keys (MiB/s-bound)",
            size: 4096,
            keys: GeneratedKey::Keys(PartitionKeys::Random),
            paced: true,
            aggregate: false,
            ceiling: 2.0 * bytes_ceiling(4096),
        },
        Scenario {
            name: "100 B, one key (one hot shard)",
            size: 100,
            keys: GeneratedKey::Keys(PartitionKeys::Distinct(1)),
            paced: true,
            aggregate: false,
            ceiling: 1000.0,
        },
        Scenario {
            // key-0 and key-2 hash to shard 0, key-1 and key-3 to shard 1.
            name: "100 B, 4 keys (2 per shard), `--aggregate`",
            size: 100,
            keys: GeneratedKey::Keys(PartitionKeys::Distinct(4)),
            paced: true,
            aggregate: true,
            // 2 MiB/s of about 106 bytes per user record in an aggregate.
            ceiling: 2.0 * limits.bytes as f64 / 106.0,
        },
        Scenario {
            name: "100 B, random keys, `--aggregate`",
            size: 100,
            keys: GeneratedKey::Keys(PartitionKeys::Random),
            paced: true,
            aggregate: true,
            // Each user record also brings its own 32-byte key into the aggregate's table.
            ceiling: 2.0 * limits.bytes as f64 / 140.0,
        },
    ];
    let only = std::env::var("KSTREAM_BENCH_ONLY").unwrap_or_default();

    println!("## `kstream put` against the PutRecords simulator ({SHARDS} shards)\n");
    println!(
        "| scenario | records sent | acknowledged | lost | Kinesis records | sim: entries received / distinct records written | calls | retries (throttled) | elapsed | records/s | MiB/s | % of 2,000 records/s | % of 2 MiB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut lost_total = 0;
    for s in scenarios.iter().filter(|s| s.name.contains(&only)) {
        let count = (s.ceiling * seconds).round() as u64;
        let sim = Simulator::new(SimConfig {
            shards: SHARDS,
            ..SimConfig::default()
        });
        let opts = PutOptions {
            shards: s.paced.then(|| sim.shard_map().clone()),
            seed: Some(42),
            ..PutOptions::default()
        };
        let generator = Generator::new(count, s.size, s.keys.clone(), 7).expect("generator");
        let mut last_ack = Instant::now();
        let started = Instant::now();
        let mut observe = |e: Event<'_>| {
            if let Event::Acked { .. } = e {
                last_ack = Instant::now();
            }
        };
        let summary = if s.aggregate {
            let stop = Stop::new();
            runtime.block_on(put_aggregated(&sim, generator, &opts, &stop, &mut observe))
        } else {
            runtime.block_on(put_all(&sim, generator, &opts, &mut observe))
        };
        let elapsed = last_ack - started;
        let stats = sim.stats();
        let lost = summary.records - summary.acknowledged;
        // Every user record written exactly once, in the shard its key hashes to.
        let written_wrong = (summary.acknowledged - stats.distinct_users.min(summary.acknowledged))
            + (stats.user_records - stats.distinct_users)
            + stats.misrouted
            + stats.invalid_aggregates;
        lost_total += lost + written_wrong;
        // Bytes as the shard limits count them: the aggregated records' when aggregating.
        let (kinesis_records, stream_bytes) = match summary.aggregated {
            Some(a) => (a.records, a.bytes),
            None => (summary.records, summary.bytes),
        };
        let secs = elapsed.as_secs_f64();
        let rps = summary.acknowledged as f64 / secs;
        let mibps = stream_bytes as f64 / (1024.0 * 1024.0) / secs;
        println!(
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} ({}) | {:.1} s | {:.0} | {:.2} | {:.1} % | {:.1} % |",
            s.name,
            summary.records,
            summary.acknowledged,
            lost,
            kinesis_records,
            stats.received,
            stats.distinct_users,
            summary.calls,
            summary.retries,
            summary.throttled,
            secs,
            rps,
            mibps,
            rps / 2000.0 * 100.0,
            mibps / 2.0 * 100.0,
        );
    }
    println!(
        "\nrecords/s = records acknowledged ÷ time to the last acknowledgement. The simulator's windows start empty, so each shard takes one window's worth at once at the start (as Kinesis does); random keys never split exactly evenly, so the fuller shard sets the end of the run. The \"one key\" row is bound by a single shard: 1,000 records/s is its ceiling. Lost = sent − acknowledged; the simulator's distinct count (of user records, deaggregated) shows no record was written twice. With `--aggregate`, records/s counts user records and MiB/s the stream's bytes as its limits count them (aggregated records and their partition keys)."
    );
    println!(
        "\nmachine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    if lost_total > 0 {
        eprintln!("error: {lost_total} records lost or duplicated");
        std::process::exit(1);
    }
    localstack();
}

fn kstream_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kstream"))
}

fn find_aws() -> Option<PathBuf> {
    let candidate = std::env::var_os("KSTREAM_BENCH_AWS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "aws".into());
    Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| candidate)
}

/// `kstream put --count` vs one `aws kinesis put-record` process per record, on LocalStack.
fn localstack() {
    println!("\n## LocalStack: `kstream put` vs one `aws kinesis put-record` process per record\n");
    let (Some(_), Some(config)) = (
        std::env::var_os("AWS_ENDPOINT_URL"),
        std::env::var_os("KSTREAM_BENCH_CONFIG"),
    ) else {
        println!(
            "skipped: set `AWS_ENDPOINT_URL` (see `scripts/localstack env`) and `KSTREAM_BENCH_CONFIG` to a config whose stream exists (`kstream apply`)"
        );
        return;
    };
    let config = PathBuf::from(config);
    let Some(aws) = find_aws() else {
        println!("skipped: no working `aws` CLI (set `KSTREAM_BENCH_AWS` to one)");
        return;
    };
    let Some(stream) = stream_name(&config) else {
        println!(
            "skipped: cannot read the stream name from `{}`",
            config.display()
        );
        return;
    };
    // LocalStack's Kinesis emulator slows down with concurrent clients: one call in flight.
    let records = 1000;
    let out = Command::new(kstream_bin())
        .args(["--config"])
        .arg(&config)
        .args([
            "--json",
            "put",
            "--count",
            &records.to_string(),
            "--size",
            "100",
            "--concurrency",
            "1",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run kstream");
    if !out.status.success() {
        println!("skipped: `kstream put` failed (does stream `{stream}` exist?)");
        return;
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kstream put --json");
    let k_rps = summary["records_per_sec"].as_f64().unwrap_or(0.0);
    let k_secs = summary["elapsed"].as_f64().unwrap_or(0.0);

    let per_process = 50;
    let started = Instant::now();
    let mut ok = 0;
    for i in 0..per_process {
        let status = Command::new(&aws)
            .args([
                "kinesis",
                "put-record",
                "--stream-name",
                &stream,
                "--partition-key",
            ])
            .arg(format!("bench-{i}"))
            .args(["--data", "aGVsbG8="])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            ok += 1;
        }
    }
    let a_secs = started.elapsed().as_secs_f64();
    let a_rps = ok as f64 / a_secs;
    println!("| method | records | written | elapsed | records/s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| `kstream put --count {records} --size 100 --concurrency 1` | {records} | {} | {:.1} s | {:.0} |",
        summary["acknowledged"], k_secs, k_rps
    );
    println!(
        "| `aws kinesis put-record`, one process per record | {per_process} | {ok} | {:.1} s | {:.1} |",
        a_secs, a_rps
    );
    if a_rps > 0.0 {
        println!(
            "\n`kstream put` is {:.0}× faster here (LocalStack's emulator, not AWS, bounds both).",
            k_rps / a_rps
        );
    }
}

/// The `[stream] name` of a config, via `kstream`'s own config loader.
fn stream_name(config: &Path) -> Option<String> {
    kstream::config::load(config).ok().map(|c| c.stream.name)
}
