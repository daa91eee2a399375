//! The least-privilege IAM policies of the person or CI role that runs kstream, one per command
//! family, scoped to one deployment's resources. A pure function of the config, the region and
//! the account: no I/O, no SDK types (`kstream policy` prints them).
//!
//! Every action here is one kstream calls (an integration test runs every command against
//! LocalStack and checks each logged operation against these documents), plus what AWS
//! authorises along with a call: `iam:PassRole` for CreateFunction/UpdateFunctionConfiguration,
//! and the tagging actions of a create that carries tags (`kinesis:AddTagsToStream`,
//! `iam:TagRole`, `lambda:TagResource`, `s3:TagResource`, `sqs:TagQueue`,
//! `logs:TagResource`).

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, OnFailure};
use crate::kms::stream_key_statement;
use crate::model::{failure_queue_name, partition_of};

/// A group of commands that share one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `plan`, `apply`, `destroy`.
    Deploy,
    /// `put`, `smoke`.
    Produce,
    /// `objects`, `logs`, `status`, `failures`, `redrive`.
    Operate,
}

impl Family {
    /// Every family, in the order `kstream policy` prints them.
    pub const ALL: [Family; 3] = [Family::Deploy, Family::Produce, Family::Operate];

    /// Its name on the command line and in the JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Deploy => "deploy",
            Family::Produce => "produce",
            Family::Operate => "operate",
        }
    }

    /// The commands it covers.
    pub const fn commands(self) -> &'static [&'static str] {
        match self {
            Family::Deploy => &["plan", "apply", "destroy"],
            Family::Produce => &["put", "smoke"],
            Family::Operate => &["objects", "logs", "status", "failures", "redrive"],
        }
    }
}

/// The names and place of one deployment, everything its policies are scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Deployment name (the policies' `Id`).
    pub deployment: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// Region, or `*` when unknown.
    pub region: String,
    /// Account id, or `*` when unknown.
    pub account: String,
    /// Stream name.
    pub stream: String,
    /// Bucket name.
    pub bucket: String,
    /// `consumer.key_prefix`: where `smoke` reads its objects back.
    pub key_prefix: String,
    /// The consumer's role name.
    pub role: String,
    /// The consumer function's name.
    pub function: String,
    /// Where the mapping sends a batch it gives up on.
    pub on_failure: OnFailure,
    /// The stream's customer-managed KMS key, which writers and readers must be allowed to use
    /// (`None` for no encryption or the AWS-managed key).
    pub stream_key: Option<String>,
}

impl Scope {
    /// The scope of `config` in `region` and `account` (either may be `*`).
    pub fn new(config: &Config, region: &str, account: &str) -> Scope {
        Scope {
            deployment: config.name.clone(),
            partition: partition_of(region).to_string(),
            region: region.to_string(),
            account: account.to_string(),
            stream: config.stream.name.clone(),
            bucket: config.bucket.name.clone(),
            key_prefix: config.consumer.key_prefix.clone(),
            role: config.consumer.role_name.clone(),
            function: config.consumer.function_name.clone(),
            on_failure: config.consumer.on_failure.clone(),
            stream_key: config.stream.encryption.customer_key().map(str::to_string),
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    /// `action` on the stream's customer-managed key, for this stream's records only; none
    /// for an unencrypted stream or the AWS-managed key.
    fn key_statement(&self, sid: &str, action: &str, records: bool) -> Option<Value> {
        let key = self.stream_key.as_deref()?;
        let place = (
            self.partition.as_str(),
            self.region.as_str(),
            self.account.as_str(),
        );
        Some(stream_key_statement(
            sid,
            action,
            key,
            &self.stream_arn(),
            place,
            records,
        ))
    }

    /// The stream's ARN.
    pub fn stream_arn(&self) -> String {
        self.arn("kinesis", &format!("stream/{}", self.stream))
    }

    /// The bucket's ARN.
    pub fn bucket_arn(&self) -> String {
        format!("arn:{}:s3:::{}", self.partition, self.bucket)
    }

    /// The ARN of every object in the bucket.
    pub fn objects_arn(&self) -> String {
        format!("{}/*", self.bucket_arn())
    }

    /// The role's ARN (IAM is global: no region).
    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account, self.role
        )
    }

    /// The function's ARN.
    pub fn function_arn(&self) -> String {
        self.arn("lambda", &format!("function:{}", self.function))
    }

    /// Every event source mapping's ARN (a mapping's id is known only once it exists).
    pub fn mappings_arn(&self) -> String {
        self.arn("lambda", "event-source-mapping:*")
    }

    /// The function's log group, and its streams (`…:*`, the form DescribeLogGroups returns).
    pub fn log_group_arns(&self) -> [String; 2] {
        let group = self.arn("logs", &format!("log-group:/aws/lambda/{}", self.function));
        [group.clone(), format!("{group}:*")]
    }

    /// The failure queue kstream owns (`<function>-failures`): `apply` creates it for
    /// `on_failure = "queue"`, and `destroy` looks for it whatever `on_failure` says.
    pub fn own_queue_arn(&self) -> String {
        self.arn("sqs", &failure_queue_name(&self.function))
    }

    /// The queue `failures` and `redrive` read: kstream's own or the configured one.
    pub fn failure_queue_arn(&self) -> Option<String> {
        match &self.on_failure {
            OnFailure::Queue => Some(self.own_queue_arn()),
            OnFailure::SqsArn(arn) => Some(arn.clone()),
            OnFailure::None | OnFailure::SnsArn(_) => None,
        }
    }
}

/// One `Allow` statement.
fn allow(sid: &str, actions: &[&str], resources: &[String]) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    })
}

/// One `Allow` statement with a condition.
fn allow_if(sid: &str, actions: &[&str], resources: &[String], condition: Value) -> Value {
    let mut statement = allow(sid, actions, resources);
    statement["Condition"] = condition;
    statement
}

/// Mappings can only be told apart by the function they feed (their ids are random).
fn for_function(scope: &Scope) -> Value {
    json!({ "ArnEquals": { "lambda:FunctionArn": scope.function_arn() } })
}

/// What `observe` reads (`plan`, `apply`, `destroy` and `status`), by resource.
fn observe(scope: &Scope) -> Vec<Value> {
    let mut statements = vec![
        allow(
            "ReadStream",
            &["kinesis:DescribeStreamSummary", "kinesis:ListTagsForStream"],
            &[scope.stream_arn()],
        ),
        allow(
            "ReadBucket",
            &[
                "s3:GetBucketPolicy",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketTagging",
                "s3:GetEncryptionConfiguration",
                // HeadBucket and ListObjectsV2.
                "s3:ListBucket",
            ],
            &[scope.bucket_arn()],
        ),
        allow(
            "ReadRole",
            &[
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
            ],
            &[scope.role_arn()],
        ),
        allow(
            "ReadFunction",
            &[
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                // GetFunction returns the tags (kstream's ownership) only with it.
                "lambda:ListTags",
            ],
            &[scope.function_arn()],
        ),
        // ListEventSourceMappings has no resource type: only `*` names it.
        allow(
            "ListMappings",
            &["lambda:ListEventSourceMappings"],
            &["*".into()],
        ),
        allow(
            "ReadMappings",
            &["lambda:GetEventSourceMapping"],
            &[scope.mappings_arn()],
        ),
        // DescribeLogGroups has no resource type either.
        allow("FindLogGroup", &["logs:DescribeLogGroups"], &["*".into()]),
        allow(
            "ReadLogGroup",
            &["logs:ListTagsForResource"],
            &scope.log_group_arns(),
        ),
    ];
    if scope.on_failure == OnFailure::Queue {
        statements.push(allow(
            "ReadFailureQueue",
            &[
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
            ],
            &[scope.own_queue_arn()],
        ));
    }
    statements
}

/// `plan`, `apply`, `destroy`.
fn deploy(scope: &Scope) -> Vec<Value> {
    let mut statements = observe(scope);
    // `destroy` observes kstream's queue whatever `on_failure` says.
    if scope.on_failure != OnFailure::Queue {
        statements.push(allow(
            "ReadOwnFailureQueue",
            &[
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
            ],
            &[scope.own_queue_arn()],
        ));
    }
    statements.extend([
        allow(
            "ManageStream",
            &[
                "kinesis:AddTagsToStream",
                "kinesis:CreateStream",
                "kinesis:DecreaseStreamRetentionPeriod",
                "kinesis:DeleteStream",
                "kinesis:IncreaseStreamRetentionPeriod",
            ],
            &[scope.stream_arn()],
        ),
        // The IAM reference lists both the stream and a KMS key as these actions' resources.
        allow(
            "EncryptStream",
            &[
                "kinesis:StartStreamEncryption",
                "kinesis:StopStreamEncryption",
            ],
            &[scope.stream_arn(), scope.arn("kms", "key/*")],
        ),
        // Called only when the shard count or the mode differ from the config. The IAM
        // reference parliament checks against gives these two no resource type, so only `*`
        // names them.
        allow(
            "ReshardStream",
            &["kinesis:UpdateShardCount", "kinesis:UpdateStreamMode"],
            &["*".into()],
        ),
        allow(
            "ManageBucket",
            &[
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucketVersions",
                "s3:PutBucketPolicy",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutEncryptionConfiguration",
                // CreateBucket with tags.
                "s3:TagResource",
            ],
            &[scope.bucket_arn()],
        ),
        // `destroy --force` empties the bucket, every version. Reading and writing objects is
        // granted too, though kstream does neither here: whoever may write the bucket policy
        // can grant themselves both, so the policy says so rather than hide it.
        allow(
            "BucketObjects",
            &[
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:GetObject",
                "s3:PutObject",
            ],
            &[scope.objects_arn()],
        ),
        allow(
            "ManageRole",
            &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
            ],
            &[scope.role_arn()],
        ),
        allow_if(
            "PassRoleToLambda",
            &["iam:PassRole"],
            &[scope.role_arn()],
            json!({ "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } }),
        ),
        allow(
            "ManageFunction",
            &[
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:TagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            &[scope.function_arn()],
        ),
        allow_if(
            "CreateMapping",
            &["lambda:CreateEventSourceMapping"],
            &["*".into()],
            for_function(scope),
        ),
        allow_if(
            "ManageMappings",
            &[
                "lambda:DeleteEventSourceMapping",
                "lambda:UpdateEventSourceMapping",
            ],
            &[scope.mappings_arn()],
            for_function(scope),
        ),
        allow(
            "ManageLogGroup",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
            ],
            &scope.log_group_arns(),
        ),
        allow(
            "ManageFailureQueue",
            &[
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
            ],
            &[scope.own_queue_arn()],
        ),
    ]);
    // The Kinesis guide: stream administrators of a customer-managed key may describe it.
    statements.extend(scope.key_statement("DescribeStreamKey", "kms:DescribeKey", false));
    statements
}

/// `put`, `smoke`.
fn produce(scope: &Scope) -> Vec<Value> {
    let mut statements = vec![
        allow(
            "PutRecords",
            &["kinesis:ListShards", "kinesis:PutRecords"],
            &[scope.stream_arn()],
        ),
        // `smoke` waits for its records' objects, which it lists and reads by prefix.
        allow("ListObjects", &["s3:ListBucket"], &[scope.bucket_arn()]),
        allow(
            "ReadObjects",
            &["s3:GetObject"],
            &[format!("{}/{}*", scope.bucket_arn(), scope.key_prefix)],
        ),
    ];
    // Kinesis encrypts each PutRecords with a data key it asks KMS for, as the caller.
    statements.extend(scope.key_statement("EncryptRecords", "kms:GenerateDataKey", true));
    statements
}

/// `objects`, `logs`, `status`, `failures`, `redrive`.
fn operate(scope: &Scope) -> Vec<Value> {
    // `status` observes everything `plan` does.
    let mut statements = observe(scope);
    statements.extend([
        allow(
            "ReadRecords",
            &[
                // `status` (open shards), `redrive` (a failed batch's records).
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            &[scope.stream_arn()],
        ),
        allow("ReadObjects", &["s3:GetObject"], &[scope.objects_arn()]),
        allow(
            "ReadLogs",
            &["logs:FilterLogEvents"],
            &scope.log_group_arns(),
        ),
        allow(
            "InvokeConsumer",
            &["lambda:InvokeFunction"],
            &[scope.function_arn()],
        ),
        // `status` (the consumer's iterator age). GetMetricData has no resource type in
        // the IAM reference: it is granted on `*` or not at all.
        allow("ReadMetrics", &["cloudwatch:GetMetricData"], &["*".into()]),
    ]);
    // `redrive` reads a failed batch back with GetRecords, which decrypts as the caller.
    statements.extend(scope.key_statement("DecryptRecords", "kms:Decrypt", true));
    if let Some(queue) = scope.failure_queue_arn() {
        statements.push(allow(
            "HandleFailures",
            &[
                // `failures` receives every message and hands each back, `redrive` deletes
                // the ones it redrove.
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ],
            &[queue],
        ));
    }
    statements
}

/// The IAM policy document of `family`'s commands for the deployment `scope`.
pub fn document(scope: &Scope, family: Family) -> Value {
    let statements = match family {
        Family::Deploy => deploy(scope),
        Family::Produce => produce(scope),
        Family::Operate => operate(scope),
    };
    json!({
        "Version": "2012-10-17",
        "Id": format!("kstream-{}-{}", scope.deployment, family.as_str()),
        "Statement": statements,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "name = \"d\"\nregion = \"eu-west-1\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"b-bucket\"\n[consumer]\nkey_prefix = \"events/\"\n{extra}"
        );
        crate::config::parse(&text, Path::new("deploy.toml")).expect("valid config")
    }

    fn resources(doc: &Value) -> Vec<String> {
        doc["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| s["Resource"].as_array().expect("resources").clone())
            .map(|r| r.as_str().expect("string").to_string())
            .collect()
    }

    fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
        doc["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement `{sid}`"))
    }

    #[test]
    fn scoped_to_the_deployment_names() {
        let scope = Scope::new(&config(""), "eu-west-1", "123456789012");
        let doc = document(&scope, Family::Deploy);
        let all = resources(&doc);
        for expected in [
            "arn:aws:kinesis:eu-west-1:123456789012:stream/s",
            "arn:aws:s3:::b-bucket",
            "arn:aws:s3:::b-bucket/*",
            "arn:aws:iam::123456789012:role/d-consumer-role",
            "arn:aws:lambda:eu-west-1:123456789012:function:d-consumer",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/d-consumer",
            "arn:aws:sqs:eu-west-1:123456789012:d-consumer-failures",
        ] {
            assert!(all.iter().any(|r| r == expected), "{expected} missing");
        }
        // `*` only where the action has no resource type.
        for s in doc["Statement"].as_array().expect("statements") {
            if s["Resource"] == json!(["*"]) {
                let sid = s["Sid"].as_str().expect("sid");
                assert!(
                    [
                        "ListMappings",
                        "FindLogGroup",
                        "ReshardStream",
                        "CreateMapping"
                    ]
                    .contains(&sid),
                    "{sid} has Resource *"
                );
            }
        }
    }

    #[test]
    fn pass_role_only_to_lambda() {
        let scope = Scope::new(&config(""), "eu-west-1", "123456789012");
        let pass = statement(&document(&scope, Family::Deploy), "PassRoleToLambda").clone();
        assert_eq!(pass["Action"], json!(["iam:PassRole"]));
        assert_eq!(
            pass["Resource"],
            json!(["arn:aws:iam::123456789012:role/d-consumer-role"])
        );
        assert_eq!(
            pass["Condition"],
            json!({ "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } })
        );
        for family in [Family::Produce, Family::Operate] {
            let doc = document(&scope, family).to_string();
            assert!(!doc.contains("iam:PassRole"), "{family:?}");
        }
    }

    #[test]
    fn produce_reads_only_its_prefix_and_writes_only_records() {
        let scope = Scope::new(&config(""), "eu-west-1", "123456789012");
        let doc = document(&scope, Family::Produce);
        assert_eq!(
            statement(&doc, "ReadObjects")["Resource"],
            json!(["arn:aws:s3:::b-bucket/events/*"])
        );
        let text = doc.to_string();
        for absent in ["Create", "Delete", "iam:", "lambda:", "sqs:"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    #[test]
    fn failure_queue_follows_on_failure() {
        let external = "arn:aws:sqs:eu-west-1:999999999999:elsewhere";
        let scope = Scope::new(
            &config(&format!("on_failure = \"{external}\"\n")),
            "eu-west-1",
            "123456789012",
        );
        let operate = document(&scope, Family::Operate);
        assert_eq!(
            statement(&operate, "HandleFailures")["Resource"],
            json!([external])
        );
        // `destroy` still looks for the queue kstream may have created before.
        let deploy = document(&scope, Family::Deploy);
        assert_eq!(
            statement(&deploy, "ReadOwnFailureQueue")["Resource"],
            json!(["arn:aws:sqs:eu-west-1:123456789012:d-consumer-failures"])
        );

        let none = Scope::new(&config("on_failure = \"none\"\n"), "eu-west-1", "1");
        let text = document(&none, Family::Operate).to_string();
        assert!(!text.contains("sqs:ReceiveMessage"), "{text}");
    }

    #[test]
    fn unknown_account_and_region_are_wildcards() {
        let scope = Scope::new(&config(""), "*", "*");
        let doc = document(&scope, Family::Deploy);
        let all = resources(&doc);
        assert!(all.contains(&"arn:aws:kinesis:*:*:stream/s".to_string()));
        assert!(all.contains(&"arn:aws:iam::*:role/d-consumer-role".to_string()));
        assert_eq!(doc["Id"], "kstream-d-deploy");
    }

    #[test]
    fn china_partition() {
        let scope = Scope::new(&config(""), "cn-north-1", "123456789012");
        assert_eq!(scope.bucket_arn(), "arn:aws-cn:s3:::b-bucket");
    }

    /// `status` reads the iterator age; only `operate` may, on `*` (no resource type).
    #[test]
    fn only_operate_reads_metrics() {
        let scope = Scope::new(&config(""), "eu-west-1", "123456789012");
        let read = statement(&document(&scope, Family::Operate), "ReadMetrics").clone();
        assert_eq!(read["Action"], json!(["cloudwatch:GetMetricData"]));
        assert_eq!(read["Resource"], json!(["*"]));
        for family in [Family::Deploy, Family::Produce] {
            let text = document(&scope, family).to_string();
            assert!(!text.contains("cloudwatch:"), "{family:?}: {text}");
        }
    }

    /// A customer-managed stream key: `put` may generate data keys and `redrive` decrypt, each
    /// only for this stream's records; `apply` may describe the key. The AWS-managed key needs
    /// no grant at all.
    #[test]
    fn a_customer_stream_key_is_granted_per_family_for_this_stream_only() {
        let managed = Scope::new(&config(""), "eu-west-1", "123456789012");
        assert_eq!(managed.stream_key, None, "alias/aws/kinesis is the default");
        for family in Family::ALL {
            assert!(!document(&managed, family).to_string().contains("\"kms:"));
        }
        let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let scope = Scope {
            stream_key: Some(key.into()),
            ..managed
        };
        let arn = format!("arn:aws:kms:eu-west-1:123456789012:key/{key}");
        let context = json!({ "StringEquals": {
            "kms:EncryptionContext:aws:kinesis:arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
        }});
        for (family, sid, action) in [
            (Family::Produce, "EncryptRecords", "kms:GenerateDataKey"),
            (Family::Operate, "DecryptRecords", "kms:Decrypt"),
        ] {
            let s = statement(&document(&scope, family), sid).clone();
            assert_eq!(s["Action"], json!([action]), "{sid}");
            assert_eq!(s["Resource"], json!([arn]), "{sid}");
            assert_eq!(s["Condition"], context, "{sid}");
        }
        let describe = statement(&document(&scope, Family::Deploy), "DescribeStreamKey").clone();
        assert_eq!(describe["Action"], json!(["kms:DescribeKey"]));
        assert_eq!(describe["Resource"], json!([arn]));
        assert!(describe.get("Condition").is_none(), "{describe}");
        // An alias: any key of the account carrying it.
        let alias = Scope {
            stream_key: Some("alias/pipeline".into()),
            ..scope
        };
        let s = statement(&document(&alias, Family::Produce), "EncryptRecords").clone();
        assert_eq!(
            s["Resource"],
            json!(["arn:aws:kms:eu-west-1:123456789012:key/*"])
        );
        assert_eq!(
            s["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/pipeline"
        );
        let d = statement(&document(&alias, Family::Deploy), "DescribeStreamKey").clone();
        assert!(d["Condition"].get("StringEquals").is_none(), "{d}");
        assert_eq!(
            d["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/pipeline"
        );
    }

    /// A managed policy holds at most 6,144 characters, whitespace not counted: even with
    /// names at their longest, each family's document fits.
    #[test]
    fn fits_a_managed_policy() {
        let long = "n".repeat(64);
        let mut cfg = config("");
        cfg.name = long.clone();
        cfg.stream.name = "s".repeat(128);
        cfg.bucket.name = "b".repeat(63);
        cfg.consumer.function_name = long.clone();
        cfg.consumer.role_name = long.clone();
        cfg.consumer.key_prefix = "p".repeat(100);
        let scope = Scope::new(&cfg, "ap-southeast-2", "123456789012");
        for family in Family::ALL {
            let text = document(&scope, family).to_string();
            let size = text.chars().filter(|c| !c.is_whitespace()).count();
            assert!(size <= 6144, "{family:?}: {size} characters");
        }
    }
}
