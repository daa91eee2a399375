//! Replay tests: the request sequence of a cold apply, a converged apply and a destroy, per
//! service, through the same path the commands take (observe → plan → execute), against the
//! scripted answers of `aws::replay` instead of AWS.
//!
//! Every answer says the final state at once (ACTIVE, Active, Enabled, gone), so no wait
//! sleeps. The bodies that must equal the desired state are built from `Desired`'s own
//! methods, so the converged case is converged by construction.

use std::path::Path;

use serde_json::{Value, json};

use crate::aws::execute::Stopped;
use crate::aws::replay::{Exchange, Replay, Service};
use crate::aws::{Clients, execute};
use crate::interrupt::{Signal, Stop};
use crate::model::{Desired, HANDLER, ROLE_POLICY_NAME, RUNTIME};
use crate::package::Artifact;
use crate::plan::{ApplyOptions, DestroyOptions, Plan, Resource, StreamSpec};
use crate::ui::Progress;

const ACCOUNT: &str = "000000000000";
const MAPPING: &str = "a1b2c3d4-0000-4000-8000-000000000001";

/// The fixture deployment (`tests/fixtures/plan/deploy.toml`) and the ARNs AWS gives it.
struct World {
    desired: Desired,
    stream_arn: String,
    role_arn: String,
    function_arn: String,
    /// Holds the consumer zip a create reads.
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World::from_config(include_str!("../../../tests/fixtures/plan/deploy.toml"))
    }

    /// The fixture deployment with `extra` appended to its config (a `[tags]` table).
    fn with(extra: &str) -> World {
        let text = include_str!("../../../tests/fixtures/plan/deploy.toml");
        World::from_config(&format!("{text}\n{extra}"))
    }

    fn from_config(text: &str) -> World {
        let config =
            crate::config::parse(text, Path::new("deploy.toml")).expect("fixture config is valid");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bootstrap.zip");
        std::fs::write(&path, b"PK replayed zip").expect("write zip");
        let artifact = Artifact {
            path,
            sha256_base64: crate::package::artifact_digest(b"PK replayed zip"),
            size: 15,
        };
        let desired = Desired::new(&config, "us-east-1".into(), ACCOUNT.into(), Some(artifact));
        World {
            stream_arn: format!(
                "arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{}",
                desired.stream.name
            ),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{}", desired.consumer.role_name),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:{ACCOUNT}:function:{}",
                desired.consumer.function_name
            ),
            desired,
            _dir: dir,
        }
    }

    /// Observe, plan and execute an apply, as `kstream apply` does.
    async fn apply(&self, clients: &Clients) -> anyhow::Result<()> {
        self.apply_with(clients, &Progress::quiet()).await
    }

    /// [`World::apply`] with this progress (and its stop flag).
    async fn apply_with(&self, clients: &Clients, progress: &Progress) -> anyhow::Result<()> {
        let observed = clients.observe(&self.desired, false).await?;
        let plan = Plan::apply(&self.desired, &observed, ApplyOptions::default());
        execute::apply(clients, progress, &plan).await
    }

    /// The stream `apply` creates.
    fn stream_spec(&self) -> StreamSpec {
        let s = &self.desired.stream;
        StreamSpec {
            mode: crate::config::StreamMode::Provisioned,
            name: s.name.clone(),
            shard_count: s.shard_count,
            retention_hours: s.retention_hours,
            kms_key_id: s.encryption.key_id().map(str::to_string),
            tags: self.desired.tags(),
        }
    }

    // Kinesis (JSON 1.1).

    /// DescribeStreamSummary, encrypted as the config wants.
    fn stream_summary(&self, status: &str, retention_hours: u32) -> Exchange {
        let key = self.desired.stream.encryption.key_id();
        self.stream_summary_keyed(status, retention_hours, key)
    }

    /// DescribeStreamSummary of a stream encrypted with `key` (`None`: not encrypted).
    fn stream_summary_keyed(
        &self,
        status: &str,
        retention_hours: u32,
        key: Option<&str>,
    ) -> Exchange {
        let s = &self.desired.stream;
        let mut summary = json!({
            "StreamName": s.name,
            "StreamARN": self.stream_arn,
            "StreamStatus": status,
            "StreamModeDetails": { "StreamMode": "PROVISIONED" },
            "RetentionPeriodHours": retention_hours,
            "StreamCreationTimestamp": 1_700_000_000,
            "EnhancedMonitoring": [{ "ShardLevelMetrics": [] }],
            "OpenShardCount": s.shard_count,
            "ConsumerCount": 0,
            "EncryptionType": if key.is_some() { "KMS" } else { "NONE" }
        });
        if let Some(key) = key {
            summary["KeyId"] = json!(key);
        }
        Exchange::ok(
            "DescribeStreamSummary",
            json!({ "StreamDescriptionSummary": summary }).to_string(),
        )
    }

    fn stream_active(&self) -> Exchange {
        self.stream_summary("ACTIVE", self.desired.stream.retention_hours)
    }

    /// The stream as CreateStream leaves it: ACTIVE and not encrypted.
    fn stream_unencrypted(&self) -> Exchange {
        self.stream_summary_keyed("ACTIVE", self.desired.stream.retention_hours, None)
    }

    fn stream_tags(&self) -> Exchange {
        let tags: Vec<Value> = (self.desired.tags().into_iter())
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        Exchange::ok(
            "ListTagsForStream",
            json!({ "Tags": tags, "HasMoreTags": false }).to_string(),
        )
    }

    // S3 (REST XML, path style).

    fn bucket_tags(&self) -> Exchange {
        let tags: String = (self.desired.tags().into_iter())
            .map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"))
            .collect();
        Exchange::ok(
            "GetBucketTagging",
            format!("<Tagging><TagSet>{tags}</TagSet></Tagging>"),
        )
    }

    fn bucket_policy(&self) -> Exchange {
        Exchange::ok("GetBucketPolicy", self.desired.bucket_policy().to_string())
    }

    /// The four reads `bucket::observe` makes at once: converged but for `policy`.
    fn bucket_settings(&self, policy: Exchange) -> [Exchange; 4] {
        [
            self.bucket_tags(),
            Exchange::ok(
                "GetPublicAccessBlock",
                "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
                 <IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>\
                 <RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            ),
            Exchange::ok(
                "GetBucketEncryption",
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>\
                 <SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>\
                 </ServerSideEncryptionConfiguration>",
            ),
            policy,
        ]
    }

    fn no_object_versions(&self) -> Exchange {
        Exchange::ok(
            "ListObjectVersions",
            format!(
                "<ListVersionsResult><Name>{}</Name><IsTruncated>false</IsTruncated>\
                 </ListVersionsResult>",
                self.desired.bucket
            ),
        )
    }

    // IAM (query protocol; documents come back URL-encoded, as IAM sends them).

    fn role_xml(&self) -> String {
        self.role_xml_tagged(&self.desired.role_tags())
    }

    fn role_xml_tagged(&self, tags: &std::collections::BTreeMap<String, String>) -> String {
        let tags: String = (tags.iter())
            .map(|(k, v)| format!("<member><Key>{k}</Key><Value>{v}</Value></member>"))
            .collect();
        format!(
            "<Role><Path>/</Path><RoleName>{}</RoleName><RoleId>AROAREPLAY</RoleId>\
             <Arn>{}</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument><Tags>{tags}</Tags></Role>",
            self.desired.consumer.role_name,
            self.role_arn,
            url_encode(&self.desired.trust_policy().to_string()),
        )
    }

    fn iam(&self, operation: &'static str, result: &str) -> Exchange {
        Exchange::ok(
            operation,
            format!(
                "<{operation}Response><{operation}Result>{result}</{operation}Result>\
                 <ResponseMetadata><RequestId>replay</RequestId></ResponseMetadata>\
                 </{operation}Response>"
            ),
        )
    }

    fn role_policy(&self) -> Exchange {
        self.iam(
            "GetRolePolicy",
            &format!(
                "<RoleName>{}</RoleName><PolicyName>{ROLE_POLICY_NAME}</PolicyName>\
                 <PolicyDocument>{}</PolicyDocument>",
                self.desired.consumer.role_name,
                url_encode(&self.desired.role_policy(&self.stream_arn).to_string())
            ),
        )
    }

    // Lambda (REST JSON).

    fn function_configuration(&self, state: &str) -> Value {
        let (d, c) = (&self.desired, &self.desired.consumer);
        json!({
            "FunctionName": c.function_name,
            "FunctionArn": self.function_arn,
            "Runtime": RUNTIME,
            "Role": self.role_arn,
            "Handler": HANDLER,
            "CodeSize": d.artifact.as_ref().map_or(0, |a| a.size),
            "CodeSha256": d.artifact.as_ref().map(|a| a.sha256_base64.clone()),
            "MemorySize": c.memory_mb,
            "Timeout": c.timeout_s,
            "Architectures": [c.architecture.as_str()],
            "Environment": { "Variables": d.function_env() },
            "State": state,
            "LastUpdateStatus": "Successful",
            "LastModified": "2024-01-01T00:00:00.000+0000"
        })
    }

    fn function(&self) -> Exchange {
        Exchange::ok(
            "GetFunction",
            json!({
                "Configuration": self.function_configuration("Active"),
                "Tags": self.desired.tags()
            })
            .to_string(),
        )
    }

    fn function_ready(&self) -> Exchange {
        Exchange::ok(
            "GetFunctionConfiguration",
            self.function_configuration("Active").to_string(),
        )
    }

    fn mapping(&self, state: &str) -> Value {
        let m = self.desired.mapping();
        json!({
            "UUID": MAPPING,
            "State": state,
            "EventSourceArn": self.stream_arn,
            "FunctionArn": self.function_arn,
            "BatchSize": m.batch_size,
            "MaximumRetryAttempts": m.maximum_retry_attempts,
            "BisectBatchOnFunctionError": m.bisect_batch_on_function_error,
            "MaximumRecordAgeInSeconds": m.maximum_record_age_s,
            "DestinationConfig": { "OnFailure": { "Destination": m.on_failure } },
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "StartingPosition": self.desired.consumer.starting_position.as_str()
        })
    }

    fn mapping_enabled(&self) -> Exchange {
        Exchange::ok("GetEventSourceMapping", self.mapping("Enabled").to_string())
    }

    // SQS (JSON 1.0) and CloudWatch Logs (JSON 1.1).

    fn queue_url(&self) -> String {
        format!(
            "https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{}",
            self.desired.failure_queue_name()
        )
    }

    fn queue_tags(&self) -> Exchange {
        Exchange::ok(
            "ListQueueTags",
            json!({ "Tags": self.desired.tags() }).to_string(),
        )
    }

    /// GetQueueUrl, then attributes and tags at once.
    fn expect_queue(&self, replay: &Replay) {
        replay.expect(
            Service::Sqs,
            [Exchange::ok(
                "GetQueueUrl",
                json!({ "QueueUrl": self.queue_url() }).to_string(),
            )],
        );
        replay.expect_any_order(
            Service::Sqs,
            [
                Exchange::ok(
                    "GetQueueAttributes",
                    json!({ "Attributes": {
                        "QueueArn": self.desired.failure_destination().map(|d| d.arn().to_string()),
                        "MessageRetentionPeriod": crate::model::FAILURE_RETENTION_S.to_string(),
                        "SqsManagedSseEnabled": "true",
                        "ApproximateNumberOfMessages": "0",
                        "ApproximateNumberOfMessagesNotVisible": "0",
                        "ApproximateNumberOfMessagesDelayed": "0"
                    }})
                    .to_string(),
                ),
                self.queue_tags(),
            ],
        );
    }

    fn log_group_arn(&self) -> String {
        format!(
            "arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{}",
            self.desired.log_group()
        )
    }

    fn log_groups(&self, exists: bool) -> Exchange {
        let groups: Vec<Value> = exists
            .then(|| {
                json!({
                    "logGroupName": self.desired.log_group(),
                    "arn": format!("{}:*", self.log_group_arn()),
                    "logGroupArn": self.log_group_arn(),
                    "retentionInDays": self.desired.consumer.log_retention_days
                })
            })
            .into_iter()
            .collect();
        Exchange::ok(
            "DescribeLogGroups",
            json!({ "logGroups": groups }).to_string(),
        )
    }

    fn expect_log_group(&self, replay: &Replay) {
        replay.expect(
            Service::Logs,
            [
                self.log_groups(true),
                Exchange::ok(
                    "ListTagsForResource",
                    json!({ "tags": self.desired.tags() }).to_string(),
                ),
            ],
        );
    }

    fn not_found(operation: &'static str) -> Exchange {
        Exchange::json_error(operation, 404, "ResourceNotFoundException")
    }

    /// The reads of `Clients::observe` on a converged deployment; `for_destroy` adds the
    /// bucket's object check.
    fn expect_converged_observe(&self, replay: &Replay, for_destroy: bool) {
        self.expect_observe(
            replay,
            for_destroy,
            self.stream_active(),
            self.bucket_policy(),
        );
    }

    /// The reads of `Clients::observe` on a deployment that is converged but for the stream's
    /// summary and the bucket policy's answer.
    fn expect_observe(
        &self,
        replay: &Replay,
        for_destroy: bool,
        stream: Exchange,
        bucket_policy: Exchange,
    ) {
        replay.expect(Service::Kinesis, [stream, self.stream_tags()]);
        replay.expect(Service::S3, [Exchange::ok("HeadBucket", "")]);
        replay.expect_any_order(Service::S3, self.bucket_settings(bucket_policy));
        if for_destroy {
            replay.expect(Service::S3, [self.no_object_versions()]);
        }
        replay.expect(Service::Iam, [self.iam("GetRole", &self.role_xml())]);
        replay.expect_any_order(
            Service::Iam,
            [
                self.role_policy(),
                self.iam(
                    "ListRolePolicies",
                    &format!(
                        "<PolicyNames><member>{ROLE_POLICY_NAME}</member></PolicyNames>\
                         <IsTruncated>false</IsTruncated>"
                    ),
                ),
                self.iam(
                    "ListAttachedRolePolicies",
                    "<AttachedPolicies/><IsTruncated>false</IsTruncated>",
                ),
            ],
        );
        self.expect_queue(replay);
        self.expect_log_group(replay);
        replay.expect(
            Service::Lambda,
            [
                self.function(),
                Exchange::ok(
                    "ListEventSourceMappings",
                    json!({ "EventSourceMappings": [self.mapping("Enabled")] }).to_string(),
                ),
                self.mapping_enabled(),
            ],
        );
    }
}

/// Percent-encode everything but unreserved characters, as IAM returns policy documents.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The write calls the SDK made (its own operation names), sorted.
fn writes(clients: &Clients) -> Vec<String> {
    let mut writes = clients.calls.writes();
    writes.sort();
    writes
}

/// Both witnesses agree: the operations the replay served (told from the requests) are the
/// ones the SDK says it called (from its metadata).
fn assert_same_calls(replay: &Replay, clients: &Clients) {
    let mut served: Vec<String> = [
        Service::Kinesis,
        Service::S3,
        Service::Iam,
        Service::Lambda,
        Service::Sqs,
        Service::Logs,
    ]
    .into_iter()
    .flat_map(|s| replay.served(s))
    .collect();
    let mut called: Vec<String> = clients.calls.all().into_iter().map(|(_, op)| op).collect();
    served.sort();
    called.sort();
    assert_eq!(served, called);
}

impl World {
    /// The reads and writes of a cold apply up to and including the role's creation: the
    /// failure queue, the log group, the stream and the bucket whole; IAM's and Lambda's
    /// observe reads. The rest (the role policy, the function, the mapping) is the caller's.
    fn expect_cold_phase_one(&self, replay: &Replay) {
        let world = self;
        replay.expect(
            Service::Sqs,
            [
                // SQS's JSON protocol names the error in its query-compatible header too.
                Exchange::json_error("GetQueueUrl", 400, "com.amazonaws.sqs#QueueDoesNotExist")
                    .header(
                        "x-amzn-query-error",
                        "AWS.SimpleQueueService.NonExistentQueue;Sender",
                    ),
                Exchange::ok(
                    "CreateQueue",
                    json!({ "QueueUrl": world.queue_url() }).to_string(),
                ),
                // SQS returns an existing queue of the same attributes: the tags tell whose.
                world.queue_tags(),
            ],
        );
        replay.expect(
            Service::Logs,
            [
                world.log_groups(false),
                Exchange::ok("CreateLogGroup", "{}"),
                Exchange::ok("PutRetentionPolicy", "{}"),
            ],
        );
        replay.expect(
            Service::Kinesis,
            [
                // Kinesis says "not found" with status 400: the code decides, not the status.
                Exchange::json_error("DescribeStreamSummary", 400, "ResourceNotFoundException"),
                Exchange::ok("CreateStream", "{}"),
                world.stream_unencrypted(),
                world.stream_tags(),
                // CreateStream cannot encrypt: the stream is encrypted once ACTIVE.
                Exchange::ok("StartStreamEncryption", "{}"),
                world.stream_active(),
            ],
        );
        replay.expect(
            Service::S3,
            [
                Exchange::status("HeadBucket", 404, ""),
                Exchange::ok("CreateBucket", "")
                    .header("Location", format!("/{}", world.desired.bucket)),
                Exchange::ok("HeadBucket", ""),
                world.bucket_tags(),
            ],
        );
        replay.expect_any_order(
            Service::S3,
            [
                Exchange::ok("PutPublicAccessBlock", ""),
                Exchange::ok("PutBucketEncryption", ""),
            ],
        );
        replay.expect(Service::S3, [Exchange::status("PutBucketPolicy", 204, "")]);
        replay.expect(
            Service::Iam,
            [
                Exchange::iam_error("GetRole", 404, "NoSuchEntity"),
                world.iam("CreateRole", &world.role_xml()),
            ],
        );
        replay.expect(Service::Lambda, [World::not_found("GetFunction")]);
    }
}

#[tokio::test]
async fn cold_apply_creates_everything() {
    let world = World::new();
    let replay = Replay::default();
    world.expect_cold_apply(&replay);
    let clients = Clients::replay(replay.http_client());

    let result = world.apply(&clients).await;

    replay.assert_done();
    result.expect("apply");
    assert_eq!(
        writes(&clients),
        [
            "CloudWatch Logs.CreateLogGroup",
            "CloudWatch Logs.PutRetentionPolicy",
            "IAM.CreateRole",
            "IAM.PutRolePolicy",
            "Kinesis.CreateStream",
            "Kinesis.StartStreamEncryption",
            "Lambda.CreateEventSourceMapping",
            "Lambda.CreateFunction",
            "S3.CreateBucket",
            "S3.PutBucketEncryption",
            "S3.PutBucketPolicy",
            "S3.PutPublicAccessBlock",
            "SQS.CreateQueue",
        ]
    );
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn user_tags_are_in_every_create_call() {
    let world = World::with("[tags]\ncostcentre = \"cc4711\"\n");
    let replay = Replay::default();
    world.expect_cold_apply(&replay);
    let clients = Clients::replay(replay.http_client());

    let result = world.apply(&clients).await;

    replay.assert_done();
    result.expect("apply");
    // No tagging call after a create: the tags went in with it.
    assert_eq!(writes(&clients).len(), 13, "{:?}", writes(&clients));
    for (service, operation) in [
        (Service::Kinesis, "CreateStream"),
        (Service::S3, "CreateBucket"),
        (Service::Sqs, "CreateQueue"),
        (Service::Logs, "CreateLogGroup"),
        (Service::Iam, "CreateRole"),
        (Service::Lambda, "CreateFunction"),
    ] {
        let bodies = replay.bodies(service, operation);
        assert_eq!(bodies.len(), 1, "{operation}");
        let body = &bodies[0];
        assert!(
            body.contains("costcentre") && body.contains("cc4711"),
            "{operation} lacks the user tag: {body}"
        );
        // IAM's query form percent-encodes the `:`.
        assert!(
            body.contains("kstream:deployment") || body.contains("kstream%3Adeployment"),
            "{operation} lacks the ownership tag: {body}"
        );
    }
}

impl World {
    /// The script of a cold apply: nothing exists, everything is created.
    fn expect_cold_apply(&self, replay: &Replay) {
        let world = self;
        world.expect_cold_phase_one(replay);
        replay.expect(Service::Iam, [world.iam("PutRolePolicy", "")]);
        replay.expect(
            Service::Lambda,
            [
                Exchange::status(
                    "CreateFunction",
                    201,
                    world.function_configuration("Pending").to_string(),
                ),
                world.function_ready(),
                Exchange::status(
                    "CreateEventSourceMapping",
                    202,
                    world.mapping("Creating").to_string(),
                ),
                world.mapping_enabled(),
            ],
        );
    }
}

#[tokio::test]
async fn converged_apply_only_reads() {
    let world = World::new();
    let replay = Replay::default();
    world.expect_converged_observe(&replay, false);
    let clients = Clients::replay(replay.http_client());

    let observed = clients.observe(&world.desired, false).await;
    let plan = Plan::apply(
        &world.desired,
        &observed.expect("observe"),
        ApplyOptions::default(),
    );
    assert!(plan.is_empty(), "{plan:#?}");
    let reads = clients.calls.all().len();
    let result = execute::apply(&clients, &Progress::quiet(), &plan).await;

    replay.assert_done();
    result.expect("apply");
    assert_eq!(clients.calls.all().len(), reads, "the executor made a call");
    assert_eq!(writes(&clients), Vec::<String>::new());
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn destroy_deletes_everything_in_order() {
    let world = World::new();
    let replay = Replay::default();
    world.expect_converged_observe(&replay, true);
    let nf = World::not_found;
    // `mapping::delete` reads the mapping, then waits for it to settle with a second read.
    replay.expect(
        Service::Lambda,
        [
            world.mapping_enabled(),
            world.mapping_enabled(),
            Exchange::status(
                "DeleteEventSourceMapping",
                202,
                world.mapping("Deleting").to_string(),
            ),
            nf("GetEventSourceMapping"),
            Exchange::status("DeleteFunction", 204, ""),
            nf("GetFunction"),
        ],
    );
    replay.expect(
        Service::Iam,
        [
            world.iam(
                "ListRolePolicies",
                &format!(
                    "<PolicyNames><member>{ROLE_POLICY_NAME}</member></PolicyNames>\
                     <IsTruncated>false</IsTruncated>"
                ),
            ),
            world.iam("DeleteRolePolicy", ""),
            world.iam(
                "ListAttachedRolePolicies",
                "<AttachedPolicies/><IsTruncated>false</IsTruncated>",
            ),
            world.iam("DeleteRole", ""),
        ],
    );
    replay.expect(
        Service::Kinesis,
        [
            world.stream_active(),
            Exchange::ok("DeleteStream", "{}"),
            Exchange::json_error("DescribeStreamSummary", 400, "ResourceNotFoundException"),
        ],
    );
    replay.expect(
        Service::S3,
        [
            world.no_object_versions(),
            Exchange::status("DeleteBucket", 204, ""),
        ],
    );
    replay.expect(Service::Logs, [Exchange::ok("DeleteLogGroup", "{}")]);
    replay.expect(Service::Sqs, [Exchange::ok("DeleteQueue", "{}")]);
    let clients = Clients::replay(replay.http_client());

    let observed = clients.observe(&world.desired, true).await;
    let plan = Plan::destroy(
        &world.desired,
        &observed.expect("observe"),
        DestroyOptions { force: true },
    );
    let result = execute::destroy(&clients, &Progress::quiet(), &plan).await;

    replay.assert_done();
    result.expect("destroy");
    assert_eq!(
        writes(&clients),
        [
            "CloudWatch Logs.DeleteLogGroup",
            "IAM.DeleteRole",
            "IAM.DeleteRolePolicy",
            "Kinesis.DeleteStream",
            "Lambda.DeleteEventSourceMapping",
            "Lambda.DeleteFunction",
            "S3.DeleteBucket",
            "SQS.DeleteQueue",
        ]
    );
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn a_missing_bucket_policy_is_the_only_write() {
    let world = World::new();
    let replay = Replay::default();
    let no_policy = Exchange::s3_error("GetBucketPolicy", 404, "NoSuchBucketPolicy");
    world.expect_observe(&replay, false, world.stream_active(), no_policy);
    replay.expect(Service::S3, [Exchange::status("PutBucketPolicy", 204, "")]);
    let clients = Clients::replay(replay.http_client());

    let result = world.apply(&clients).await;

    replay.assert_done();
    result.expect("apply");
    assert_eq!(writes(&clients), ["S3.PutBucketPolicy"]);
}

#[tokio::test]
async fn a_stream_whose_encryption_was_stopped_is_encrypted_again() {
    let world = World::new();
    let replay = Replay::default();
    world.expect_observe(
        &replay,
        false,
        world.stream_unencrypted(),
        world.bucket_policy(),
    );
    replay.expect(
        Service::Kinesis,
        [
            Exchange::ok("StartStreamEncryption", "{}"),
            world.stream_active(),
        ],
    );
    let clients = Clients::replay(replay.http_client());

    let result = world.apply(&clients).await;

    replay.assert_done();
    result.expect("apply");
    assert_eq!(writes(&clients), ["Kinesis.StartStreamEncryption"]);
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn a_key_reported_in_another_spelling_is_converged() {
    let world = World::new();
    // The fixture wants the AWS-managed key, `alias/aws/kinesis`; Kinesis may report the
    // alias's ARN instead, or the ARN of the key behind it.
    for reported in [
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/kinesis"),
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ] {
        let replay = Replay::default();
        let retention = world.desired.stream.retention_hours;
        let stream = world.stream_summary_keyed("ACTIVE", retention, Some(&reported));
        world.expect_observe(&replay, false, stream, world.bucket_policy());
        let clients = Clients::replay(replay.http_client());

        let result = world.apply(&clients).await;

        replay.assert_done();
        result.expect("apply");
        assert_eq!(writes(&clients), Vec::<String>::new(), "{reported}");
    }
}

#[tokio::test]
async fn a_stream_created_meanwhile_is_waited_on_and_converged() {
    let world = World::new();
    let replay = Replay::default();
    // Another run created the stream first, with a longer retention.
    replay.expect(
        Service::Kinesis,
        [
            Exchange::json_error("CreateStream", 400, "ResourceInUseException"),
            world.stream_summary("ACTIVE", 48),
            world.stream_tags(),
            Exchange::ok("DecreaseStreamRetentionPeriod", "{}"),
            world.stream_active(),
        ],
    );
    let clients = Clients::replay(replay.http_client());
    let spec = world.stream_spec();

    let arn = crate::aws::stream::create(&clients.kinesis, &Progress::quiet(), &spec).await;

    replay.assert_done();
    assert_eq!(arn.expect("create"), world.stream_arn);
    assert_eq!(
        writes(&clients),
        [
            "Kinesis.CreateStream",
            "Kinesis.DecreaseStreamRetentionPeriod"
        ]
    );
}

#[tokio::test]
async fn a_bucket_of_another_account_is_refused() {
    let world = World::new();
    let replay = Replay::default();
    // HEAD has no body: the 403 status is all S3 says.
    replay.expect(Service::S3, [Exchange::status("HeadBucket", 403, "")]);
    let clients = Clients::replay(replay.http_client());

    let observed = crate::aws::bucket::observe(
        &clients.s3,
        &world.desired.bucket,
        &world.desired.deployment,
        &world.desired.region,
    )
    .await;

    replay.assert_done();
    assert_eq!(
        format!("{:#}", observed.expect_err("a foreign bucket")),
        "bucket `plan-test-bucket` exists and belongs to someone else (access denied)\n  \
         hint: bucket names are global across all AWS accounts: choose another `bucket.name`"
    );
}

/// Tags of another deployment of the same account.
fn foreign_tags() -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([(
        crate::model::DEPLOYMENT_TAG.to_string(),
        "someone-else".to_string(),
    )])
}

#[tokio::test]
async fn a_stream_another_deployment_created_meanwhile_is_refused() {
    let world = World::new();
    let replay = Replay::default();
    let tags: Vec<Value> = foreign_tags()
        .into_iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    replay.expect(
        Service::Kinesis,
        [
            Exchange::json_error("CreateStream", 400, "ResourceInUseException"),
            world.stream_active(),
            Exchange::ok(
                "ListTagsForStream",
                json!({ "Tags": tags, "HasMoreTags": false }).to_string(),
            ),
        ],
    );
    let clients = Clients::replay(replay.http_client());
    let spec = world.stream_spec();

    let result = crate::aws::stream::create(&clients.kinesis, &Progress::quiet(), &spec).await;

    replay.assert_done();
    let err = format!("{:#}", result.expect_err("a foreign stream"));
    assert!(
        err.contains("belongs to kstream deployment `someone-else`"),
        "{err}"
    );
    assert_eq!(
        writes(&clients),
        ["Kinesis.CreateStream"],
        "nothing converged"
    );
}

#[tokio::test]
async fn a_role_another_deployment_or_region_created_meanwhile_is_refused() {
    let world = World::new();
    let mut other_region = world.desired.role_tags();
    other_region.insert(crate::model::REGION_TAG.into(), "eu-west-1".into());
    for (tags, expected) in [
        (
            foreign_tags(),
            "belongs to kstream deployment `someone-else`",
        ),
        (other_region, "is this deployment's role in eu-west-1"),
    ] {
        let replay = Replay::default();
        replay.expect(
            Service::Iam,
            [
                Exchange::iam_error("CreateRole", 409, "EntityAlreadyExists"),
                world.iam("GetRole", &world.role_xml_tagged(&tags)),
            ],
        );
        let clients = Clients::replay(replay.http_client());
        let spec = crate::plan::RoleSpec {
            name: world.desired.consumer.role_name.clone(),
            deployment: world.desired.deployment.clone(),
            region: world.desired.region.clone(),
            trust_policy: world.desired.trust_policy(),
            tags: world.desired.role_tags(),
        };

        let result = crate::aws::role::create(&clients.iam, &Progress::quiet(), &spec).await;

        replay.assert_done();
        let err = format!("{:#}", result.expect_err("a role not ours"));
        assert!(err.contains(expected), "{err}");
    }
}

#[tokio::test]
async fn a_bucket_another_deployment_created_meanwhile_is_refused() {
    let world = World::new();
    let replay = Replay::default();
    let tags: String = foreign_tags()
        .into_iter()
        .map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"))
        .collect();
    replay.expect(
        Service::S3,
        [
            Exchange::s3_error("CreateBucket", 409, "BucketAlreadyOwnedByYou"),
            Exchange::ok("HeadBucket", ""),
            Exchange::ok(
                "GetBucketTagging",
                format!("<Tagging><TagSet>{tags}</TagSet></Tagging>"),
            ),
        ],
    );
    let clients = Clients::replay(replay.http_client());
    let d = &world.desired;

    let result = crate::aws::bucket::create(
        &clients.s3,
        &Progress::quiet(),
        &d.bucket,
        &d.region,
        &d.tags(),
    )
    .await;

    replay.assert_done();
    let err = format!("{:#}", result.expect_err("a foreign bucket"));
    assert!(
        err.contains("belongs to kstream deployment `someone-else`"),
        "{err}"
    );
    assert_eq!(
        writes(&clients),
        ["S3.CreateBucket"],
        "no tag was taken over"
    );
}

#[tokio::test]
async fn a_bucket_in_another_region_is_not_read_further() {
    let world = World::new();
    for head in [
        Exchange::ok("HeadBucket", "").header("x-amz-bucket-region", "eu-west-1"),
        Exchange::status("HeadBucket", 301, "").header("x-amz-bucket-region", "eu-west-1"),
    ] {
        let replay = Replay::default();
        replay.expect(Service::S3, [head]);
        let clients = Clients::replay(replay.http_client());

        let observed = crate::aws::bucket::observe(
            &clients.s3,
            &world.desired.bucket,
            &world.desired.deployment,
            &world.desired.region,
        )
        .await;

        replay.assert_done();
        let owner = observed.expect("observe").expect("a bucket").owner;
        assert_eq!(
            owner,
            crate::model::Owner::OtherRegion {
                region: "eu-west-1".into()
            }
        );
    }
}

#[tokio::test]
async fn a_bucket_call_s3_aborted_is_made_again() {
    let world = World::new();
    let replay = Replay::default();
    replay.expect(
        Service::S3,
        [
            Exchange::s3_error("PutBucketPolicy", 409, "OperationAborted"),
            Exchange::status("PutBucketPolicy", 204, ""),
        ],
    );
    let clients = Clients::replay(replay.http_client());
    let d = &world.desired;

    let result = crate::aws::bucket::put_policy(&clients.s3, &d.bucket, &d.bucket_policy()).await;

    replay.assert_done();
    result.expect("the second call succeeds");
    assert_eq!(
        writes(&clients),
        ["S3.PutBucketPolicy", "S3.PutBucketPolicy"]
    );
}

#[tokio::test]
async fn every_s3_call_but_create_expects_the_account_as_bucket_owner() {
    let world = World::new();
    let replay = Replay::default();
    replay.expect(
        Service::Sts,
        [world.iam(
            "GetCallerIdentity",
            &format!(
                "<Arn>arn:aws:iam::{ACCOUNT}:user/deployer</Arn><UserId>AIDAREPLAY</UserId>\
                 <Account>{ACCOUNT}</Account>"
            ),
        )],
    );
    replay.expect(
        Service::S3,
        [
            Exchange::ok("CreateBucket", "")
                .header("Location", format!("/{}", world.desired.bucket)),
            Exchange::ok("HeadBucket", ""),
            world.bucket_tags(),
        ],
    );
    let clients = Clients::replay(replay.http_client());
    let d = &world.desired;

    assert_eq!(clients.account().await.expect("account"), ACCOUNT);
    crate::aws::bucket::create(
        &clients.s3,
        &Progress::quiet(),
        &d.bucket,
        &d.region,
        &d.tags(),
    )
    .await
    .expect("create");

    replay.assert_done();
    let owner = Some(ACCOUNT.to_string());
    assert_eq!(
        replay.bucket_owners(Service::S3),
        [
            ("CreateBucket".to_string(), None),
            ("HeadBucket".to_string(), owner.clone()),
            ("GetBucketTagging".to_string(), owner),
        ]
    );
}

/// The kinds of a stopped run's changes: done, not finished, not started.
fn stopped_kinds(result: anyhow::Result<()>) -> [Vec<Resource>; 3] {
    let err = result.expect_err("the run was stopped");
    let stopped = err
        .downcast_ref::<Stopped>()
        .unwrap_or_else(|| panic!("not a stopped run: {err:#}"));
    assert_eq!(stopped.signal, Signal::Interrupt);
    let kinds = |items: &[execute::run::Item]| items.iter().map(|i| i.resource).collect::<Vec<_>>();
    [
        kinds(&stopped.done),
        kinds(&stopped.unfinished),
        kinds(&stopped.not_started),
    ]
}

#[tokio::test]
async fn a_stop_lets_the_call_in_flight_finish_and_starts_no_further_step() {
    let world = World::new();
    let replay = Replay::default();
    let stop = Stop::new();
    world.expect_cold_phase_one(&replay);
    let signal = stop.clone();
    // The signal arrives while PutRolePolicy is in flight: it finishes, nothing follows.
    replay.expect(
        Service::Iam,
        [world
            .iam("PutRolePolicy", "")
            .on_request(move || signal.trigger(Signal::Interrupt))],
    );
    let clients = Clients::replay(replay.http_client());

    let result = world
        .apply_with(&clients, &Progress::quiet().with_stop(stop))
        .await;

    replay.assert_done();
    assert_eq!(
        stopped_kinds(result),
        [
            vec![
                Resource::Stream,
                Resource::Bucket,
                Resource::Queue,
                Resource::LogGroup,
                Resource::Role,
                Resource::RolePolicy,
            ],
            vec![],
            vec![Resource::Function, Resource::Mapping],
        ]
    );
    let writes = writes(&clients);
    assert!(
        writes.contains(&"IAM.PutRolePolicy".to_string()),
        "{writes:?}"
    );
    assert!(
        !writes.iter().any(|w| w.starts_with("Lambda.")),
        "{writes:?}"
    );
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn a_stop_ends_a_wait_at_its_next_tick_as_not_finished() {
    let world = World::new();
    let replay = Replay::default();
    let stop = Stop::new();
    world.expect_cold_phase_one(&replay);
    replay.expect(Service::Iam, [world.iam("PutRolePolicy", "")]);
    let signal = stop.clone();
    replay.expect(
        Service::Lambda,
        [
            Exchange::status(
                "CreateFunction",
                201,
                world.function_configuration("Pending").to_string(),
            ),
            // Still Pending when the signal comes: the wait would poll for up to 10 minutes.
            Exchange::ok(
                "GetFunctionConfiguration",
                world.function_configuration("Pending").to_string(),
            )
            .on_request(move || signal.trigger(Signal::Interrupt)),
        ],
    );
    let clients = Clients::replay(replay.http_client());

    let progress = Progress::quiet().with_stop(stop);
    let run = world.apply_with(&clients, &progress);
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("the wait ends when the run is stopped");

    replay.assert_done();
    let [done, unfinished, not_started] = stopped_kinds(result);
    assert_eq!(done.len(), 6, "{done:?}");
    assert_eq!(unfinished, [Resource::Function]);
    assert_eq!(not_started, [Resource::Mapping]);
    assert_same_calls(&replay, &clients);
}

#[tokio::test]
async fn a_destroy_stopped_before_it_starts_deletes_nothing() {
    let world = World::new();
    let replay = Replay::default();
    world.expect_converged_observe(&replay, true);
    let clients = Clients::replay(replay.http_client());
    let observed = clients
        .observe(&world.desired, true)
        .await
        .expect("observe");
    let plan = Plan::destroy(&world.desired, &observed, DestroyOptions::default());
    let stop = Stop::new();
    stop.trigger(Signal::Interrupt);

    let result = execute::destroy(&clients, &Progress::quiet().with_stop(stop), &plan).await;

    replay.assert_done();
    let [done, unfinished, not_started] = stopped_kinds(result);
    assert_eq!((done, unfinished), (vec![], vec![]));
    assert_eq!(
        not_started,
        [
            Resource::Mapping,
            Resource::Function,
            Resource::LogGroup,
            Resource::Role,
            Resource::Stream,
            Resource::Bucket,
            Resource::Queue,
        ]
    );
    assert_eq!(writes(&clients), Vec::<String>::new());
}
