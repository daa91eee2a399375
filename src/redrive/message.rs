//! The record an event source mapping sends to its on-failure destination when it gives up on
//! a Kinesis batch, parsed from an SQS message body.
//!
//! AWS documents the record ("Retain discarded batch records for a Kinesis Data Streams event
//! source") as `requestContext` (`requestId`, `functionArn`, `condition`,
//! `approximateInvokeCount`), `responseContext` (`statusCode`, `executedVersion`,
//! `functionError`), `version`, `timestamp` and `KinesisBatchInfo` (`shardId`,
//! `startSequenceNumber`, `endSequenceNumber`, `approximateArrivalOfFirstRecord`,
//! `approximateArrivalOfLastRecord`, `batchSize`, `streamArn`). LocalStack 2026.3 sends the same
//! keys, but leaves out both contexts when it has no error to describe (a `RecordAgeExceeded`
//! batch), and sends `functionError: null` after a partial batch failure. Only
//! `KinesisBatchInfo` is required here; unknown fields are ignored. A record published through
//! an SNS topic and delivered to SQS arrives wrapped in an SNS notification, which is unwrapped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One batch the mapping gave up on, as its on-failure record describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedBatch {
    /// The SQS message that carries the record.
    pub message_id: String,
    /// Shard the batch was read from.
    pub shard_id: String,
    /// Sequence number of the batch's first record.
    pub start_sequence_number: String,
    /// Sequence number of the batch's last record.
    pub end_sequence_number: String,
    /// Records in the batch.
    pub batch_size: u64,
    /// The stream the batch was read from.
    pub stream_arn: String,
    /// Approximate arrival of the first record (RFC 3339), if given.
    pub first_arrival: Option<String>,
    /// Approximate arrival of the last record (RFC 3339), if given.
    pub last_arrival: Option<String>,
    /// When the mapping gave up (RFC 3339), if given.
    pub failed_at: Option<String>,
    /// Why: `RetryAttemptsExhausted`, `RecordAgeExceeded`, … (`None`: the record does not say).
    pub condition: Option<String>,
    /// The function's error type (`Unhandled`, `Handled`), when the last attempt raised one.
    pub function_error: Option<String>,
    /// How many times the function was invoked with the batch, if given.
    pub invoke_count: Option<u64>,
}

/// A message that is not an on-failure record of a Kinesis batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unrecognized {
    /// The SQS message id.
    pub message_id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The parts of the record kstream reads; everything else is ignored.
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "requestContext", default)]
    request: Option<RequestContext>,
    #[serde(rename = "responseContext", default)]
    response: Option<ResponseContext>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "KinesisBatchInfo")]
    batch: BatchInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    approximate_invoke_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseContext {
    #[serde(default)]
    function_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInfo {
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
    batch_size: u64,
    stream_arn: String,
    #[serde(default)]
    approximate_arrival_of_first_record: Option<String>,
    #[serde(default)]
    approximate_arrival_of_last_record: Option<String>,
}

/// Parse one SQS message body: a failed batch, or why it is not one.
pub fn parse(message_id: &str, body: &str) -> Result<FailedBatch, Unrecognized> {
    let unrecognized = |reason: String| Unrecognized {
        message_id: message_id.to_string(),
        reason,
    };
    let value: Value = serde_json::from_str(body)
        .map_err(|e| unrecognized(format!("the body is not JSON ({e})")))?;
    let value = unwrap_sns(value);
    if value.get("KinesisBatchInfo").is_none() {
        return Err(unrecognized(
            "no `KinesisBatchInfo`: not a Kinesis on-failure record".to_string(),
        ));
    }
    let record: Record = serde_json::from_value(value)
        .map_err(|e| unrecognized(format!("invalid Kinesis on-failure record ({e})")))?;
    let batch = record.batch;
    for (name, seq) in [
        ("startSequenceNumber", &batch.start_sequence_number),
        ("endSequenceNumber", &batch.end_sequence_number),
    ] {
        if !super::is_sequence_number(seq) {
            return Err(unrecognized(format!(
                "`{name}` is not a sequence number: `{seq}`"
            )));
        }
    }
    if super::cmp_sequence_numbers(&batch.start_sequence_number, &batch.end_sequence_number)
        == std::cmp::Ordering::Greater
    {
        return Err(unrecognized(
            "`startSequenceNumber` is after `endSequenceNumber`".to_string(),
        ));
    }
    if batch.batch_size == 0 {
        return Err(unrecognized("`batchSize` is 0".to_string()));
    }
    Ok(FailedBatch {
        message_id: message_id.to_string(),
        shard_id: batch.shard_id,
        start_sequence_number: batch.start_sequence_number,
        end_sequence_number: batch.end_sequence_number,
        batch_size: batch.batch_size,
        stream_arn: batch.stream_arn,
        first_arrival: batch.approximate_arrival_of_first_record,
        last_arrival: batch.approximate_arrival_of_last_record,
        failed_at: record.timestamp,
        condition: record.request.as_ref().and_then(|r| r.condition.clone()),
        function_error: record.response.and_then(|r| r.function_error),
        invoke_count: record.request.and_then(|r| r.approximate_invoke_count),
    })
}

/// The inner message of an SNS notification delivered to SQS; any other value as it is.
fn unwrap_sns(value: Value) -> Value {
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = value
            .get("Message")
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
    {
        return inner;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example record of the AWS documentation.
    const AWS_DOCS: &str = r#"{
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled"
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 500,
            "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
        }
    }"#;

    /// What LocalStack 2026.3.0 sent to the SQS queue after a partial batch failure (the
    /// consumer reported all 3 records in `batchItemFailures`: the bucket was gone) with
    /// `maximum_retry_attempts = 0`, captured as received.
    const LOCALSTACK_PARTIAL: &str = r#"{"requestContext": {"requestId": "cd7d68c1-8c7d-49a1-ba5d-8d00f8bff3b2", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:wtf-exp1-fn", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1}, "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": null}, "KinesisBatchInfo": {"approximateArrivalOfFirstRecord": "2026-11-30T13:20:15.485Z", "approximateArrivalOfLastRecord": "2026-11-30T13:20:15.696Z", "batchSize": 3, "endSequenceNumber": "49680707510118885069401352854280345358524500456404680706", "shardId": "shardId-000000000000", "startSequenceNumber": "49680707510118885069401352854277927506885271198055268354", "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/wtf-exp1-stream"}, "timestamp": "2026-11-30T13:20:16.846Z", "version": "1.0"}"#;

    /// LocalStack's record for a batch older than `maximum_record_age_s`, as its
    /// `create_dlq_event` builds it without an error payload: no contexts at all.
    const LOCALSTACK_AGE: &str = r#"{"KinesisBatchInfo": {"approximateArrivalOfFirstRecord": "2026-03-20T10:00:00.123Z", "approximateArrivalOfLastRecord": "2026-03-20T10:00:00.123Z", "batchSize": 1, "endSequenceNumber": "7", "shardId": "shardId-000000000000", "startSequenceNumber": "7", "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}, "timestamp": "2026-03-20T10:02:00.000Z", "version": "1.0"}"#;

    #[test]
    fn parses_the_documented_record() {
        let b = parse("m1", AWS_DOCS).unwrap();
        assert_eq!(b.message_id, "m1");
        assert_eq!(b.shard_id, "shardId-000000000001");
        assert_eq!(
            b.start_sequence_number,
            "49601189658422359378836298521827638475320189012309704722"
        );
        assert_eq!(
            b.end_sequence_number,
            "49601189658422359378836298522902373528957594348623495186"
        );
        assert_eq!(b.batch_size, 500);
        assert_eq!(
            b.stream_arn,
            "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
        );
        assert_eq!(b.condition.as_deref(), Some("RetryAttemptsExhausted"));
        assert_eq!(b.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(b.invoke_count, Some(1));
        assert_eq!(b.failed_at.as_deref(), Some("2019-11-14T00:38:06.021Z"));
        assert_eq!(b.first_arrival.as_deref(), Some("2019-11-14T00:38:04.835Z"));
        assert_eq!(b.last_arrival.as_deref(), Some("2019-11-14T00:38:05.580Z"));
    }

    #[test]
    fn parses_what_localstack_sends() {
        let b = parse("m2", LOCALSTACK_PARTIAL).unwrap();
        assert_eq!(b.batch_size, 3);
        assert_eq!(
            b.start_sequence_number,
            "49680707510118885069401352854277927506885271198055268354"
        );
        assert_eq!(b.invoke_count, Some(1));
        assert_eq!(b.condition.as_deref(), Some("RetryAttemptsExhausted"));
        assert_eq!(b.function_error, None, "`null` is no error");
        let b = parse("m3", LOCALSTACK_AGE).unwrap();
        assert_eq!(
            (b.condition, b.function_error, b.invoke_count),
            (None, None, None)
        );
        assert_eq!(b.start_sequence_number, "7");
    }

    #[test]
    fn unwraps_an_sns_notification() {
        let body = serde_json::json!({
            "Type": "Notification",
            "MessageId": "x",
            "Message": AWS_DOCS,
        })
        .to_string();
        assert_eq!(parse("m", &body).unwrap().batch_size, 500);
    }

    #[test]
    fn tolerates_unknown_fields() {
        let mut v: Value = serde_json::from_str(AWS_DOCS).unwrap();
        v["somethingNew"] = serde_json::json!({"a": 1});
        v["KinesisBatchInfo"]["newField"] = serde_json::json!(true);
        v["requestContext"]["newField"] = serde_json::json!([1]);
        assert!(parse("m", &v.to_string()).is_ok());
    }

    #[test]
    fn other_messages_are_unrecognized_with_their_id() {
        let err = parse("m9", "hello").unwrap_err();
        assert_eq!(err.message_id, "m9");
        assert!(
            err.reason.starts_with("the body is not JSON"),
            "{}",
            err.reason
        );
        let err = parse("m9", r#"{"Records": []}"#).unwrap_err();
        assert_eq!(
            err.reason,
            "no `KinesisBatchInfo`: not a Kinesis on-failure record"
        );
        let err = parse("m9", r#"{"KinesisBatchInfo": {"shardId": "s"}}"#).unwrap_err();
        assert!(
            err.reason.starts_with("invalid Kinesis on-failure record"),
            "{}",
            err.reason
        );
        let mut v: Value = serde_json::from_str(AWS_DOCS).unwrap();
        v["KinesisBatchInfo"]["startSequenceNumber"] = "12a".into();
        let err = parse("m9", &v.to_string()).unwrap_err();
        assert_eq!(
            err.reason,
            "`startSequenceNumber` is not a sequence number: `12a`"
        );
        v["KinesisBatchInfo"]["startSequenceNumber"] =
            "59601189658422359378836298521827638475320189012309704722".into();
        let err = parse("m9", &v.to_string()).unwrap_err();
        assert_eq!(
            err.reason,
            "`startSequenceNumber` is after `endSequenceNumber`"
        );
    }
}
