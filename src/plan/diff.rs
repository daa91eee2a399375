//! Desired × observed → the typed steps of `apply`, per resource (`teardown` has `destroy`'s).
//! Pure: no I/O.

use crate::config::StreamMode;
use crate::kms::same_key;
use crate::model::{
    Desired, FAILURE_RETENTION_S, HANDLER, Observed, ObservedMapping, Owner, RUNTIME, same_policy,
};

use super::steps::{
    ApplySteps, BucketPhase, BucketSpec, BucketUpdate, ConfigChange, FunctionConfig, FunctionPhase,
    FunctionUpdate, LogGroupPhase, LogGroupSpec, LogGroupUpdate, MappingStep, QueuePhase,
    QueueSpec, QueueUpdate, RolePhase, RolePolicyStep, RoleSpec, RoleUpdate, StreamPhase,
    StreamSpec, StreamUpdate, TagChange, Tags,
};
use super::{ApplyOptions, Conflict, Resource};

/// The apply plan per resource; `None` where a conflict blocks the resource.
#[derive(Debug, Clone, Default)]
pub(super) struct Phases {
    pub stream: Option<StreamPhase>,
    pub bucket: Option<BucketPhase>,
    pub role: Option<RolePhase>,
    pub queue: Option<QueuePhase>,
    pub log_group: Option<LogGroupPhase>,
    pub role_policy: Option<RolePolicyStep>,
    /// `Err(())` when the function must be created but no packaged consumer is known.
    pub function: Option<Result<FunctionPhase, ()>>,
    pub mappings: Option<Vec<MappingStep>>,
    /// Whether the role policy exists already (an update, not a create, in the plan's text).
    pub role_policy_exists: bool,
}

impl Phases {
    /// Every phase, when nothing is blocked.
    pub fn complete(&self) -> Option<ApplySteps> {
        let role_fresh = match self.role.as_ref()? {
            RolePhase::Create(_) => true,
            RolePhase::Existing { updates, .. } => updates
                .iter()
                .any(|u| matches!(u, RoleUpdate::TrustPolicy(_))),
        } || matches!(self.role_policy, Some(RolePolicyStep::Put { .. }));
        Some(ApplySteps {
            role_fresh,
            stream: self.stream.clone()?,
            bucket: self.bucket.clone()?,
            role: self.role.clone()?,
            queue: self.queue.clone()?,
            log_group: self.log_group.clone()?,
            role_policy: self.role_policy.clone()?,
            function: self.function.clone()?.ok()?,
            mappings: self.mappings.clone()?,
        })
    }
}

/// Ownership check shared by every resource: `Ok(true)` when the tag must be added
/// (`--adopt`), `Err` with the conflict when the resource is not this deployment's to touch.
fn ownership(
    resource: Resource,
    name: &str,
    owner: &Owner,
    opts: ApplyOptions,
) -> Result<bool, Conflict> {
    match owner {
        Owner::This => Ok(false),
        Owner::Untagged if opts.adopt => Ok(true),
        other => Err(Conflict {
            resource,
            name: name.to_string(),
            owner: other.clone(),
        }),
    }
}

/// The user tags a resource carrying `have` lacks or has with another value, if any.
fn tag_change(desired: &Desired, have: &Tags) -> Option<TagChange> {
    let set = desired.missing_user_tags(have);
    if set.is_empty() {
        return None;
    }
    let from = (set.keys())
        .filter_map(|k| have.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    Some(TagChange { from, set })
}

/// The phase, or `None` with the conflict recorded.
fn unblocked<T>(result: Result<T, Conflict>, conflicts: &mut Vec<Conflict>) -> Option<T> {
    result.map_err(|conflict| conflicts.push(conflict)).ok()
}

pub(super) fn apply(
    desired: &Desired,
    observed: &Observed,
    opts: ApplyOptions,
    conflicts: &mut Vec<Conflict>,
) -> Phases {
    let stream = unblocked(stream(desired, observed, opts), conflicts);
    let bucket = unblocked(bucket(desired, observed, opts), conflicts);
    let role = unblocked(role(desired, observed, opts), conflicts);
    let queue = unblocked(queue(desired, observed, opts), conflicts);
    let log_group = unblocked(log_group(desired, observed), conflicts);
    let role_policy = role.as_ref().map(|_| role_policy(desired, observed));
    let function = unblocked(function(desired, observed, opts), conflicts);
    // Only the function's owner manages its mappings: a conflict on the function stops here.
    let mappings = function.as_ref().map(|_| mappings(desired, observed));
    Phases {
        stream,
        bucket,
        role,
        queue,
        log_group,
        role_policy,
        function,
        mappings,
        role_policy_exists: observed.role.as_ref().is_some_and(|r| r.policy.is_some()),
    }
}

fn stream(
    desired: &Desired,
    observed: &Observed,
    opts: ApplyOptions,
) -> Result<StreamPhase, Conflict> {
    let want = &desired.stream;
    let have = observed.stream.as_ref();
    let Some(have) = have.filter(|s| !s.is_deleting()) else {
        return Ok(StreamPhase::Create {
            spec: StreamSpec {
                name: want.name.clone(),
                mode: want.mode,
                shard_count: want.shard_count,
                retention_hours: want.retention_hours,
                kms_key_id: want.encryption.key_id().map(str::to_string),
                tags: desired.tags(),
            },
            after_deletion: have.is_some(),
        });
    };
    let mut updates = Vec::new();
    // Adopting puts every tag, the user's too.
    if ownership(Resource::Stream, &want.name, &have.owner, opts)? {
        updates.push(StreamUpdate::AdoptTag(desired.tags()));
    } else if let Some(change) = tag_change(desired, &have.tags) {
        updates.push(StreamUpdate::Tags(change));
    }
    if have.mode != want.mode.as_aws() {
        updates.push(StreamUpdate::Mode {
            from: have.mode.clone(),
            to: want.mode,
        });
    }
    // Kinesis scales an ON_DEMAND stream itself.
    if want.mode == StreamMode::Provisioned && have.open_shards != want.shard_count {
        updates.push(StreamUpdate::ShardCount {
            from: have.open_shards,
            to: want.shard_count,
        });
    }
    if have.retention_hours != want.retention_hours {
        updates.push(StreamUpdate::RetentionHours {
            from: have.retention_hours,
            to: want.retention_hours,
        });
    }
    updates.extend(encryption(
        want.encryption.key_id(),
        have.kms_key_id.as_deref(),
    ));
    Ok(StreamPhase::Existing {
        name: want.name.clone(),
        arn: have.arn.clone(),
        settling: have.status != "ACTIVE",
        updates,
    })
}

/// The encryption step, if the stream's key (`have`, as Kinesis reports it) is not the one
/// wanted. Spellings of one key compare equal (`kms::same_key`).
pub fn encryption(want: Option<&str>, have: Option<&str>) -> Option<StreamUpdate> {
    match (want, have) {
        (None, None) => None,
        (None, Some(key_id)) => Some(StreamUpdate::StopEncryption {
            key_id: key_id.to_string(),
        }),
        (Some(want), Some(have)) if same_key(want, have) => None,
        (Some(want), have) => Some(StreamUpdate::StartEncryption {
            from: have.map(str::to_string),
            key_id: want.to_string(),
        }),
    }
}

fn bucket(
    desired: &Desired,
    observed: &Observed,
    opts: ApplyOptions,
) -> Result<BucketPhase, Conflict> {
    let name = &desired.bucket;
    let Some(have) = &observed.bucket else {
        let policy = desired.bucket_policy();
        return Ok(BucketPhase::Create(BucketSpec {
            name: name.clone(),
            region: desired.region.clone(),
            tags: desired.tags(),
            policy,
        }));
    };
    let mut updates = Vec::new();
    if ownership(Resource::Bucket, name, &have.owner, opts)? {
        updates.push(BucketUpdate::AdoptTag {
            existing: have.tags.clone(),
            add: desired.tags(),
        });
    } else if let Some(change) = tag_change(desired, &have.tags) {
        updates.push(BucketUpdate::Tags {
            existing: have.tags.clone(),
            change,
        });
    }
    if !have.public_access_blocked {
        updates.push(BucketUpdate::BlockPublicAccess);
    }
    if !have.encrypted {
        updates.push(BucketUpdate::Encrypt);
    }
    // Statements kstream did not write (by `Sid`) are kept.
    let policy = desired.merged_bucket_policy(have.policy.as_ref());
    if !have
        .policy
        .as_ref()
        .is_some_and(|p| same_policy(p, &policy))
    {
        updates.push(BucketUpdate::Policy(policy));
    }
    Ok(BucketPhase::Existing {
        name: name.clone(),
        updates,
    })
}

fn queue(
    desired: &Desired,
    observed: &Observed,
    opts: ApplyOptions,
) -> Result<QueuePhase, Conflict> {
    if !desired.owns_failure_queue() {
        // A queue left from `on_failure = "queue"` is kept (it may hold failures); `destroy`
        // removes it.
        return Ok(QueuePhase::Unmanaged);
    }
    let name = desired.failure_queue_name();
    let Some(have) = &observed.queue else {
        return Ok(QueuePhase::Create(QueueSpec {
            name,
            deployment: desired.deployment.clone(),
            retention_s: FAILURE_RETENTION_S,
            tags: desired.tags(),
        }));
    };
    let mut updates = Vec::new();
    if ownership(Resource::Queue, &name, &have.owner, opts)? {
        updates.push(QueueUpdate::AdoptTag(desired.tags()));
    } else if let Some(change) = tag_change(desired, &have.tags) {
        updates.push(QueueUpdate::Tags(change));
    }
    if !have.encrypted || have.retention_s != FAILURE_RETENTION_S {
        updates.push(QueueUpdate::Attributes {
            retention_s: FAILURE_RETENTION_S,
        });
    }
    Ok(QueuePhase::Existing {
        name,
        url: have.url.clone(),
        updates,
    })
}

/// The log group. An untagged one is the group Lambda created for this function before
/// kstream managed it: it is tagged without `--adopt`.
fn log_group(desired: &Desired, observed: &Observed) -> Result<LogGroupPhase, Conflict> {
    let name = desired.log_group();
    let want = desired.consumer.log_retention_days;
    let Some(have) = &observed.log_group else {
        return Ok(LogGroupPhase::Create(LogGroupSpec {
            name,
            deployment: desired.deployment.clone(),
            retention_days: want,
            tags: desired.tags(),
        }));
    };
    let mut updates = Vec::new();
    match &have.owner {
        Owner::This => updates.extend(tag_change(desired, &have.tags).map(LogGroupUpdate::Tags)),
        Owner::Untagged => updates.push(LogGroupUpdate::AdoptTag(desired.tags())),
        other => {
            return Err(Conflict {
                resource: Resource::LogGroup,
                name,
                owner: other.clone(),
            });
        }
    }
    if have.retention_days != Some(want) {
        updates.push(LogGroupUpdate::Retention {
            from: have.retention_days,
            to: want,
        });
    }
    Ok(LogGroupPhase::Existing {
        name,
        arn: have.arn.clone(),
        updates,
    })
}

fn role(desired: &Desired, observed: &Observed, opts: ApplyOptions) -> Result<RolePhase, Conflict> {
    let name = &desired.consumer.role_name;
    let Some(have) = &observed.role else {
        return Ok(RolePhase::Create(RoleSpec {
            name: name.clone(),
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            trust_policy: desired.trust_policy(),
            tags: desired.role_tags(),
        }));
    };
    let mut updates = Vec::new();
    if ownership(Resource::Role, name, &have.owner, opts)? {
        updates.push(RoleUpdate::AdoptTag(desired.role_tags()));
    } else if have.region.is_none() {
        updates.push(RoleUpdate::RegionTag(desired.role_tags()));
    } else if let Some(change) = tag_change(desired, &have.tags) {
        updates.push(RoleUpdate::Tags(change));
    }
    if !same_policy(&have.trust_policy, &desired.trust_policy()) {
        updates.push(RoleUpdate::TrustPolicy(desired.trust_policy()));
    }
    Ok(RolePhase::Existing {
        name: name.clone(),
        arn: have.arn.clone(),
        updates,
    })
}

/// The inline policy is compared when the stream's ARN is known. When the stream is created
/// in this run, an existing policy is rewritten with the new ARN.
fn role_policy(desired: &Desired, observed: &Observed) -> RolePolicyStep {
    let current = observed.role.as_ref().and_then(|r| r.policy.as_ref());
    let up_to_date = match (current, &observed.stream) {
        (Some(policy), Some(stream)) => same_policy(policy, &desired.role_policy(&stream.arn)),
        _ => false,
    };
    if up_to_date {
        RolePolicyStep::Keep
    } else {
        RolePolicyStep::Put {
            role: desired.consumer.role_name.clone(),
            policy: desired.role_policy_template(),
        }
    }
}

fn function_config(desired: &Desired) -> FunctionConfig {
    let want = &desired.consumer;
    FunctionConfig {
        name: want.function_name.clone(),
        memory_mb: want.memory_mb,
        timeout_s: want.timeout_s,
        architecture: want.architecture,
        env: desired.function_env(),
        tags: desired.tags(),
    }
}

fn function(
    desired: &Desired,
    observed: &Observed,
    opts: ApplyOptions,
) -> Result<Result<FunctionPhase, ()>, Conflict> {
    let want = &desired.consumer;
    let config = function_config(desired);
    let Some(have) = &observed.function else {
        return Ok(match &desired.artifact {
            Some(artifact) => Ok(FunctionPhase::Create {
                config,
                artifact: artifact.clone(),
            }),
            None => Err(()),
        });
    };
    let mut updates = Vec::new();
    if ownership(Resource::Function, &want.function_name, &have.owner, opts)? {
        updates.push(FunctionUpdate::AdoptTag);
    } else if let Some(change) = tag_change(desired, &have.tags) {
        updates.push(FunctionUpdate::Tags(change));
    }
    if let Some(artifact) = &desired.artifact
        && (artifact.sha256_base64 != have.code_sha256
            || have.architecture != Some(want.architecture))
    {
        updates.push(FunctionUpdate::Code {
            from: have.code_sha256.clone(),
            artifact: artifact.clone(),
        });
    }
    let mut changed = Vec::new();
    if have.memory_mb != want.memory_mb {
        changed.push(ConfigChange::MemoryMb {
            from: have.memory_mb,
            to: want.memory_mb,
        });
    }
    if have.timeout_s != want.timeout_s {
        changed.push(ConfigChange::TimeoutS {
            from: have.timeout_s,
            to: want.timeout_s,
        });
    }
    if have.runtime != RUNTIME {
        changed.push(ConfigChange::Runtime {
            from: have.runtime.clone(),
        });
    }
    if have.handler != HANDLER {
        changed.push(ConfigChange::Handler {
            from: have.handler.clone(),
        });
    }
    if let Some(role) = &observed.role
        && role.arn != have.role_arn
    {
        changed.push(ConfigChange::RoleArn {
            from: have.role_arn.clone(),
            to: role.arn.clone(),
        });
    }
    if have.env != desired.function_env() {
        changed.push(ConfigChange::Environment);
    }
    if !changed.is_empty() {
        updates.push(FunctionUpdate::Configuration { changed });
    }
    Ok(Ok(FunctionPhase::Existing {
        config,
        arn: have.arn.clone(),
        updates,
    }))
}

fn mappings(desired: &Desired, observed: &Observed) -> Vec<MappingStep> {
    let want = desired.mapping();
    let mut mappings: Vec<&ObservedMapping> = observed.mappings.iter().collect();
    // Keep the oldest-looking healthy mapping; any other one is a leftover (e.g. from an
    // interrupted run) and is deleted so that records are not consumed twice.
    mappings.sort_by_key(|m| (m.state != "Enabled", m.uuid.clone()));
    let Some((keep, extra)) = mappings.split_first() else {
        return vec![MappingStep::Create {
            stream: desired.stream.name.clone(),
            function: desired.consumer.function_name.clone(),
            settings: want,
            starting_position: desired.consumer.starting_position,
        }];
    };
    let first = if keep.settings == want {
        MappingStep::Keep {
            uuid: keep.uuid.clone(),
        }
    } else {
        MappingStep::Update {
            uuid: keep.uuid.clone(),
            from: keep.settings.clone(),
            to: want,
        }
    };
    std::iter::once(first)
        .chain(extra.iter().map(|m| MappingStep::DeleteDuplicate {
            uuid: m.uuid.clone(),
        }))
        .collect()
}
