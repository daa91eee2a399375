//! Routing records to shards as Kinesis does: the MD5 of the partition key, read as a 128-bit
//! hash key, falls in exactly one open shard's hash key range.

use md5::{Digest as _, Md5};
use serde::Serialize;

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
        self.shard_of_hash(hash_key(partition_key))
    }

    /// Index of the shard whose range holds the 128-bit hash key `hash`, if any.
    pub fn shard_of_hash(&self, hash: u128) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
