//! A replay HTTP client for tests: per AWS service, a script of the requests kstream must make
//! and the answers to give, so a test pins the request sequence of a command without AWS or
//! LocalStack.
//!
//! Built on the public `HttpClient` traits (the SDK's own `StaticReplayClient` and
//! `aws-smithy-mocks` need `test-util` features, which compile the SDK a second time). The
//! service comes from the request's host and the operation from the request itself (the
//! `x-amz-target` header, IAM's `Action=`, or method + path + query for Lambda and S3), never
//! from the SDK's metadata, so it is a second opinion on what was sent.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// An AWS service kstream talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// Kinesis Data Streams (JSON, `x-amz-target`).
    Kinesis,
    /// S3 (REST XML).
    S3,
    /// IAM (query protocol).
    Iam,
    /// Lambda (REST JSON).
    Lambda,
    /// CloudWatch Logs (JSON, `x-amz-target`).
    Logs,
    /// SQS (JSON, `x-amz-target`).
    Sqs,
    /// STS (query protocol).
    Sts,
    /// CloudWatch metrics (RPC v2 CBOR: `/service/<name>/operation/<Operation>`).
    CloudWatch,
}

impl Service {
    /// The service a request's host name belongs to (`kinesis.us-east-1.amazonaws.com`,
    /// `123.control-kinesis…`, `s3.us-east-1…`, `iam.amazonaws.com`, …).
    fn of_host(host: &str) -> Option<Service> {
        host.split('.').find_map(|label| match label {
            "kinesis" | "control-kinesis" | "data-kinesis" => Some(Service::Kinesis),
            "s3" => Some(Service::S3),
            "iam" => Some(Service::Iam),
            "lambda" => Some(Service::Lambda),
            "logs" => Some(Service::Logs),
            "sqs" => Some(Service::Sqs),
            "sts" => Some(Service::Sts),
            "monitoring" => Some(Service::CloudWatch),
            _ => None,
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One expected request (by operation name) and the answer to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    operation: &'static str,
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    /// Run when the request arrives, before it is answered (a signal during a call).
    on_request: Option<Hook>,
}

/// Something a test does while a request is in flight.
#[derive(Clone)]
pub struct Hook(Arc<dyn Fn() + Send + Sync>);

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hook")
    }
}

impl Exchange {
    /// `operation` answered with 200 and `body`.
    pub fn ok(operation: &'static str, body: impl Into<String>) -> Exchange {
        Exchange::status(operation, 200, body)
    }

    /// `operation` answered with `status` and `body`.
    pub fn status(operation: &'static str, status: u16, body: impl Into<String>) -> Exchange {
        Exchange {
            operation,
            status,
            body: body.into(),
            headers: Vec::new(),
            on_request: None,
        }
    }

    /// Run `hook` when the request arrives, before it is answered.
    pub fn on_request(mut self, hook: impl Fn() + Send + Sync + 'static) -> Exchange {
        self.on_request = Some(Hook(Arc::new(hook)));
        self
    }

    /// An extra response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Exchange {
        self.headers.push((name, value.into()));
        self
    }

    /// A JSON-protocol error (Kinesis, Logs, Lambda): `__type` in the body, and the
    /// `x-amzn-errortype` header Lambda sends.
    pub fn json_error(operation: &'static str, status: u16, code: &str) -> Exchange {
        let body = serde_json::json!({ "__type": code, "message": format!("replayed {code}") });
        Exchange::status(operation, status, body.to_string()).header("x-amzn-errortype", code)
    }

    /// An IAM (query protocol) error.
    pub fn iam_error(operation: &'static str, status: u16, code: &str) -> Exchange {
        Exchange::status(
            operation,
            status,
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>replayed {code}</Message></Error><RequestId>replay</RequestId></ErrorResponse>"
            ),
        )
    }

    /// An S3 error with a body (`NoSuchTagSet`, `NoSuchBucketPolicy`, …).
    pub fn s3_error(operation: &'static str, status: u16, code: &str) -> Exchange {
        Exchange::status(
            operation,
            status,
            format!("<Error><Code>{code}</Code><Message>replayed {code}</Message></Error>"),
        )
    }
}

/// What the replay has seen: the scripts still to play, the operations served and every
/// request that did not follow the script.
#[derive(Debug, Default)]
struct State {
    /// Per service, groups of exchanges in order; the exchanges of one group may come in any
    /// order (concurrent calls).
    scripts: BTreeMap<Service, VecDeque<Vec<Exchange>>>,
    /// Every request answered from a script, in arrival order.
    served: Vec<(Service, String)>,
    /// The `x-amz-expected-bucket-owner` header of each served request, in the same order.
    bucket_owners: Vec<Option<String>>,
    /// The body of each served request (lossy UTF-8; empty when streamed), in the same order.
    bodies: Vec<String>,
    /// Requests that were unexpected, unknown or out of order.
    problems: Vec<String>,
}

/// The replay client; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct Replay(Arc<Mutex<State>>);

impl Replay {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test poisons the lock; its state is still worth reporting.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Expect these exchanges of `service`, one after the other.
    pub fn expect(&self, service: Service, exchanges: impl IntoIterator<Item = Exchange>) {
        let mut state = self.state();
        let script = state.scripts.entry(service).or_default();
        script.extend(exchanges.into_iter().map(|e| vec![e]));
    }

    /// Expect these exchanges of `service` next, in any order (calls made concurrently).
    pub fn expect_any_order(
        &self,
        service: Service,
        exchanges: impl IntoIterator<Item = Exchange>,
    ) {
        let group: Vec<Exchange> = exchanges.into_iter().collect();
        if !group.is_empty() {
            self.state()
                .scripts
                .entry(service)
                .or_default()
                .push_back(group);
        }
    }

    /// The client to give the SDK.
    pub fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// The operations served for `service`, in arrival order.
    pub fn served(&self, service: Service) -> Vec<String> {
        self.state()
            .served
            .iter()
            .filter(|(s, _)| *s == service)
            .map(|(_, op)| op.clone())
            .collect()
    }

    /// Panic unless every request followed the script and every script was played out.
    pub fn assert_done(&self) {
        let state = self.state();
        let mut problems = state.problems.clone();
        for (service, script) in &state.scripts {
            for group in script {
                let ops: Vec<&str> = group.iter().map(|e| e.operation).collect();
                problems.push(format!(
                    "{service}: expected {} was never called",
                    ops.join(" | ")
                ));
            }
        }
        assert!(
            problems.is_empty(),
            "the requests did not follow the script:\n  {}\nserved: {:?}",
            problems.join("\n  "),
            state.served
        );
    }

    /// Answer one request from the script, or record why it cannot be answered.
    fn answer(&self, request: &HttpRequest) -> HttpResponse {
        let (service, operation) = match classify(request) {
            Ok(found) => found,
            Err(problem) => return self.fail(problem),
        };
        let mut state = self.state();
        let Some(group) = state.scripts.get_mut(&service).and_then(|s| s.front_mut()) else {
            drop(state);
            return self.fail(format!(
                "{service}: unexpected {operation} (script finished)"
            ));
        };
        let Some(at) = group.iter().position(|e| e.operation == operation) else {
            let expected: Vec<&str> = group.iter().map(|e| e.operation).collect();
            let problem = format!(
                "{service}: expected {}, got {operation}",
                expected.join(" | ")
            );
            drop(state);
            return self.fail(problem);
        };
        let exchange = group.remove(at);
        if group.is_empty()
            && let Some(script) = state.scripts.get_mut(&service)
        {
            script.pop_front();
        }
        state.served.push((service, operation));
        let owner = request.headers().get("x-amz-expected-bucket-owner");
        state.bucket_owners.push(owner.map(str::to_string));
        let body = request.body().bytes().unwrap_or_default();
        state
            .bodies
            .push(String::from_utf8_lossy(body).into_owned());
        drop(state);
        if let Some(Hook(hook)) = &exchange.on_request {
            hook();
        }
        response(exchange.status, exchange.body, &exchange.headers)
    }

    /// Each served operation of `service` with its `x-amz-expected-bucket-owner` header.
    pub fn bucket_owners(&self, service: Service) -> Vec<(String, Option<String>)> {
        let state = self.state();
        (state.served.iter().zip(&state.bucket_owners))
            .filter(|((s, _), _)| *s == service)
            .map(|((_, op), owner)| (op.clone(), owner.clone()))
            .collect()
    }

    /// The bodies of the served `operation` requests of `service`, in arrival order.
    pub fn bodies(&self, service: Service, operation: &str) -> Vec<String> {
        let state = self.state();
        (state.served.iter().zip(&state.bodies))
            .filter(|((s, op), _)| *s == service && op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Record a problem and answer 500, so the code under test stops (retries are off).
    fn fail(&self, problem: String) -> HttpResponse {
        let body = format!("replay: {problem}");
        self.state().problems.push(problem);
        response(500, body, &[])
    }
}

fn response(status: u16, body: String, headers: &[(&'static str, String)]) -> HttpResponse {
    let status = StatusCode::try_from(status)
        .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status code"));
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.clone());
    }
    response
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(self.answer(&request)))
    }
}

impl HttpClient for Replay {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The service and operation of a request, or why they cannot be told.
fn classify(request: &HttpRequest) -> Result<(Service, String), String> {
    let method = request.method();
    let uri = request.uri();
    let unknown = |why: &str| format!("unknown request {method} {uri}: {why}");
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let service = Service::of_host(host).ok_or_else(|| unknown("no known service in the host"))?;
    let operation = match service {
        Service::Kinesis | Service::Logs | Service::Sqs => request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split_once('.'))
            .map(|(_, op)| op.to_string())
            .ok_or_else(|| unknown("no `x-amz-target` header"))?,
        Service::Iam | Service::Sts => {
            let body = request.body().bytes().unwrap_or_default();
            let body = std::str::from_utf8(body).unwrap_or_default();
            form_value(body, "Action").ok_or_else(|| unknown("no `Action=` in the body"))?
        }
        Service::Lambda => lambda_operation(method, path)
            .ok_or_else(|| unknown("not a Lambda operation kstream uses"))?
            .to_string(),
        Service::S3 => s3_operation(method, path, query)
            .ok_or_else(|| unknown("not an S3 operation kstream uses"))?
            .to_string(),
        Service::CloudWatch => path
            .split_once("/operation/")
            .map(|(_, op)| op.to_string())
            .ok_or_else(|| unknown("no `/operation/` in the path"))?,
    };
    Ok((service, operation))
}

/// The value of `key` in a form (`a=1&b=2`); values kstream reads need no decoding.
fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Lambda's REST routes that kstream uses.
fn lambda_operation(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (method, segments.as_slice()) {
        ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        ("DELETE", ["2015-03-31", "functions", _]) => "DeleteFunction",
        ("GET", ["2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("POST", ["2015-03-31", "event-source-mappings"]) => "CreateEventSourceMapping",
        ("GET", ["2015-03-31", "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", ["2015-03-31", "event-source-mappings", _]) => "GetEventSourceMapping",
        ("PUT", ["2015-03-31", "event-source-mappings", _]) => "UpdateEventSourceMapping",
        ("DELETE", ["2015-03-31", "event-source-mappings", _]) => "DeleteEventSourceMapping",
        ("POST", ["2017-03-31", "tags", _]) => "TagResource",
        ("GET", ["2017-03-31", "tags", _]) => "ListTags",
        _ => return None,
    })
}

/// S3's bucket-level REST routes that kstream uses (path style: `/bucket?subresource`).
fn s3_operation(method: &str, path: &str, query: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.len() != 1 || segments[0].is_empty() {
        return None;
    }
    // The subresource is a key without a value (`?tagging`), or `list-type=2`.
    let sub = query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(k, _)| k))
        .find(|k| {
            [
                "tagging",
                "publicAccessBlock",
                "encryption",
                "policy",
                "versions",
                "delete",
                "list-type",
            ]
            .contains(k)
        })
        .unwrap_or("");
    Some(match (method, sub) {
        ("HEAD", "") => "HeadBucket",
        ("PUT", "") => "CreateBucket",
        ("DELETE", "") => "DeleteBucket",
        ("GET", "tagging") => "GetBucketTagging",
        ("PUT", "tagging") => "PutBucketTagging",
        ("GET", "publicAccessBlock") => "GetPublicAccessBlock",
        ("PUT", "publicAccessBlock") => "PutPublicAccessBlock",
        ("GET", "encryption") => "GetBucketEncryption",
        ("PUT", "encryption") => "PutBucketEncryption",
        ("GET", "policy") => "GetBucketPolicy",
        ("PUT", "policy") => "PutBucketPolicy",
        ("GET", "versions") => "ListObjectVersions",
        ("POST", "delete") => "DeleteObjects",
        ("GET", "list-type") => "ListObjectsV2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str) -> HttpRequest {
        let mut r = HttpRequest::get(uri).expect("valid uri");
        r.set_method(method).expect("valid method");
        r
    }

    #[test]
    fn tells_rest_operations_apart() {
        let op = |m: &str, uri: &str| classify(&request(m, uri));
        let lambda = "https://lambda.us-east-1.amazonaws.com/2015-03-31";
        let s3 = "https://s3.us-east-1.amazonaws.com/b";
        assert_eq!(
            op("GET", &format!("{lambda}/functions/f/configuration")),
            Ok((Service::Lambda, "GetFunctionConfiguration".into()))
        );
        assert_eq!(
            op(
                "GET",
                &format!("{lambda}/event-source-mappings?FunctionName=f")
            ),
            Ok((Service::Lambda, "ListEventSourceMappings".into()))
        );
        assert_eq!(
            op("GET", &format!("{s3}?versions&max-keys=1")),
            Ok((Service::S3, "ListObjectVersions".into()))
        );
        assert_eq!(op("PUT", s3), Ok((Service::S3, "CreateBucket".into())));
        let err = op("PUT", &format!("{s3}/key")).unwrap_err();
        assert!(
            err.contains("PUT https://s3.us-east-1.amazonaws.com/b/key"),
            "{err}"
        );
    }

    #[test]
    fn a_request_off_script_is_a_problem() {
        let replay = Replay::default();
        replay.expect(Service::S3, [Exchange::ok("HeadBucket", "")]);
        let uri = "https://s3.us-east-1.amazonaws.com/b";
        assert_eq!(replay.answer(&request("PUT", uri)).status().as_u16(), 500);
        let result = std::panic::catch_unwind(|| replay.assert_done());
        let message = *result.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("S3: expected HeadBucket, got CreateBucket"),
            "{message}"
        );
        assert!(
            message.contains("S3: expected HeadBucket was never called"),
            "{message}"
        );
    }
}
