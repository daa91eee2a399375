//! Can the consumer keep up with the stream? The stream's write capacity against an estimate of
//! what the event source mapping and the function can read. Pure arithmetic on the config.
//!
//! The read estimate takes the smallest of three bounds:
//! - **polling**: Lambda polls each shard about once a second, with `parallelization_factor`
//!   batches of at most `batch_size` records in flight per shard;
//! - **CPU**: a function gets CPU in proportion to its memory (one vCPU at 1,769 MB), and the
//!   consumer spends [`CPU_US_PER_RECORD`] of it per record;
//! - **reading**: a shard serves at most 2 MiB/s to its readers (estimated at the stream's full
//!   write rate, 1 KiB records).

use serde::Serialize;

use crate::config::StreamMode;
use crate::model::Desired;

/// Records per second one shard accepts.
pub const SHARD_WRITE_RECORDS: u64 = 1_000;
/// Bytes per second one shard accepts.
pub const SHARD_WRITE_BYTES: u64 = 1024 * 1024;
/// Bytes per second one shard serves to its readers.
const SHARD_READ_BYTES: u64 = 2 * 1024 * 1024;
/// Memory at which a function has one full vCPU (AWS Lambda documentation).
const MB_PER_VCPU: u64 = 1_769;
/// CPU the consumer spends per 100-byte record, in microseconds, as its benchmark measured
/// (`cargo bench --bench consumer`, README "Consumer benchmark": 94 µs on a quiet machine,
/// more under load; rounded up).
pub const CPU_US_PER_RECORD: u64 = 100;
/// Shards an on-demand stream starts with (4 MiB/s of writes), before it has been observed.
const ON_DEMAND_INITIAL_SHARDS: u64 = 4;

/// What limits the consumer's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// One poll per second per shard and parallel batch.
    Polling,
    /// The function's CPU at its memory size.
    Cpu,
    /// The shard's 2 MiB/s read limit.
    ShardReads,
}

/// The stream's write capacity next to the consumer's estimated read capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// Shards counted (on-demand: the open ones, or the 4 a new stream starts with).
    pub shards: u64,
    /// Records per second the stream accepts.
    pub write_records_per_s: u64,
    /// Bytes per second the stream accepts.
    pub write_bytes_per_s: u64,
    /// Records per second the consumer can read, estimated.
    pub read_records_per_s: u64,
    /// The bound that sets `read_records_per_s`.
    pub bound: Bound,
}

impl Capacity {
    /// The estimate for `desired`; `open_shards` is what the stream has now, if it exists.
    pub fn estimate(desired: &Desired, open_shards: Option<u32>) -> Capacity {
        let consumer = &desired.consumer;
        let shards = match desired.stream.mode {
            StreamMode::Provisioned => u64::from(desired.stream.shard_count),
            StreamMode::OnDemand => open_shards.map_or(ON_DEMAND_INITIAL_SHARDS, u64::from),
        };
        let readers = shards * u64::from(consumer.parallelization_factor);
        let polling = readers * u64::from(consumer.batch_size);
        // Microseconds of CPU per second per invocation: memory / 1,769 MB of a vCPU.
        let cpu_us_per_s = u64::from(consumer.memory_mb) * 1_000_000 / MB_PER_VCPU;
        let cpu = readers * cpu_us_per_s / CPU_US_PER_RECORD;
        let shard_reads = shards * SHARD_READ_BYTES / 1024;
        let (read, bound) = [
            (polling, Bound::Polling),
            (cpu, Bound::Cpu),
            (shard_reads, Bound::ShardReads),
        ]
        .into_iter()
        .min_by_key(|(n, _)| *n)
        .unwrap_or((polling, Bound::Polling));
        Capacity {
            shards,
            write_records_per_s: shards * SHARD_WRITE_RECORDS,
            write_bytes_per_s: shards * SHARD_WRITE_BYTES,
            read_records_per_s: read,
            bound,
        }
    }

    /// Whether the consumer keeps up with the stream at its full write rate.
    pub fn keeps_up(&self) -> bool {
        self.read_records_per_s >= self.write_records_per_s
    }

    /// One line for the plan.
    pub fn describe(&self) -> String {
        format!(
            "capacity: the stream takes {} records/s and {} MiB/s ({} shard{}); the consumer reads about {} records/s ({})",
            super::render::thousands_u64(self.write_records_per_s),
            self.write_bytes_per_s / SHARD_WRITE_BYTES,
            self.shards,
            if self.shards == 1 { "" } else { "s" },
            super::render::thousands_u64(self.read_records_per_s),
            match self.bound {
                Bound::Polling => "bound by one poll per second per shard",
                Bound::Cpu => "bound by the function's CPU at its memory",
                Bound::ShardReads => "bound by 2 MiB/s of reads per shard",
            }
        )
    }

    /// The warning when the consumer cannot keep up, naming the setting to change.
    pub fn warning(&self) -> Option<String> {
        if self.keeps_up() {
            return None;
        }
        let change = match self.bound {
            Bound::Polling => "raise `consumer.batch_size` or `consumer.parallelization_factor`",
            Bound::Cpu => "raise `consumer.memory_mb` or `consumer.parallelization_factor`",
            // Reading cannot go faster than the shards serve; only more shards help.
            Bound::ShardReads => "raise `stream.shard_count`",
        };
        Some(format!(
            "the consumer cannot keep up with the stream at its full write rate ({} of {} records/s): {change}",
            super::render::thousands_u64(self.read_records_per_s),
            super::render::thousands_u64(self.write_records_per_s),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(stream: &str, consumer: &str) -> Desired {
        let text = format!(
            "name = \"cap\"\n[stream]\nname = \"cap-stream\"\n{stream}\n[bucket]\nname = \"cap-bucket\"\n[consumer]\n{consumer}\n"
        );
        let config = crate::config::parse(&text, std::path::Path::new("deploy.toml")).unwrap();
        Desired::new(&config, "us-east-1".into(), "000000000000".into(), None)
    }

    #[test]
    fn the_defaults_are_bound_by_polling() {
        // 2 shards × 1 batch × 100 records per poll = 200/s; CPU at 128 MB would allow
        // 2 × 72,357 µs/s ÷ 100 µs = 1,447/s.
        let c = Capacity::estimate(&desired("", ""), None);
        assert_eq!(c.shards, 2);
        assert_eq!(c.write_records_per_s, 2_000);
        assert_eq!(c.write_bytes_per_s, 2 * 1024 * 1024);
        assert_eq!((c.read_records_per_s, c.bound), (200, Bound::Polling));
        assert!(!c.keeps_up());
        let warning = c.warning().unwrap();
        assert!(warning.contains("(200 of 2,000 records/s)"), "{warning}");
        assert!(warning.contains("`consumer.batch_size`"), "{warning}");
    }

    #[test]
    fn large_batches_at_low_memory_are_bound_by_cpu() {
        let c = Capacity::estimate(&desired("", "batch_size = 1000"), None);
        // 128 MB: 128,000,000 / 1,769 = 72,357 µs of CPU per second per invocation.
        assert_eq!(
            (c.read_records_per_s, c.bound),
            (2 * 72_357 / 100, Bound::Cpu)
        );
        assert!(c.warning().unwrap().contains("`consumer.memory_mb`"));
    }

    #[test]
    fn enough_memory_and_batch_keep_up() {
        let c = Capacity::estimate(
            &desired(
                "",
                "batch_size = 1000\nmemory_mb = 512\nparallelization_factor = 2",
            ),
            None,
        );
        // polling 4,000/s; CPU 4 × 289,428 / 100 = 11,577/s; reads 4,096/s.
        assert_eq!((c.read_records_per_s, c.bound), (4_000, Bound::Polling));
        assert!(c.keeps_up());
        assert_eq!(c.warning(), None);
        assert_eq!(
            c.describe(),
            "capacity: the stream takes 2,000 records/s and 2 MiB/s (2 shards); the consumer reads about 4,000 records/s (bound by one poll per second per shard)"
        );
    }

    #[test]
    fn huge_batches_meet_the_shard_read_limit() {
        let c = Capacity::estimate(
            &desired(
                "shard_count = 1",
                "batch_size = 10000\nmemory_mb = 10240\nparallelization_factor = 10",
            ),
            None,
        );
        assert_eq!((c.read_records_per_s, c.bound), (2_048, Bound::ShardReads));
        assert!(c.keeps_up());
    }

    #[test]
    fn on_demand_counts_the_open_shards_or_four() {
        let d = desired(
            "mode = \"on_demand\"",
            "batch_size = 1000\nmemory_mb = 1769",
        );
        assert_eq!(Capacity::estimate(&d, None).shards, 4);
        let c = Capacity::estimate(&d, Some(6));
        assert_eq!(c.shards, 6);
        assert_eq!(c.write_records_per_s, 6_000);
        assert_eq!((c.read_records_per_s, c.bound), (6_000, Bound::Polling));
    }
}
