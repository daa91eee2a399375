//! The Kinesis event `redrive` invokes the consumer with: the same shape the event source
//! mapping sends, so the consumer writes the same objects under the same keys, split into
//! payloads under Lambda's synchronous invocation limit.
//!
//! The consumer reads `kinesis.partitionKey`, `kinesis.sequenceNumber`,
//! `kinesis.approximateArrivalTimestamp` (seconds since the epoch, a number), `kinesis.data`
//! (base64) and `eventID` (`<shard id>:<sequence number>`, for the `shard-id` metadata); the
//! other fields are those AWS and LocalStack's Kinesis poller send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Lambda's limit on a synchronous invocation's request payload (6 MB).
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// One record read back from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Partition key.
    pub partition_key: String,
    /// Sequence number.
    pub sequence_number: String,
    /// The record's bytes.
    pub data: Vec<u8>,
    /// Approximate arrival time, milliseconds since the epoch.
    pub arrival_ms: i64,
}

/// What every record of one batch's event shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// The stream's ARN (`eventSourceARN`).
    pub stream_arn: String,
    /// The shard the records come from (first half of `eventID`).
    pub shard_id: String,
    /// The region (`awsRegion`).
    pub region: String,
    /// The function's execution role (`invokeIdentityArn`), if known.
    pub role_arn: Option<String>,
}

/// One record of the event, as the event source mapping builds it.
pub fn event_record(source: &EventSource, record: &StreamRecord) -> Value {
    let mut value = json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": STANDARD.encode(&record.data),
            "approximateArrivalTimestamp": record.arrival_ms as f64 / 1000.0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{}:{}", source.shard_id, record.sequence_number),
        "eventName": "aws:kinesis:record",
        "awsRegion": source.region,
        "eventSourceARN": source.stream_arn,
    });
    if let Some(role) = &source.role_arn {
        value["invokeIdentityArn"] = Value::from(role.as_str());
    }
    value
}

/// A record too large to be sent in any synchronous invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "record `{sequence_number}` is {size} bytes as JSON, more than Lambda's synchronous limit of {SYNC_PAYLOAD_LIMIT} bytes"
)]
pub struct TooLarge {
    /// The record's sequence number.
    pub sequence_number: String,
    /// Its size in the event, in bytes.
    pub size: usize,
}

/// One invocation's payload: `{"Records":[…]}`, and the sequence numbers it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The serialised event.
    pub body: Vec<u8>,
    /// Sequence numbers of its records, in order.
    pub sequence_numbers: Vec<String>,
}

/// Split `records` into events of at most `limit` bytes each, in order, each as full as it can
/// be. A record that cannot fit even alone is an error.
pub fn payloads(
    source: &EventSource,
    records: &[StreamRecord],
    limit: usize,
) -> Result<Vec<Payload>, TooLarge> {
    const HEAD: &[u8] = b"{\"Records\":[";
    const TAIL: &[u8] = b"]}";
    let empty = HEAD.len() + TAIL.len();
    let mut out = Vec::new();
    let mut body = HEAD.to_vec();
    let mut sequence_numbers = Vec::new();
    for record in records {
        let item = serde_json::to_vec(&event_record(source, record))
            .expect("a JSON value always serialises");
        if empty + item.len() > limit {
            return Err(TooLarge {
                sequence_number: record.sequence_number.clone(),
                size: item.len(),
            });
        }
        // One more byte for the comma when the payload is not empty.
        let grown =
            body.len() + usize::from(!sequence_numbers.is_empty()) + item.len() + TAIL.len();
        if grown > limit {
            body.extend_from_slice(TAIL);
            out.push(Payload {
                body: std::mem::replace(&mut body, HEAD.to_vec()),
                sequence_numbers: std::mem::take(&mut sequence_numbers),
            });
        }
        if !sequence_numbers.is_empty() {
            body.push(b',');
        }
        body.extend_from_slice(&item);
        sequence_numbers.push(record.sequence_number.clone());
    }
    if !sequence_numbers.is_empty() {
        body.extend_from_slice(TAIL);
        out.push(Payload {
            body,
            sequence_numbers,
        });
    }
    Ok(out)
}

/// The sequence numbers the consumer reports as not written: `batchItemFailures[].itemIdentifier`
/// of its response. `None` when the response is not such an object (an empty response, or
/// `null`, means every record was written).
pub fn not_written(response: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(response).ok()?.trim();
    if text.is_empty() || text == "null" {
        return Some(Vec::new());
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let Some(failures) = value.get("batchItemFailures") else {
        return value.is_object().then(Vec::new);
    };
    match failures {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.get("itemIdentifier")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> EventSource {
        EventSource {
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            shard_id: "shardId-000000000001".into(),
            region: "us-east-1".into(),
            role_arn: Some("arn:aws:iam::000000000000:role/r".into()),
        }
    }

    fn record(seq: &str, data: &[u8]) -> StreamRecord {
        StreamRecord {
            partition_key: "a/b ✓".into(),
            sequence_number: seq.into(),
            data: data.to_vec(),
            arrival_ms: 1_545_084_650_987,
        }
    }

    #[test]
    fn a_record_has_the_mappings_shape() {
        let got = event_record(
            &source(),
            &record(
                "49590338271490256608559692538361571095921575989136588898",
                b"Hello, this is a test.",
            ),
        );
        assert_eq!(
            got,
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "a/b ✓",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                    "approximateArrivalTimestamp": 1545084650.987,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": "shardId-000000000001:49590338271490256608559692538361571095921575989136588898",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/r",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
            })
        );
        let text = serde_json::to_string(&got).unwrap();
        assert!(
            text.contains("\"approximateArrivalTimestamp\":1545084650.987"),
            "{text}"
        );
    }

    #[test]
    fn chunks_stay_under_the_limit_and_keep_order() {
        let records: Vec<_> = (0..50)
            .map(|i| record(&i.to_string(), &vec![b'x'; 1000 + i * 37]))
            .collect();
        let one = event_record(&source(), &records[49]).to_string().len();
        let limit = one * 5;
        let got = payloads(&source(), &records, limit).unwrap();
        assert!(got.len() > 1);
        let mut all = Vec::new();
        for p in &got {
            assert!(p.body.len() <= limit, "{} > {limit}", p.body.len());
            let v: Value = serde_json::from_slice(&p.body).unwrap();
            let seqs: Vec<String> = v["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(seqs, p.sequence_numbers);
            all.extend(seqs);
        }
        let want: Vec<String> = (0..50).map(|i: usize| i.to_string()).collect();
        assert_eq!(all, want);
        // Each payload is as full as it can be: the next record would not have fit.
        for pair in got.windows(2) {
            let next = &records[pair[1].sequence_numbers[0].parse::<usize>().unwrap()];
            let item = event_record(&source(), next).to_string().len();
            assert!(pair[0].body.len() + 1 + item > limit);
        }
        // Everything in one payload under the real limit.
        assert_eq!(
            payloads(&source(), &records, SYNC_PAYLOAD_LIMIT)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            payloads(&source(), &[], SYNC_PAYLOAD_LIMIT).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_record_too_large_for_any_payload_is_an_error() {
        let big = record("5", &vec![0u8; 5 * 1024 * 1024]);
        let err = payloads(&source(), &[record("4", b"a"), big], SYNC_PAYLOAD_LIMIT).unwrap_err();
        assert_eq!(err.sequence_number, "5");
        assert!(err.size > SYNC_PAYLOAD_LIMIT);
    }

    #[test]
    fn reads_the_consumers_answer() {
        assert_eq!(not_written(b""), Some(vec![]));
        assert_eq!(not_written(b"null"), Some(vec![]));
        assert_eq!(not_written(br#"{"batchItemFailures":[]}"#), Some(vec![]));
        assert_eq!(
            not_written(
                br#"{"batchItemFailures":[{"itemIdentifier":"7"},{"itemIdentifier":"9"}]}"#
            ),
            Some(vec!["7".to_string(), "9".to_string()])
        );
        assert_eq!(not_written(br#"{"batchItemFailures":[{"x":1}]}"#), None);
        assert_eq!(not_written(b"\"done\""), None);
    }
}
