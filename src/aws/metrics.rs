//! CloudWatch metrics for `status`: the consumer's `IteratorAge` (namespace `AWS/Lambda`,
//! dimension `FunctionName`), its Maximum per minute over the last minutes, read with one
//! GetMetricData call. Reading a metric never fails a command: an error becomes
//! [`Reading::Unavailable`], with the reason classified by error kind, error code or HTTP
//! status (never by message text).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use super::{Clients, errors};

/// The metric's period: one datapoint per minute (Lambda sends its metrics each minute).
pub const PERIOD_S: i64 = 60;
/// The window `status` reports on.
pub const WINDOW_S: i64 = 300;
/// How long the read may take before status gives up on it (status must not hang on it).
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// At most this many pages of answers (one page holds them all: six points).
const MAX_PAGES: usize = 5;

/// One period's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Start of the period, seconds since the Unix epoch.
    pub at_s: i64,
    /// The metric's maximum in that period (for `IteratorAge`: milliseconds).
    pub value: f64,
}

/// Why a metric is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// The endpoint answered, with no datapoints in the window (no batch processed there, or
    /// an emulator that does not publish Lambda's metrics).
    NoData,
    /// The endpoint does not serve CloudWatch (unknown operation, HTTP 404/501, or an answer
    /// that is not CloudWatch's).
    NotSupported,
    /// The credentials may not call `cloudwatch:GetMetricData`.
    AccessDenied,
    /// CloudWatch refused the call for its rate.
    Throttled,
    /// No answer: the connection failed or the read timed out.
    Unreachable,
    /// Another error (its code, when the service sent one, is kept).
    Error,
}

/// A metric's datapoints, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Datapoints, oldest first; never empty.
    Points(Vec<Point>),
    /// None to show.
    Unavailable {
        /// Why.
        why: Unavailable,
        /// The service's error code, when it sent one.
        code: Option<String>,
    },
}

/// The query window for `now`: it ends at the end of the current (partial) minute and starts
/// six periods before, so that the last five full minutes are in it whatever the second.
pub fn window(now: SystemTime) -> (i64, i64) {
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let end = (now_s / PERIOD_S + 1) * PERIOD_S;
    (end - WINDOW_S - PERIOD_S, end)
}

/// The consumer function's `IteratorAge` (Maximum, per minute) over [`window`]`(now)`.
pub async fn iterator_age(clients: &Clients, function: &str, now: SystemTime) -> Reading {
    match tokio::time::timeout(READ_TIMEOUT, read(clients, function, now)).await {
        Ok(reading) => reading,
        Err(_elapsed) => Reading::Unavailable {
            why: Unavailable::Unreachable,
            code: None,
        },
    }
}

async fn read(clients: &Clients, function: &str, now: SystemTime) -> Reading {
    let (start, end) = window(now);
    let query = MetricDataQuery::builder()
        .id("iterator_age")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/Lambda")
                        .metric_name("IteratorAge")
                        .dimensions(
                            Dimension::builder()
                                .name("FunctionName")
                                .value(function)
                                .build(),
                        )
                        .build(),
                )
                .period(PERIOD_S as i32)
                .stat("Maximum")
                .build(),
        )
        .return_data(true)
        .build();
    let mut points = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = clients
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(query.clone())
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(target: "kstream::aws", error = ?e, "GetMetricData failed");
                let (why, code) = classify(&e);
                return Reading::Unavailable { why, code };
            }
        };
        for result in out.metric_data_results() {
            if result.status_code() == Some(&StatusCode::Forbidden) {
                return Reading::Unavailable {
                    why: Unavailable::AccessDenied,
                    code: None,
                };
            }
            points.extend(
                result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .map(|(at, value)| Point {
                        at_s: at.secs(),
                        value: *value,
                    }),
            );
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    points_or_no_data(points, start, end)
}

/// The datapoints within `[start, end)`, oldest first, or `NoData`.
fn points_or_no_data(mut points: Vec<Point>, start: i64, end: i64) -> Reading {
    points.retain(|p| p.at_s >= start && p.at_s < end && p.value.is_finite());
    points.sort_by_key(|p| p.at_s);
    points.dedup_by_key(|p| p.at_s);
    if points.is_empty() {
        Reading::Unavailable {
            why: Unavailable::NoData,
            code: None,
        }
    } else {
        Reading::Points(points)
    }
}

/// Error codes of an endpoint that does not know the operation or the service.
const NOT_SUPPORTED: &[&str] = &[
    "UnknownOperationException",
    "InvalidAction",
    "NotImplemented",
    "UnsupportedOperation",
    "UnsupportedOperationException",
];

/// Why GetMetricData failed, by the error's kind, code and HTTP status.
fn classify(err: &SdkError<GetMetricDataError, HttpResponse>) -> (Unavailable, Option<String>) {
    let code = err.code().map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let why = match err {
        SdkError::TimeoutError(_) => Unavailable::Unreachable,
        SdkError::DispatchFailure(e) if e.is_io() || e.is_timeout() => Unavailable::Unreachable,
        _ if errors::is_denied(err) || status == Some(403) => Unavailable::AccessDenied,
        _ if errors::is_throttled(err)
            || errors::has_code(err, &["Throttling"])
            || status == Some(429) =>
        {
            Unavailable::Throttled
        }
        _ if errors::has_code(err, NOT_SUPPORTED) || matches!(status, Some(404 | 501)) => {
            Unavailable::NotSupported
        }
        // An answer the CloudWatch client cannot read is not CloudWatch's.
        SdkError::ResponseError(_) => Unavailable::NotSupported,
        _ => Unavailable::Error,
    };
    (why, code)
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::StatusCode as HttpStatus;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::aws::replay::{Exchange, Replay, Service};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn the_window_covers_five_full_minutes_and_the_current_one() {
        // 12:00:30 → 11:55:00 to 12:01:00.
        let noon = 1_800_000_000 / 60 * 60;
        assert_eq!(window(at(noon as u64 + 30)), (noon - 300, noon + 60));
        // On the minute: the minute that just began is the partial one.
        assert_eq!(window(at(noon as u64)), (noon - 300, noon + 60));
        let (start, end) = window(at(noon as u64 + 59));
        assert_eq!((end - start) / PERIOD_S, 6);
    }

    #[test]
    fn points_are_sorted_within_the_window_and_none_is_no_data() {
        let p = |at_s, value| Point { at_s, value };
        let reading = points_or_no_data(
            vec![p(180, 3.0), p(60, 1.0), p(0, 9.0), p(120, 2.0), p(120, 2.0)],
            60,
            240,
        );
        assert_eq!(
            reading,
            Reading::Points(vec![p(60, 1.0), p(120, 2.0), p(180, 3.0)])
        );
        assert_eq!(
            points_or_no_data(vec![p(0, 1.0)], 60, 240),
            Reading::Unavailable {
                why: Unavailable::NoData,
                code: None
            }
        );
    }

    fn service_error(status: u16, code: &str) -> SdkError<GetMetricDataError, HttpResponse> {
        SdkError::service_error(
            GetMetricDataError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("access denied, unknown operation, throttled")
                    .build(),
            ),
            HttpResponse::new(HttpStatus::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn errors_are_classified_by_code_and_status() {
        let why = |status, code| classify(&service_error(status, code)).0;
        assert_eq!(why(400, "AccessDenied"), Unavailable::AccessDenied);
        assert_eq!(why(403, "SomethingElse"), Unavailable::AccessDenied);
        assert_eq!(why(400, "Throttling"), Unavailable::Throttled);
        assert_eq!(why(400, "ThrottlingException"), Unavailable::Throttled);
        assert_eq!(why(400, "InvalidAction"), Unavailable::NotSupported);
        assert_eq!(why(501, "InternalFailure"), Unavailable::NotSupported);
        assert_eq!(why(404, "NotFound"), Unavailable::NotSupported);
        // The message never decides: it names all of the above.
        assert_eq!(why(400, "InvalidParameterValue"), Unavailable::Error);
        assert_eq!(
            classify(&service_error(500, "InternalServiceError")),
            (Unavailable::Error, Some("InternalServiceError".into()))
        );
    }

    /// The whole read against an endpoint's answers: an error is a reason, never a failure.
    #[tokio::test]
    async fn an_endpoint_without_cloudwatch_or_permission_is_a_reason() {
        for (status, why) in [
            (501, Unavailable::NotSupported),
            (404, Unavailable::NotSupported),
            (403, Unavailable::AccessDenied),
            (500, Unavailable::Error),
        ] {
            let replay = Replay::default();
            replay.expect(
                Service::CloudWatch,
                [Exchange::status("GetMetricData", status, "")],
            );
            let clients = Clients::replay(replay.http_client());
            let reading = iterator_age(&clients, "demo-consumer", at(1_800_000_000)).await;
            replay.assert_done();
            match reading {
                Reading::Unavailable { why: got, .. } => assert_eq!(got, why, "HTTP {status}"),
                other => panic!("HTTP {status}: {other:?}"),
            }
        }
    }
}
