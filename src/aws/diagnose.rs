//! What went wrong with an AWS call, in the user's words: the one place where an error whose
//! chain holds an SDK error becomes one line that names the endpoint, profile, region or
//! action, and a hint. Classified by typed checks (connector error kinds, `io::ErrorKind`,
//! credential-provider errors, error codes) and the `Trace` of calls, never by message text.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Connection, errors};

/// Error codes that mean the credentials themselves were refused (expired, unknown, bad
/// secret).
const REJECTED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "RequestExpired",
];

/// Error codes that mean the identity may not do what was asked.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

/// One operation as the clients ran it: what, where, since when, and how it ended.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// SDK service name (`Kinesis`, `STS`, …).
    pub service: String,
    /// Operation name (`CreateStream`).
    pub operation: String,
    /// When the operation started.
    pub started: Instant,
    /// The URL of its last request, once one was about to be sent.
    pub url: Option<String>,
    /// Whether it ended (with an answer or an error) rather than being cut off.
    pub finished: bool,
    /// The HTTP status of its last answer.
    pub status: Option<u16>,
    /// How long it took, when it failed because a timeout cut it off.
    pub timed_out: Option<Duration>,
}

/// The calls of one run, shared by every client built from one `Connection`, so that an error
/// can be explained with the operation and URL it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trace(Arc<Mutex<Vec<Call>>>);

impl Trace {
    /// An operation starts; its index for the later updates.
    pub fn start(&self, service: &str, operation: &str) -> usize {
        let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(Call {
            service: service.to_string(),
            operation: operation.to_string(),
            started: Instant::now(),
            url: None,
            finished: false,
            status: None,
            timed_out: None,
        });
        calls.len() - 1
    }

    /// A request of operation `index` is about to go to `url`.
    pub fn sending(&self, index: usize, url: &str) {
        if let Some(call) = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(index)
        {
            call.url = Some(url.to_string());
        }
    }

    /// Operation `index` ended, with the HTTP status of its answer if there was one, and
    /// whether a timeout ended it.
    pub fn finish(&self, index: usize, status: Option<u16>, timed_out: bool) {
        if let Some(call) = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(index)
        {
            call.finished = true;
            call.status = status;
            call.timed_out = timed_out.then(|| call.started.elapsed());
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The IAM action of an operation (`kinesis:CreateStream`).
pub(crate) fn action(service: &str, operation: &str) -> String {
    let prefix = match service.to_ascii_lowercase().as_str() {
        "cloudwatch logs" | "cloudwatchlogs" | "logs" => "logs".to_string(),
        other => other.replace(' ', ""),
    };
    format!("{prefix}:{operation}")
}

/// The user-facing error for `err` when its chain holds an SDK error kstream recognises;
/// otherwise `err` unchanged. The full original chain is logged at debug level (`-v`).
pub async fn explain(err: anyhow::Error, conn: &Connection) -> anyhow::Error {
    let Some(cause) = classify(&err, conn) else {
        return err;
    };
    tracing::debug!("{err:?}");
    let cause = match cause {
        Cause::Connect { url, host } if host_unknown(&host).await => {
            Cause::Unresolved { url, host }
        }
        other => other,
    };
    let contexts: Vec<String> = err
        .chain()
        .take(sdk_position(&err))
        .map(|e| e.to_string())
        .collect();
    let message = message(&cause, conn);
    anyhow::Error::new(Explained(if contexts.is_empty() {
        message
    } else {
        format!("{}: {message}", contexts.join(": "))
    }))
}

/// An explained AWS failure: the whole text, already in the user's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Explained(String);

/// What kind of failure, with what the message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No credentials anywhere in the chain.
    NoCredentials,
    /// `--profile` names a profile the files do not define.
    UnknownProfile(String),
    /// The credential provider failed for another reason (SSO session, process, …).
    CredentialsFailed(String),
    /// The service refused the credentials (expired, unknown, bad signature).
    Rejected(String),
    /// The identity may not call this action.
    Denied(Option<String>),
    /// Nobody listens at the endpoint.
    Refused(String),
    /// The connection failed; `host` is checked for a DNS answer before the message.
    Connect { url: String, host: String },
    /// The host has no DNS answer.
    Unresolved { url: String, host: String },
    /// The endpoint accepted the connection but did not answer in time.
    Silent {
        url: String,
        after: Duration,
        action: Option<String>,
    },
}

/// Classify the first SDK failure in the chain.
pub(crate) fn classify(err: &anyhow::Error, conn: &Connection) -> Option<Cause> {
    let calls = conn.trace.calls();
    tracing::debug!(?calls, "classifying");
    let last_url = || {
        calls
            .iter()
            .rev()
            .find_map(|c| c.url.clone())
            .or_else(|| conn.endpoint_url.clone())
            .unwrap_or_else(|| "the AWS endpoint".to_string())
    };
    // The SDK reports a credential failure as a dispatch failure: look for it first.
    if let Some(creds) = err
        .chain()
        .find_map(|e| e.downcast_ref::<CredentialsError>())
    {
        let unknown_profile = conn.profile.as_ref().filter(|p| !profile_defined(p));
        return Some(match (creds, unknown_profile) {
            (_, Some(profile)) => Cause::UnknownProfile(profile.clone()),
            (CredentialsError::CredentialsNotLoaded(_), None) => Cause::NoCredentials,
            (other, None) => Cause::CredentialsFailed(super::error_text(other)),
        });
    }
    for e in err.chain() {
        if let Some(conn_err) = e.downcast_ref::<ConnectorError>() {
            let url = last_url();
            if conn_err.is_timeout() {
                return Some(Cause::Silent {
                    url,
                    after: super::Timeouts::new(conn.timeout).connect,
                    action: None,
                });
            }
            if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) {
                return Some(Cause::Refused(url));
            }
            if conn_err.is_io() || conn_err.is_other() {
                let host = host_of(&url);
                return Some(Cause::Connect { url, host });
            }
        }
        if let Some(code) = error_code(e) {
            let failed = calls
                .iter()
                .find(|c| c.finished && c.status.is_some_and(|s| s >= 400));
            if REJECTED.contains(&code.as_str()) {
                return Some(Cause::Rejected(code));
            }
            if DENIED.contains(&code.as_str()) {
                return Some(Cause::Denied(
                    failed.map(|c| action(&c.service, &c.operation)),
                ));
            }
        }
    }
    // A timeout has no public error type: the trace knows which call it ended.
    calls
        .iter()
        .find_map(|c| Some((c, c.timed_out?)))
        .map(|(c, took)| Cause::Silent {
            url: c.url.clone().unwrap_or_else(last_url),
            after: Duration::from_secs(took.as_secs_f64().round() as u64),
            action: Some(action(&c.service, &c.operation)),
        })
}

/// The message and hint for a cause.
pub(crate) fn message(cause: &Cause, conn: &Connection) -> String {
    let region = conn.region.as_deref().unwrap_or("the configured region");
    match cause {
        Cause::NoCredentials => "no AWS credentials found (environment, `~/.aws/credentials`, `~/.aws/config`, SSO, instance role)\n  hint: run `aws configure` or `aws sso login`, or pass `--profile`".to_string(),
        Cause::UnknownProfile(p) => format!(
            "AWS profile `{p}` is not defined in `~/.aws/config` or `~/.aws/credentials`\n  hint: list the profiles with `aws configure list-profiles`, or create it with `aws configure --profile {p}`"
        ),
        Cause::CredentialsFailed(why) => format!(
            "could not load AWS credentials: {why}\n  hint: run `aws sso login` or `aws configure`, or pass another `--profile`"
        ),
        Cause::Rejected(code) => format!(
            "the AWS credentials were rejected (`{code}`): they are expired or not valid\n  hint: refresh them with `aws sso login` or new keys in `aws configure`"
        ),
        Cause::Denied(Some(action)) => format!(
            "access denied to `{action}`\n  hint: allow `{action}` for these credentials in IAM, or use another `--profile`"
        ),
        Cause::Denied(None) => "access denied\n  hint: check these credentials' IAM permissions, or use another `--profile`".to_string(),
        Cause::Refused(url) => format!(
            "connection to `{url}` refused: nothing listens there\n  hint: {}",
            endpoint_hint(url)
        ),
        Cause::Connect { url, .. } => format!(
            "could not connect to `{url}`\n  hint: {}",
            endpoint_hint(url)
        ),
        Cause::Unresolved { url, host } if conn.endpoint_url.is_none() => format!(
            "host `{host}` does not resolve (region `{region}`): the region may not exist, or there is no network\n  hint: check the region (`--region`, the config's `region`, `AWS_REGION`) and the connection; `{url}` is where kstream tried"
        ),
        Cause::Unresolved { url, host } => format!(
            "host `{host}` of endpoint `{url}` does not resolve\n  hint: check `endpoint_url` (or `--endpoint-url`)"
        ),
        Cause::Silent { url, after, action } => format!(
            "endpoint `{url}` did not answer{} within {}\n  hint: check that the endpoint is up and reachable; `--aws-timeout` sets how long a call may take",
            action.as_ref().map(|a| format!(" `{a}`")).unwrap_or_default(),
            humantime::format_duration(*after)
        ),
    }
}

/// What to do about an endpoint that cannot be reached.
fn endpoint_hint(url: &str) -> String {
    let host = host_of(url);
    if host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
        "start LocalStack with `scripts/localstack up`, or fix `endpoint_url`".to_string()
    } else {
        "check `endpoint_url` (or `--endpoint-url`), the region and the network".to_string()
    }
}

/// The host of a URL (`http://h:1/x` → `h`).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    host.to_string()
}

/// Whether `host` has no DNS answer (a typed lookup, not the connector's message).
async fn host_unknown(host: &str) -> bool {
    !host.is_empty()
        && tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, 443)))
            .await
            .is_ok_and(|r| r.is_err())
}

/// Whether the shared config files define `profile` (`[profile p]` in config, `[p]` in
/// credentials; `default` as `[default]` in either).
fn profile_defined(profile: &str) -> bool {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let wanted = [format!("[profile {profile}]"), format!("[{profile}]")];
    [
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
    .into_iter()
    .flatten()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .any(|text| {
        text.lines().any(|l| {
            let l: String = l.split_whitespace().collect::<Vec<_>>().join(" ");
            wanted.contains(&l)
        })
    })
}

/// The `io::ErrorKind` at the bottom of an error's sources, if any.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(e);
    let mut kind = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        source = s.source();
    }
    kind
}

/// The service's error code, from the error's metadata (unmodelled errors) or the modelled
/// error types that carry an authentication or permission code.
fn error_code(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    fn code(e: &impl ProvideErrorMetadata) -> Option<String> {
        e.code().map(str::to_string)
    }
    e.downcast_ref::<ErrorMetadata>()
        .and_then(code)
        .or_else(|| errors::modelled_code(e))
}

/// How many chain elements are kstream's own context, above the SDK error: the SDK error is
/// the element just above a connector error, or two above an error's metadata (the operation
/// error sits between), or the next-to-last (a timeout's private cause).
fn sdk_position(err: &anyhow::Error) -> usize {
    let chain: Vec<&(dyn std::error::Error + 'static)> = err.chain().collect();
    for (i, e) in chain.iter().enumerate() {
        if e.downcast_ref::<ConnectorError>().is_some() {
            return i.saturating_sub(1);
        }
        if e.downcast_ref::<ErrorMetadata>().is_some() || errors::modelled_code(*e).is_some() {
            return i.saturating_sub(2);
        }
    }
    chain.len().saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        Connection {
            region: Some("us-east-1".into()),
            ..Connection::default()
        }
    }

    #[test]
    fn actions_use_iam_prefixes() {
        assert_eq!(action("Kinesis", "CreateStream"), "kinesis:CreateStream");
        assert_eq!(
            action("CloudWatch Logs", "CreateLogGroup"),
            "logs:CreateLogGroup"
        );
        assert_eq!(action("STS", "GetCallerIdentity"), "sts:GetCallerIdentity");
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("http://127.0.0.1:4566"), "127.0.0.1");
        assert_eq!(
            host_of("https://sts.us-east-1.amazonaws.com/"),
            "sts.us-east-1.amazonaws.com"
        );
        assert!(endpoint_hint("http://localhost:1/").contains("scripts/localstack up"));
        assert!(!endpoint_hint("https://kinesis.example.com").contains("localstack"));
    }

    #[test]
    fn codes_classify_with_context() {
        let meta = ErrorMetadata::builder()
            .code("ExpiredTokenException")
            .message("The security token included in the request is expired")
            .build();
        // The operation error between the context and the metadata, as the SDK nests them.
        #[derive(Debug, thiserror::Error)]
        #[error("service error")]
        struct Op(#[source] ErrorMetadata);
        #[derive(Debug, thiserror::Error)]
        #[error("unhandled")]
        struct Sdk(#[source] Op);
        let err = anyhow::Error::new(Sdk(Op(meta))).context("failed to list streams");
        assert_eq!(
            classify(&err, &conn()),
            Some(Cause::Rejected("ExpiredTokenException".into()))
        );
        assert_eq!(sdk_position(&err), 1);
        let denied = ErrorMetadata::builder().code("AccessDenied").build();
        let err = anyhow::Error::new(Sdk(Op(denied)));
        let c = conn();
        let i = c.trace.start("Kinesis", "CreateStream");
        c.trace.finish(i, Some(400), false);
        assert_eq!(
            classify(&err, &c),
            Some(Cause::Denied(Some("kinesis:CreateStream".into())))
        );
        insta::assert_snapshot!(
            message(&classify(&err, &c).expect("classified"), &c),
            @r"
        access denied to `kinesis:CreateStream`
          hint: allow `kinesis:CreateStream` for these credentials in IAM, or use another `--profile`
        "
        );
    }

    #[test]
    fn an_unrelated_error_is_left_alone() {
        let err = anyhow::anyhow!("stream `x` has no shards");
        assert_eq!(classify(&err, &conn()), None);
    }
}
