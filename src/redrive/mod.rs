//! What `failures` and `redrive` decide, without I/O: which queue holds the on-failure
//! records, how a record reads (`message`), which stream records a failed batch covers and
//! how many of them the stream no longer holds, the consumer's event (`event`), and the
//! summaries both commands print.

pub mod event;
pub mod message;

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde::Serialize;

pub use event::{EventSource, SYNC_PAYLOAD_LIMIT, StreamRecord, payloads};
pub use message::{FailedBatch, Unrecognized};

use crate::config::OnFailure;

/// Where the on-failure records can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTarget {
    /// Queue name.
    pub name: String,
    /// The account that owns it, when it is not necessarily the caller's.
    pub owner: Option<String>,
    /// The queue's region, when the config names it (an ARN).
    pub region: Option<String>,
}

/// Why there is no queue to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoQueue {
    /// `on_failure = "none"`.
    #[error(
        "`consumer.on_failure` is \"none\": the mapping records no batch it gives up on, so there is nothing to list or redrive\n  hint: set `on_failure = \"queue\"` in `[consumer]` and run `kstream apply`; batches given up on before that are not recorded"
    )]
    Disabled,
    /// An SNS topic: its messages are delivered, not stored.
    #[error(
        "`consumer.on_failure` is the SNS topic `{0}`: kstream cannot read it back, a topic delivers its messages to its subscribers and keeps none\n  hint: subscribe an SQS queue to the topic and set `on_failure` to that queue's ARN, or use `on_failure = \"queue\"`"
    )]
    Topic(String),
    /// An SQS ARN kstream cannot make sense of.
    #[error(
        "`consumer.on_failure` is not an SQS queue ARN kstream can read: `{0}`\n  hint: an SQS queue ARN reads `arn:aws:sqs:<region>:<account>:<queue name>`"
    )]
    BadArn(String),
}

/// The queue to read for `on_failure`.
pub fn queue_target(on_failure: &OnFailure, function_name: &str) -> Result<QueueTarget, NoQueue> {
    match on_failure {
        OnFailure::Queue => Ok(QueueTarget {
            name: crate::model::failure_queue_name(function_name),
            owner: None,
            region: None,
        }),
        OnFailure::None => Err(NoQueue::Disabled),
        OnFailure::SnsArn(arn) => Err(NoQueue::Topic(arn.clone())),
        OnFailure::SqsArn(arn) => {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            match parts.as_slice() {
                ["arn", _, "sqs", region, account, name]
                    if !region.is_empty() && !account.is_empty() && !name.is_empty() =>
                {
                    Ok(QueueTarget {
                        name: (*name).to_string(),
                        owner: Some((*account).to_string()),
                        region: Some((*region).to_string()),
                    })
                }
                _ => Err(NoQueue::BadArn(arn.clone())),
            }
        }
    }
}

/// The stream name of a Kinesis stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`).
pub fn stream_name(stream_arn: &str) -> Option<&str> {
    stream_arn
        .splitn(6, ':')
        .nth(5)?
        .strip_prefix("stream/")
        .filter(|n| !n.is_empty() && !n.contains('/'))
}

/// Whether `s` is a Kinesis sequence number: 1 to 129 decimal digits (the API's pattern
/// `0|([1-9]\d{0,128})`; today's are 56 digits long).
pub fn is_sequence_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 129 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Compare two sequence numbers as the integers they are: by length without leading zeros,
/// then digit by digit (they exceed every machine integer but `u128`, and need no parsing).
pub fn cmp_sequence_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// What reading a failed batch's range back from the stream found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// The records from the first to the last sequence number, in order.
    pub records: Vec<StreamRecord>,
    /// The stream no longer holds the start of the range (trimmed, or the shard expired).
    pub start_trimmed: bool,
}

impl ReadBack {
    /// Records of the batch the stream no longer holds.
    pub fn lost(&self, batch: &FailedBatch) -> u64 {
        let found = self.records.len() as u64;
        let missing = batch.batch_size.saturating_sub(found);
        let starts_late = self.start_trimmed
            || self.records.first().is_some_and(|r| {
                cmp_sequence_numbers(&r.sequence_number, &batch.start_sequence_number)
                    == Ordering::Greater
            });
        // A trimmed start loses at least one record even when the count cannot tell.
        if starts_late { missing.max(1) } else { missing }
    }
}

/// Whether the record `seq` is past the end of the batch `end`.
pub fn past_end(seq: &str, end: &str) -> bool {
    cmp_sequence_numbers(seq, end) == Ordering::Greater
}

/// What happened to one failed batch in `redrive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// The SQS message of the batch.
    pub message_id: String,
    /// Shard of the batch.
    pub shard_id: String,
    /// Records the batch had.
    pub batch_size: u64,
    /// Records the consumer wrote.
    pub redriven: u64,
    /// Records the stream no longer holds.
    pub lost: u64,
    /// Whether the message was deleted (every record found was written, and nothing was lost
    /// or `--yes` accepted the loss).
    pub deleted: bool,
    /// Why the batch is not done, when it is not.
    pub error: Option<String>,
}

/// The result of a `redrive` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedriveSummary {
    /// The queue read.
    pub queue: String,
    /// Records written by the consumer.
    pub redriven: u64,
    /// Records the stream no longer holds.
    pub lost: u64,
    /// Records of the batches whose message is still in the queue.
    pub remaining: u64,
    /// Messages that are not on-failure records (kept).
    pub unrecognized: Vec<Unrecognized>,
    /// Whether the listing may have missed messages.
    pub complete: bool,
    /// Per batch.
    pub batches: Vec<BatchOutcome>,
}

impl RedriveSummary {
    /// Sum up the batches' outcomes.
    pub fn new(
        queue: String,
        batches: Vec<BatchOutcome>,
        unrecognized: Vec<Unrecognized>,
        complete: bool,
    ) -> RedriveSummary {
        RedriveSummary {
            queue,
            redriven: batches.iter().map(|b| b.redriven).sum(),
            lost: batches.iter().map(|b| b.lost).sum(),
            remaining: batches
                .iter()
                .filter(|b| !b.deleted)
                .map(|b| b.batch_size)
                .sum(),
            unrecognized,
            complete,
            batches,
        }
    }

    /// The summary as text: one line per batch not done, then the totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for b in self.batches.iter().filter(|b| !b.deleted) {
            let _ = writeln!(
                out,
                "kept   {}  {}  {} of {} redriven, {} lost{}",
                b.message_id,
                b.shard_id,
                b.redriven,
                b.batch_size,
                b.lost,
                b.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            out,
            "redriven {} record{}, lost {}, remaining {} in {}",
            self.redriven,
            plural(self.redriven),
            self.lost,
            self.remaining,
            self.queue
        );
        out
    }
}

/// The `failures` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The queue read.
    pub queue: String,
    /// Records in the listed batches.
    pub records: u64,
    /// Whether every message was seen (`false`: the listing stopped at its bound).
    pub complete: bool,
    /// The failed batches, oldest first.
    pub batches: Vec<FailedBatch>,
    /// Messages that are not on-failure records.
    pub unrecognized: Vec<Unrecognized>,
}

impl Listing {
    /// The listing of these batches, sorted by when they failed, then shard and sequence.
    pub fn new(
        queue: String,
        mut batches: Vec<FailedBatch>,
        unrecognized: Vec<Unrecognized>,
        complete: bool,
    ) -> Listing {
        batches.sort_by(|a, b| {
            a.failed_at
                .cmp(&b.failed_at)
                .then_with(|| a.shard_id.cmp(&b.shard_id))
                .then_with(|| {
                    cmp_sequence_numbers(&a.start_sequence_number, &b.start_sequence_number)
                })
        });
        Listing {
            queue,
            records: batches.iter().map(|b| b.batch_size).sum(),
            complete,
            batches,
            unrecognized,
        }
    }

    /// One line per batch, then the total.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for b in &self.batches {
            let why = match (&b.condition, &b.function_error) {
                (Some(c), Some(e)) => format!("{c} ({e})"),
                (Some(c), None) => c.clone(),
                (None, Some(e)) => format!("unknown ({e})"),
                (None, None) => "unknown".to_string(),
            };
            let _ = writeln!(
                out,
                "{}  {}  {}..{}  {} record{}  {}",
                b.failed_at.as_deref().unwrap_or("-"),
                b.shard_id,
                b.start_sequence_number,
                b.end_sequence_number,
                b.batch_size,
                plural(b.batch_size),
                why
            );
        }
        for u in &self.unrecognized {
            let _ = writeln!(out, "unrecognized message {}: {}", u.message_id, u.reason);
        }
        let _ = writeln!(
            out,
            "{} failed batch{}, {} record{}{}",
            self.batches.len(),
            if self.batches.len() == 1 { "" } else { "es" },
            self.records,
            plural(self.records),
            if self.complete {
                ""
            } else {
                " (the listing may be incomplete)"
            }
        );
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(start: &str, end: &str, size: u64) -> FailedBatch {
        FailedBatch {
            message_id: "m".into(),
            shard_id: "shardId-000000000000".into(),
            start_sequence_number: start.into(),
            end_sequence_number: end.into(),
            batch_size: size,
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            first_arrival: None,
            last_arrival: None,
            failed_at: Some("2026-03-20T10:00:01.789Z".into()),
            condition: Some("RetryAttemptsExhausted".into()),
            function_error: None,
            invoke_count: Some(1),
        }
    }

    fn rec(seq: &str) -> StreamRecord {
        StreamRecord {
            partition_key: "k".into(),
            sequence_number: seq.into(),
            data: vec![],
            arrival_ms: 0,
        }
    }

    #[test]
    fn sequence_numbers_compare_as_integers() {
        use Ordering::*;
        let big = "49601189658422359378836298521827638475320189012309704722";
        let bigger = "49601189658422359378836298522902373528957594348623495186";
        assert_eq!(cmp_sequence_numbers(big, bigger), Less);
        assert_eq!(cmp_sequence_numbers(bigger, big), Greater);
        assert_eq!(cmp_sequence_numbers(big, big), Equal);
        // Length first: "9" < "10", which a string comparison gets wrong.
        assert_eq!(cmp_sequence_numbers("9", "10"), Less);
        assert_eq!(cmp_sequence_numbers("0010", "9"), Greater);
        assert_eq!(cmp_sequence_numbers("0", ""), Equal);
        // The largest 128-bit value and beyond u64.
        assert_eq!(
            cmp_sequence_numbers(
                "340282366920938463463374607431768211455",
                "18446744073709551616"
            ),
            Greater
        );
        assert!(past_end("11", "9"));
        assert!(!past_end("9", "9"));
        assert!(is_sequence_number(big));
        assert!(!is_sequence_number(""));
        assert!(!is_sequence_number("1e5"));
    }

    #[test]
    fn queue_targets() {
        assert_eq!(
            queue_target(&OnFailure::Queue, "f").unwrap(),
            QueueTarget {
                name: "f-failures".into(),
                owner: None,
                region: None
            }
        );
        assert_eq!(
            queue_target(
                &OnFailure::SqsArn("arn:aws:sqs:eu-west-1:123456789012:dlq".into()),
                "f"
            )
            .unwrap(),
            QueueTarget {
                name: "dlq".into(),
                owner: Some("123456789012".into()),
                region: Some("eu-west-1".into())
            }
        );
        assert_eq!(
            queue_target(&OnFailure::None, "f").unwrap_err(),
            NoQueue::Disabled
        );
        let topic = "arn:aws:sns:eu-west-1:123456789012:t";
        let err = queue_target(&OnFailure::SnsArn(topic.into()), "f").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("`consumer.on_failure` is the SNS topic `{topic}`"))
        );
        assert!(err.to_string().contains("\n  hint: "));
        assert!(matches!(
            queue_target(&OnFailure::SqsArn("arn:aws:sqs:x".into()), "f"),
            Err(NoQueue::BadArn(_))
        ));
    }

    #[test]
    fn stream_names_from_arns() {
        assert_eq!(
            stream_name("arn:aws:kinesis:us-east-1:000000000000:stream/my-stream"),
            Some("my-stream")
        );
        assert_eq!(stream_name("arn:aws:kinesis:us-east-1:0:table/x"), None);
        assert_eq!(stream_name("nonsense"), None);
    }

    #[test]
    fn lost_records_are_counted() {
        let b = batch("10", "14", 5);
        let all = ReadBack {
            records: ["10", "11", "12", "13", "14"].map(rec).to_vec(),
            start_trimmed: false,
        };
        assert_eq!(all.lost(&b), 0);
        // The start was trimmed: the iterator began after the first sequence number.
        let late = ReadBack {
            records: ["12", "13", "14"].map(rec).to_vec(),
            start_trimmed: false,
        };
        assert_eq!(late.lost(&b), 2);
        let gone = ReadBack {
            records: vec![],
            start_trimmed: true,
        };
        assert_eq!(gone.lost(&b), 5);
        // Sequence numbers are not contiguous: only the count says something is missing.
        let b = batch("10", "40", 3);
        let found = ReadBack {
            records: ["10", "25", "40"].map(rec).to_vec(),
            start_trimmed: false,
        };
        assert_eq!(found.lost(&b), 0);
        let short = ReadBack {
            records: ["10", "40"].map(rec).to_vec(),
            start_trimmed: false,
        };
        assert_eq!(short.lost(&b), 1);
    }

    #[test]
    fn redrive_summary_adds_up() {
        let outcome = |redriven, lost, deleted, size| BatchOutcome {
            message_id: "m".into(),
            shard_id: "shardId-000000000000".into(),
            batch_size: size,
            redriven,
            lost,
            deleted,
            error: (!deleted).then(|| "2 records lost".to_string()),
        };
        let s = RedriveSummary::new(
            "q".into(),
            vec![
                outcome(5, 0, true, 5),
                outcome(3, 2, false, 5),
                outcome(2, 1, true, 3),
            ],
            vec![],
            true,
        );
        assert_eq!((s.redriven, s.lost, s.remaining), (10, 3, 5));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["redriven"], 10);
        assert_eq!(
            s.render(),
            "kept   m  shardId-000000000000  3 of 5 redriven, 2 lost: 2 records lost\nredriven 10 records, lost 3, remaining 5 in q\n"
        );
    }

    #[test]
    fn listing_sums_records_and_renders_a_line_per_batch() {
        let mut late = batch("20", "21", 2);
        late.failed_at = Some("2026-03-20T11:00:00.000Z".into());
        late.condition = None;
        let l = Listing::new(
            "q".into(),
            vec![late, batch("9", "10", 3)],
            vec![Unrecognized {
                message_id: "x".into(),
                reason: "the body is not JSON".into(),
            }],
            false,
        );
        assert_eq!(l.records, 5);
        assert_eq!(l.batches[0].start_sequence_number, "9");
        assert_eq!(
            l.render(),
            "2026-03-20T10:00:01.789Z  shardId-000000000000  9..10  3 records  RetryAttemptsExhausted\n\
             2026-03-20T11:00:00.000Z  shardId-000000000000  20..21  2 records  unknown\n\
             unrecognized message x: the body is not JSON\n\
             2 failed batches, 5 records (the listing may be incomplete)\n"
        );
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["queue"], "q");
        assert_eq!(v["records"], 5);
        assert_eq!(v["batches"][0]["shard_id"], "shardId-000000000000");
    }
}
