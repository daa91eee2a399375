//! Object keys: how a Kinesis record becomes one flat, unique, deterministic S3 key.
//!
//! # The key rule
//!
//! ```text
//! <key_prefix><encoded partition key>-<YYYY-MM-DD-HHMMSS>-<sequence number>.txt
//! ```
//!
//! - The timestamp is the record's approximate arrival time, in UTC, to the second.
//! - The sequence number is Kinesis's, verbatim (decimal digits only). It is unique within a
//!   stream, so two records never share a key, and a retried batch rewrites the same keys:
//!   each record is exactly one object however often it is delivered.
//! - The partition key (1–256 Unicode characters, chosen by the producer) is percent-encoded
//!   byte by byte: every UTF-8 byte outside `[A-Za-z0-9_.-]` becomes `%XX` (uppercase hex), and
//!   so does a leading `.`. The encoded key therefore never contains `/` (each record stays one
//!   object directly under the prefix), never forms a `.` or `..` path segment, and contains
//!   no control, space or non-ASCII characters.
//! - The encoded partition key is at most 512 bytes and never makes the whole key longer than
//!   S3's 1,024-byte limit. A longer one is cut between characters (so at a `%XX` boundary)
//!   and followed by `~` and the first 16 hex digits of the SHA-256 of the raw partition key,
//!   so long keys sharing a prefix still get different object keys. The encoding never
//!   produces `~`, so a shortened key cannot collide with one that was short enough to keep.
//! - The key prefix (`KSTREAM_KEY_PREFIX`, e.g. `events/`) is used as given; at most
//!   [`MAX_KEY_PREFIX_BYTES`] (256) bytes.
//! - A user record of a KPL aggregated record ([`crate::kpl`]) is keyed by its own partition
//!   key, the Kinesis record's arrival time and sequence number, and its index (subsequence
//!   number) within the aggregated record:
//!   `<key_prefix><encoded user partition key>-<YYYY-MM-DD-HHMMSS>-<sequence number>-<subsequence>.txt`
//!   ([`KeyRule::user_record_key`]). Its last two `-` fields are digits and the timestamp's
//!   day field has two, so such a key never equals the key of a plain record.
//!
//! The consumer makes keys with [`KeyRule::object_key`]; `kstream smoke` finds the object of
//! a record it put with [`KeyRule::is_key_of`], without knowing the arrival time.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::{MAX_ENCODED_PARTITION_KEY_BYTES, MAX_KEY_PREFIX_BYTES, S3_MAX_KEY_BYTES};

/// Length of `~` + 16 hex digits appended to a shortened partition key.
const HASH_SUFFIX_BYTES: usize = 17;

/// Length of the `YYYY-MM-DD-HHMMSS` timestamp.
const TIMESTAMP_BYTES: usize = "2024-01-01-000000".len();

/// The `-` on either side of the timestamp plus the `.txt` suffix and the timestamp itself.
const FIXED_BYTES: usize = 2 + TIMESTAMP_BYTES + ".txt".len();

/// Why a record could not be given a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The sequence number is empty or not made of decimal digits.
    #[error("invalid sequence number `{0}`: expected decimal digits")]
    InvalidSequenceNumber(String),
    /// The arrival time cannot be written as `YYYY-MM-DD-HHMMSS`.
    #[error("arrival time cannot be written as `YYYY-MM-DD-HHMMSS`")]
    InvalidArrivalTime,
    /// Prefix and sequence number leave no room for the partition key.
    #[error("object key would exceed {S3_MAX_KEY_BYTES} bytes")]
    TooLong,
}

/// The key prefix is longer than [`MAX_KEY_PREFIX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key prefix is {len} bytes long; at most {MAX_KEY_PREFIX_BYTES} bytes are allowed")]
pub struct PrefixTooLong {
    /// Length of the rejected prefix in bytes.
    pub len: usize,
}

/// The key rule of one deployment: the prefix every object key starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRule {
    prefix: String,
}

impl KeyRule {
    /// A rule with the given prefix (may be empty).
    pub fn new(prefix: impl Into<String>) -> Result<Self, PrefixTooLong> {
        let prefix = prefix.into();
        if prefix.len() > MAX_KEY_PREFIX_BYTES {
            return Err(PrefixTooLong { len: prefix.len() });
        }
        Ok(Self { prefix })
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The object key of a record; see the [module docs](self) for the rule.
    pub fn object_key(
        &self,
        partition_key: &str,
        arrival: OffsetDateTime,
        sequence_number: &str,
    ) -> Result<String, KeyError> {
        check_sequence_number(sequence_number)?;
        self.key(partition_key, arrival, sequence_number)
    }

    /// The object key of user record number `subsequence` of the KPL aggregated record with
    /// `sequence_number`; see the [module docs](self) for the rule.
    pub fn user_record_key(
        &self,
        partition_key: &str,
        arrival: OffsetDateTime,
        sequence_number: &str,
        subsequence: u64,
    ) -> Result<String, KeyError> {
        check_sequence_number(sequence_number)?;
        self.key(
            partition_key,
            arrival,
            &format!("{sequence_number}-{subsequence}"),
        )
    }

    /// The key `<prefix><encoded partition key>-<timestamp>-<position>.txt`.
    fn key(
        &self,
        partition_key: &str,
        arrival: OffsetDateTime,
        position: &str,
    ) -> Result<String, KeyError> {
        let timestamp = arrival
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day]-[hour][minute][second]"
            ))
            .map_err(|_| KeyError::InvalidArrivalTime)?;
        let encoded = self.encoded_partition_key(partition_key, position)?;

        let key = format!("{}{encoded}-{timestamp}-{position}.txt", self.prefix);
        debug_assert!(key.len() <= S3_MAX_KEY_BYTES);
        Ok(key)
    }

    /// Whether `object_key` is the key of the record with `partition_key` and
    /// `sequence_number`, whatever its arrival time.
    pub fn is_key_of(&self, object_key: &str, partition_key: &str, sequence_number: &str) -> bool {
        check_sequence_number(sequence_number).is_ok()
            && self.is_key_at(object_key, partition_key, sequence_number)
    }

    /// Whether `object_key` is the key of user record number `subsequence`, with
    /// `partition_key`, of the aggregated record with `sequence_number`, whatever its arrival
    /// time.
    pub fn is_user_record_key_of(
        &self,
        object_key: &str,
        partition_key: &str,
        sequence_number: &str,
        subsequence: u64,
    ) -> bool {
        check_sequence_number(sequence_number).is_ok()
            && self.is_key_at(
                object_key,
                partition_key,
                &format!("{sequence_number}-{subsequence}"),
            )
    }

    fn is_key_at(&self, object_key: &str, partition_key: &str, position: &str) -> bool {
        let Ok(encoded) = self.encoded_partition_key(partition_key, position) else {
            return false;
        };
        let Some(timestamp) = object_key
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(encoded.as_str()))
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".txt"))
            .and_then(|rest| rest.strip_suffix(position))
            .and_then(|rest| rest.strip_suffix('-'))
        else {
            return false;
        };
        is_timestamp(timestamp)
    }

    /// The partition key as it appears in this rule's keys for a record at `position` (its
    /// sequence number, and subsequence number if any): encoded, and shortened when prefix
    /// and position leave it less room than [`MAX_ENCODED_PARTITION_KEY_BYTES`].
    fn encoded_partition_key(
        &self,
        partition_key: &str,
        position: &str,
    ) -> Result<String, KeyError> {
        let rest = self.prefix.len() + FIXED_BYTES + position.len();
        let budget = S3_MAX_KEY_BYTES
            .checked_sub(rest)
            .ok_or(KeyError::TooLong)?
            .min(MAX_ENCODED_PARTITION_KEY_BYTES);
        // Room for the hash suffix and at least one encoded byte.
        if budget < HASH_SUFFIX_BYTES + 3 {
            return Err(KeyError::TooLong);
        }
        Ok(fit_partition_key(partition_key, budget))
    }
}

/// A Kinesis sequence number: decimal digits, at least one.
fn check_sequence_number(sequence_number: &str) -> Result<(), KeyError> {
    if sequence_number.is_empty() || !sequence_number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyError::InvalidSequenceNumber(sequence_number.to_owned()));
    }
    Ok(())
}

/// Whether `text` has the shape `YYYY-MM-DD-HHMMSS`.
fn is_timestamp(text: &str) -> bool {
    text.len() == TIMESTAMP_BYTES
        && text.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 4 | 7 | 10) {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// Percent-encodes a partition key: bytes outside `[A-Za-z0-9_.-]`, and a leading `.`,
/// become `%XX`.
pub fn encode_partition_key(partition_key: &str) -> String {
    let mut out = String::with_capacity(partition_key.len());
    for (index, ch) in partition_key.char_indices() {
        encode_char(&mut out, ch, index == 0);
    }
    out
}

fn encode_char(out: &mut String, ch: char, first: bool) {
    let mut utf8 = [0; 4];
    for &byte in ch.encode_utf8(&mut utf8).as_bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || byte == b'_'
            || byte == b'-'
            || (byte == b'.' && !first);
        if keep {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// The encoded partition key, shortened with a hash suffix when it exceeds `budget` bytes.
///
/// The cut falls between characters, hence between `%XX` triples: the kept part decodes to a
/// prefix of the partition key.
fn fit_partition_key(partition_key: &str, budget: usize) -> String {
    let encoded = encode_partition_key(partition_key);
    if encoded.len() <= budget {
        return encoded;
    }
    let limit = budget - HASH_SUFFIX_BYTES;
    let mut out = String::with_capacity(budget);
    for (index, ch) in partition_key.char_indices() {
        let before = out.len();
        encode_char(&mut out, ch, index == 0);
        if out.len() > limit {
            out.truncate(before);
            break;
        }
    }
    out.push('~');
    let digest = Sha256::digest(partition_key.as_bytes());
    for byte in &digest[..8] {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_PARTITION_KEY_CHARS;
    use time::macros::datetime;

    const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";
    const AT: OffsetDateTime = datetime!(2024-03-09 07:05:04.477 UTC);

    fn key(partition_key: &str) -> String {
        KeyRule::default()
            .object_key(partition_key, AT, SEQ)
            .unwrap()
    }

    fn encoded_part(key: &str) -> &str {
        key.strip_suffix(&format!("-2024-03-09-070504-{SEQ}.txt"))
            .unwrap()
    }

    #[test]
    fn key_table() {
        let cases: &[(&str, &str)] = &[
            ("sensor-1", "sensor-1"),
            ("Sensor_A.b-9", "Sensor_A.b-9"),
            ("a/b", "a%2Fb"),
            ("/", "%2F"),
            ("..", "%2E."),
            (".", "%2E"),
            (".hidden", "%2Ehidden"),
            ("../etc/passwd", "%2E.%2Fetc%2Fpasswd"),
            ("a b", "a%20b"),
            ("tab\there\n", "tab%09here%0A"),
            ("\u{0}\u{1f}\u{7f}", "%00%1F%7F"),
            ("100%", "100%25"),
            ("%2F", "%252F"),
            ("~", "%7E"),
            ("🦀", "%F0%9F%A6%80"),
            ("é", "%C3%A9"),
        ];
        for (partition_key, want) in cases {
            let key = key(partition_key);
            assert_eq!(encoded_part(&key), *want, "partition key {partition_key:?}");
            assert!(!key.contains('/'), "{key}");
        }
    }

    #[test]
    fn key_shape() {
        assert_eq!(
            key("sensor-1"),
            format!("sensor-1-2024-03-09-070504-{SEQ}.txt")
        );
    }

    #[test]
    fn timestamp_is_utc() {
        let local = datetime!(2024-03-09 09:05:04 +02:00);
        let key = KeyRule::default().object_key("k", local, "1").unwrap();
        assert_eq!(key, "k-2024-03-09-070504-1.txt");
    }

    #[test]
    fn key_prefix_is_prepended_verbatim() {
        let rule = KeyRule::new("events/raw/").unwrap();
        let key = rule.object_key("a/b", AT, SEQ).unwrap();
        assert_eq!(key, format!("events/raw/a%2Fb-2024-03-09-070504-{SEQ}.txt"));
        assert_eq!(rule.prefix(), "events/raw/");
    }

    #[test]
    fn prefix_longer_than_limit_is_rejected() {
        let err = KeyRule::new("p".repeat(257)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key prefix is 257 bytes long; at most 256 bytes are allowed"
        );
        assert!(KeyRule::new("p".repeat(256)).is_ok());
    }

    #[test]
    fn invalid_sequence_numbers_are_rejected() {
        for seq in ["", "12a", "1/2", "-1"] {
            let err = KeyRule::default().object_key("k", AT, seq).unwrap_err();
            assert_eq!(err, KeyError::InvalidSequenceNumber(seq.to_owned()));
        }
    }

    #[test]
    fn keys_are_deterministic_and_distinct_per_record() {
        assert_eq!(key("a/b 🦀"), key("a/b 🦀"));
        let rule = KeyRule::default();
        let one = rule.object_key("k", AT, "1").unwrap();
        let two = rule.object_key("k", AT, "2").unwrap();
        assert_ne!(one, two);
    }

    #[test]
    fn emoji_partition_key_of_256_chars_fits_s3_limit() {
        // 256 four-byte characters encode to 3,072 bytes.
        let partition_key = "🦀".repeat(MAX_PARTITION_KEY_CHARS);
        let rule = KeyRule::new("p".repeat(MAX_KEY_PREFIX_BYTES)).unwrap();
        // The longest sequence number Kinesis documents: 129 digits.
        let seq = "9".repeat(129);
        for rule in [KeyRule::default(), rule] {
            let key = rule.object_key(&partition_key, AT, &seq).unwrap();
            assert!(key.len() <= S3_MAX_KEY_BYTES, "{} bytes", key.len());
            let encoded = key
                .strip_prefix(rule.prefix())
                .unwrap()
                .split_once('~')
                .unwrap()
                .0;
            assert!(encoded.len() <= MAX_ENCODED_PARTITION_KEY_BYTES);
            // Cut between characters: whole four-byte characters only.
            assert_eq!(encoded.len() % 12, 0, "{encoded}");
            assert!(encoded.starts_with("%F0%9F%A6%80"));
        }
    }

    #[test]
    fn shortened_key_is_cut_between_characters_for_every_offset() {
        // Shift where the triples fall relative to the cut by a varying ASCII head.
        for head in 0..4 {
            let partition_key = format!("{}{}", "a".repeat(head), "é".repeat(200));
            let key = key(&partition_key);
            let encoded = encoded_part(&key);
            let (kept, hash) = encoded.split_once('~').unwrap();
            assert_eq!(hash.len(), 16);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(encoded.len() <= MAX_ENCODED_PARTITION_KEY_BYTES);
            let tail = kept.trim_start_matches('a');
            // Whole `%C3%A9` pairs only.
            assert_eq!(tail.len() % 6, 0, "head {head}: {kept}");
            assert!(tail.split('%').skip(1).all(|t| t.len() == 2));
        }
    }

    #[test]
    fn long_keys_sharing_a_prefix_get_different_keys() {
        let common = "x".repeat(600);
        let one = key(&format!("{common}-one"));
        let two = key(&format!("{common}-two"));
        assert_ne!(one, two);
        assert_eq!(one.len(), two.len());
        assert_eq!(one, key(&format!("{common}-one")));
    }

    #[test]
    fn key_at_exactly_the_cap_is_kept() {
        let partition_key = "k".repeat(MAX_ENCODED_PARTITION_KEY_BYTES);
        assert_eq!(encoded_part(&key(&partition_key)), partition_key);
        let over = "k".repeat(MAX_ENCODED_PARTITION_KEY_BYTES + 1);
        assert!(encoded_part(&key(&over)).contains('~'));
    }

    #[test]
    fn keys_are_matched_to_their_record_by_partition_key_and_sequence_number() {
        let rule = KeyRule::new("events/").unwrap();
        let key = format!("events/smoke-ab-1-2024-03-09-070504-{SEQ}.txt");
        assert!(rule.is_key_of(&key, "smoke-ab-1", SEQ));
        assert!(!rule.is_key_of(&key, "smoke-ab-1", "1"));
        assert!(!KeyRule::default().is_key_of(&key, "smoke-ab-1", SEQ));
        // `smoke-ab-1` must not match the object of `smoke-ab-10`.
        let ten = format!("events/smoke-ab-10-2024-03-09-070504-{SEQ}.txt");
        assert!(!rule.is_key_of(&ten, "smoke-ab-1", SEQ));
        assert!(rule.is_key_of(&ten, "smoke-ab-10", SEQ));
        assert!(!rule.is_key_of(
            &format!("events/smoke-ab-1-2024-03-09-07050x-{SEQ}.txt"),
            "smoke-ab-1",
            SEQ
        ));
        assert!(!rule.is_key_of(&key, "smoke-ab-1", ""));
    }

    #[test]
    fn user_record_keys_carry_the_subsequence_and_never_equal_a_plain_key() {
        let rule = KeyRule::new("events/").unwrap();
        let key = rule.user_record_key("a/b", AT, SEQ, 7).unwrap();
        assert_eq!(key, format!("events/a%2Fb-2024-03-09-070504-{SEQ}-7.txt"));
        assert!(rule.is_user_record_key_of(&key, "a/b", SEQ, 7));
        assert!(!rule.is_user_record_key_of(&key, "a/b", SEQ, 8));
        assert!(!rule.is_key_of(&key, "a/b", SEQ));
        let plain = rule.object_key("a/b", AT, SEQ).unwrap();
        assert!(!rule.is_user_record_key_of(&plain, "a/b", SEQ, 0));
        assert_ne!(
            rule.user_record_key("k", AT, "1", 0).unwrap(),
            rule.user_record_key("k", AT, "1", 1).unwrap()
        );
        assert_eq!(
            rule.user_record_key("k", AT, "", 0).unwrap_err(),
            KeyError::InvalidSequenceNumber(String::new())
        );
        // The longest partition key, prefix and sequence number still fit S3's limit.
        let long = KeyRule::new("p".repeat(MAX_KEY_PREFIX_BYTES)).unwrap();
        let key = long
            .user_record_key(
                &"🦀".repeat(MAX_PARTITION_KEY_CHARS),
                AT,
                &"9".repeat(129),
                u64::MAX,
            )
            .unwrap();
        assert!(key.len() <= S3_MAX_KEY_BYTES, "{} bytes", key.len());
    }

    #[test]
    fn every_key_made_is_matched_to_its_record() {
        let long = "é".repeat(MAX_PARTITION_KEY_CHARS);
        for rule in [
            KeyRule::default(),
            KeyRule::new("p".repeat(MAX_KEY_PREFIX_BYTES)).unwrap(),
        ] {
            for partition_key in ["a/b", ".hidden", "🦀", long.as_str()] {
                for seq in ["1", SEQ] {
                    let key = rule.object_key(partition_key, AT, seq).unwrap();
                    assert!(rule.is_key_of(&key, partition_key, seq), "{key}");
                    assert!(!rule.is_key_of(&key, "other", seq), "{key}");
                }
            }
        }
    }
}
