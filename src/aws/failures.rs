//! The AWS side of `failures` and `redrive`: the on-failure queue (find it, read its messages
//! without consuming them, hand them back, delete one), a failed batch's records read back
//! from its shard, and a synchronous invocation of the consumer.
//!
//! Every loop here is bounded: the listing by a number of receives, the read-back by a number
//! of GetRecords calls, throttling retries by a number of attempts with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;

use super::{Clients, errors, function};
use crate::redrive::{QueueTarget, ReadBack, StreamRecord, past_end};

/// Most ReceiveMessage calls of one listing (10 messages each).
const MAX_RECEIVES: usize = 300;
/// The listing ends after this many receives in a row that bring no message not seen yet.
const QUIET_RECEIVES: usize = 3;
/// Long polling per receive: a short poll samples only some of SQS's servers, so an empty
/// answer would not mean an empty queue.
const RECEIVE_WAIT_S: i32 = 1;
/// Most GetRecords calls to read one failed batch back.
const MAX_GET_RECORDS: usize = 200;
/// Most attempts of a throttled call.
const MAX_THROTTLED: u32 = 8;

/// One message of the on-failure queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// SQS message id (stable across receives).
    pub id: String,
    /// The handle of the latest receive (needed to delete it or to change its visibility).
    pub receipt_handle: String,
    /// The body.
    pub body: String,
}

/// The messages a listing saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// Every message seen, by id.
    pub messages: Vec<QueueMessage>,
    /// `false` when the listing stopped at its bound while still finding new messages.
    pub complete: bool,
}

/// The URL of the on-failure queue; a missing queue is an error that says what to do.
pub async fn queue_url(clients: &Clients, target: &QueueTarget) -> Result<String> {
    if let Some(region) = target.region.as_deref().filter(|r| *r != clients.region) {
        bail!(
            "the failure queue `{}` is in region `{region}` and kstream connects to `{}`\n  hint: run kstream with `--region {region}`",
            target.name,
            clients.region
        );
    }
    let out = clients
        .sqs
        .get_queue_url()
        .queue_name(&target.name)
        .set_queue_owner_aws_account_id(target.owner.clone())
        .send()
        .await;
    match out {
        Ok(out) => out
            .queue_url
            .with_context(|| format!("SQS GetQueueUrl returned no URL for `{}`", target.name)),
        Err(e) if errors::is_queue_missing(&e) => bail!(
            "the failure queue `{}` does not exist\n  hint: run `kstream apply`, which creates it for `on_failure = \"queue\"`",
            target.name
        ),
        Err(e) => {
            Err(e).with_context(|| format!("failed to find the failure queue `{}`", target.name))
        }
    }
}

/// Receive every message of the queue without consuming it: each receive hides what it
/// returns for `hide_for`, so the next one returns others, until receives bring nothing new.
/// The caller hands the messages back with [`release`] (or deletes them).
pub async fn peek(clients: &Clients, url: &str, hide_for: Duration) -> Result<Peeked> {
    let mut seen: BTreeMap<String, QueueMessage> = BTreeMap::new();
    let mut quiet = 0;
    for _ in 0..MAX_RECEIVES {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_for.as_secs().clamp(1, 43_200) as i32)
            .wait_time_seconds(RECEIVE_WAIT_S)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let received: Vec<QueueMessage> = seen.into_values().collect();
                // Hand back what was hidden so far before reporting the failure.
                let _ = release(clients, url, &received.iter().collect::<Vec<_>>()).await;
                return Err(e).with_context(|| format!("failed to receive messages from `{url}`"));
            }
        };
        let mut new = 0;
        for m in out.messages() {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            let message = QueueMessage {
                id: id.to_string(),
                receipt_handle: handle.to_string(),
                body: m.body().unwrap_or_default().to_string(),
            };
            // A message seen again (its visibility ran out): only its latest handle is valid.
            if seen.insert(id.to_string(), message).is_none() {
                new += 1;
            }
        }
        if new == 0 {
            quiet += 1;
            if quiet == QUIET_RECEIVES {
                return Ok(Peeked {
                    messages: seen.into_values().collect(),
                    complete: true,
                });
            }
        } else {
            quiet = 0;
        }
    }
    Ok(Peeked {
        messages: seen.into_values().collect(),
        complete: false,
    })
}

/// Make `messages` visible again at once; returns how many SQS could not hand back (they
/// reappear when their visibility timeout ends).
pub async fn release(clients: &Clients, url: &str, messages: &[&QueueMessage]) -> Result<usize> {
    let mut failed = 0;
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .visibility_timeout(0)
                    .build()
                    .context("invalid ChangeMessageVisibilityBatch entry")
            })
            .collect::<Result<Vec<_>>>()?;
        let out = clients
            .sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .with_context(|| format!("failed to make messages of `{url}` visible again"))?;
        failed += out.failed().len();
    }
    Ok(failed)
}

/// Delete one message (its batch is done).
pub async fn delete(clients: &Clients, url: &str, message: &QueueMessage) -> Result<()> {
    clients
        .sqs
        .delete_message()
        .queue_url(url)
        .receipt_handle(&message.receipt_handle)
        .send()
        .await
        .with_context(|| format!("failed to delete message `{}` from `{url}`", message.id))?;
    Ok(())
}

/// The consumer's execution role ARN (the event's `invokeIdentityArn`); a missing function
/// is an error that says what to do.
pub async fn consumer_role(
    clients: &Clients,
    function_name: &str,
    deployment: &str,
) -> Result<String> {
    match function::observe(&clients.lambda, function_name, deployment).await? {
        Some(f) => Ok(f.role_arn),
        None => bail!(
            "function `{function_name}` does not exist, so nothing can be redriven through it\n  hint: run `kstream apply` first"
        ),
    }
}

/// The records of shard `shard` of stream `stream` from `start` to `end` (sequence numbers),
/// read with an `AT_SEQUENCE_NUMBER` iterator until past `end`, the shard's end or its tip.
pub async fn read_back(
    clients: &Clients,
    stream: &str,
    shard: &str,
    start: &str,
    end: &str,
    batch_size: u64,
) -> Result<ReadBack> {
    let client = &clients.kinesis;
    let iterator = throttled(|| async {
        client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(start)
            .send()
            .await
    })
    .await;
    let mut iterator = match iterator {
        Ok(out) => out.shard_iterator,
        // The stream or the shard is gone (expired after a reshard), or the start was trimmed.
        Err(e)
            if errors::is_not_found(&e)
                || errors::has_code(&e, &["TrimmedDataAccessException"]) =>
        {
            return Ok(ReadBack {
                records: Vec::new(),
                start_trimmed: true,
            });
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "failed to get a shard iterator for `{shard}` of stream `{stream}` at `{start}`"
                )
            });
        }
    };
    let limit = batch_size.saturating_add(1).clamp(1, 10_000) as i32;
    let mut records = Vec::new();
    for _ in 0..MAX_GET_RECORDS {
        let Some(it) = iterator.take() else {
            // The shard is closed and read to its end.
            return Ok(ReadBack {
                records,
                start_trimmed: false,
            });
        };
        let out = throttled(|| async {
            client
                .get_records()
                .shard_iterator(&it)
                .limit(limit)
                .send()
                .await
        })
        .await
        .with_context(|| format!("failed to read shard `{shard}` of stream `{stream}`"))?;
        for r in out.records() {
            let seq = r.sequence_number();
            if past_end(seq, end) {
                return Ok(ReadBack {
                    records,
                    start_trimmed: false,
                });
            }
            if crate::redrive::cmp_sequence_numbers(seq, start) == std::cmp::Ordering::Less {
                continue;
            }
            let arrival_ms = r
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .with_context(|| {
                    format!("record `{seq}` of shard `{shard}` has no arrival time")
                })?;
            let done = seq == end;
            records.push(StreamRecord {
                partition_key: r.partition_key().unwrap_or_default().to_string(),
                sequence_number: seq.to_string(),
                data: r.data().as_ref().to_vec(),
                arrival_ms,
            });
            if done {
                return Ok(ReadBack {
                    records,
                    start_trimmed: false,
                });
            }
        }
        // Caught up with the shard's tip: nothing further will arrive in the range.
        if out.records().is_empty() && out.millis_behind_latest() == Some(0) {
            return Ok(ReadBack {
                records,
                start_trimmed: false,
            });
        }
        if out.records().is_empty() {
            // An empty page inside the range: pace under the shard's 5 reads per second.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        iterator = out.next_shard_iterator;
    }
    bail!(
        "could not read records `{start}`..`{end}` of shard `{shard}` back within {MAX_GET_RECORDS} GetRecords calls\n  hint: run `kstream redrive` again"
    )
}

/// What the consumer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    /// `Unhandled` or `Handled` when the invocation failed.
    pub function_error: Option<String>,
    /// The response payload.
    pub payload: Vec<u8>,
}

/// Invoke `function` synchronously (RequestResponse) with `payload`.
pub async fn invoke(clients: &Clients, function_name: &str, payload: Vec<u8>) -> Result<Invoked> {
    let out = throttled(|| async {
        clients
            .lambda
            .invoke()
            .function_name(function_name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone()))
            .customize()
            // The call lasts as long as the function runs (up to 900 s): not the usual timeout.
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(clients.timeouts.invoke()),
            )
            .send()
            .await
    })
    .await
    .with_context(|| format!("failed to invoke function `{function_name}`"))?;
    Ok(Invoked {
        function_error: out.function_error().map(str::to_string),
        payload: out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
    })
}

/// Run `op` again with backoff while the service says it is throttled, at most
/// [`MAX_THROTTLED`] times.
async fn throttled<T, E, F, Fut>(mut op: F) -> std::result::Result<T, E>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let mut pause = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if errors::is_throttled(&e) && attempt < MAX_THROTTLED => {
                tracing::debug!(attempt, "throttled, retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            other => return other,
        }
    }
}
