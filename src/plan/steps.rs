//! The typed steps of a plan: per resource, exactly the calls to make and everything they
//! need. The executor (`crate::aws::execute`) matches on them and decides nothing again.
//!
//! An ARN that exists only once an earlier step has run (the stream's, for the role policy and
//! the mapping; the role's, for the function) is not stored here: the phase that creates or
//! finds the resource returns it, so a step can never refer to an ARN nobody produced.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{Architecture, StartingPosition, StreamMode};
use crate::model::{MappingSettings, RolePolicy};
use crate::package::Artifact;

/// Resource tags (`kstream:deployment` and friends).
pub type Tags = BTreeMap<String, String>;

/// User tags (`[tags]`) to add to or change on an existing resource; tags that are not in the
/// config are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct TagChange {
    /// The current values of the keys that change (a key missing here is a new tag).
    pub from: Tags,
    /// The tags to set.
    pub set: Tags,
}

/// Everything `apply` does, by phase. It exists only for a plan without conflicts.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplySteps {
    /// Phase 1 (concurrently with bucket and role).
    pub stream: StreamPhase,
    /// Phase 1.
    pub bucket: BucketPhase,
    /// Phase 1.
    pub role: RolePhase,
    /// Phase 1: the failure queue (when kstream owns it).
    pub queue: QueuePhase,
    /// Phase 1: the function's log group, before the function.
    pub log_group: LogGroupPhase,
    /// Phase 2: needs the stream's ARN.
    pub role_policy: RolePolicyStep,
    /// Phase 3: needs the role's ARN.
    pub function: FunctionPhase,
    /// Phase 4: needs the stream's ARN.
    pub mappings: Vec<MappingStep>,
    /// The role or its policies are created or changed in this run: Lambda may not be able
    /// to use them yet (IAM propagates in seconds), so the function and mapping calls retry
    /// for a while.
    pub role_fresh: bool,
}

/// Everything `destroy` decides, per resource, in order: mappings, then function → role ∥
/// stream ∥ bucket. Resources it keeps or finds gone are here too, so that the plan's text
/// comes from the same value the executor runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DestroySteps {
    /// The mappings stream → function.
    pub mappings: Vec<Target>,
    /// The function.
    pub function: Target,
    /// The role (with its inline policies).
    pub role: Target,
    /// The stream.
    pub stream: Target,
    /// The bucket.
    pub bucket: Target,
    /// The failure queue (deleted with the mapping's failures in it only with `--force`).
    pub queue: QueueTarget,
    /// The function's log group.
    pub log_group: Target,
    /// Delete every object version and delete marker before the bucket (`--force`).
    pub empty_bucket_first: bool,
}

/// One resource `destroy` considers.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Its name (a mapping's UUID).
    pub name: String,
    /// What happens to it.
    pub fate: Fate,
}

/// What `destroy` does with a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Delete it; the detail is shown in the plan.
    Delete {
        /// Shown after the name, e.g. "with its inline policies".
        detail: Option<String>,
    },
    /// Leave it, for this reason.
    Keep {
        /// Why.
        reason: String,
    },
    /// It does not exist.
    Gone,
    /// It is being deleted already: wait until it is gone.
    BeingDeleted,
}

impl Target {
    /// Whether the executor deletes it.
    pub fn deletes(&self) -> bool {
        matches!(self.fate, Fate::Delete { .. })
    }
}

/// The failure queue `destroy` considers: its URL is what SQS calls take.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueTarget {
    /// Name and fate.
    pub target: Target,
    /// Queue URL, when it exists.
    pub url: Option<String>,
}

/// What the failure queue needs.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuePhase {
    /// kstream manages no queue (`on_failure` is `"none"` or an ARN).
    Unmanaged,
    /// Create it.
    Create(QueueSpec),
    /// It exists: run the updates.
    Existing {
        /// Queue name.
        name: String,
        /// Queue URL.
        url: String,
        /// Updates, in order.
        updates: Vec<QueueUpdate>,
    },
}

/// A failure queue to create.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// Queue name.
    pub name: String,
    /// Deployment (to check the tags of a queue that appears meanwhile).
    pub deployment: String,
    /// Message retention in seconds.
    pub retention_s: u32,
    /// Tags.
    pub tags: Tags,
}

/// A change to an existing failure queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueUpdate {
    /// Add the ownership tag (`--adopt`).
    AdoptTag(Tags),
    /// Add or change user tags.
    Tags(TagChange),
    /// Set retention and SQS-managed encryption.
    Attributes {
        /// Message retention in seconds.
        retention_s: u32,
    },
}

/// What the log group needs.
#[derive(Debug, Clone, PartialEq)]
pub enum LogGroupPhase {
    /// Create it.
    Create(LogGroupSpec),
    /// It exists: run the updates.
    Existing {
        /// Log group name.
        name: String,
        /// Its ARN.
        arn: String,
        /// Updates, in order.
        updates: Vec<LogGroupUpdate>,
    },
}

/// A log group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroupSpec {
    /// `/aws/lambda/<function>`.
    pub name: String,
    /// Deployment (to check the tags of a group that appears meanwhile).
    pub deployment: String,
    /// Retention in days.
    pub retention_days: u32,
    /// Tags.
    pub tags: Tags,
}

/// A change to an existing log group.
#[derive(Debug, Clone, PartialEq)]
pub enum LogGroupUpdate {
    /// Add the ownership tag (a group Lambda created for this function, or `--adopt`).
    AdoptTag(Tags),
    /// Add or change user tags.
    Tags(TagChange),
    /// Change the retention.
    Retention {
        /// Days now (`None`: forever).
        from: Option<u32>,
        /// Days wanted.
        to: u32,
    },
}

/// What the stream needs.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPhase {
    /// Create it (tagged, in its mode); a stream that appears meanwhile is converged to the
    /// same spec. The create returns the ARN.
    Create {
        /// The stream to create.
        spec: StreamSpec,
        /// A stream of that name is being deleted: wait until it is gone first.
        after_deletion: bool,
    },
    /// It exists: wait for `ACTIVE` if it is still settling, then run the updates.
    Existing {
        /// Stream name.
        name: String,
        /// Stream ARN.
        arn: String,
        /// It is `CREATING` or `UPDATING`: wait for `ACTIVE` first.
        settling: bool,
        /// Updates, in order.
        updates: Vec<StreamUpdate>,
    },
}

/// A stream to create.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: String,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Open shards (PROVISIONED only).
    pub shard_count: u32,
    /// Retention in hours.
    pub retention_hours: u32,
    /// The KMS key to encrypt it with once it is `ACTIVE` (CreateStream cannot), or `None`.
    pub kms_key_id: Option<String>,
    /// Tags, set in the create call.
    pub tags: Tags,
}

/// One change to an existing stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamUpdate {
    /// Add the ownership tag (`--adopt`).
    AdoptTag(Tags),
    /// Add or change user tags.
    Tags(TagChange),
    /// Switch the capacity mode (AWS allows two switches per 24 hours; `apply` asks first).
    Mode {
        /// The mode it has now, as Kinesis names it.
        from: String,
        /// The mode wanted (switching to PROVISIONED keeps the open shards; a `ShardCount`
        /// update follows when they differ).
        to: StreamMode,
    },
    /// Reshard.
    ShardCount {
        /// Open shards now.
        from: u32,
        /// Open shards wanted.
        to: u32,
    },
    /// Change the retention period.
    RetentionHours {
        /// Hours now.
        from: u32,
        /// Hours wanted.
        to: u32,
    },
    /// StartStreamEncryption: encrypt the stream, or switch it to another key.
    StartEncryption {
        /// The key it is encrypted with now, if any.
        from: Option<String>,
        /// The key wanted.
        key_id: String,
    },
    /// StopStreamEncryption (`encryption = "none"`).
    StopEncryption {
        /// The key it is encrypted with now (the call names it).
        key_id: String,
    },
}

/// What the bucket needs.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketPhase {
    /// Create it with its tags, then block public access, encrypt, put the policy.
    Create(BucketSpec),
    /// It exists: run the updates.
    Existing {
        /// Bucket name.
        name: String,
        /// Updates, in order.
        updates: Vec<BucketUpdate>,
    },
}

/// A bucket to create.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSpec {
    /// Bucket name.
    pub name: String,
    /// Region (decides the location constraint).
    pub region: String,
    /// Tags, set in the create call.
    pub tags: Tags,
    /// The TLS-only bucket policy.
    pub policy: Value,
}

/// One change to an existing bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketUpdate {
    /// Add the ownership tag, keeping the tags it has (`--adopt`).
    AdoptTag {
        /// Tags it has now.
        existing: Tags,
        /// Tags to add.
        add: Tags,
    },
    /// Add or change user tags, keeping the tags it has (PutBucketTagging replaces the set).
    Tags {
        /// Tags it has now.
        existing: Tags,
        /// What changes.
        change: TagChange,
    },
    /// Turn all four Block Public Access settings on.
    BlockPublicAccess,
    /// Turn default encryption (SSE-S3) on.
    Encrypt,
    /// Put the TLS-only bucket policy.
    Policy(Value),
}

/// What the role needs.
#[derive(Debug, Clone, PartialEq)]
pub enum RolePhase {
    /// Create it with its trust policy and tags; the create returns the ARN.
    Create(RoleSpec),
    /// It exists: run the updates.
    Existing {
        /// Role name.
        name: String,
        /// Role ARN.
        arn: String,
        /// Updates, in order.
        updates: Vec<RoleUpdate>,
    },
}

/// A role to create.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    /// Role name.
    pub name: String,
    /// Deployment (to check the tags of a role that appears meanwhile).
    pub deployment: String,
    /// Region the role serves (its `kstream:region` tag).
    pub region: String,
    /// Trust policy.
    pub trust_policy: Value,
    /// Tags, set in the create call.
    pub tags: Tags,
}

/// One change to an existing role.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleUpdate {
    /// Add the ownership tag (`--adopt`).
    AdoptTag(Tags),
    /// Add the `kstream:region` tag to this deployment's role from before kstream tagged
    /// regions.
    RegionTag(Tags),
    /// Add or change user tags.
    Tags(TagChange),
    /// Replace the trust policy.
    TrustPolicy(Value),
}

/// The role's inline policy.
#[derive(Debug, Clone, PartialEq)]
pub enum RolePolicyStep {
    /// It is as wanted.
    Keep,
    /// Put it, rendered with the stream's ARN (known only after phase 1 when the stream is
    /// created in this run).
    Put {
        /// Role name.
        role: String,
        /// The document, given the stream's ARN.
        policy: RolePolicy,
    },
}

/// The function's configuration, as CreateFunction and UpdateFunctionConfiguration take it
/// (the role's ARN comes from phase 1).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    /// Function name.
    pub name: String,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Instruction set.
    pub architecture: Architecture,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Tags.
    pub tags: Tags,
}

/// What the function needs.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionPhase {
    /// Create it from the packaged zip and wait until it is `Active`.
    Create {
        /// Its configuration.
        config: FunctionConfig,
        /// The packaged consumer.
        artifact: Artifact,
    },
    /// It exists: run the updates.
    Existing {
        /// Its configuration as wanted.
        config: FunctionConfig,
        /// Function ARN.
        arn: String,
        /// Updates, in order.
        updates: Vec<FunctionUpdate>,
    },
}

/// One change to an existing function.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionUpdate {
    /// Add the ownership tag (`--adopt`).
    AdoptTag,
    /// Add or change user tags.
    Tags(TagChange),
    /// Deploy new code (and architecture).
    Code {
        /// Deployed `CodeSha256`.
        from: String,
        /// The packaged consumer.
        artifact: Artifact,
    },
    /// One UpdateFunctionConfiguration call setting every managed field; `changed` says
    /// which differ (for the plan's text).
    Configuration {
        /// The fields that differ.
        changed: Vec<ConfigChange>,
    },
}

/// A configuration field of the function that differs.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigChange {
    /// Memory size.
    MemoryMb {
        /// Now.
        from: u32,
        /// Wanted.
        to: u32,
    },
    /// Timeout.
    TimeoutS {
        /// Now.
        from: u32,
        /// Wanted.
        to: u32,
    },
    /// Runtime.
    Runtime {
        /// Now.
        from: String,
    },
    /// Handler.
    Handler {
        /// Now.
        from: String,
    },
    /// Execution role.
    RoleArn {
        /// Now.
        from: String,
        /// Wanted.
        to: String,
    },
    /// Environment variables.
    Environment,
}

/// One step for the event source mappings stream → function.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingStep {
    /// Create the mapping (with the stream's ARN from phase 1).
    Create {
        /// Stream name.
        stream: String,
        /// Function name.
        function: String,
        /// Settings.
        settings: MappingSettings,
        /// Where to start reading.
        starting_position: StartingPosition,
    },
    /// Leave it as it is.
    Keep {
        /// Mapping UUID.
        uuid: String,
    },
    /// Change its settings.
    Update {
        /// Mapping UUID.
        uuid: String,
        /// Settings now.
        from: MappingSettings,
        /// Settings wanted.
        to: MappingSettings,
    },
    /// Delete a duplicate (a leftover of an interrupted run).
    DeleteDuplicate {
        /// Mapping UUID.
        uuid: String,
    },
}
