//! KPL aggregated records: many small user records packed into one Kinesis record.
//!
//! The format is the Kinesis Producer Library's (`proto/kpl.proto`, kept in this crate):
//!
//! ```text
//! F3 89 9A C2 | AggregatedRecord (protobuf) | MD5 of the protobuf (16 bytes)
//! ```
//!
//! The aggregated record has a table of partition keys (and one of explicit hash keys) and a
//! list of user records, each pointing into the tables by index. A user record's
//! *subsequence number* is its index in that list.
//!
//! - [`decode`] tells a plain record from an aggregated one and unpacks the latter. Data that
//!   starts with the magic but fails the digest, the protobuf or the table indexes is an
//!   [`InvalidAggregate`]: the consumer stores such a record as it is, never drops it.
//! - [`Aggregator`] packs user records and knows the exact size of the result before each
//!   push, so a producer can stay within Kinesis's 1 MiB record limit.
//!
//! The message types are derived by hand with `prost`, so no `protoc` is needed to build.

use std::collections::HashMap;

use md5::{Digest as _, Md5};
use prost::Message as _;
use prost::encoding::encoded_len_varint;

/// The first four bytes of every aggregated record.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Length of the MD5 digest that ends an aggregated record.
pub const DIGEST_BYTES: usize = 16;

/// `AggregatedRecord` of `proto/kpl.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregatedRecord {
    /// Partition keys, referred to by [`Record::partition_key_index`].
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    /// Explicit hash keys, referred to by [`Record::explicit_hash_key_index`].
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    /// The user records, in subsequence order.
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// `Record` of `proto/kpl.proto`: one user record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// Index into [`AggregatedRecord::partition_key_table`].
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    /// Index into [`AggregatedRecord::explicit_hash_key_table`].
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    /// The user record's data.
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    /// KPL tags (kept by the format, unused by kstream).
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// `Tag` of `proto/kpl.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tag {
    /// Tag key.
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Tag value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// One user record unpacked from an aggregated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user record's own partition key.
    pub partition_key: String,
    /// Its explicit hash key, if the producer set one.
    pub explicit_hash_key: Option<String>,
    /// Its data, exactly.
    pub data: Vec<u8>,
}

/// Data that starts with [`MAGIC`] but is not a valid aggregated record.
#[derive(Debug, thiserror::Error)]
pub enum InvalidAggregate {
    /// Shorter than the magic and the digest.
    #[error("aggregated record is {0} bytes long, shorter than its magic and MD5 digest")]
    TooShort(usize),
    /// The MD5 digest does not match the protobuf.
    #[error("aggregated record's MD5 digest does not match its content")]
    Digest,
    /// The protobuf does not decode as an `AggregatedRecord`.
    #[error("aggregated record's protobuf does not decode")]
    Protobuf(#[source] prost::DecodeError),
    /// The aggregated record holds no user record.
    #[error("aggregated record holds no user record")]
    Empty,
    /// A user record points outside the partition key table.
    #[error("user record {subsequence} points to partition key {index}, but the table has {len}")]
    PartitionKeyIndex {
        /// The user record's subsequence number.
        subsequence: usize,
        /// The index it holds.
        index: u64,
        /// The table's length.
        len: usize,
    },
    /// A user record points outside the explicit hash key table.
    #[error(
        "user record {subsequence} points to explicit hash key {index}, but the table has {len}"
    )]
    ExplicitHashKeyIndex {
        /// The user record's subsequence number.
        subsequence: usize,
        /// The index it holds.
        index: u64,
        /// The table's length.
        len: usize,
    },
}

/// Whether `data` starts like an aggregated record.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// The user records of `data`, in subsequence order, when `data` is an aggregated record;
/// `Ok(None)` when it is a plain record (no [`MAGIC`]).
pub fn decode(data: &[u8]) -> Result<Option<Vec<UserRecord>>, InvalidAggregate> {
    if !is_aggregated(data) {
        return Ok(None);
    }
    if data.len() < MAGIC.len() + DIGEST_BYTES {
        return Err(InvalidAggregate::TooShort(data.len()));
    }
    let (body, digest) = data[MAGIC.len()..].split_at(data.len() - MAGIC.len() - DIGEST_BYTES);
    if Md5::digest(body).as_slice() != digest {
        return Err(InvalidAggregate::Digest);
    }
    let message = AggregatedRecord::decode(body).map_err(InvalidAggregate::Protobuf)?;
    if message.records.is_empty() {
        return Err(InvalidAggregate::Empty);
    }
    let AggregatedRecord {
        partition_key_table: keys,
        explicit_hash_key_table: hash_keys,
        records,
    } = message;
    records
        .into_iter()
        .enumerate()
        .map(|(subsequence, record)| {
            let partition_key = usize::try_from(record.partition_key_index)
                .ok()
                .and_then(|index| keys.get(index))
                .ok_or(InvalidAggregate::PartitionKeyIndex {
                    subsequence,
                    index: record.partition_key_index,
                    len: keys.len(),
                })?
                .clone();
            let explicit_hash_key = match record.explicit_hash_key_index {
                None => None,
                Some(index) => Some(
                    usize::try_from(index)
                        .ok()
                        .and_then(|at| hash_keys.get(at))
                        .ok_or(InvalidAggregate::ExplicitHashKeyIndex {
                            subsequence,
                            index,
                            len: hash_keys.len(),
                        })?
                        .clone(),
                ),
            };
            Ok(UserRecord {
                partition_key,
                explicit_hash_key,
                data: record.data,
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Packs user records into one aggregated record, knowing its exact size at every step.
#[derive(Debug, Default)]
pub struct Aggregator {
    message: AggregatedRecord,
    keys: HashMap<String, u64>,
    hash_keys: HashMap<String, u64>,
    /// Encoded length of `message`.
    body_len: usize,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of user records pushed.
    pub fn len(&self) -> usize {
        self.message.records.len()
    }

    /// Whether no user record was pushed.
    pub fn is_empty(&self) -> bool {
        self.message.records.is_empty()
    }

    /// The partition key of the first user record (the KPL uses it for the Kinesis record).
    pub fn first_partition_key(&self) -> Option<&str> {
        self.message.partition_key_table.first().map(String::as_str)
    }

    /// The length [`finish`](Self::finish) would return now.
    pub fn encoded_len(&self) -> usize {
        MAGIC.len() + self.body_len + DIGEST_BYTES
    }

    /// The length [`finish`](Self::finish) would return after pushing a user record with
    /// these keys and `data_len` bytes of data.
    pub fn encoded_len_with(
        &self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data_len: usize,
    ) -> usize {
        self.encoded_len() + self.growth(partition_key, explicit_hash_key, data_len)
    }

    /// Adds a user record; its subsequence number is the [`len`](Self::len) before the push.
    pub fn push(&mut self, partition_key: &str, explicit_hash_key: Option<&str>, data: Vec<u8>) {
        self.body_len += self.growth(partition_key, explicit_hash_key, data.len());
        let partition_key_index = intern(
            &mut self.keys,
            &mut self.message.partition_key_table,
            partition_key,
        );
        let explicit_hash_key_index = explicit_hash_key.map(|hash_key| {
            intern(
                &mut self.hash_keys,
                &mut self.message.explicit_hash_key_table,
                hash_key,
            )
        });
        self.message.records.push(Record {
            partition_key_index,
            explicit_hash_key_index,
            data,
            tags: Vec::new(),
        });
    }

    /// The aggregated record's data: magic, protobuf and digest.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        // Encoding into a Vec cannot run out of room.
        let _ = self.message.encode(&mut out);
        let digest = Md5::digest(&out[MAGIC.len()..]);
        out.extend_from_slice(&digest);
        debug_assert_eq!(out.len(), MAGIC.len() + self.body_len + DIGEST_BYTES);
        out
    }

    /// Bytes the protobuf grows by with one more user record.
    fn growth(
        &self,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
        data_len: usize,
    ) -> usize {
        let (key_index, new_key) =
            lookup(&self.keys, &self.message.partition_key_table, partition_key);
        let mut record = 1 + encoded_len_varint(key_index) + 1 + length_delimited(data_len);
        let mut tables = new_key;
        if let Some(hash_key) = explicit_hash_key {
            let (index, new) = lookup(
                &self.hash_keys,
                &self.message.explicit_hash_key_table,
                hash_key,
            );
            record += 1 + encoded_len_varint(index);
            tables += new;
        }
        tables + 1 + length_delimited(record)
    }
}

/// A table entry's index, and the bytes a new entry adds (0 when it is already there).
fn lookup(index: &HashMap<String, u64>, table: &[String], value: &str) -> (u64, usize) {
    match index.get(value) {
        Some(&at) => (at, 0),
        None => (table.len() as u64, 1 + length_delimited(value.len())),
    }
}

/// The index of `value` in `table`, adding it if new.
fn intern(index: &mut HashMap<String, u64>, table: &mut Vec<String>, value: &str) -> u64 {
    if let Some(&at) = index.get(value) {
        return at;
    }
    let at = table.len() as u64;
    table.push(value.to_owned());
    index.insert(value.to_owned(), at);
    at
}

/// A length-delimited field's length prefix plus its content.
fn length_delimited(len: usize) -> usize {
    encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate(records: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut aggregator = Aggregator::new();
        for (key, hash_key, data) in records {
            aggregator.push(key, *hash_key, data.to_vec());
        }
        aggregator.finish()
    }

    #[test]
    fn plain_records_are_not_aggregated() {
        for data in [
            &b""[..],
            b"hello",
            &[0xF3, 0x89, 0x9A],
            b"\xF3\x89\x9A\xC3rest",
        ] {
            assert!(decode(data).unwrap().is_none(), "{data:?}");
        }
    }

    #[test]
    fn round_trip_keeps_keys_data_and_order() {
        let big = vec![0xAB; 70_000];
        let records: Vec<(&str, Option<&str>, &[u8])> = vec![
            ("a", None, b"one"),
            ("b/🦀", Some("170141183460469231731687303715884105728"), b""),
            ("a", None, &big),
            ("c", Some("1"), b"\x00\xff"),
            ("b/🦀", Some("1"), b"five"),
        ];
        let data = aggregate(&records);
        assert!(data.starts_with(&MAGIC));
        let got = decode(&data).unwrap().unwrap();
        let want: Vec<UserRecord> = records
            .iter()
            .map(|(key, hash_key, data)| UserRecord {
                partition_key: (*key).to_owned(),
                explicit_hash_key: hash_key.map(str::to_owned),
                data: data.to_vec(),
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn encoded_len_is_exact_before_every_push() {
        let mut aggregator = Aggregator::new();
        assert_eq!(aggregator.encoded_len(), 20);
        for i in 0..600usize {
            let key = format!("key-{}", i % 37);
            let hash_key = (i % 3 == 0).then(|| format!("{}", i % 5));
            let data = vec![b'x'; (i * 7919) % 300];
            let predicted = aggregator.encoded_len_with(&key, hash_key.as_deref(), data.len());
            aggregator.push(&key, hash_key.as_deref(), data);
            assert_eq!(aggregator.encoded_len(), predicted, "after {i}");
        }
        let len = aggregator.encoded_len();
        assert_eq!(aggregator.finish().len(), len);
    }

    #[test]
    fn tables_hold_each_key_once() {
        let data = aggregate(&[("k", None, b"1"), ("k", None, b"2"), ("j", None, b"3")]);
        let body = &data[MAGIC.len()..data.len() - DIGEST_BYTES];
        let message = AggregatedRecord::decode(body).unwrap();
        assert_eq!(message.partition_key_table, ["k", "j"]);
        assert_eq!(
            message
                .records
                .iter()
                .map(|r| r.partition_key_index)
                .collect::<Vec<_>>(),
            [0, 0, 1]
        );
    }

    #[test]
    fn damaged_aggregates_are_invalid_not_plain() {
        let good = aggregate(&[("k", None, b"data")]);

        let mut digest = good.clone();
        *digest.last_mut().unwrap() ^= 1;
        assert!(matches!(decode(&digest), Err(InvalidAggregate::Digest)));

        let mut body = good.clone();
        body[MAGIC.len() + 1] ^= 0x40;
        assert!(matches!(decode(&body), Err(InvalidAggregate::Digest)));

        assert!(matches!(
            decode(&good[..10]),
            Err(InvalidAggregate::TooShort(10))
        ));

        // A valid digest over bytes that are not a protobuf.
        let junk = with_digest(&[0xFF, 0xFF, 0xFF]);
        assert!(matches!(decode(&junk), Err(InvalidAggregate::Protobuf(_))));

        // A valid digest over an empty message.
        assert!(matches!(
            decode(&with_digest(&[])),
            Err(InvalidAggregate::Empty)
        ));

        // A record pointing past the key table.
        let message = AggregatedRecord {
            partition_key_table: vec!["k".into()],
            explicit_hash_key_table: vec![],
            records: vec![Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: vec![],
            }],
        };
        let err = decode(&with_digest(&message.encode_to_vec())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user record 0 points to partition key 3, but the table has 1"
        );
        let message = AggregatedRecord {
            records: vec![Record {
                partition_key_index: 0,
                explicit_hash_key_index: Some(0),
                data: b"x".to_vec(),
                tags: vec![],
            }],
            ..message
        };
        assert!(matches!(
            decode(&with_digest(&message.encode_to_vec())),
            Err(InvalidAggregate::ExplicitHashKeyIndex {
                index: 0,
                len: 0,
                ..
            })
        ));
    }

    /// The KPL's published test vector shape: field numbers and wire types of `kpl.proto`.
    #[test]
    fn wire_format_matches_the_proto_file() {
        let message = AggregatedRecord {
            partition_key_table: vec!["pk".into()],
            explicit_hash_key_table: vec!["9".into()],
            records: vec![Record {
                partition_key_index: 0,
                explicit_hash_key_index: Some(0),
                data: b"hi".to_vec(),
                tags: vec![Tag {
                    key: "t".into(),
                    value: Some("v".into()),
                }],
            }],
        };
        let want: &[u8] = &[
            0x0A, 2, b'p', b'k', // 1: partition_key_table
            0x12, 1, b'9', // 2: explicit_hash_key_table
            0x1A, 16, // 3: records
            0x08, 0, // 1: partition_key_index
            0x10, 0, // 2: explicit_hash_key_index
            0x1A, 2, b'h', b'i', // 3: data
            0x22, 6, 0x0A, 1, b't', 0x12, 1, b'v', // 4: tags
        ];
        assert_eq!(message.encode_to_vec(), want);
        let proto = include_str!("../proto/kpl.proto");
        for field in [
            "repeated string partition_key_table = 1;",
            "repeated string explicit_hash_key_table = 2;",
            "repeated Record records = 3;",
            "required uint64 partition_key_index = 1;",
            "optional uint64 explicit_hash_key_index = 2;",
            "required bytes data = 3;",
            "repeated Tag tags = 4;",
            "required string key = 1;",
            "optional string value = 2;",
        ] {
            assert!(proto.contains(field), "{field}");
        }
    }

    fn with_digest(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(&Md5::digest(body));
        out
    }
}
