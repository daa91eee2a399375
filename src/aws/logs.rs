//! The consumer function's CloudWatch Logs: FilterLogEvents over `/aws/lambda/<function>`.

use super::{Clients, errors};
use anyhow::{Context as _, Result};
use serde::Serialize;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// Event id, unique within the group (for de-duplicating overlapping polls).
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Log stream (one per execution environment).
    pub stream: String,
    /// The logged text.
    pub message: String,
}

/// The log group of a Lambda function.
pub fn group_of(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// Every event of `group` from `start_ms` on, oldest first; `None` when the group does not
/// exist (the function has not logged yet).
pub async fn events_since(
    clients: &Clients,
    group: &str,
    start_ms: i64,
) -> Result<Option<Vec<LogEvent>>> {
    let client = &clients.logs;
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_next_token(token.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if errors::is_not_found(&e) => {
                return Ok(None);
            }
            Err(e) => return Err(e).with_context(|| format!("failed to read log group `{group}`")),
        };
        events.extend(out.events().iter().map(|e| LogEvent {
            id: e.event_id().unwrap_or_default().to_string(),
            timestamp_ms: e.timestamp().unwrap_or(0),
            stream: e.log_stream_name().unwrap_or_default().to_string(),
            message: e.message().unwrap_or_default().to_string(),
        }));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(Some(events))
}
