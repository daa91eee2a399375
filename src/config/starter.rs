//! The commented starter config that `kstream init` writes; `deploy.example.toml` is its output.

/// A commented starter config for deployment `name` writing to bucket `bucket`.
///
/// Every key is present with a comment (allowed values, default, meaning); keys whose default
/// is usually right are commented out. `deploy.example.toml` is this text for `kstream-demo`
/// and `my-globally-unique-bucket`, which a unit test checks.
pub fn starter(name: &str, bucket: &str) -> String {
    let stream = quote(&format!("{name}-stream"));
    let function_name = format!("{name}-consumer");
    let role_name = quote(&format!("{function_name}-role"));
    let function_name = quote(&function_name);
    let name = quote(name);
    let bucket = quote(bucket);
    let max_prefix = kstream_contract::MAX_KEY_PREFIX_BYTES;
    format!(
        r#"# kstream deployment config.
#
# kstream creates or updates a Kinesis data stream, an S3 bucket, and a Lambda
# function (with its IAM role) that writes the stream's records into the bucket.
# Every resource is tagged `kstream:deployment = <name>`.
#
# Unknown keys and tables are errors. A key with a default may be left out.

# Deployment name, tagged on every resource as `kstream:deployment`.
# Required. 1 to 64 characters: ASCII letters, digits, `_` and `-`.
name = {name}

# AWS region, like "us-east-1" or "eu-central-1".
# Default: the standard AWS region chain (`AWS_REGION`, then the profile's region).
# region = "us-east-1"

# Endpoint for every AWS call, e.g. LocalStack. An http:// or https:// URL.
# Default: the AWS endpoints (`AWS_ENDPOINT_URL` is honoured too).
# endpoint_url = "http://127.0.0.1:4566"

# The Kinesis data stream. Required table.
[stream]
# Stream name, unique in the account and region.
# Required. 1 to 128 characters: ASCII letters, digits, `_`, `.` and `-`.
name = {stream}
# Capacity mode: "provisioned" (`shard_count` shards, billed per shard-hour) or
# "on_demand" (Kinesis adds shards as the load grows, billed per GB; leave
# `shard_count` out). A switch is planned explicitly and `apply` asks before it:
# AWS allows two per 24 hours. Default: "provisioned".
# mode = "provisioned"
# Number of shards; each takes up to 1 MB/s or 1000 records/s of writes.
# 1 to 1000 (the smallest default per-account shard quota of any region). Default: 2.
shard_count = 2
# How long records stay readable, in hours.
# 24 (one day) to 8760 (365 days); more than 24 costs extra. Default: 24.
retention_hours = 24
# Encryption at rest: "kms" (server-side encryption with a KMS key, set right
# after the stream is created and restored if someone turns it off) or "none".
# Default: "kms".
encryption = "kms"
# The KMS key for `encryption = "kms"`: a key ID, key ARN, alias name
# ("alias/...") or alias ARN. With a key of your own, kstream allows the
# consumer role kms:Decrypt on it; whoever runs `kstream put` needs
# kms:GenerateDataKey on it, and the key policy must allow both. Not allowed
# with `encryption = "none"`. Default: "alias/aws/kinesis" (the AWS-managed
# key: no permissions to add).
# kms_key_id = "alias/aws/kinesis"

# The S3 bucket the consumer writes objects into. Required table.
[bucket]
# Bucket name, unique across all AWS accounts. Required. S3's naming rules:
# 3 to 63 characters: lowercase letters, digits, `.` and `-`; starts and ends
# with a letter or digit; no `..`; not an IP address like 192.168.5.4; does not
# start with `xn--`, `sthree-` or `amzn-s3-demo-`; does not end with `-s3alias`,
# `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`.
name = {bucket}

# The Lambda function that reads the stream and writes to the bucket, and how
# the stream is mapped to it. Optional table: every key has a default.
[consumer]
# Function name. 1 to 64 characters: ASCII letters, digits, `_` and `-`.
# Default: "<name>-consumer".
# function_name = {function_name}
# Name of the IAM role the function runs as. 1 to 64 characters: ASCII
# letters, digits and `+=,.@_-`. Default: "<function_name>-role".
# role_name = {role_name}
# Memory in MB; CPU grows with it. 128 to 10240. Default: 128.
memory_mb = 128
# Longest one invocation may run, in seconds. 1 to 900. Default: 30.
timeout_s = 30
# Instruction set: "x86_64" or "arm64" (Graviton). Default: "x86_64".
architecture = "x86_64"
# Most records passed to one invocation. 1 to 10000. Default: 100.
batch_size = 100
# Batches of one shard processed at once, in sequence-number order per
# partition key: 1 to 10. Raise it when one invocation per shard cannot keep up
# (`kstream plan` estimates it). Default: 1.
parallelization_factor = 1
# Longest the mapping gathers records before invoking the function, in seconds:
# 0 to 300. Larger batches cost fewer invocations, at the price of latency.
# Default: 0.
maximum_batching_window_s = 0
# Where reading starts when the mapping is first created (it cannot change
# later): "TRIM_HORIZON" (the oldest retained record) or "LATEST" (only
# records put after that). Default: "TRIM_HORIZON".
starting_position = "TRIM_HORIZON"
# Retries of a failed batch: -1 (retry until the records expire) to 10000.
# Default: 10.
maximum_retry_attempts = 10
# On a function error, split the batch in two and retry each half, so one bad
# record does not hold back the rest: true or false. Default: true.
bisect_batch_on_function_error = true
# Oldest record the mapping still sends, in seconds: -1 (no limit) or 60 to
# 604800 (7 days). Older records are given up on, like a batch out of retries.
# Default: -1.
maximum_record_age_s = -1
# Where the mapping records a batch it gives up on (out of retries or too old),
# so that `kstream failures` lists it and `kstream redrive` writes it later:
# "queue" (an SQS queue `<function_name>-failures` that kstream creates,
# encrypted, keeping messages 14 days), "none" (nowhere: the records are
# skipped), or the ARN of an existing SQS queue or SNS topic. Default: "queue".
on_failure = "queue"
# Days the function's log group `/aws/lambda/<function_name>` keeps logs: 1, 3,
# 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
# 2557, 2922, 3288 or 3653. Default: 14.
log_retention_days = 14
# Prefix of every object key, like "events/". At most {max_prefix} bytes of printable
# ASCII (space to `~`) except `\`; must not start with `/`. Default: "" (keys at
# the top of the bucket).
key_prefix = ""
# Most objects the consumer writes to S3 at once, per invocation. 1 to 256.
# S3 answers a small PutObject in about 20-30 ms, so 32 keep up with one
# shard's 1,000 records/s. Default: 32.
write_concurrency = 32
# A prebuilt consumer zip holding `bootstrap`; kstream then does not build the
# consumer. A relative path is relative to this file's directory.
# Default: build the consumer in the kstream workspace.
# zip = "target/lambda/consumer/bootstrap.zip"

# Tags for every resource kstream creates (stream, bucket, failure queue, log
# group, role, function), set in the create call itself, next to kstream's own
# `kstream:deployment` (and `kstream:region` on the role). Optional table.
# Keys: 1 to 128 characters, not starting with `kstream:` or `aws:`; values: 0
# to 256 characters; both of letters, digits, spaces and `_ . : / = + - @`. At
# most 48 tags. `apply` adds a missing tag and corrects a changed value; it never
# removes a tag, not even one taken out of this table (remove it by hand).
[tags]
# team = "data-platform"
"#
    )
}

/// `value` as a TOML string.
fn quote(value: &str) -> String {
    toml::Value::from(value).to_string()
}
