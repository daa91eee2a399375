//! The consumer's iterator age in `status`: the CloudWatch reading, and the rule that says it
//! grows.

use serde::Serialize;

use crate::aws::metrics::{self, Reading, Unavailable};
use crate::model::Desired;

/// The consumer's iterator age: how old the last record of each batch was when Lambda read
/// it (CloudWatch `AWS/Lambda` `IteratorAge`, dimension `FunctionName`, Maximum per minute).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IteratorAgeStatus {
    /// The window, in seconds (the last 5 minutes; the query adds the current minute).
    pub window_s: i64,
    /// Largest age in the window, in milliseconds; `null` when not available (never 0 for
    /// "no data").
    pub max_ms: Option<u64>,
    /// Per-minute maxima, oldest first; empty when not available.
    pub points: Vec<AgePoint>,
    /// Whether it grows ([`growing`]).
    pub growing: bool,
    /// Why it is not available (`no_data`, `not_supported`, `access_denied`, `throttled`,
    /// `unreachable`, `error`); `null` when available.
    pub not_available: Option<Unavailable>,
    /// The service's error code when an error made it not available.
    pub error_code: Option<String>,
}

/// One minute's maximum iterator age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AgePoint {
    /// Start of the minute, seconds since the Unix epoch.
    pub at_s: i64,
    /// Maximum age in that minute, in milliseconds.
    pub max_ms: u64,
}

/// How many per-minute points in a row must rise for the iterator age to count as growing.
pub const GROWTH_POINTS: usize = 3;
/// Below this age (milliseconds, plus the mapping's batching window) the consumer counts as
/// near the head of the stream whatever the trend.
pub const GROWTH_FLOOR_MS: u64 = 60_000;

/// Whether the iterator age grows: the last [`GROWTH_POINTS`] per-minute maxima are in
/// consecutive minutes, each is higher than the one before, and the latest is at least
/// [`GROWTH_FLOOR_MS`] plus the batching window (a mapping that waits up to
/// `maximum_batching_window_s` before invoking makes ages of that size normal). Fewer points, a
/// gap, a fall or a flat step is not growth.
pub fn growing(points: &[AgePoint], batching_window_s: u32) -> bool {
    let Some(last) = points
        .len()
        .checked_sub(GROWTH_POINTS)
        .map(|i| &points[i..])
    else {
        return false;
    };
    let floor = GROWTH_FLOOR_MS + u64::from(batching_window_s) * 1000;
    last.windows(2)
        .all(|w| w[1].at_s - w[0].at_s == metrics::PERIOD_S && w[1].max_ms > w[0].max_ms)
        && last.last().is_some_and(|p| p.max_ms >= floor)
}

impl IteratorAgeStatus {
    /// From what CloudWatch answered.
    pub fn new(reading: &Reading, batching_window_s: u32) -> IteratorAgeStatus {
        match reading {
            Reading::Points(points) => {
                let points: Vec<AgePoint> = points
                    .iter()
                    .map(|p| AgePoint {
                        at_s: p.at_s,
                        max_ms: p.value.max(0.0).round() as u64,
                    })
                    .collect();
                IteratorAgeStatus {
                    window_s: metrics::WINDOW_S,
                    max_ms: points.iter().map(|p| p.max_ms).max(),
                    growing: growing(&points, batching_window_s),
                    points,
                    not_available: None,
                    error_code: None,
                }
            }
            Reading::Unavailable { why, code } => IteratorAgeStatus {
                window_s: metrics::WINDOW_S,
                max_ms: None,
                points: Vec::new(),
                growing: false,
                not_available: Some(*why),
                error_code: code.clone(),
            },
        }
    }

    /// The status column of its row.
    pub(super) fn state(&self) -> &'static str {
        match (self.not_available, self.growing) {
            (Some(_), _) => "not available",
            (None, true) => "growing",
            (None, false) => "steady",
        }
    }

    /// The details column of its row.
    pub(super) fn details(&self) -> String {
        let Some(why) = self.not_available else {
            let series: Vec<String> = self.points.iter().map(|p| age(p.max_ms)).collect();
            return format!(
                "max {} in the last {} min; per minute from {} UTC: {}",
                age(self.max_ms.unwrap_or(0)),
                self.window_s / 60,
                self.points
                    .first()
                    .map_or_else(String::new, |p| clock(p.at_s)),
                series.join(", ")
            );
        };
        let code = self
            .error_code
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        match why {
            Unavailable::NoData => format!(
                "no datapoints in the last {} min (Lambda sends them once the mapping has processed batches; an emulator may not send them)",
                self.window_s / 60
            ),
            Unavailable::NotSupported => format!("the endpoint does not serve CloudWatch{code}"),
            Unavailable::AccessDenied => format!(
                "access denied to `cloudwatch:GetMetricData`{code}: `kstream policy` prints what `status` needs"
            ),
            Unavailable::Throttled => format!("CloudWatch throttled the read{code}: try again"),
            Unavailable::Unreachable => "CloudWatch did not answer in time".to_string(),
            Unavailable::Error => format!("CloudWatch failed to answer{code}"),
        }
    }

    /// The warning when it grows, naming what to change.
    pub(super) fn warning(&self, desired: &Desired) -> Option<String> {
        if !self.growing {
            return None;
        }
        let c = &desired.consumer;
        let rise: Vec<String> = self.points[self.points.len() - GROWTH_POINTS..]
            .iter()
            .map(|p| age(p.max_ms))
            .collect();
        Some(format!(
            "the consumer falls behind the stream: its iterator age grows ({}, one minute apart): raise `consumer.parallelization_factor` (now {}), `consumer.batch_size` (now {}) or `consumer.memory_mb` (now {}), then `kstream apply`",
            rise.join(" → "),
            c.parallelization_factor,
            c.batch_size,
            c.memory_mb
        ))
    }
}

/// An age for people: `850 ms`, `12.3 s`, `3 min 10 s`, `2 h 5 min`.
pub(super) fn age(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// `HH:MM` of a Unix time, UTC.
pub(super) fn clock(at_s: i64) -> String {
    let minutes = at_s.rem_euclid(86_400) / 60;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}
