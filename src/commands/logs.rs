//! `kstream logs`: the consumer function's CloudWatch Logs since a time, and with `--follow`
//! new events as they come (polling). Text lines on stdout, or JSON lines with `--json`.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Context, UsageError};
use crate::aws::logs::{self, LogEvent};
use crate::cli::{LogsArgs, Since};
use crate::ui::Progress;

/// Pause between polls with `--follow`.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// A poll looks back this far before the newest event seen: CloudWatch may ingest an event
/// after newer ones, and event ids make the overlap harmless.
const OVERLAP_MS: i64 = 30_000;

/// Start of the window, in ms since the epoch, of `since` at `now`.
pub fn start_ms(since: Since, now: SystemTime) -> Result<i64, UsageError> {
    let at = match since {
        Since::Ago(ago) => now.checked_sub(ago),
        Since::At(at) => Some(at),
    };
    at.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| {
            UsageError("`--since` is before 1970\n  hint: give a later time, like `1h`".into())
        })
}

/// `2024-03-09T07:05:04.477Z`.
pub fn format_timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// One event as a text line: time, log stream, message (without its trailing newline).
pub fn format_event(e: &LogEvent) -> String {
    format!(
        "{} {} {}",
        format_timestamp(e.timestamp_ms),
        e.stream,
        e.message.trim_end_matches(['\n', '\r'])
    )
}

/// Run `kstream logs`.
pub(crate) async fn run(ctx: &Context, args: &LogsArgs) -> Result<()> {
    let start_ms = start_ms(args.since, SystemTime::now())?;
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let group = logs::group_of(&config.consumer.function_name);
    let progress = Progress::stderr();
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut cursor = start_ms;
    let mut waiting = false;
    loop {
        match logs::events_since(&clients, &group, cursor).await? {
            None if !args.follow => {
                progress.note(&format!(
                    "log group `{group}` does not exist yet: the function has not logged anything"
                ));
                return Ok(());
            }
            None => {
                if !waiting {
                    progress.waiting(&format!("log group `{group}` to appear"));
                    waiting = true;
                }
            }
            Some(events) => {
                let mut out = std::io::stdout().lock();
                for e in events {
                    if seen.insert(e.id.clone(), e.timestamp_ms).is_some() {
                        continue;
                    }
                    if ctx.output.json {
                        let line = json!({
                            "format_version": super::FORMAT_VERSION,
                            "timestamp": format_timestamp(e.timestamp_ms),
                            "timestamp_ms": e.timestamp_ms,
                            "stream": e.stream,
                            "message": e.message,
                        });
                        writeln!(out, "{line}")?;
                    } else {
                        writeln!(out, "{}", format_event(&e))?;
                    }
                }
                out.flush()?;
            }
        }
        if !args.follow {
            return Ok(());
        }
        let newest = seen.values().copied().max().unwrap_or(start_ms);
        cursor = (newest - OVERLAP_MS).max(start_ms);
        seen.retain(|_, ts| *ts >= cursor);
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        use crate::cli::parse_since;
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |s: &str| start_ms(parse_since(s).unwrap(), now);
        assert_eq!(at("10m"), Ok(1_700_000_000_000 - 600_000));
        assert_eq!(at("1h 30m"), Ok(1_700_000_000_000 - 5_400_000));
        assert_eq!(at("2024-03-09T07:05:04Z"), Ok(1_709_967_904_000));
        assert_eq!(
            parse_since("yesterday").unwrap_err(),
            "expected a duration like `10m` or an RFC 3339 time like `2024-03-09T07:05:04Z`"
        );
        assert!(parse_since("100000000years").is_err());
        assert_eq!(
            start_ms(Since::Ago(Duration::from_secs(2_000_000_000)), now)
                .unwrap_err()
                .to_string(),
            "`--since` is before 1970\n  hint: give a later time, like `1h`"
        );
    }

    #[test]
    fn events_are_one_line_each() {
        let e = LogEvent {
            id: "1".into(),
            timestamp_ms: 1_709_967_904_477,
            stream: "2024/03/09/[$LATEST]abc".into(),
            message: "wrote 3 objects\n".into(),
        };
        assert_eq!(
            format_event(&e),
            "2024-03-09T07:05:04.477Z 2024/03/09/[$LATEST]abc wrote 3 objects"
        );
    }
}
