//! The Lambda handler: one Kinesis batch in, one object per record out, failures reported
//! per record as `batchItemFailures`.
//!
//! A record whose data is a KPL aggregated record (`kstream_contract::kpl`) becomes one object
//! per user record, keyed by the user record's partition key, the Kinesis record's arrival
//! time and sequence number and the user record's subsequence number
//! ([`KeyRule::user_record_key`]). A record that only starts like one (bad digest, protobuf or
//! table index) is stored whole as a plain record and logged as a warning, never dropped.
//!
//! Invariant: a record's sequence number is left out of the failures only when all of its
//! objects were written (its one object, or every user record's). A record that cannot be
//! decoded or keyed is reported as failed and none of its objects is written; a record with
//! several objects not written is reported once, and its retry rewrites the same keys. A
//! record that cannot even be identified fails the whole invocation, so Lambda retries the
//! batch.

use std::time::Instant;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_lambda_events::event::streams::KinesisEventResponse;
use futures::StreamExt as _;
use kstream_contract::{KeyError, KeyRule, kpl};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error_chain;
use crate::event::{Batch, KinesisRecord, Record};
use crate::sink::{Metadata, ObjectSink, SinkError};

/// Content type of a record whose data is valid UTF-8 (the empty record included).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Content type of any other record.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

/// Metadata name of the record's sequence number.
pub const META_SEQUENCE_NUMBER: &str = "sequence-number";
/// Metadata name of the shard the record came from.
pub const META_SHARD_ID: &str = "shard-id";
/// Metadata name of the record's approximate arrival time (RFC 3339, UTC).
pub const META_ARRIVAL_TIME: &str = "arrival-time";
/// Metadata name of a user record's subsequence number: its index within the KPL aggregated
/// record (only on the objects of user records).
pub const META_SUBSEQUENCE_NUMBER: &str = "subsequence-number";

/// The content type an object gets for `data`.
pub fn content_type(data: &[u8]) -> &'static str {
    if std::str::from_utf8(data).is_ok() {
        TEXT_CONTENT_TYPE
    } else {
        BINARY_CONTENT_TYPE
    }
}

/// The whole invocation failed: Lambda retries the batch.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload has no `Records` array.
    #[error("event is not a Kinesis event: no `Records` array")]
    NotKinesis,
    /// A record has no sequence number, so it cannot be reported as a batch item failure.
    #[error("record {index} of the batch has no sequence number to report it by")]
    Unidentifiable {
        /// Position of the record in the batch.
        index: usize,
    },
}

/// One record was not written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record does not match the Kinesis record shape (e.g. invalid base64 data).
    #[error("record cannot be decoded")]
    Decode(#[source] serde_json::Error),
    /// The approximate arrival time is missing, not a number, or out of range.
    #[error("approximate arrival time is missing or out of range")]
    ArrivalTime,
    /// No valid object key could be derived.
    #[error("record cannot be keyed")]
    Key(#[source] KeyError),
    /// The sink refused or failed the write.
    #[error("failed to write object")]
    Write(#[source] SinkError),
}

/// A record turned into the object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedObject {
    /// The record's sequence number (its batch item identifier).
    pub sequence_number: String,
    /// Object key, see [`KeyRule`].
    pub key: String,
    /// The record's data, exactly.
    pub body: Vec<u8>,
    /// [`TEXT_CONTENT_TYPE`] or [`BINARY_CONTENT_TYPE`].
    pub content_type: &'static str,
    /// `sequence-number`, `shard-id` (when the event ID carries one) and `arrival-time`.
    pub metadata: Metadata,
}

/// JSON pointer of a record's approximate arrival time (seconds since the epoch).
const ARRIVAL_POINTER: &str = "/kinesis/approximateArrivalTimestamp";

/// A record turned into the objects to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A plain record, or one that only looks aggregated: one object holding its data.
    Plain(PreparedObject),
    /// A KPL aggregated record ([`kpl`]): one object per user record, in subsequence order.
    Aggregated(Vec<PreparedObject>),
}

impl Prepared {
    /// The objects, in order.
    pub fn objects(&self) -> &[PreparedObject] {
        match self {
            Prepared::Plain(object) => std::slice::from_ref(object),
            Prepared::Aggregated(objects) => objects,
        }
    }
}

/// Turns one raw record of a Kinesis event into its objects.
pub fn prepare(mut raw: Value, keys: &KeyRule) -> Result<Prepared, RecordError> {
    let arrival = raw
        .pointer(ARRIVAL_POINTER)
        .and_then(arrival_time)
        .ok_or(RecordError::ArrivalTime)?;
    // `aws_lambda_events` 1.2 reads the fraction of this timestamp as an integer (`.5` becomes
    // 5 ms, and six decimals overflow into an error), so it gets whole seconds only and the
    // arrival time parsed here is the one used.
    if let Some(timestamp) = raw.pointer_mut(ARRIVAL_POINTER) {
        *timestamp = Value::from(arrival.unix_timestamp());
    }
    let record: KinesisEventRecord = serde_json::from_value(raw).map_err(RecordError::Decode)?;
    let kinesis = record.kinesis;
    objects(
        Parts {
            partition_key: &kinesis.partition_key,
            arrival,
            sequence_number: kinesis.sequence_number,
            shard_id: record.event_id.as_deref().and_then(shard_id),
            data: kinesis.data.0,
        },
        keys,
    )
}

/// Turns one record of a decoded event into its objects: a well-formed record directly, any
/// other through [`prepare`], as before the event was decoded in one pass.
pub fn prepare_record(record: Record, keys: &KeyRule) -> Result<Prepared, RecordError> {
    let kinesis = match record {
        Record::Kinesis(kinesis) => kinesis,
        Record::Other(raw) => return prepare(raw, keys),
    };
    let Some(arrival) = arrival_time(&kinesis.arrival) else {
        return Err(RecordError::ArrivalTime);
    };
    if arrival.unix_timestamp() < 0 {
        // `aws_lambda_events` cannot read a time before 1970 (see `prepare`): the general
        // path reports it as it always did.
        return prepare(kinesis.into_value(), keys);
    }
    let KinesisRecord {
        event_id,
        partition_key,
        sequence_number,
        data,
        ..
    } = kinesis;
    objects(
        Parts {
            partition_key: &partition_key,
            arrival,
            sequence_number,
            shard_id: event_id.as_deref().and_then(shard_id),
            data,
        },
        keys,
    )
}

/// What both decoding paths know of a record once it is read.
struct Parts<'a> {
    partition_key: &'a str,
    arrival: OffsetDateTime,
    sequence_number: String,
    shard_id: Option<&'a str>,
    data: Vec<u8>,
}

/// The objects of a record: one per user record when its data is a KPL aggregated record,
/// else one holding its data. Every object is keyed before any is returned, so a record is
/// written whole or reported whole.
fn objects(parts: Parts<'_>, keys: &KeyRule) -> Result<Prepared, RecordError> {
    let Parts {
        partition_key,
        arrival,
        sequence_number,
        shard_id,
        data,
    } = parts;
    // A 4-byte prefix test for a plain record: its data is not read further or copied.
    let users = match kpl::decode(&data) {
        Ok(users) => users,
        Err(reason) => {
            // Never dropped: stored as the plain record it may well be.
            tracing::warn!(
                sequence_number = %sequence_number,
                reason = %error_chain(&reason),
                "record starts like a KPL aggregated record but is not one: stored as one plain object"
            );
            None
        }
    };
    let keyed = match users {
        None => Keyed::Plain(
            keys.object_key(partition_key, arrival, &sequence_number)
                .map_err(RecordError::Key)?,
            data,
        ),
        Some(users) => {
            drop(data);
            let keyed = (0_u64..)
                .zip(users)
                .map(|(subsequence, user)| {
                    keys.user_record_key(
                        &user.partition_key,
                        arrival,
                        &sequence_number,
                        subsequence,
                    )
                    .map(|key| (key, user.data))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(RecordError::Key)?;
            Keyed::Aggregated(keyed)
        }
    };
    let arrival_time = arrival
        .format(&Rfc3339)
        .map_err(|_| RecordError::ArrivalTime)?;

    let mut metadata = Metadata::new();
    metadata.insert(META_SEQUENCE_NUMBER.to_owned(), sequence_number.clone());
    if let Some(shard_id) = shard_id {
        metadata.insert(META_SHARD_ID.to_owned(), shard_id.to_owned());
    }
    metadata.insert(META_ARRIVAL_TIME.to_owned(), arrival_time);

    match keyed {
        Keyed::Plain(key, body) => Ok(Prepared::Plain(PreparedObject {
            sequence_number,
            key,
            content_type: content_type(&body),
            body,
            metadata,
        })),
        Keyed::Aggregated(keyed) => Ok(Prepared::Aggregated(
            (0_u64..)
                .zip(keyed)
                .map(|(subsequence, (key, body))| {
                    let mut metadata = metadata.clone();
                    metadata.insert(META_SUBSEQUENCE_NUMBER.to_owned(), subsequence.to_string());
                    PreparedObject {
                        sequence_number: sequence_number.clone(),
                        key,
                        content_type: content_type(&body),
                        body,
                        metadata,
                    }
                })
                .collect(),
        )),
    }
}

/// A record's keys and bodies, before its metadata is added.
enum Keyed {
    Plain(String, Vec<u8>),
    Aggregated(Vec<(String, Vec<u8>)>),
}

/// An arrival timestamp (seconds since the epoch, a JSON number or numeric string) at
/// Kinesis's millisecond precision.
fn arrival_time(value: &Value) -> Option<OffsetDateTime> {
    let seconds = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !seconds.is_finite() {
        return None;
    }
    // Far beyond any representable date, so the cast below cannot saturate silently into one.
    let millis = (seconds * 1000.0).round();
    if millis.abs() > 1e17 {
        return None;
    }
    let millis = millis as i128;
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()
}

/// The shard ID of an event ID `shardId-000000000000:<sequence number>`.
fn shard_id(event_id: &str) -> Option<&str> {
    let (shard, _) = event_id.split_once(':')?;
    // Only a plain identifier is safe as an HTTP header value.
    let plain = !shard.is_empty()
        && shard
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then_some(shard)
}

/// Handles one Kinesis event: writes every record as one object (every user record of a KPL
/// aggregated record as one object) through `sink`, at most `write_concurrency` (at least 1)
/// at a time, and reports the sequence numbers of the records not entirely written, each once.
pub async fn handle_event<S>(
    sink: &S,
    keys: &KeyRule,
    write_concurrency: usize,
    event: Batch,
) -> Result<KinesisEventResponse, EventError>
where
    S: ObjectSink + Sync,
{
    let started = Instant::now();
    let records = event.records.ok_or(EventError::NotKinesis)?;
    let batch_size = records.len();

    // Decode and key the whole batch before writing anything, so that an unidentifiable
    // record fails the invocation without having written part of the batch.
    let mut ready = Vec::with_capacity(batch_size);
    let mut failed = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let sequence_number = match &record {
            Record::Kinesis(kinesis) => Some(kinesis.sequence_number.clone()),
            Record::Other(raw) => raw
                .pointer("/kinesis/sequenceNumber")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
        .filter(|s| !s.is_empty())
        .ok_or(EventError::Unidentifiable { index })?;
        match prepare_record(record, keys) {
            Ok(Prepared::Plain(object)) => ready.push((index, object)),
            Ok(Prepared::Aggregated(objects)) => {
                ready.extend(objects.into_iter().map(|object| (index, object)));
            }
            Err(err) => failed.push(Failure {
                index,
                sequence_number,
                key: None,
                error: err,
            }),
        }
    }

    let objects = ready.len();
    let writes = ready.into_iter().map(|(index, object)| async move {
        let PreparedObject {
            sequence_number,
            key,
            body,
            content_type,
            metadata,
        } = object;
        let result = sink.put(&key, body, content_type, &metadata).await;
        (index, sequence_number, key, result)
    });
    let mut results = futures::stream::iter(writes).buffer_unordered(write_concurrency.max(1));
    let mut written = 0_usize;
    while let Some((index, sequence_number, key, result)) = results.next().await {
        match result {
            Ok(()) => written += 1,
            Err(err) => failed.push(Failure {
                index,
                sequence_number,
                key: Some(key),
                error: RecordError::Write(err),
            }),
        }
    }

    // Stable: a record's own failures stay together, its decoding failure or its writes.
    failed.sort_by_key(|failure| failure.index);
    for failure in &failed {
        tracing::error!(
            sequence_number = %failure.sequence_number,
            key = failure.key.as_deref(),
            error = %error_chain(&failure.error),
            "record not written"
        );
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        batch_size,
        objects,
        written,
        failed = failed.len(),
        duration_ms,
        "batch processed"
    );

    let mut response = KinesisEventResponse::default();
    // A record with several objects not written (user records) is reported once; a retry
    // rewrites all of its objects under the same keys.
    failed.dedup_by_key(|failure| failure.index);
    response.set_failures(failed.into_iter().map(|failure| failure.sequence_number));
    Ok(response)
}

/// A record, or one object of it, that was not written, for the log and the response.
struct Failure {
    /// The record's position in the batch.
    index: usize,
    sequence_number: String,
    key: Option<String>,
    error: RecordError,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_lambda_events::event::kinesis::KinesisEvent;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;
    use crate::event::Record;

    /// An object the fake sink received.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Written {
        body: Vec<u8>,
        content_type: String,
        metadata: Metadata,
    }

    /// Records every put; fails the keys it is told to; measures concurrency.
    #[derive(Default)]
    struct FakeSink {
        fail_keys: HashSet<String>,
        objects: Mutex<BTreeMap<String, Written>>,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl FakeSink {
        fn failing(keys: impl IntoIterator<Item = String>) -> Self {
            Self {
                fail_keys: keys.into_iter().collect(),
                ..Self::default()
            }
        }

        fn objects(&self) -> BTreeMap<String, Written> {
            self.objects.lock().unwrap().clone()
        }
    }

    impl ObjectSink for FakeSink {
        async fn put(
            &self,
            key: &str,
            body: Vec<u8>,
            content_type: &str,
            metadata: &Metadata,
        ) -> Result<(), SinkError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            // Give the other writes of the batch a chance to start.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.fail_keys.contains(key) {
                return Err(SinkError::new(std::io::Error::other("injected failure")));
            }
            self.objects.lock().unwrap().insert(
                key.to_owned(),
                Written {
                    body,
                    content_type: content_type.to_owned(),
                    metadata: metadata.clone(),
                },
            );
            Ok(())
        }
    }

    /// The write concurrency of the tests.
    const IN_FLIGHT: usize = 32;

    const SHARD: &str = "shardId-000000000003";

    fn record(partition_key: &str, sequence_number: &str, data: &[u8]) -> Value {
        json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence_number,
                "data": STANDARD.encode(data),
                "approximateArrivalTimestamp": 1_709_967_904.477_f64
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("{SHARD}:{sequence_number}"),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/kstream-consumer",
            "awsRegion": "eu-west-1",
            "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/kstream"
        })
    }

    fn event(records: Vec<Value>) -> Batch {
        batch(&json!({ "Records": records }))
    }

    /// The payload decoded as the runtime does: from its JSON text.
    fn batch(payload: &Value) -> Batch {
        serde_json::from_slice(&serde_json::to_vec(payload).unwrap()).unwrap()
    }

    fn seq(i: usize) -> String {
        format!("4959033827149025660855969253836157109592157598913658{i:04}")
    }

    fn failures(response: &KinesisEventResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap())
            .collect()
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(b"hello"), TEXT_CONTENT_TYPE);
        assert_eq!(content_type("héllo 🦀".as_bytes()), TEXT_CONTENT_TYPE);
        assert_eq!(content_type(b""), TEXT_CONTENT_TYPE);
        assert_eq!(content_type(&[0xff, 0xfe, 0x00]), BINARY_CONTENT_TYPE);
        // Truncated multi-byte character.
        assert_eq!(content_type(&[b'a', 0xf0, 0x9f]), BINARY_CONTENT_TYPE);
    }

    #[test]
    fn shard_id_comes_from_event_id() {
        assert_eq!(
            shard_id("shardId-000000000000:4956"),
            Some("shardId-000000000000")
        );
        assert_eq!(shard_id("no-colon"), None);
        assert_eq!(shard_id(":4956"), None);
        assert_eq!(shard_id("bad\nid:4956"), None);
    }

    #[test]
    fn arrival_time_keeps_milliseconds_however_they_are_written() {
        let at = |value: Value| arrival_time(&value).map(|t| t.format(&Rfc3339).unwrap());
        let cases = [
            (json!(1_709_967_904.477), "2024-03-09T07:05:04.477Z"),
            // Trailing zeros dropped by the JSON encoder: 900 ms, not 9 ms.
            (json!(1_709_967_904.9), "2024-03-09T07:05:04.9Z"),
            (json!(1_709_967_904.05), "2024-03-09T07:05:04.05Z"),
            // More digits than Kinesis's milliseconds (LocalStack): rounded.
            (json!(1_709_967_904.123_456), "2024-03-09T07:05:04.123Z"),
            (json!(1_709_967_904.999_6), "2024-03-09T07:05:05Z"),
            (json!(1_709_967_904), "2024-03-09T07:05:04Z"),
            (json!("1709967904.25"), "2024-03-09T07:05:04.25Z"),
        ];
        for (value, want) in cases {
            assert_eq!(at(value.clone()).as_deref(), Some(want), "{value}");
        }
        for value in [json!("yesterday"), json!(null), json!(1e300), json!([1])] {
            assert_eq!(at(value.clone()), None, "{value}");
        }
    }

    #[tokio::test]
    async fn record_with_microsecond_timestamp_is_written() {
        let sink = FakeSink::default();
        let mut micro = record("k", &seq(1), b"x");
        micro["kinesis"]["approximateArrivalTimestamp"] = json!(1_709_967_904.123_456);
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(vec![micro]))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
        let objects = sink.objects();
        let object = &objects[&format!("k-2024-03-09-070504-{}.txt", seq(1))];
        assert_eq!(
            object.metadata[META_ARRIVAL_TIME],
            "2024-03-09T07:05:04.123Z"
        );
    }

    #[tokio::test]
    async fn writes_each_record_exactly_with_metadata() {
        let sink = FakeSink::default();
        let records = vec![
            record("a/b", &seq(1), b"hello"),
            record("a/b", &seq(2), &[0, 159, 146, 150]),
            record("..", &seq(3), b""),
        ];
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());

        let objects = sink.objects();
        assert_eq!(objects.len(), 3);
        let text = &objects[&format!("a%2Fb-2024-03-09-070504-{}.txt", seq(1))];
        assert_eq!(text.body, b"hello");
        assert_eq!(text.content_type, TEXT_CONTENT_TYPE);
        let want: Metadata = [
            ("arrival-time", "2024-03-09T07:05:04.477Z".to_owned()),
            ("sequence-number", seq(1)),
            ("shard-id", SHARD.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(text.metadata, want);

        let binary = &objects[&format!("a%2Fb-2024-03-09-070504-{}.txt", seq(2))];
        assert_eq!(binary.body, [0, 159, 146, 150]);
        assert_eq!(binary.content_type, BINARY_CONTENT_TYPE);

        let empty = &objects[&format!("%2E.-2024-03-09-070504-{}.txt", seq(3))];
        assert!(empty.body.is_empty());
        assert_eq!(empty.content_type, TEXT_CONTENT_TYPE);
    }

    #[tokio::test]
    async fn key_prefix_applies_to_every_object() {
        let sink = FakeSink::default();
        let keys = KeyRule::new("events/").unwrap();
        handle_event(
            &sink,
            &keys,
            IN_FLIGHT,
            event(vec![record("k", &seq(1), b"x")]),
        )
        .await
        .unwrap();
        let objects = sink.objects();
        let key = objects.keys().next().unwrap();
        assert_eq!(key, &format!("events/k-2024-03-09-070504-{}.txt", seq(1)));
    }

    #[tokio::test]
    async fn reports_exactly_the_records_that_failed() {
        let keys = KeyRule::default();
        let records: Vec<Value> = (0..10)
            .map(|i| record(&format!("pk-{i}"), &seq(i), b"data"))
            .collect();
        let failing = [2, 5, 9];
        let sink =
            FakeSink::failing(failing.map(|i| format!("pk-{i}-2024-03-09-070504-{}.txt", seq(i))));
        let response = handle_event(&sink, &keys, IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(failures(&response), failing.map(seq));
        assert_eq!(sink.objects().len(), 7);
        assert_eq!(sink.calls.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn all_written_means_no_failures() {
        let sink = FakeSink::default();
        let records = (0..5).map(|i| record("k", &seq(i), b"d")).collect();
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(response, KinesisEventResponse::default());
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({ "batchItemFailures": [] })
        );
    }

    #[tokio::test]
    async fn response_serializes_as_lambda_expects() {
        let sink = FakeSink::failing([format!("k-2024-03-09-070504-{}.txt", seq(1))]);
        let response = handle_event(
            &sink,
            &KeyRule::default(),
            IN_FLIGHT,
            event(vec![record("k", &seq(1), b"d")]),
        )
        .await
        .unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({ "batchItemFailures": [{ "itemIdentifier": seq(1) }] })
        );
    }

    #[tokio::test]
    async fn undecodable_and_unkeyable_records_are_failures() {
        let sink = FakeSink::default();
        let mut bad_data = record("k", &seq(1), b"x");
        bad_data["kinesis"]["data"] = json!("not base64!");
        let bad_seq = record("k", "12ab", b"x");
        let mut bad_time = record("k", &seq(3), b"x");
        bad_time["kinesis"]["approximateArrivalTimestamp"] = json!("yesterday");
        let records = vec![bad_data, bad_seq, record("k", &seq(2), b"ok"), bad_time];
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(failures(&response), [seq(1), "12ab".to_owned(), seq(3)]);
        assert_eq!(sink.objects().len(), 1);
    }

    #[tokio::test]
    async fn unidentifiable_record_fails_the_invocation_before_any_write() {
        let sink = FakeSink::default();
        let mut no_seq = record("k", &seq(2), b"x");
        no_seq["kinesis"]
            .as_object_mut()
            .unwrap()
            .remove("sequenceNumber");
        let records = vec![record("k", &seq(1), b"x"), no_seq];
        let err = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EventError::Unidentifiable { index: 1 }),
            "{err}"
        );
        assert_eq!(sink.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn payload_without_records_is_rejected() {
        let sink = FakeSink::default();
        for payload in [json!({}), json!([]), json!({ "Records": {} })] {
            let err = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, batch(&payload))
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "event is not a Kinesis event: no `Records` array"
            );
        }
    }

    #[tokio::test]
    async fn empty_batch_writes_nothing() {
        let sink = FakeSink::default();
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(vec![]))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(sink.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn writes_concurrently_but_bounded() {
        let sink = FakeSink::default();
        let records = (0..100).map(|i| record("k", &seq(i), b"d")).collect();
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(sink.objects().len(), 100);
        let max = sink.max_in_flight.load(Ordering::SeqCst);
        assert!(max > 1 && max <= IN_FLIGHT, "max in flight: {max}");
    }

    /// Every record variant gives the same object, or the same error, whether it is decoded in
    /// one pass ([`prepare_record`]) or from its JSON tree ([`prepare`], the general path).
    #[test]
    fn one_pass_decoding_matches_the_general_path() {
        let base = record("key-1", &seq(1), b"hello");
        let mut variants = vec![base.clone()];
        let edits: Vec<(&str, Value)> = vec![
            ("/kinesis/data", json!("!!not base64")),
            ("/kinesis/data", json!("aGVsbG8")),
            ("/kinesis/data", json!(12)),
            ("/kinesis/data", Value::Null),
            ("/kinesis/data", json!(["aGVsbG8="])),
            ("/kinesis/data", json!("")),
            ("/kinesis/partitionKey", Value::Null),
            ("/kinesis/partitionKey", json!(7)),
            ("/kinesis/partitionKey", json!("")),
            ("/kinesis/partitionKey", json!("a/b c\u{1f980}")),
            (
                "/kinesis/approximateArrivalTimestamp",
                json!("1709967904.5"),
            ),
            ("/kinesis/approximateArrivalTimestamp", json!(" 12 ")),
            ("/kinesis/approximateArrivalTimestamp", json!("soon")),
            ("/kinesis/approximateArrivalTimestamp", Value::Null),
            ("/kinesis/approximateArrivalTimestamp", json!({"s": 1})),
            ("/kinesis/approximateArrivalTimestamp", json!(1e300)),
            ("/kinesis/approximateArrivalTimestamp", json!(-5)),
            ("/kinesis/approximateArrivalTimestamp", json!(-0.4)),
            ("/kinesis/approximateArrivalTimestamp", json!("-1.5")),
            ("/kinesis/approximateArrivalTimestamp", json!(0)),
            ("/kinesis/approximateArrivalTimestamp", json!("1e3")),
            (
                "/kinesis/approximateArrivalTimestamp",
                json!(1_709_967_904_u64),
            ),
            ("/kinesis/encryptionType", json!("KMS")),
            ("/kinesis/encryptionType", json!("NONE")),
            ("/kinesis/encryptionType", json!("kms")),
            ("/kinesis/encryptionType", json!(1)),
            ("/kinesis/kinesisSchemaVersion", json!(1)),
            ("/kinesis/kinesisSchemaVersion", Value::Null),
            ("/kinesis/extra", json!({"deep": [1, 2]})),
            ("/eventID", Value::Null),
            ("/eventID", json!(5)),
            ("/eventID", json!("no-colon")),
            ("/eventID", json!("shard\nid:1")),
            ("/awsRegion", json!(1)),
            ("/awsRegion", Value::Null),
            ("/eventSourceARN", json!({"arn": "x"})),
            ("/invokeIdentityArn", json!(false)),
            ("/eventVersion", json!([])),
            ("/somethingElse", json!(1)),
        ];
        for (pointer, value) in edits {
            let mut variant = base.clone();
            let (parent, field) = pointer.rsplit_once('/').unwrap();
            let object = if parent.is_empty() {
                variant.as_object_mut().unwrap()
            } else {
                variant
                    .pointer_mut(parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
            };
            object.insert(field.to_owned(), value);
            variants.push(variant);
        }
        for field in ["data", "partitionKey", "approximateArrivalTimestamp"] {
            let mut variant = base.clone();
            variant["kinesis"].as_object_mut().unwrap().remove(field);
            variants.push(variant);
        }
        for field in ["eventID", "awsRegion"] {
            let mut variant = base.clone();
            variant.as_object_mut().unwrap().remove(field);
            variants.push(variant);
        }
        let keys = KeyRule::new("p/").unwrap();
        let mut fast = 0;
        for raw in variants {
            let decoded: Record = serde_json::from_value(raw.clone()).unwrap();
            fast += usize::from(matches!(decoded, Record::Kinesis(_)));
            let got = prepare_record(decoded, &keys).map_err(|e| error_chain(&e));
            let want = prepare(raw.clone(), &keys).map_err(|e| error_chain(&e));
            assert_eq!(got, want, "{raw}");
        }
        assert!(fast > 10, "most variants take the one-pass path: {fast}");
    }

    #[tokio::test]
    async fn unidentifiable_and_odd_records_as_before() {
        let sink = FakeSink::default();
        let mut no_sequence = record("k", &seq(2), b"x");
        no_sequence["kinesis"]["sequenceNumber"] = json!("");
        let records = vec![
            record("k", &seq(1), b"x"),
            json!("not a record"),
            no_sequence,
        ];
        let err = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 1 of the batch has no sequence number to report it by"
        );
        assert_eq!(sink.calls.load(Ordering::SeqCst), 0);
        let mut bad_data = record("k", &seq(3), b"x");
        bad_data["kinesis"]["data"] = json!("%%%");
        let records = vec![record("k", &seq(1), b"x"), bad_data];
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(failures(&response), vec![seq(3)]);
        assert_eq!(sink.objects().len(), 1);
    }

    #[tokio::test]
    async fn write_concurrency_is_the_bound() {
        for concurrency in [1, 3, 7] {
            let sink = FakeSink::default();
            let records = (0..50).map(|i| record("k", &seq(i), b"d")).collect();
            let response = handle_event(&sink, &KeyRule::default(), concurrency, event(records))
                .await
                .unwrap();
            assert!(response.batch_item_failures.is_empty());
            assert_eq!(sink.objects().len(), 50);
            assert_eq!(sink.max_in_flight.load(Ordering::SeqCst), concurrency);
        }
    }

    #[tokio::test]
    async fn retried_batch_rewrites_the_same_keys() {
        let records: Vec<Value> = (0..4).map(|i| record("k", &seq(i), b"d")).collect();
        let first = FakeSink::default();
        let second = FakeSink::default();
        handle_event(
            &first,
            &KeyRule::default(),
            IN_FLIGHT,
            event(records.clone()),
        )
        .await
        .unwrap();
        handle_event(&second, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(first.objects(), second.objects());
    }

    /// Runs the handler over a fixture and checks every object against the event as
    /// `aws_lambda_events` decodes it.
    async fn check_fixture(name: &str) -> BTreeMap<String, Written> {
        let payload = fixture(name);
        let parsed: KinesisEvent = serde_json::from_value(payload.clone()).unwrap();
        let raw_records = payload["Records"].as_array().unwrap().clone();
        let keys = KeyRule::new("raw/").unwrap();
        let sink = FakeSink::default();
        let response = handle_event(&sink, &keys, IN_FLIGHT, batch(&payload))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());

        let objects = sink.objects();
        assert_eq!(objects.len(), parsed.records.len());
        for (record, raw) in parsed.records.into_iter().zip(raw_records) {
            let want = prepare(raw, &keys).unwrap();
            let [want] = want.objects() else {
                panic!("a plain record is one object: {want:?}")
            };
            let got = &objects[&want.key];
            assert_eq!(got.body, record.kinesis.data.0, "{}", want.key);
            assert_eq!(got.content_type, want.content_type);
            assert_eq!(
                got.metadata[META_SEQUENCE_NUMBER],
                record.kinesis.sequence_number
            );
            assert!(!want.key["raw/".len()..].contains('/'), "{}", want.key);
        }
        objects
    }

    #[tokio::test]
    async fn text_fixture() {
        let objects = check_fixture("kinesis-text.json").await;
        let mut bodies: Vec<&[u8]> = objects.values().map(|o| o.body.as_slice()).collect();
        bodies.sort();
        assert_eq!(
            bodies,
            [
                &b"Hello, World!"[..],
                "gr\u{f6}\u{df}e aus K\u{f6}ln \u{1f980}\n".as_bytes(),
                "{\"temperature\":21.5,\"unit\":\"\u{b0}C\"}".as_bytes(),
            ]
        );
        assert!(
            objects
                .values()
                .all(|o| o.content_type == TEXT_CONTENT_TYPE)
        );
        let first = &objects["raw/sensor-1-2016-12-02-011843-49568167373333333333333333333333333333333333333333333333.txt"];
        assert_eq!(first.metadata[META_SHARD_ID], "shardId-000000000000");
        assert_eq!(
            first.metadata[META_ARRIVAL_TIME],
            "2016-12-02T01:18:43.477Z"
        );
    }

    #[tokio::test]
    async fn binary_fixture() {
        let objects = check_fixture("kinesis-binary.json").await;
        let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
        let seq = "-2024-03-09-070504-4959033827149025660855969253836157109592157598913658";
        let want = [
            format!("raw/%2E.%2F..%2Fetc%2Fpasswd{seq}8900.txt"),
            format!("raw/a%2Fb%20c{seq}8901.txt"),
            format!("raw/empty{seq}8902.txt"),
            format!("raw/%F0%9F%A6%80%20crab%20%25%20%E2%9C%93{seq}8903.txt"),
            format!("raw/%00%1F%7F{seq}8904.txt"),
            format!("raw/%2E{seq}8905.txt"),
        ];
        let mut sorted: Vec<&str> = want.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        let binary = &objects[&want[0]];
        assert_eq!(binary.content_type, BINARY_CONTENT_TYPE);
        assert_eq!(
            binary.body,
            [0x00, 0xff, 0xfe, 0x80, 0x0a, 0x0d, 0x1b, 0x7f]
        );
        assert_eq!(objects[&want[4]].body, (0..=255).collect::<Vec<u8>>());
        assert_eq!(
            objects[&want[3]].metadata[META_ARRIVAL_TIME],
            "2024-03-09T07:05:04.9Z"
        );
        let empty = &objects[&want[2]];
        assert!(empty.body.is_empty());
        assert_eq!(empty.content_type, TEXT_CONTENT_TYPE);
    }

    /// A KPL aggregated record of `users` (partition key, data), as the contract packs it.
    fn aggregate(users: &[(&str, &[u8])]) -> Vec<u8> {
        let mut aggregator = kpl::Aggregator::new();
        for (partition_key, data) in users {
            aggregator.push(partition_key, None, data.to_vec());
        }
        aggregator.finish()
    }

    /// Magic, `body`, and the MD5 of `body`: passes the digest check whatever `body` is.
    fn with_digest(body: &[u8]) -> Vec<u8> {
        use md5::Digest as _;
        let mut out = kpl::MAGIC.to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(&md5::Md5::digest(body));
        out
    }

    /// Every log line written while `f` runs on this thread.
    async fn logs_of<F: std::future::Future>(f: F) -> (F::Output, String) {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let output = {
            let _guard = tracing::subscriber::set_default(subscriber);
            f.await
        };
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        (output, text)
    }

    const AT: &str = "2024-03-09-070504";

    #[tokio::test]
    async fn aggregated_and_plain_records_mixed_give_one_object_per_user_record() {
        let sink = FakeSink::default();
        let keys = KeyRule::new("events/").unwrap();
        let aggregated = aggregate(&[
            ("user/1", b"one"),
            ("u2", &[0xff, 0x00, 0xfe]),
            ("user/1", b""),
            ("caf\u{e9} \u{1f980}", "gr\u{fc}n".as_bytes()),
        ]);
        let records = vec![
            record("plain", &seq(1), b"first"),
            record("outer-key", &seq(2), &aggregated),
            record("plain", &seq(3), b"last"),
            record("solo", &seq(4), &aggregate(&[("only", b"1")])),
        ];
        let response = handle_event(&sink, &keys, IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());

        let objects = sink.objects();
        let (s1, s2, s3, s4) = (seq(1), seq(2), seq(3), seq(4));
        let want: Vec<(String, &[u8], &str, Option<&str>)> = vec![
            (
                format!("events/plain-{AT}-{s1}.txt"),
                b"first",
                TEXT_CONTENT_TYPE,
                None,
            ),
            (
                format!("events/user%2F1-{AT}-{s2}-0.txt"),
                b"one",
                TEXT_CONTENT_TYPE,
                Some("0"),
            ),
            (
                format!("events/u2-{AT}-{s2}-1.txt"),
                &[0xff, 0x00, 0xfe],
                BINARY_CONTENT_TYPE,
                Some("1"),
            ),
            (
                format!("events/user%2F1-{AT}-{s2}-2.txt"),
                b"",
                TEXT_CONTENT_TYPE,
                Some("2"),
            ),
            (
                format!("events/caf%C3%A9%20%F0%9F%A6%80-{AT}-{s2}-3.txt"),
                "gr\u{fc}n".as_bytes(),
                TEXT_CONTENT_TYPE,
                Some("3"),
            ),
            (
                format!("events/plain-{AT}-{s3}.txt"),
                b"last",
                TEXT_CONTENT_TYPE,
                None,
            ),
            (
                format!("events/only-{AT}-{s4}-0.txt"),
                b"1",
                TEXT_CONTENT_TYPE,
                Some("0"),
            ),
        ];
        let mut want_keys: Vec<&str> = want.iter().map(|w| w.0.as_str()).collect();
        want_keys.sort_unstable();
        assert_eq!(
            objects.keys().map(String::as_str).collect::<Vec<_>>(),
            want_keys
        );
        assert_eq!(sink.calls.load(Ordering::SeqCst), want.len());

        for (key, body, content_type, subsequence) in &want {
            let object = &objects[key];
            assert_eq!(object.body, *body, "{key}");
            assert_eq!(object.content_type, *content_type, "{key}");
            let sequence_number = &object.metadata[META_SEQUENCE_NUMBER];
            let mut metadata: Metadata = [
                (META_ARRIVAL_TIME, "2024-03-09T07:05:04.477Z".to_owned()),
                (META_SEQUENCE_NUMBER, sequence_number.clone()),
                (META_SHARD_ID, SHARD.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(subsequence) = subsequence {
                metadata.insert(
                    META_SUBSEQUENCE_NUMBER.to_owned(),
                    (*subsequence).to_owned(),
                );
            }
            assert_eq!(object.metadata, metadata, "{key}");
        }
        assert_eq!(objects[&want[1].0].metadata[META_SEQUENCE_NUMBER], s2);
        // The contract's matcher, as `smoke` and the LocalStack test use it, agrees.
        assert!(keys.is_user_record_key_of(&want[4].0, "caf\u{e9} \u{1f980}", &s2, 3));
        assert!(!keys.is_user_record_key_of(&want[4].0, "caf\u{e9} \u{1f980}", &s2, 2));
        assert!(keys.is_key_of(&want[0].0, "plain", &s1));
    }

    #[tokio::test]
    async fn records_that_only_look_aggregated_are_stored_as_plain_records() {
        let sink = FakeSink::default();
        let keys = KeyRule::default();
        let mut bad_digest = aggregate(&[("a", b"one"), ("b", b"two")]);
        *bad_digest.last_mut().unwrap() ^= 0x01;
        let mut bad_body = aggregate(&[("a", b"one")]);
        bad_body[kpl::MAGIC.len() + 2] ^= 0x20;
        let bad_protobuf = with_digest(&[0xff, 0xff, 0xff]);
        let empty = with_digest(&[]);
        let too_short = kpl::MAGIC.to_vec();
        let damaged: Vec<(&str, Vec<u8>)> = vec![
            ("digest", bad_digest),
            ("body", bad_body),
            ("protobuf", bad_protobuf),
            ("empty", empty),
            ("short", too_short),
        ];
        let records: Vec<Value> = (1..)
            .zip(&damaged)
            .map(|(i, (pk, data))| record(pk, &seq(i), data))
            .collect();
        let (response, logs) = logs_of(handle_event(&sink, &keys, IN_FLIGHT, event(records))).await;
        let response = response.unwrap();
        assert!(response.batch_item_failures.is_empty());

        let objects = sink.objects();
        assert_eq!(objects.len(), damaged.len());
        for (i, (pk, data)) in (1..).zip(&damaged) {
            let object = &objects[&format!("{pk}-{AT}-{}.txt", seq(i))];
            assert_eq!(&object.body, data, "{pk}");
            assert_eq!(object.content_type, BINARY_CONTENT_TYPE, "{pk}");
            assert!(!object.metadata.contains_key(META_SUBSEQUENCE_NUMBER));
        }
        let warnings: Vec<&str> = logs
            .lines()
            .filter(|line| line.contains("WARN") && line.contains("stored as one plain object"))
            .collect();
        assert_eq!(warnings.len(), damaged.len(), "{logs}");
        for (i, reason) in (1..).zip([
            "MD5 digest does not match",
            "MD5 digest does not match",
            "protobuf does not decode",
            "holds no user record",
            "shorter than its magic",
        ]) {
            let line = warnings[i - 1];
            assert!(line.contains(&seq(i)) && line.contains(reason), "{line}");
        }
    }

    #[tokio::test]
    async fn a_failed_user_record_reports_its_kinesis_record_once_and_the_retry_rewrites_it() {
        let aggregated = aggregate(&[("a", b"0"), ("b", b"1"), ("a", b"2"), ("c", b"3")]);
        let records = vec![
            record("p", &seq(1), b"plain"),
            record("outer", &seq(2), &aggregated),
            record("p", &seq(3), b"plain too"),
        ];
        let keys = KeyRule::default();
        let failing = [
            format!("b-{AT}-{}-1.txt", seq(2)),
            format!("c-{AT}-{}-3.txt", seq(2)),
        ];
        let first = FakeSink::failing(failing.clone());
        let response = handle_event(&first, &keys, IN_FLIGHT, event(records.clone()))
            .await
            .unwrap();
        assert_eq!(failures(&response), [seq(2)]);
        assert_eq!(first.calls.load(Ordering::SeqCst), 6);
        assert_eq!(first.objects().len(), 4);

        // Lambda retries from the failed record: every user record of it is written again,
        // under the keys the first attempt used or meant to use.
        let retry = FakeSink::default();
        let response = handle_event(&retry, &keys, IN_FLIGHT, event(records[1..].to_vec()))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
        let retried = retry.objects();
        for (key, object) in first.objects() {
            if let Some(again) = retried.get(&key) {
                assert_eq!(again, &object, "{key}");
            }
        }
        let want: Vec<String> = vec![
            format!("a-{AT}-{}-0.txt", seq(2)),
            format!("a-{AT}-{}-2.txt", seq(2)),
            failing[0].clone(),
            failing[1].clone(),
            format!("p-{AT}-{}.txt", seq(3)),
        ];
        assert_eq!(retried.keys().cloned().collect::<Vec<_>>(), want);
        assert_eq!(retried[&failing[0]].body, b"1");
        assert_eq!(retried[&failing[1]].body, b"3");
    }

    #[tokio::test]
    async fn an_aggregated_record_that_cannot_be_keyed_writes_none_of_its_user_records() {
        let sink = FakeSink::default();
        let aggregated = aggregate(&[("a", b"0"), ("b", b"1")]);
        let records = vec![
            record("k", "12ab", &aggregated),
            record("k", &seq(1), &aggregated),
        ];
        let response = handle_event(&sink, &KeyRule::default(), IN_FLIGHT, event(records))
            .await
            .unwrap();
        assert_eq!(failures(&response), ["12ab"]);
        assert_eq!(sink.calls.load(Ordering::SeqCst), 2);
        assert_eq!(sink.objects().len(), 2);
    }

    /// Aggregated records take the same way through both decoding paths.
    #[test]
    fn aggregated_records_prepare_alike_on_both_paths() {
        let keys = KeyRule::new("p/").unwrap();
        let aggregated = aggregate(&[("x", b"1"), ("y/z", &[0x80])]);
        let mut bad = aggregated.clone();
        bad[6] ^= 1;
        for data in [aggregated, bad] {
            let raw = record("outer", &seq(7), &data);
            let decoded: Record = serde_json::from_value(raw.clone()).unwrap();
            assert!(matches!(decoded, Record::Kinesis(_)));
            let fast = prepare_record(decoded, &keys).unwrap();
            assert_eq!(fast, prepare(raw, &keys).unwrap());
        }
        let raw = record(
            "outer",
            &seq(7),
            &aggregate(&[("x", b"1"), ("y/z", &[0x80])]),
        );
        let Prepared::Aggregated(objects) = prepare(raw, &keys).unwrap() else {
            panic!("an aggregated record gives one object per user record")
        };
        let got: Vec<(&str, &[u8])> = objects
            .iter()
            .map(|o| (o.key.as_str(), o.body.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (format!("p/x-{AT}-{}-0.txt", seq(7)).as_str(), &b"1"[..]),
                (
                    format!("p/y%2Fz-{AT}-{}-1.txt", seq(7)).as_str(),
                    &[0x80][..]
                ),
            ]
        );
    }
}
