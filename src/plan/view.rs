//! The plan's printed and JSON form, derived from its typed steps: one `Change` per resource
//! (created, updated field by field, deleted, kept or untouched), rendered Terraform-style.

use kstream_contract::env;

use crate::model::{Desired, HANDLER, Observed, Owner, REGION_TAG, RUNTIME};

use super::diff::Phases;
use super::steps::{
    BucketPhase, BucketUpdate, ConfigChange, DestroySteps, Fate, FunctionPhase, FunctionUpdate,
    LogGroupPhase, LogGroupUpdate, MappingStep, QueuePhase, QueueUpdate, RolePhase, RolePolicyStep,
    RoleUpdate, StreamPhase, StreamUpdate, TagChange, Target,
};
use super::{Action, Change, Mode, Resource, Update};

impl Update {
    pub(super) fn describe(&self) -> String {
        match self {
            Update::AdoptTag => "tags: adopt (add `kstream:deployment`)".into(),
            Update::RegionTag { region } => format!("tags: add `kstream:region = {region}`"),
            Update::Tags { from, to } => to
                .iter()
                .map(|(k, v)| match from.get(k) {
                    Some(before) => format!("tag `{k}`: {before} → {v}"),
                    None => format!("tag `{k}`: → {v}"),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Update::StreamMode { from, to } => {
                format!("mode: {from} → {to} (AWS allows two switches per 24 hours)")
            }
            Update::ShardCount { from, to } => format!("shard_count: {from} → {to}"),
            Update::RetentionHours { from, to } => format!("retention_hours: {from} → {to}"),
            Update::StreamEncryption { from, to } => format!("encryption: {from} → {to}"),
            Update::PublicAccessBlock => "block public access: off → on".into(),
            Update::Encryption => "default encryption: off → SSE-S3".into(),
            Update::BucketPolicy => "policy: → deny non-TLS requests".into(),
            Update::TrustPolicy => "trust policy: → lambda.amazonaws.com".into(),
            Update::QueueSettings { retention_s } => format!(
                "retention: → {} days, encryption: → SQS-managed",
                retention_s / 86_400
            ),
            Update::LogRetentionDays { from, to } => format!(
                "log_retention_days: {} → {to}",
                from.map_or_else(|| "never expire".to_string(), |d| d.to_string())
            ),
            Update::Policy => "policy: → stream read, bucket write, function logs, failures".into(),
            Update::Code { from, to, .. } => {
                format!("code_sha256: {} → {}", short(from), short(to))
            }
            Update::MemoryMb { from, to } => format!("memory_mb: {from} → {to}"),
            Update::TimeoutS { from, to } => format!("timeout_s: {from} → {to}"),
            Update::Runtime { from, to } => format!("runtime: {from} → {to}"),
            Update::Handler { from, to } => format!("handler: {from} → {to}"),
            Update::RoleArn { from, to } => format!("role: {from} → {to}"),
            Update::Environment => format!("environment: → {}", env::ALL.join(", ")),
            Update::Mapping { from, to } => {
                let mut parts = Vec::new();
                if from.batch_size != to.batch_size {
                    parts.push(format!(
                        "batch_size: {} → {}",
                        from.batch_size, to.batch_size
                    ));
                }
                if from.parallelization_factor != to.parallelization_factor {
                    parts.push(format!(
                        "parallelization_factor: {} → {}",
                        from.parallelization_factor, to.parallelization_factor
                    ));
                }
                if from.maximum_batching_window_s != to.maximum_batching_window_s {
                    parts.push(format!(
                        "maximum_batching_window_s: {} → {}",
                        from.maximum_batching_window_s, to.maximum_batching_window_s
                    ));
                }
                if from.maximum_retry_attempts != to.maximum_retry_attempts {
                    parts.push(format!(
                        "maximum_retry_attempts: {} → {}",
                        from.maximum_retry_attempts, to.maximum_retry_attempts
                    ));
                }
                if from.bisect_batch_on_function_error != to.bisect_batch_on_function_error {
                    parts.push(format!(
                        "bisect_batch_on_function_error: {} → {}",
                        from.bisect_batch_on_function_error, to.bisect_batch_on_function_error
                    ));
                }
                if from.maximum_record_age_s != to.maximum_record_age_s {
                    parts.push(format!(
                        "maximum_record_age_s: {} → {}",
                        from.maximum_record_age_s, to.maximum_record_age_s
                    ));
                }
                if from.on_failure != to.on_failure {
                    let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                    parts.push(format!(
                        "on_failure: {} → {}",
                        show(&from.on_failure),
                        show(&to.on_failure)
                    ));
                }
                if from.report_batch_item_failures != to.report_batch_item_failures {
                    parts.push("function_response_types: → [ReportBatchItemFailures]".into());
                }
                if from.enabled != to.enabled {
                    parts.push(format!("enabled: {} → {}", from.enabled, to.enabled));
                }
                parts.join("\n")
            }
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// What happens to one resource.
fn updated(resource: Resource, name: &str, updates: Vec<Update>) -> Change {
    let action = if updates.is_empty() {
        Action::NoOp
    } else {
        Action::Update { updates }
    };
    change(resource, name, action)
}

fn change(resource: Resource, name: &str, action: Action) -> Change {
    Change {
        resource,
        name: name.to_string(),
        action,
    }
}

/// The changes of an apply plan, in dependency order; a resource blocked by a conflict has
/// none.
pub(super) fn apply(phases: &Phases, desired: &Desired) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(phase) = &phases.stream {
        changes.push(stream(phase));
    }
    if let Some(phase) = &phases.bucket {
        changes.push(bucket(phase));
    }
    changes.extend(phases.queue.as_ref().and_then(queue));
    if let Some(phase) = &phases.log_group {
        changes.push(log_group(phase));
    }
    if let Some(phase) = &phases.role {
        changes.push(role(phase));
        if let Some(step) = &phases.role_policy {
            let created = matches!(phase, RolePhase::Create(_)) || !phases.role_policy_exists;
            changes.push(role_policy(step, &desired.consumer.role_name, created));
        }
    }
    if let Some(phase) = &phases.function {
        changes.push(function(phase.as_ref().ok(), desired));
    }
    for step in phases.mappings.iter().flatten() {
        changes.push(mapping(step));
    }
    changes
}

/// The failure queue's line; none when kstream manages no queue.
fn queue(phase: &QueuePhase) -> Option<Change> {
    Some(match phase {
        QueuePhase::Unmanaged => return None,
        QueuePhase::Create(spec) => {
            let summary = format!(
                "failed batches, kept {} days, SQS-managed encryption",
                spec.retention_s / 86_400
            );
            change(Resource::Queue, &spec.name, Action::Create { summary })
        }
        QueuePhase::Existing { name, updates, .. } => {
            let updates = updates
                .iter()
                .map(|u| match u {
                    QueueUpdate::AdoptTag(_) => Update::AdoptTag,
                    QueueUpdate::Tags(change) => tags(change),
                    QueueUpdate::Attributes { retention_s } => Update::QueueSettings {
                        retention_s: *retention_s,
                    },
                })
                .collect();
            updated(Resource::Queue, name, updates)
        }
    })
}

fn log_group(phase: &LogGroupPhase) -> Change {
    match phase {
        LogGroupPhase::Create(spec) => {
            let summary = format!("logs kept {} days", spec.retention_days);
            change(Resource::LogGroup, &spec.name, Action::Create { summary })
        }
        LogGroupPhase::Existing { name, updates, .. } => {
            let updates = updates
                .iter()
                .map(|u| match u {
                    LogGroupUpdate::AdoptTag(_) => Update::AdoptTag,
                    LogGroupUpdate::Tags(change) => tags(change),
                    LogGroupUpdate::Retention { from, to } => Update::LogRetentionDays {
                        from: *from,
                        to: *to,
                    },
                })
                .collect();
            updated(Resource::LogGroup, name, updates)
        }
    }
}

fn stream(phase: &StreamPhase) -> Change {
    match phase {
        StreamPhase::Create { spec, .. } => {
            let encrypted = spec.kms_key_id.as_ref().map_or_else(
                || "not encrypted".to_string(),
                |key| format!("encrypted with KMS key {key}"),
            );
            let summary = format!(
                "PROVISIONED, {} shard{}, retention {} h, {encrypted}",
                spec.shard_count,
                plural(spec.shard_count),
                spec.retention_hours,
            );
            change(Resource::Stream, &spec.name, Action::Create { summary })
        }
        StreamPhase::Existing { name, updates, .. } => {
            let updates = updates
                .iter()
                .map(|u| match u {
                    StreamUpdate::AdoptTag(_) => Update::AdoptTag,
                    StreamUpdate::Tags(change) => tags(change),
                    StreamUpdate::Mode { from, to } => Update::StreamMode {
                        from: from.clone(),
                        to: to.as_aws().into(),
                    },
                    StreamUpdate::ShardCount { from, to } => Update::ShardCount {
                        from: *from,
                        to: *to,
                    },
                    StreamUpdate::RetentionHours { from, to } => Update::RetentionHours {
                        from: *from,
                        to: *to,
                    },
                    StreamUpdate::StartEncryption { from, key_id } => Update::StreamEncryption {
                        from: encryption(from.as_deref()),
                        to: encryption(Some(key_id)),
                    },
                    StreamUpdate::StopEncryption { key_id } => Update::StreamEncryption {
                        from: encryption(Some(key_id)),
                        to: encryption(None),
                    },
                })
                .collect();
            updated(Resource::Stream, name, updates)
        }
    }
}

/// The plan's view of a user tag change.
fn tags(change: &TagChange) -> Update {
    Update::Tags {
        from: change.from.clone(),
        to: change.set.clone(),
    }
}

/// A stream's encryption as the plan prints it: `none` or `KMS <key>`.
fn encryption(key_id: Option<&str>) -> String {
    key_id.map_or_else(|| "none".to_string(), |key| format!("KMS {key}"))
}

fn bucket(phase: &BucketPhase) -> Change {
    match phase {
        BucketPhase::Create(spec) => {
            let summary = "block public access, SSE-S3 encryption, TLS-only policy".to_string();
            change(Resource::Bucket, &spec.name, Action::Create { summary })
        }
        BucketPhase::Existing { name, updates } => {
            let updates = updates
                .iter()
                .map(|u| match u {
                    BucketUpdate::AdoptTag { .. } => Update::AdoptTag,
                    BucketUpdate::Tags { change, .. } => tags(change),
                    BucketUpdate::BlockPublicAccess => Update::PublicAccessBlock,
                    BucketUpdate::Encrypt => Update::Encryption,
                    BucketUpdate::Policy(_) => Update::BucketPolicy,
                })
                .collect();
            updated(Resource::Bucket, name, updates)
        }
    }
}

fn role(phase: &RolePhase) -> Change {
    match phase {
        RolePhase::Create(spec) => change(
            Resource::Role,
            &spec.name,
            Action::Create {
                summary: "assumable by lambda.amazonaws.com".into(),
            },
        ),
        RolePhase::Existing { name, updates, .. } => {
            let updates = updates
                .iter()
                .map(|u| match u {
                    RoleUpdate::AdoptTag(_) => Update::AdoptTag,
                    RoleUpdate::RegionTag(tags) => Update::RegionTag {
                        region: tags.get(REGION_TAG).cloned().unwrap_or_default(),
                    },
                    RoleUpdate::Tags(change) => tags(change),
                    RoleUpdate::TrustPolicy(_) => Update::TrustPolicy,
                })
                .collect();
            updated(Resource::Role, name, updates)
        }
    }
}

fn role_policy(step: &RolePolicyStep, role: &str, created: bool) -> Change {
    let action = match step {
        RolePolicyStep::Keep => Action::NoOp,
        RolePolicyStep::Put { .. } if created => Action::Create {
            summary: "read the stream, write the bucket's objects, write logs".into(),
        },
        // Rewritten with the stream's ARN (when the stream is created, only then known).
        RolePolicyStep::Put { .. } => Action::Update {
            updates: vec![Update::Policy],
        },
    };
    change(Resource::RolePolicy, role, action)
}

/// `phase` is `None` for a function to create without a packaged consumer (code unknown).
fn function(phase: Option<&FunctionPhase>, desired: &Desired) -> Change {
    let want = &desired.consumer;
    match phase {
        None | Some(FunctionPhase::Create { .. }) => {
            let code = match phase {
                Some(FunctionPhase::Create { artifact: a, .. }) => {
                    format!(", code {} sha256 {}", mib(a.size), short(&a.sha256_base64))
                }
                _ => String::new(),
            };
            let summary = format!(
                "{RUNTIME}, {}, {} MB, {} s{code}",
                want.architecture.as_str(),
                want.memory_mb,
                want.timeout_s
            );
            change(
                Resource::Function,
                &want.function_name,
                Action::Create { summary },
            )
        }
        Some(FunctionPhase::Existing {
            config, updates, ..
        }) => {
            let mut out = Vec::new();
            for update in updates {
                match update {
                    FunctionUpdate::AdoptTag => out.push(Update::AdoptTag),
                    FunctionUpdate::Tags(change) => out.push(tags(change)),
                    FunctionUpdate::Code { from, artifact } => out.push(Update::Code {
                        from: from.clone(),
                        to: artifact.sha256_base64.clone(),
                        architecture: config.architecture,
                    }),
                    FunctionUpdate::Configuration { changed } => {
                        out.extend(changed.iter().map(|c| match c {
                            ConfigChange::MemoryMb { from, to } => Update::MemoryMb {
                                from: *from,
                                to: *to,
                            },
                            ConfigChange::TimeoutS { from, to } => Update::TimeoutS {
                                from: *from,
                                to: *to,
                            },
                            ConfigChange::Runtime { from } => Update::Runtime {
                                from: from.clone(),
                                to: RUNTIME.into(),
                            },
                            ConfigChange::Handler { from } => Update::Handler {
                                from: from.clone(),
                                to: HANDLER.into(),
                            },
                            ConfigChange::RoleArn { from, to } => Update::RoleArn {
                                from: from.clone(),
                                to: to.clone(),
                            },
                            ConfigChange::Environment => Update::Environment,
                        }))
                    }
                }
            }
            updated(Resource::Function, &config.name, out)
        }
    }
}

fn mapping(step: &MappingStep) -> Change {
    match step {
        MappingStep::Create {
            stream,
            function,
            settings,
            starting_position,
        } => {
            let summary = format!(
                "batch {}, {}, retries {}, bisect {}, report batch item failures",
                settings.batch_size,
                starting_position.as_str(),
                settings.maximum_retry_attempts,
                settings.bisect_batch_on_function_error
            );
            change(
                Resource::Mapping,
                &format!("{stream} → {function}"),
                Action::Create { summary },
            )
        }
        MappingStep::Keep { uuid } => change(Resource::Mapping, uuid, Action::NoOp),
        MappingStep::Update { uuid, from, to } => updated(
            Resource::Mapping,
            uuid,
            vec![Update::Mapping {
                from: from.clone(),
                to: to.clone(),
            }],
        ),
        MappingStep::DeleteDuplicate { uuid } => change(
            Resource::Mapping,
            uuid,
            Action::Delete {
                detail: Some("duplicate mapping for the same stream and function".into()),
            },
        ),
    }
}

/// The changes of a destroy plan, in the order the executor works.
pub(super) fn destroy(steps: &DestroySteps) -> Vec<Change> {
    let fate = |resource: Resource, target: &Target| {
        let action = match &target.fate {
            Fate::Delete { detail } => Action::Delete {
                detail: detail.clone(),
            },
            Fate::Keep { reason } => Action::Keep {
                reason: reason.clone(),
            },
            Fate::Gone | Fate::BeingDeleted => Action::NoOp,
        };
        change(resource, &target.name, action)
    };
    steps
        .mappings
        .iter()
        .map(|m| fate(Resource::Mapping, m))
        .chain([
            fate(Resource::Function, &steps.function),
            fate(Resource::LogGroup, &steps.log_group),
            fate(Resource::Role, &steps.role),
            fate(Resource::Stream, &steps.stream),
            fate(Resource::Bucket, &steps.bucket),
            fate(Resource::Queue, &steps.queue.target),
        ])
        .collect()
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// What deserves attention though it is no change: policies on the role that kstream did not
/// put there (they widen what the consumer may do; `destroy` removes them with the role).
pub(super) fn warnings(desired: &Desired, observed: &Observed, mode: Mode) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(role) = &observed.role
        && role.owner == Owner::This
        && !role.extra_policies.is_empty()
    {
        let name = &desired.consumer.role_name;
        let list = role.extra_policies.join(", ");
        warnings.push(match mode {
            Mode::Apply => format!(
                "role `{name}` has policies kstream did not put there: {list}; the consumer may do \
                 more than it needs: review them, or remove them with `aws iam delete-role-policy` / \
                 `aws iam detach-role-policy`"
            ),
            Mode::Destroy => format!(
                "role `{name}` has policies kstream did not put there: {list}; destroy deletes the \
                 inline ones and detaches the managed ones with the role"
            ),
        });
    }
    warnings
}
