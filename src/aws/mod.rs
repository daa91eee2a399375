//! Everything that touches `aws_sdk_*`: clients, one module per resource, call accounting and
//! bounded waits. The rest of kstream sees only the SDK-free types of `crate::model`.

pub mod bucket;
mod conditions;
mod diagnose;
mod errors;
pub mod execute;
pub mod failures;
pub mod function;
pub mod log_group;
pub mod logs;
pub mod mapping;
pub mod metrics;
pub mod objects;
pub mod queue;
pub mod records;
#[cfg(test)]
mod replay;
pub mod role;
pub mod stream;
mod wait;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

pub use diagnose::explain;
pub use wait::{Wait, poll, retry};

use crate::model::{Desired, Observed, Owner};

/// Where and as whom to connect.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Region override (CLI `--region`, else config `region`, else the SDK's chain).
    pub region: Option<String>,
    /// Named profile (`--profile`).
    pub profile: Option<String>,
    /// Endpoint override (`--endpoint-url`, else config `endpoint_url`; the SDK honours
    /// `AWS_ENDPOINT_URL` itself).
    pub endpoint_url: Option<String>,
    /// How long one call may take, retries included (`--aws-timeout`; else the default).
    pub timeout: Option<Duration>,
    /// Every call of every client built from this connection, to explain a failure.
    pub(crate) trace: diagnose::Trace,
}

/// The SDK timeouts of every call, derived from one operation timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// One attempt, from sending to the whole answer (retries make further attempts).
    pub attempt: Duration,
    /// The whole operation, every retry included.
    pub operation: Duration,
}

impl Timeouts {
    /// The operation timeout when `--aws-timeout` is not given.
    pub const DEFAULT: Duration = Duration::from_secs(60);
    /// The shortest and longest `--aws-timeout`.
    pub const RANGE: std::ops::RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(3600);
    /// A synchronous Lambda Invoke waits for the function, which may run 900 s: its operation
    /// and attempt timeouts are at least this.
    pub const INVOKE: Duration = Duration::from_secs(960);

    /// Connect at most 5 s, one attempt a third of the operation (at most 20 s), so that the
    /// standard three attempts fit in it.
    pub fn new(operation: Option<Duration>) -> Timeouts {
        let operation = operation.unwrap_or(Timeouts::DEFAULT);
        let attempt = (operation / 3).min(Duration::from_secs(20));
        Timeouts {
            connect: attempt.min(Duration::from_secs(5)),
            attempt,
            operation,
        }
    }

    fn sdk(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The timeouts of a synchronous Invoke: as long as the function may run, and a margin.
    pub(crate) fn invoke(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(Timeouts::INVOKE.max(self.operation))
            .operation_attempt_timeout(Timeouts::INVOKE.max(self.operation))
            .operation_timeout(Timeouts::INVOKE.max(self.operation) * 2)
            .build()
    }
}

/// One client per service, sharing one call log. The SDK clients are private to `aws`: the
/// rest of kstream calls the functions of its modules.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Kinesis Data Streams.
    kinesis: aws_sdk_kinesis::Client,
    /// Lambda.
    lambda: aws_sdk_lambda::Client,
    /// S3.
    s3: aws_sdk_s3::Client,
    /// IAM.
    iam: aws_sdk_iam::Client,
    /// CloudWatch Logs.
    logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch metrics (`status`: the consumer's iterator age).
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// SQS (the failure queue).
    sqs: aws_sdk_sqs::Client,
    /// STS (who the credentials belong to).
    sts: aws_sdk_sts::Client,
    /// Every operation executed through these clients.
    pub calls: CallLog,
    /// The account every S3 call expects the bucket to belong to, once known.
    bucket_owner: BucketOwner,
    /// Region the clients talk to.
    pub region: String,
    /// The timeouts every call runs with.
    pub timeouts: Timeouts,
    /// The endpoint override, if any (LocalStack).
    pub endpoint: Option<String>,
}

impl Clients {
    /// Build the clients from the standard credential and region chains plus overrides.
    pub async fn connect(conn: &Connection) -> Result<Clients> {
        let timeouts = Timeouts::new(conn.timeout);
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.sdk());
        if let Some(region) = &conn.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &conn.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &conn.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .context("no AWS region configured\n  hint: set `region` in the config, pass `--region`, or set `AWS_REGION`")?;
        // An endpoint override (LocalStack) serves buckets by path, not by host name.
        let path_style = sdk.endpoint_url().is_some();
        let mut clients = Clients::from_sdk(&sdk, region, path_style, conn.trace.clone());
        clients.timeouts = timeouts;
        clients.endpoint = sdk.endpoint_url().map(str::to_string);
        Ok(clients)
    }

    /// Clients that talk to `http` instead of AWS: static credentials, `us-east-1`, no
    /// retries (a wrong answer fails at once), S3 by path.
    #[cfg(test)]
    pub(crate) fn replay(http: aws_smithy_runtime_api::client::http::SharedHttpClient) -> Clients {
        use aws_sdk_kinesis::config::{Credentials, SharedCredentialsProvider};
        let region = "us-east-1";
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDREPLAY",
                "replay-secret",
                None,
                None,
                "replay",
            )))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        Clients::from_sdk(&sdk, region.to_string(), true, Default::default())
    }

    /// The account the credentials belong to (STS GetCallerIdentity): the first call of
    /// `plan`, `apply` and `destroy`, so that bad credentials fail before anything else.
    pub async fn account(&self) -> Result<String> {
        let out = self.sts.get_caller_identity().send().await.context(
            "failed to find out who the AWS credentials belong to (STS GetCallerIdentity)",
        )?;
        let account = out
            .account
            .context("STS GetCallerIdentity returned no account")?;
        let _ = self.bucket_owner.0.set(account.clone());
        Ok(account)
    }

    /// The clients on one SDK config, each with the same call log.
    fn from_sdk(
        sdk: &aws_config::SdkConfig,
        region: String,
        s3_path_style: bool,
        trace: diagnose::Trace,
    ) -> Clients {
        let calls = CallLog {
            trace,
            ..CallLog::default()
        };
        let kinesis = aws_sdk_kinesis::Client::from_conf(
            aws_sdk_kinesis::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let bucket_owner = BucketOwner::default();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(s3_path_style)
                .interceptor(calls.clone())
                .interceptor(bucket_owner.clone())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        Clients {
            kinesis,
            lambda,
            s3,
            iam,
            logs,
            cloudwatch,
            sqs,
            sts,
            calls,
            bucket_owner,
            region,
            timeouts: Timeouts::new(None),
            endpoint: None,
        }
    }

    /// Observe every resource of a deployment, concurrently. `for_destroy` also checks
    /// whether the bucket holds objects.
    pub async fn observe(&self, desired: &Desired, for_destroy: bool) -> Result<Observed> {
        let name = &desired.deployment;
        // `destroy` looks for the queue whatever `on_failure` says now: it may be left from
        // an earlier `on_failure = "queue"`.
        let queue = async {
            if desired.owns_failure_queue() || for_destroy {
                queue::observe(&self.sqs, &desired.failure_queue_name(), name).await
            } else {
                Ok(None)
            }
        };
        let log_group_name = desired.log_group();
        let (stream, bucket, role, function, queue, log_group) = tokio::try_join!(
            stream::observe(&self.kinesis, &desired.stream.name, name),
            bucket::observe(&self.s3, &desired.bucket, name, &desired.region),
            role::observe(
                &self.iam,
                &desired.consumer.role_name,
                name,
                &desired.region
            ),
            function::observe(&self.lambda, &desired.consumer.function_name, name),
            queue,
            log_group::observe(&self.logs, &log_group_name, name),
        )?;
        let mappings = async {
            match (&stream, &function) {
                (Some(s), Some(f)) if !s.is_deleting() => {
                    mapping::observe(&self.lambda, &f.arn, &s.arn).await
                }
                _ => Ok(Vec::new()),
            }
        };
        let has_objects = async {
            match &bucket {
                Some(b) if for_destroy && b.owner == Owner::This => {
                    bucket::has_objects(&self.s3, &desired.bucket)
                        .await
                        .map(Some)
                }
                _ => Ok(None),
            }
        };
        let (mappings, bucket_has_objects) = tokio::try_join!(mappings, has_objects)?;
        Ok(Observed {
            stream,
            bucket,
            role,
            function,
            mappings,
            bucket_has_objects,
            queue,
            log_group,
        })
    }
}

/// Records every operation executed by the clients, by service and operation name (and, in
/// the connection's trace, where each went and how it ended).
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    /// `(service, operation)` in order.
    calls: Arc<Mutex<Vec<(String, String)>>>,
    /// Shared with the `Connection`, for explaining failures.
    trace: diagnose::Trace,
}

/// The trace index of the operation a config bag belongs to.
#[derive(Debug, Clone, Copy)]
struct TraceIndex(usize);

impl aws_smithy_types::config_bag::Storable for TraceIndex {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl CallLog {
    /// All `(service, operation)` pairs so far, in order.
    pub fn all(&self) -> Vec<(String, String)> {
        self.calls.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Operations that change something (everything but Describe/Get/List/Head).
    pub fn writes(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|(_, op)| is_write(op))
            .map(|(service, op)| format!("{service}.{op}"))
            .collect()
    }

    /// Count of operations per `service.operation`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (service, op) in self.all() {
            *counts.entry(format!("{service}.{op}")).or_default() += 1;
        }
        counts
    }
}

/// Whether an operation name denotes a write.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "Get", "List", "Head"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "kstream::CallLog"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's
    // metadata is in the config bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            tracing::debug!(target: "kstream::aws", service = meta.service(), operation = meta.name(), "aws call");
            if let Ok(mut calls) = self.calls.lock() {
                calls.push((meta.service().to_string(), meta.name().to_string()));
            }
            let index = self.trace.start(meta.service(), meta.name());
            cfg.interceptor_state().store_put(TraceIndex(index));
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(TraceIndex(index)) = cfg.load::<TraceIndex>() {
            self.trace.sending(*index, context.request().uri());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(TraceIndex(index)) = cfg.load::<TraceIndex>() {
            let status = context.response().map(|r| r.status().as_u16());
            let timed_out = context
                .output_or_error()
                .is_some_and(|r| r.is_err_and(|e| e.is_timeout_error()));
            self.trace.finish(*index, status, timed_out);
        }
        Ok(())
    }
}

/// Sends `ExpectedBucketOwner` (the caller's account, once `Clients::account` has read it) on
/// every S3 call but CreateBucket, so that a bucket whose name someone else registered in their
/// account is never read from or written to: S3 answers 403 instead.
#[derive(Clone, Debug, Default)]
struct BucketOwner(Arc<std::sync::OnceLock<String>>);

impl Intercept for BucketOwner {
    fn name(&self) -> &'static str {
        "kstream::BucketOwner"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let creates = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "CreateBucket" || m.name() == "ListBuckets");
        if let (Some(account), false) = (self.0.get(), creates) {
            context
                .request_mut()
                .headers_mut()
                .insert("x-amz-expected-bucket-owner", account.clone());
        }
        Ok(())
    }
}

/// After a create found the resource already there (a race with another run): go on only if
/// its tags say it is this deployment's, and refuse it with `plan`'s own words otherwise.
pub(crate) fn ensure_ours(
    resource: crate::plan::Resource,
    name: &str,
    owner: crate::model::Owner,
) -> Result<()> {
    if owner == crate::model::Owner::This {
        return Ok(());
    }
    let conflict = crate::plan::Conflict {
        resource,
        name: name.to_string(),
        owner,
    };
    bail!(
        "it appeared while this run was creating it: {}",
        conflict.message()
    )
}

/// The service's message for an SDK error, or its display form.
pub fn error_text<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}
