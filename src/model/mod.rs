//! The SDK-free picture of a deployment: what is desired and what was observed.
//!
//! `aws::*` modules translate SDK responses into these types; `plan` compares them.
//! Nothing here does I/O.

use std::collections::BTreeMap;

use kstream_contract::env;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, OnFailure};
use crate::kms::stream_key_statement;
use crate::package::Artifact;

mod observed;
mod policy_doc;

pub use observed::*;
pub use policy_doc::{merge_policy, same_policy};

/// Tag key that marks a resource as created by a kstream deployment.
pub const DEPLOYMENT_TAG: &str = "kstream:deployment";
/// Tag key of the region a global resource (the IAM role) serves.
pub const REGION_TAG: &str = "kstream:region";
/// Name of the consumer role's inline policy.
pub const ROLE_POLICY_NAME: &str = "kstream-consumer";
/// Lambda runtime of the consumer.
pub const RUNTIME: &str = "provided.al2023";
/// Handler name (ignored by custom runtimes, but required by the API).
pub const HANDLER: &str = "bootstrap";
/// How long the failure queue keeps a message: 14 days, SQS's longest.
pub const FAILURE_RETENTION_S: u32 = 14 * 24 * 3600;

/// Who a resource belongs to, read from its `kstream:deployment` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "deployment")]
pub enum Owner {
    /// Tagged with this deployment's name.
    This,
    /// Tagged by another kstream deployment.
    Other(String),
    /// This deployment's, serving another region (the IAM role is global; its
    /// `kstream:region` tag says which region's pipeline uses it).
    OtherRegion {
        /// The region it serves.
        region: String,
    },
    /// Not tagged by kstream at all.
    Untagged,
}

impl Owner {
    /// Ownership of a resource carrying `tags`, from the point of view of `deployment`.
    pub fn from_tags<'a>(
        deployment: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Owner {
        match tags.into_iter().find(|(k, _)| *k == DEPLOYMENT_TAG) {
            Some((_, v)) if v == deployment => Owner::This,
            Some((_, v)) => Owner::Other(v.to_string()),
            None => Owner::Untagged,
        }
    }
}

/// Everything kstream wants to exist for one deployment.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Deployment name (the ownership tag's value).
    pub deployment: String,
    /// Region the deployment lives in, as resolved by the SDK (for display and partition).
    pub region: String,
    /// Account the credentials belong to (STS), where everything is created.
    pub account: String,
    /// `[stream]`
    pub stream: crate::config::StreamConfig,
    /// `[bucket]`
    pub bucket: String,
    /// `[consumer]`
    pub consumer: crate::config::ConsumerConfig,
    /// The packaged consumer, when known (plan without a package shows code as unknown).
    pub artifact: Option<Artifact>,
    /// `[tags]`: the user's tags, on every resource next to kstream's own.
    pub user_tags: BTreeMap<String, String>,
}

impl Desired {
    /// Desired state from a validated config, the resolved region and the packaged consumer.
    pub fn new(
        config: &Config,
        region: String,
        account: String,
        artifact: Option<Artifact>,
    ) -> Desired {
        Desired {
            deployment: config.name.clone(),
            region,
            account,
            stream: config.stream.clone(),
            bucket: config.bucket.name.clone(),
            consumer: config.consumer.clone(),
            artifact,
            user_tags: config.tags.clone(),
        }
    }

    /// Tags put on every resource kstream creates: the user's (`[tags]`) and the ownership tag
    /// (the config refuses user keys starting with `kstream:`, so neither overrides the other).
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.user_tags.clone();
        tags.insert(DEPLOYMENT_TAG.to_string(), self.deployment.clone());
        tags
    }

    /// The user tags a resource carrying `have` lacks or has with another value; empty when
    /// it has them all. Tags not in `[tags]` are never removed (see the README).
    pub fn missing_user_tags(&self, have: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.user_tags
            .iter()
            .filter(|(k, v)| have.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Tags of the role, which is global: the deployment's, and the region it serves.
    pub fn role_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags();
        tags.insert(REGION_TAG.to_string(), self.region.clone());
        tags
    }

    /// AWS partition of the region (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    /// Environment of the consumer function: every variable of [`env::ALL`].
    pub fn function_env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (env::BUCKET.to_string(), self.bucket.clone()),
            (
                env::KEY_PREFIX.to_string(),
                self.consumer.key_prefix.clone(),
            ),
            (
                env::WRITE_CONCURRENCY.to_string(),
                self.consumer.write_concurrency.to_string(),
            ),
        ])
    }

    /// Name of the queue kstream creates for failures (`on_failure = "queue"`).
    pub fn failure_queue_name(&self) -> String {
        failure_queue_name(&self.consumer.function_name)
    }

    /// Whether kstream creates and manages the failure queue.
    pub fn owns_failure_queue(&self) -> bool {
        self.consumer.on_failure == OnFailure::Queue
    }

    /// Where the mapping sends a batch it gives up on, if anywhere.
    pub fn failure_destination(&self) -> Option<Destination> {
        match &self.consumer.on_failure {
            OnFailure::Queue => Some(Destination::Sqs(format!(
                "arn:{}:sqs:{}:{}:{}",
                self.partition(),
                self.region,
                self.account,
                self.failure_queue_name()
            ))),
            OnFailure::None => None,
            OnFailure::SqsArn(arn) => Some(Destination::Sqs(arn.clone())),
            OnFailure::SnsArn(arn) => Some(Destination::Sns(arn.clone())),
        }
    }

    /// The function's log group, which kstream creates before the function.
    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.consumer.function_name)
    }

    /// Trust policy letting Lambda assume the consumer role.
    pub fn trust_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "lambda.amazonaws.com" },
                "Action": "sts:AssumeRole"
            }]
        })
    }

    /// The consumer role's inline policy, to be rendered with the stream's ARN.
    pub fn role_policy_template(&self) -> RolePolicy {
        RolePolicy {
            bucket: self.bucket.clone(),
            function: self.consumer.function_name.clone(),
            failures: self.failure_destination(),
            stream_key: self.customer_stream_key(),
        }
    }

    /// The stream's KMS key when it is one the consumer role must be allowed to decrypt with:
    /// any key but the AWS-managed `alias/aws/kinesis` (whose key policy already lets every
    /// principal of the account that may read the stream use it through Kinesis).
    pub fn customer_stream_key(&self) -> Option<String> {
        self.stream.encryption.customer_key().map(str::to_string)
    }

    /// The consumer role's inline policy for the stream `stream_arn`.
    pub fn role_policy(&self, stream_arn: &str) -> Value {
        self.role_policy_template().document(stream_arn)
    }

    /// Bucket policy denying any request not made over TLS.
    pub fn bucket_policy(&self) -> Value {
        let partition = self.partition();
        let bucket = &self.bucket;
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [
                    format!("arn:{partition}:s3:::{bucket}"),
                    format!("arn:{partition}:s3:::{bucket}/*")
                ],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            }]
        })
    }

    /// The bucket policy to put over `existing`: kstream's statements (by `Sid`) replace their
    /// earlier versions, and every statement kstream did not write is kept, in its order.
    pub fn merged_bucket_policy(&self, existing: Option<&Value>) -> Value {
        merge_policy(existing, &self.bucket_policy())
    }

    /// Event source mapping settings.
    pub fn mapping(&self) -> MappingSettings {
        MappingSettings {
            batch_size: self.consumer.batch_size,
            parallelization_factor: self.consumer.parallelization_factor,
            maximum_batching_window_s: self.consumer.maximum_batching_window_s,
            maximum_retry_attempts: self.consumer.maximum_retry_attempts,
            bisect_batch_on_function_error: self.consumer.bisect_batch_on_function_error,
            maximum_record_age_s: self.consumer.maximum_record_age_s,
            on_failure: self.failure_destination().map(|d| d.arn().to_string()),
            report_batch_item_failures: true,
            enabled: true,
        }
    }
}

/// Where failures go: an SQS queue or an SNS topic, by ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "arn")]
pub enum Destination {
    /// An SQS queue.
    Sqs(String),
    /// An SNS topic.
    Sns(String),
}

impl Destination {
    /// Its ARN.
    pub fn arn(&self) -> &str {
        match self {
            Destination::Sqs(arn) | Destination::Sns(arn) => arn,
        }
    }
}

/// The consumer role's inline policy, before the stream's ARN is known: read this stream,
/// write this bucket's objects, write this function's logs, send failures to their
/// destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    /// The bucket the consumer writes to.
    pub bucket: String,
    /// The consumer function (its log group).
    pub function: String,
    /// Where the mapping sends failures (it does so with the function's role).
    pub failures: Option<Destination>,
    /// The stream's customer-managed KMS key, which reading the stream needs `kms:Decrypt` on.
    pub stream_key: Option<String>,
}

impl RolePolicy {
    /// The document for the stream `stream_arn`; the account and partition come from the ARN.
    pub fn document(&self, stream_arn: &str) -> Value {
        let arn = Arn::parse(stream_arn);
        let (partition, region, account) = (arn.partition, arn.region, arn.account);
        let function = &self.function;
        let log_group =
            format!("arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function}");
        let mut document = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadStream",
                    "Effect": "Allow",
                    "Action": [
                        "kinesis:DescribeStream",
                        "kinesis:DescribeStreamSummary",
                        "kinesis:GetRecords",
                        "kinesis:GetShardIterator",
                        "kinesis:ListShards"
                    ],
                    "Resource": [stream_arn]
                },
                {
                    "Sid": "WriteObjects",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject"],
                    "Resource": [format!("arn:{partition}:s3:::{}/*", self.bucket)],
                    // Only into the bucket of this account, whoever else takes the name.
                    "Condition": { "StringEquals": { "s3:ResourceAccount": account } }
                },
                {
                    "Sid": "WriteLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group.clone(), format!("{log_group}:*")]
                }
            ]
        });
        let failures = match &self.failures {
            Some(Destination::Sqs(arn)) => Some(("sqs:SendMessage", arn)),
            Some(Destination::Sns(arn)) => Some(("sns:Publish", arn)),
            None => None,
        };
        if let (Some((action, arn)), Some(statements)) =
            (failures, document["Statement"].as_array_mut())
        {
            statements.push(json!({
                "Sid": "SendFailures",
                "Effect": "Allow",
                "Action": [action],
                "Resource": [arn]
            }));
        }
        let decrypt = self.stream_key.as_deref().map(|key| {
            stream_key_statement(
                "DecryptStream",
                "kms:Decrypt",
                key,
                stream_arn,
                (partition, region, account),
                true,
            )
        });
        if let (Some(statement), Some(statements)) = (decrypt, document["Statement"].as_array_mut())
        {
            statements.push(statement);
        }
        document
    }
}

/// The failure queue of the function `function` (`on_failure = "queue"`).
pub fn failure_queue_name(function: &str) -> String {
    format!("{function}-failures")
}

/// AWS partition of a region name.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The parts of an ARN kstream needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, …
    pub partition: &'a str,
    /// Region part.
    pub region: &'a str,
    /// Account id part.
    pub account: &'a str,
}

impl<'a> Arn<'a> {
    /// Split `arn:partition:service:region:account:resource`; missing parts are empty.
    pub fn parse(arn: &'a str) -> Arn<'a> {
        let mut parts = arn.splitn(6, ':');
        let _ = parts.next();
        let partition = parts.next().unwrap_or("");
        let _service = parts.next();
        let region = parts.next().unwrap_or("");
        let account = parts.next().unwrap_or("");
        Arn {
            partition,
            region,
            account,
        }
    }
}

/// Settings of the event source mapping that kstream manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingSettings {
    /// Records per batch.
    pub batch_size: u32,
    /// Concurrent batches per shard.
    pub parallelization_factor: u32,
    /// Longest the mapping gathers records before invoking, in seconds.
    pub maximum_batching_window_s: u32,
    /// Retries of a failing batch (-1 = until expiry).
    pub maximum_retry_attempts: i32,
    /// Split a failing batch in two.
    pub bisect_batch_on_function_error: bool,
    /// Oldest record sent, in seconds (-1 = no limit).
    pub maximum_record_age_s: i32,
    /// ARN of the on-failure destination, if any.
    pub on_failure: Option<String>,
    /// `FunctionResponseTypes = [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// The mapping polls.
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_from_tags() {
        assert_eq!(Owner::from_tags("d", [(DEPLOYMENT_TAG, "d")]), Owner::This);
        assert_eq!(
            Owner::from_tags("d", [(DEPLOYMENT_TAG, "e")]),
            Owner::Other("e".into())
        );
        assert_eq!(Owner::from_tags("d", [("other", "d")]), Owner::Untagged);
    }

    #[test]
    fn arn_parts() {
        let arn = Arn::parse("arn:aws:kinesis:us-east-1:000000000000:stream/s");
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.region, "us-east-1");
        assert_eq!(arn.account, "000000000000");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("eu-west-1"), "aws");
    }
}
