//! Executes a plan's typed steps: `apply` in dependency order (stream ∥ bucket ∥ role → role
//! policy → function → mappings), `destroy` in reverse (mappings → function → role, ∥ stream,
//! ∥ bucket).
//!
//! Every call made here is a step of the plan; the executor matches on the steps and decides
//! nothing again. A plan without steps makes no call at all.

use anyhow::Result;

use super::{self as aws, Clients, Wait};
use crate::plan::{
    BucketPhase, BucketUpdate, Fate, FunctionConfig, FunctionPhase, FunctionUpdate, LogGroupPhase,
    LogGroupUpdate, MappingStep, Plan, QueuePhase, QueueUpdate, RolePhase, RolePolicyStep,
    RoleUpdate, StreamPhase, StreamUpdate, TagChange,
};
use crate::ui::Progress;

/// Converge the deployment as `plan` says; refuses a plan with conflicts.
pub async fn apply(clients: &Clients, progress: &Progress, plan: &Plan) -> Result<()> {
    let steps = plan.apply_steps()?;
    let (stream_arn, (), role_arn, (), ()) = tokio::try_join!(
        stream(clients, progress, &steps.stream),
        bucket(clients, progress, &steps.bucket),
        role(clients, progress, &steps.role),
        queue(clients, progress, &steps.queue),
        log_group(clients, progress, &steps.log_group),
    )?;
    match &steps.role_policy {
        RolePolicyStep::Keep => {}
        RolePolicyStep::Put { role, policy } => {
            aws::role::put_policy(&clients.iam, progress, role, &policy.document(&stream_arn))
                .await?
        }
    }
    let iam_wait = if steps.role_fresh {
        Wait::IAM
    } else {
        Wait::NONE
    };
    function(clients, progress, &steps.function, &role_arn, iam_wait).await?;
    for step in &steps.mappings {
        match step {
            MappingStep::Create {
                function,
                settings,
                starting_position,
                ..
            } => {
                aws::mapping::create(
                    &clients.lambda,
                    progress,
                    function,
                    &stream_arn,
                    settings,
                    *starting_position,
                    iam_wait,
                )
                .await?;
            }
            MappingStep::Keep { .. } => {}
            MappingStep::Update { uuid, to, .. } => {
                aws::mapping::update(&clients.lambda, progress, uuid, to).await?
            }
            MappingStep::DeleteDuplicate { uuid } => {
                aws::mapping::delete(&clients.lambda, progress, uuid).await?
            }
        }
    }
    Ok(())
}

/// Creates or updates the stream; returns its ARN.
async fn stream(clients: &Clients, progress: &Progress, phase: &StreamPhase) -> Result<String> {
    let client = &clients.kinesis;
    match phase {
        StreamPhase::Create {
            spec,
            after_deletion,
        } => {
            if *after_deletion {
                aws::stream::wait_gone(client, progress, &spec.name).await?;
            }
            aws::stream::create(client, progress, spec).await
        }
        StreamPhase::Existing {
            name,
            arn,
            settling,
            updates,
        } => {
            // A stream still CREATING/UPDATING must be ACTIVE before updates and the mapping.
            if *settling {
                aws::stream::wait_active(client, progress, name).await?;
            }
            for update in updates {
                match update {
                    StreamUpdate::AdoptTag(tags)
                    | StreamUpdate::Tags(TagChange { set: tags, .. }) => {
                        aws::stream::tag(client, name, tags).await?
                    }
                    StreamUpdate::ToProvisioned { .. } => {
                        aws::stream::set_provisioned(client, progress, arn, name).await?
                    }
                    StreamUpdate::ShardCount { from, to } => {
                        aws::stream::set_shard_count(client, progress, name, *from, *to).await?
                    }
                    StreamUpdate::RetentionHours { from, to } => {
                        aws::stream::set_retention(client, progress, name, *from, *to).await?
                    }
                    StreamUpdate::StartEncryption { key_id, .. } => {
                        aws::stream::start_encryption(client, progress, name, key_id).await?
                    }
                    StreamUpdate::StopEncryption { key_id } => {
                        aws::stream::stop_encryption(client, progress, name, key_id).await?
                    }
                }
            }
            Ok(arn.clone())
        }
    }
}

async fn bucket(clients: &Clients, progress: &Progress, phase: &BucketPhase) -> Result<()> {
    let client = &clients.s3;
    match phase {
        BucketPhase::Create(spec) => {
            let name = &spec.name;
            aws::bucket::create(client, progress, name, &spec.region, &spec.tags).await?;
            progress.step(&format!("securing bucket `{name}`"));
            tokio::try_join!(
                aws::bucket::block_public_access(client, name),
                aws::bucket::encrypt(client, name),
            )?;
            // After the public access block: the TLS-only policy is a Deny, never public.
            aws::bucket::put_policy(client, name, &spec.policy).await
        }
        BucketPhase::Existing { name, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating bucket `{name}`"));
            }
            for update in updates {
                match update {
                    BucketUpdate::AdoptTag { existing, add }
                    | BucketUpdate::Tags {
                        existing,
                        change: TagChange { set: add, .. },
                    } => aws::bucket::set_tags(client, name, existing, add).await?,
                    BucketUpdate::BlockPublicAccess => {
                        aws::bucket::block_public_access(client, name).await?
                    }
                    BucketUpdate::Encrypt => aws::bucket::encrypt(client, name).await?,
                    BucketUpdate::Policy(policy) => {
                        aws::bucket::put_policy(client, name, policy).await?
                    }
                }
            }
            Ok(())
        }
    }
}

async fn queue(clients: &Clients, progress: &Progress, phase: &QueuePhase) -> Result<()> {
    let client = &clients.sqs;
    match phase {
        QueuePhase::Unmanaged => Ok(()),
        QueuePhase::Create(spec) => {
            aws::queue::create(client, progress, spec).await?;
            Ok(())
        }
        QueuePhase::Existing { name, url, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating queue `{name}`"));
            }
            for update in updates {
                match update {
                    QueueUpdate::AdoptTag(tags)
                    | QueueUpdate::Tags(TagChange { set: tags, .. }) => {
                        aws::queue::tag(client, name, url, tags).await?
                    }
                    QueueUpdate::Attributes { retention_s } => {
                        aws::queue::set_attributes(client, name, url, *retention_s).await?
                    }
                }
            }
            Ok(())
        }
    }
}

async fn log_group(clients: &Clients, progress: &Progress, phase: &LogGroupPhase) -> Result<()> {
    let client = &clients.logs;
    match phase {
        LogGroupPhase::Create(spec) => aws::log_group::create(client, progress, spec).await,
        LogGroupPhase::Existing { name, arn, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating log group `{name}`"));
            }
            for update in updates {
                match update {
                    LogGroupUpdate::AdoptTag(tags)
                    | LogGroupUpdate::Tags(TagChange { set: tags, .. }) => {
                        aws::log_group::tag(client, name, arn, tags).await?
                    }
                    LogGroupUpdate::Retention { to, .. } => {
                        aws::log_group::set_retention(client, name, *to).await?
                    }
                }
            }
            Ok(())
        }
    }
}

/// Creates or updates the role; returns its ARN.
async fn role(clients: &Clients, progress: &Progress, phase: &RolePhase) -> Result<String> {
    let client = &clients.iam;
    match phase {
        RolePhase::Create(spec) => aws::role::create(client, progress, spec).await,
        RolePhase::Existing { name, arn, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating role `{name}`"));
            }
            for update in updates {
                match update {
                    RoleUpdate::AdoptTag(tags)
                    | RoleUpdate::RegionTag(tags)
                    | RoleUpdate::Tags(TagChange { set: tags, .. }) => {
                        aws::role::tag(client, name, tags).await?
                    }
                    RoleUpdate::TrustPolicy(policy) => {
                        aws::role::set_trust_policy(client, name, policy).await?
                    }
                }
            }
            Ok(arn.clone())
        }
    }
}

fn function_spec<'a>(
    config: &'a FunctionConfig,
    role_arn: &'a str,
    iam_wait: Wait,
) -> aws::function::FunctionSpec<'a> {
    aws::function::FunctionSpec {
        name: &config.name,
        role_arn,
        memory_mb: config.memory_mb,
        timeout_s: config.timeout_s,
        architecture: config.architecture,
        env: config.env.clone(),
        tags: config.tags.clone(),
        iam_wait,
    }
}

async fn function(
    clients: &Clients,
    progress: &Progress,
    phase: &FunctionPhase,
    role_arn: &str,
    iam_wait: Wait,
) -> Result<()> {
    let client = &clients.lambda;
    match phase {
        FunctionPhase::Create { config, artifact } => {
            aws::function::create(
                client,
                progress,
                &function_spec(config, role_arn, iam_wait),
                artifact,
            )
            .await
        }
        FunctionPhase::Existing {
            config,
            arn,
            updates,
        } => {
            for update in updates {
                match update {
                    FunctionUpdate::AdoptTag => {
                        aws::function::tag(client, arn, &config.tags).await?
                    }
                    FunctionUpdate::Tags(change) => {
                        aws::function::tag(client, arn, &change.set).await?
                    }
                    FunctionUpdate::Code { artifact, .. } => {
                        aws::function::update_code(
                            client,
                            progress,
                            &config.name,
                            artifact,
                            config.architecture,
                        )
                        .await?
                    }
                    FunctionUpdate::Configuration { .. } => {
                        aws::function::update_configuration(
                            client,
                            progress,
                            &function_spec(config, role_arn, iam_wait),
                        )
                        .await?
                    }
                }
            }
            Ok(())
        }
    }
}

/// Tear the deployment down as `plan` says (it only deletes what this deployment owns).
pub async fn destroy(clients: &Clients, progress: &Progress, plan: &Plan) -> Result<()> {
    let steps = plan.destroy_steps()?;
    for mapping in steps.mappings.iter().filter(|m| m.deletes()) {
        aws::mapping::delete(&clients.lambda, progress, &mapping.name).await?;
    }
    let function_then_role = async {
        if steps.function.deletes() {
            aws::function::delete(&clients.lambda, progress, &steps.function.name).await?;
        }
        // After the function, which would otherwise log into a new, untagged group.
        if steps.log_group.deletes() {
            aws::log_group::delete(&clients.logs, progress, &steps.log_group.name).await?;
        }
        if steps.role.deletes() {
            aws::role::delete(&clients.iam, progress, &steps.role.name).await?;
        }
        Ok::<(), anyhow::Error>(())
    };
    let stream = async {
        match steps.stream.fate {
            Fate::Delete { .. } => {
                aws::stream::delete(&clients.kinesis, progress, &steps.stream.name).await
            }
            Fate::BeingDeleted => {
                aws::stream::wait_gone(&clients.kinesis, progress, &steps.stream.name).await
            }
            Fate::Keep { .. } | Fate::Gone => Ok(()),
        }
    };
    let bucket = async {
        let name = &steps.bucket.name;
        if steps.bucket.deletes() {
            if steps.empty_bucket_first {
                let count = aws::bucket::empty(&clients.s3, progress, name).await?;
                if count > 0 {
                    progress.note(&format!(
                        "deleted {count} object versions from bucket `{name}`"
                    ));
                }
            }
            aws::bucket::delete(&clients.s3, progress, name).await?;
        }
        Ok(())
    };
    // The mappings are gone: nothing sends failures any more.
    let queue = async {
        match (&steps.queue.target.fate, &steps.queue.url) {
            (Fate::Delete { .. }, Some(url)) => {
                aws::queue::delete(&clients.sqs, progress, &steps.queue.target.name, url).await
            }
            _ => Ok(()),
        }
    };
    tokio::try_join!(function_then_role, stream, bucket, queue)?;
    Ok(())
}

#[cfg(test)]
mod tests;
