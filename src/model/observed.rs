//! What `observe` found: one type per resource, built by `aws::*` from SDK responses.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{MappingSettings, Owner};
use crate::config::{Architecture, StartingPosition};

/// A Kinesis stream as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedStream {
    /// Stream ARN.
    pub arn: String,
    /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`.
    pub status: String,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    /// Number of open shards.
    pub open_shards: u32,
    /// Retention period in hours.
    pub retention_hours: u32,
    /// The KMS key it is encrypted with (`KeyId` as Kinesis reports it: an alias or a key's
    /// ARN or ID), or `None` when `EncryptionType` is `NONE`.
    pub kms_key_id: Option<String>,
    /// Ownership tag.
    pub owner: Owner,
    /// All its tags (empty while it is being deleted).
    pub tags: BTreeMap<String, String>,
}

impl ObservedStream {
    /// Whether it is being deleted (it can then be neither used nor deleted again).
    pub fn is_deleting(&self) -> bool {
        self.status == "DELETING"
    }
}

/// An S3 bucket as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedBucket {
    /// Ownership tag.
    pub owner: Owner,
    /// All tags (kept when kstream adds its own: PutBucketTagging replaces the set).
    pub tags: BTreeMap<String, String>,
    /// All four Block Public Access settings are on.
    pub public_access_blocked: bool,
    /// A default encryption rule exists.
    pub encrypted: bool,
    /// The bucket policy, if any.
    pub policy: Option<Value>,
}

/// The consumer's IAM role as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedRole {
    /// Role ARN.
    pub arn: String,
    /// Ownership tag.
    pub owner: Owner,
    /// Trust (assume-role) policy.
    pub trust_policy: Value,
    /// kstream's inline policy, if present.
    pub policy: Option<Value>,
    /// Its `kstream:region` tag, if any.
    pub region: Option<String>,
    /// Policies kstream did not put there (``inline `name` `` / ``managed `arn` ``).
    pub extra_policies: Vec<String>,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

/// The consumer function as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedFunction {
    /// Function ARN.
    pub arn: String,
    /// Ownership tag.
    pub owner: Owner,
    /// Base64 SHA-256 of the deployed zip.
    pub code_sha256: String,
    /// Size of the deployed zip in bytes.
    pub code_size: i64,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Instruction set.
    pub architecture: Option<Architecture>,
    /// Runtime identifier.
    pub runtime: String,
    /// Handler.
    pub handler: String,
    /// Execution role ARN.
    pub role_arn: String,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// `Pending`, `Active`, `Failed`, …
    pub state: String,
    /// `Successful`, `InProgress`, `Failed`.
    pub last_update_status: String,
    /// ISO time of the last change.
    pub last_modified: String,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

/// An event source mapping as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedMapping {
    /// Mapping id.
    pub uuid: String,
    /// `Creating`, `Enabled`, `Updating`, `Disabled`, …
    pub state: String,
    /// Settings kstream manages.
    pub settings: MappingSettings,
    /// Where it started reading (immutable after creation).
    pub starting_position: Option<StartingPosition>,
    /// How its last poll went (`OK`, `PROBLEM: …`, `No records processed`), if reported.
    pub last_processing_result: Option<String>,
    /// Why it is in its state (`User action`, or what disabled it), if reported.
    pub state_reason: Option<String>,
}

/// The failure queue as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedQueue {
    /// Queue URL (what SQS calls take).
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// Ownership tag.
    pub owner: Owner,
    /// SQS-managed server-side encryption (or a KMS key) is on.
    pub encrypted: bool,
    /// Message retention, in seconds.
    pub retention_s: u32,
    /// Messages in it, visible or in flight (approximate, as SQS counts).
    pub messages: u64,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

/// The function's log group as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedLogGroup {
    /// Its ARN (tags are read and written by ARN).
    pub arn: String,
    /// Ownership tag.
    pub owner: Owner,
    /// Retention in days; `None` keeps logs forever.
    pub retention_days: Option<u32>,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

/// Everything that exists for a deployment, observed concurrently before planning.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// The stream, when it exists.
    pub stream: Option<ObservedStream>,
    /// The bucket, when it exists (and is ours to see).
    pub bucket: Option<ObservedBucket>,
    /// The role, when it exists.
    pub role: Option<ObservedRole>,
    /// The function, when it exists.
    pub function: Option<ObservedFunction>,
    /// Mappings from this function to this stream (more than one is a leftover to clean).
    pub mappings: Vec<ObservedMapping>,
    /// Whether the bucket holds any object or version (observed for destroy only).
    pub bucket_has_objects: Option<bool>,
    /// The failure queue named after the function, when it exists.
    pub queue: Option<ObservedQueue>,
    /// The function's log group, when it exists.
    pub log_group: Option<ObservedLogGroup>,
}
