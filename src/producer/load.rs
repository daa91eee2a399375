//! Generated load (`kstream put --count`, the benchmark): records of a chosen size with
//! random or a few distinct partition keys, made on demand so a large count costs no memory.

use std::str::FromStr;

use rand::distr::Alphanumeric;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use super::{Entry, MAX_RECORD_BYTES, RecordError, validate};

/// Partition keys of generated records (`--partition-keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKeys {
    /// A random key per record: spreads evenly over the shards.
    Random,
    /// `key-0` … `key-<N-1>`, in turn.
    Distinct(u64),
}

impl FromStr for PartitionKeys {
    type Err = String;

    fn from_str(s: &str) -> Result<PartitionKeys, String> {
        match s {
            "random" => Ok(PartitionKeys::Random),
            _ => match s.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(PartitionKeys::Distinct(n)),
                _ => Err(format!(
                    "expected `random` or a number of distinct keys (at least 1), got `{s}`"
                )),
            },
        }
    }
}

/// Partition key of each generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratedKey {
    /// The same key for every record.
    Fixed(String),
    /// One of [`PartitionKeys`].
    Keys(PartitionKeys),
}

impl GeneratedKey {
    /// The longest key this produces, in bytes.
    fn max_len(&self) -> usize {
        match self {
            GeneratedKey::Fixed(k) => k.len(),
            GeneratedKey::Keys(PartitionKeys::Random) => 32,
            GeneratedKey::Keys(PartitionKeys::Distinct(n)) => {
                "key-".len() + n.saturating_sub(1).to_string().len()
            }
        }
    }
}

/// Why a generator cannot make its records: one of them would break the Kinesis limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The fixed partition key is invalid.
    #[error("partition key: {0}")]
    Key(RecordError),
    /// `size` data bytes plus the longest key would exceed [`MAX_RECORD_BYTES`].
    #[error(
        "a {size}-byte record plus a {key_bytes}-byte partition key exceeds the {MAX_RECORD_BYTES}-byte (1 MiB) record limit"
    )]
    TooLarge {
        /// Data bytes per record.
        size: usize,
        /// Bytes of the longest partition key.
        key_bytes: usize,
    },
}

/// The load generator: `count` records of `size` bytes, printable ASCII, each starting with
/// its zero-padded number (so every record is distinct).
#[derive(Debug, Clone)]
pub struct Generator {
    count: u64,
    size: usize,
    key: GeneratedKey,
    next: u64,
    rng: SmallRng,
    filler: Vec<u8>,
}

const FILLER_BYTES: usize = 8192;

impl Generator {
    /// A generator of `count` records of `size` bytes; fails when a record would break the
    /// Kinesis limits.
    pub fn new(
        count: u64,
        size: usize,
        key: GeneratedKey,
        seed: u64,
    ) -> Result<Generator, LoadError> {
        if let GeneratedKey::Fixed(k) = &key {
            validate(&Entry::new(k.clone(), Vec::new())).map_err(LoadError::Key)?;
        }
        if size.saturating_add(key.max_len()) > MAX_RECORD_BYTES {
            return Err(LoadError::TooLarge {
                size,
                key_bytes: key.max_len(),
            });
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        let filler = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(FILLER_BYTES)
            .collect();
        Ok(Generator {
            count,
            size,
            key,
            next: 0,
            rng,
            filler,
        })
    }
}

impl Iterator for Generator {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.next >= self.count {
            return None;
        }
        let n = self.next;
        self.next += 1;
        let key = match &self.key {
            GeneratedKey::Fixed(k) => k.clone(),
            GeneratedKey::Keys(PartitionKeys::Random) => {
                format!("{:032x}", self.rng.random::<u128>())
            }
            GeneratedKey::Keys(PartitionKeys::Distinct(d)) => format!("key-{}", n % d),
        };
        let mut data = Vec::with_capacity(self.size);
        data.extend_from_slice(format!("{n:010} ").as_bytes());
        data.truncate(self.size);
        let mut offset = (n as usize).wrapping_mul(7919) % FILLER_BYTES;
        while data.len() < self.size {
            let take = (self.size - data.len()).min(FILLER_BYTES - offset);
            data.extend_from_slice(&self.filler[offset..offset + take]);
            offset = 0;
        }
        Some(Entry::new(key, data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.count - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_parse() {
        assert_eq!("random".parse(), Ok(PartitionKeys::Random));
        assert_eq!("8".parse(), Ok(PartitionKeys::Distinct(8)));
        assert!("0".parse::<PartitionKeys>().is_err());
        assert!("many".parse::<PartitionKeys>().is_err());
    }

    #[test]
    fn generator_makes_distinct_records_of_the_size() {
        let g = Generator::new(5, 40, GeneratedKey::Keys(PartitionKeys::Distinct(2)), 1).unwrap();
        assert_eq!(g.len(), 5);
        let entries: Vec<Entry> = g.collect();
        assert_eq!(entries.len(), 5);
        assert!(
            entries
                .iter()
                .all(|e| e.data.len() == 40 && e.data.is_ascii())
        );
        assert!(entries[3].data.starts_with(b"0000000003 "));
        let keys: Vec<&str> = entries.iter().map(|e| e.partition_key.as_str()).collect();
        assert_eq!(keys, ["key-0", "key-1", "key-0", "key-1", "key-0"]);
        let random: Vec<Entry> = Generator::new(3, 4, GeneratedKey::Keys(PartitionKeys::Random), 1)
            .unwrap()
            .collect();
        assert!(
            random
                .iter()
                .all(|e| e.partition_key.len() == 32 && e.data.len() == 4)
        );
        assert_ne!(random[0].partition_key, random[1].partition_key);
        let big: Vec<Entry> = Generator::new(1, 20000, GeneratedKey::Fixed("k".into()), 1)
            .unwrap()
            .collect();
        assert_eq!(big[0].data.len(), 20000);
    }

    #[test]
    fn generator_refuses_records_over_the_limit() {
        let err = Generator::new(
            1,
            MAX_RECORD_BYTES,
            GeneratedKey::Keys(PartitionKeys::Random),
            1,
        )
        .unwrap_err();
        assert_eq!(
            err,
            LoadError::TooLarge {
                size: MAX_RECORD_BYTES,
                key_bytes: 32
            }
        );
        assert!(
            Generator::new(1, MAX_RECORD_BYTES - 1, GeneratedKey::Fixed("k".into()), 1).is_ok()
        );
        // No size overflows the check.
        assert!(matches!(
            Generator::new(1, usize::MAX, GeneratedKey::Fixed("k".into()), 1),
            Err(LoadError::TooLarge { .. })
        ));
        assert_eq!(
            Generator::new(1, 1, GeneratedKey::Fixed(String::new()), 1).unwrap_err(),
            LoadError::Key(RecordError::EmptyKey)
        );
    }
}
