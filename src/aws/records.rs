//! Writing records: the producer engine's [`PutRecords`] over the real Kinesis client, and
//! the stream's open shards (ListShards) for routing and `status`.
//!
//! Per-entry `ProvisionedThroughputExceededException`, `InternalFailure` and
//! `KMSThrottlingException` are retryable; so are throttling and 5xx errors of a whole call
//! (after the SDK's own retries). A timed-out call stops the put: the SDK already retried it
//! within the operation timeout. Anything else stops the put too.

use anyhow::{Context as _, Result};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, PutRecordsResultEntry};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::errors;
use super::{Clients, error_text};
use crate::producer::{
    CallError, Entry, EntryResult, INTERNAL_FAILURE, PutRecords, ShardMap, ShardRange, THROTTLED,
};

/// Per-entry error codes worth sending again.
const RETRYABLE_CODES: [&str; 3] = [THROTTLED, INTERNAL_FAILURE, "KMSThrottlingException"];

/// Puts records into one stream.
#[derive(Debug, Clone)]
pub struct StreamWriter {
    client: Client,
    stream: String,
}

impl StreamWriter {
    /// A writer to stream `stream`.
    pub fn new(clients: &Clients, stream: impl Into<String>) -> StreamWriter {
        StreamWriter {
            client: clients.kinesis.clone(),
            stream: stream.into(),
        }
    }

    /// The stream written to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The stream's open shards, or `None` when it does not exist; see [`open_shards`].
    pub async fn open_shards(&self) -> Result<Option<ShardMap>> {
        list_open_shards(&self.client, &self.stream).await
    }
}

impl PutRecords for StreamWriter {
    async fn put_records(&self, entries: &[Entry]) -> Result<Vec<EntryResult>, CallError> {
        let records = entries
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&e.partition_key)
                    .set_explicit_hash_key(e.explicit_hash_key.map(|h| h.to_string()))
                    .data(Blob::new(e.data.clone()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CallError {
                code: "InvalidRecord".into(),
                message: e.to_string(),
                retryable: false,
                stream_not_found: false,
            })?;
        match self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(records))
            .send()
            .await
        {
            Ok(out) => Ok(out.records().iter().map(entry_result).collect()),
            Err(e) => Err(call_error(&e)),
        }
    }
}

fn entry_result(r: &PutRecordsResultEntry) -> EntryResult {
    match (r.error_code(), r.shard_id(), r.sequence_number()) {
        (None, Some(shard_id), Some(sequence_number)) => EntryResult::Ok {
            shard_id: shard_id.to_string(),
            sequence_number: sequence_number.to_string(),
        },
        (code, _, _) => {
            let code = code.unwrap_or("MissingSequenceNumber");
            EntryResult::Failed {
                code: code.to_string(),
                message: r.error_message().unwrap_or_default().to_string(),
                retryable: RETRYABLE_CODES.contains(&code) || code == "MissingSequenceNumber",
            }
        }
    }
}

fn call_error(e: &SdkError<PutRecordsError, HttpResponse>) -> CallError {
    let (code, retryable) = match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let retryable = err.is_provisioned_throughput_exceeded_exception()
                || err.is_kms_throttling_exception()
                || err.is_internal_failure_exception()
                || s.raw().status().is_server_error();
            return CallError {
                code: err.code().unwrap_or("ServiceError").to_string(),
                message: err.message().map_or_else(|| error_text(e), str::to_string),
                retryable,
                stream_not_found: err.is_resource_not_found_exception(),
            };
        }
        // The SDK already retried within the operation timeout: the endpoint does not answer,
        // and retrying again would multiply the wait by `--max-attempts`.
        SdkError::TimeoutError(_) => ("TimeoutError".to_string(), false),
        SdkError::ResponseError(_) => ("ResponseError".to_string(), true),
        // The SDK already retried a failed connection: the endpoint is wrong or down.
        SdkError::DispatchFailure(_) => ("DispatchFailure".to_string(), false),
        _ => ("ConstructionFailure".to_string(), false),
    };
    CallError {
        code,
        message: error_text(e),
        retryable,
        stream_not_found: false,
    }
}

/// The stream's open shards and their hash key ranges, or `None` when the stream does not
/// exist.
pub async fn open_shards(clients: &Clients, stream: &str) -> Result<Option<ShardMap>> {
    list_open_shards(&clients.kinesis, stream).await
}

async fn list_open_shards(client: &Client, stream: &str) -> Result<Option<ShardMap>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // ListShards refuses the stream name together with a continuation token.
        let req = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if errors::is_not_found(&e) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to list the shards of stream `{stream}`"));
            }
        };
        for s in out.shards() {
            let open = s
                .sequence_number_range()
                .is_none_or(|r| r.ending_sequence_number().is_none());
            let Some(range) = s.hash_key_range().filter(|_| open) else {
                continue;
            };
            let parse = |v: &str| {
                v.parse::<u128>().with_context(|| {
                    format!("shard `{}` has an invalid hash key `{v}`", s.shard_id())
                })
            };
            shards.push(ShardRange {
                shard_id: s.shard_id().to_string(),
                start: parse(range.starting_hash_key())?,
                end: parse(range.ending_hash_key())?,
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(Some(ShardMap::new(shards)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_results_map_error_codes() {
        let ok = PutRecordsResultEntry::builder()
            .shard_id("shardId-000000000001")
            .sequence_number("4959")
            .build();
        assert_eq!(
            entry_result(&ok),
            EntryResult::Ok {
                shard_id: "shardId-000000000001".into(),
                sequence_number: "4959".into()
            }
        );
        for (code, retryable) in [
            (THROTTLED, true),
            (INTERNAL_FAILURE, true),
            ("KMSThrottlingException", true),
            ("KMSAccessDeniedException", false),
        ] {
            let failed = PutRecordsResultEntry::builder()
                .error_code(code)
                .error_message("Rate exceeded")
                .build();
            assert_eq!(
                entry_result(&failed),
                EntryResult::Failed {
                    code: code.into(),
                    message: "Rate exceeded".into(),
                    retryable
                },
                "{code}"
            );
        }
    }
}
