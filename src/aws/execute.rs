//! Executes a plan's typed steps: `apply` in dependency order (stream ∥ bucket ∥ role → role
//! policy → function → mappings), `destroy` in reverse (mappings → function → role, ∥ stream,
//! ∥ bucket).
//!
//! Every call made here is a step of the plan; the executor matches on the steps and decides
//! nothing again. A plan without steps makes no call at all.
//!
//! Interruption: before each call the run's stop flag is checked (`Run::next`), so once a
//! signal set it nothing new starts; concurrent phases are not cancelled, so their calls in
//! flight finish; waits end at their next tick (`aws::poll`). The result is then a
//! [`Stopped`] error listing the plan's changes done, not finished and not started.

use anyhow::Result;

use super::{self as aws, Clients, Wait};
use crate::plan::{
    BucketPhase, BucketUpdate, Fate, FunctionConfig, FunctionPhase, FunctionUpdate, LogGroupPhase,
    LogGroupUpdate, MappingStep, Plan, QueuePhase, QueueUpdate, Resource, RolePhase,
    RolePolicyStep, RoleUpdate, StreamPhase, StreamUpdate, TagChange,
};
use crate::ui::Progress;

mod run;

use run::Run;
pub use run::Stopped;

/// Converge the deployment as `plan` says; refuses a plan with conflicts. Once the run's stop
/// flag (`Progress::stop_flag`) is set, no new call starts, the calls in flight finish, waits
/// end at their next tick, and the result is a [`Stopped`] error.
pub async fn apply(clients: &Clients, progress: &Progress, plan: &Plan) -> Result<()> {
    let steps = plan.apply_steps()?;
    let run = Run::new(clients, progress);
    let run = &run;
    // Each branch ends `None` when stopped, without ending the others' calls in flight.
    let (stream_arn, bucket, role_arn, queue, log_group) = tokio::try_join!(
        run.change((Resource::Stream, 0), stream(run, &steps.stream)),
        run.change((Resource::Bucket, 0), bucket(run, &steps.bucket)),
        run.change((Resource::Role, 0), role(run, &steps.role)),
        run.change((Resource::Queue, 0), queue(run, &steps.queue)),
        run.change((Resource::LogGroup, 0), log_group(run, &steps.log_group)),
    )?;
    let (Some(stream_arn), Some(()), Some(role_arn), Some(()), Some(())) =
        (stream_arn, bucket, role_arn, queue, log_group)
    else {
        return Err(run.stopped(plan));
    };
    let key = (Resource::RolePolicy, 0);
    let policy = run.change(key, async {
        match &steps.role_policy {
            RolePolicyStep::Keep => {}
            RolePolicyStep::Put { role, policy } => {
                run.next(key)?;
                aws::role::put_policy(&clients.iam, progress, role, &policy.document(&stream_arn))
                    .await?
            }
        }
        Ok(())
    });
    if policy.await?.is_none() {
        return Err(run.stopped(plan));
    }
    let iam_wait = if steps.role_fresh {
        Wait::IAM
    } else {
        Wait::NONE
    };
    let function = function(run, &steps.function, &role_arn, iam_wait);
    if run
        .change((Resource::Function, 0), function)
        .await?
        .is_none()
    {
        return Err(run.stopped(plan));
    }
    for (i, step) in steps.mappings.iter().enumerate() {
        let key = (Resource::Mapping, i);
        let calls = async {
            match step {
                MappingStep::Create {
                    function,
                    settings,
                    starting_position,
                    ..
                } => {
                    run.next(key)?;
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
                    run.next(key)?;
                    aws::mapping::update(&clients.lambda, progress, uuid, to).await?
                }
                MappingStep::DeleteDuplicate { uuid } => {
                    run.next(key)?;
                    aws::mapping::delete(&clients.lambda, progress, uuid).await?
                }
            }
            Ok(())
        };
        if run.change(key, calls).await?.is_none() {
            return Err(run.stopped(plan));
        }
    }
    Ok(())
}

/// Creates or updates the stream; returns its ARN.
async fn stream(run: &Run<'_>, phase: &StreamPhase) -> Result<String> {
    let (client, progress, key) = (&run.clients.kinesis, run.progress, (Resource::Stream, 0));
    match phase {
        StreamPhase::Create {
            spec,
            after_deletion,
        } => {
            if *after_deletion {
                run.next(key)?;
                aws::stream::wait_gone(client, progress, &spec.name).await?;
            }
            run.next(key)?;
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
                run.next(key)?;
                aws::stream::wait_active(client, progress, name).await?;
            }
            for update in updates {
                run.next(key)?;
                match update {
                    StreamUpdate::AdoptTag(tags)
                    | StreamUpdate::Tags(TagChange { set: tags, .. }) => {
                        aws::stream::tag(client, name, tags).await?
                    }
                    StreamUpdate::Mode { to, .. } => {
                        aws::stream::set_mode(client, progress, arn, name, *to).await?
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

async fn bucket(run: &Run<'_>, phase: &BucketPhase) -> Result<()> {
    let (client, progress, key) = (&run.clients.s3, run.progress, (Resource::Bucket, 0));
    match phase {
        BucketPhase::Create(spec) => {
            let name = &spec.name;
            run.next(key)?;
            aws::bucket::create(client, progress, name, &spec.region, &spec.tags).await?;
            run.next(key)?;
            progress.step(&format!("securing bucket `{name}`"));
            tokio::try_join!(
                aws::bucket::block_public_access(client, name),
                aws::bucket::encrypt(client, name),
            )?;
            // After the public access block: the TLS-only policy is a Deny, never public.
            run.next(key)?;
            aws::bucket::put_policy(client, name, &spec.policy).await
        }
        BucketPhase::Existing { name, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating bucket `{name}`"));
            }
            for update in updates {
                run.next(key)?;
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

async fn queue(run: &Run<'_>, phase: &QueuePhase) -> Result<()> {
    let (client, progress, key) = (&run.clients.sqs, run.progress, (Resource::Queue, 0));
    match phase {
        QueuePhase::Unmanaged => Ok(()),
        QueuePhase::Create(spec) => {
            run.next(key)?;
            aws::queue::create(client, progress, spec).await?;
            Ok(())
        }
        QueuePhase::Existing { name, url, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating queue `{name}`"));
            }
            for update in updates {
                run.next(key)?;
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

async fn log_group(run: &Run<'_>, phase: &LogGroupPhase) -> Result<()> {
    let (client, progress, key) = (&run.clients.logs, run.progress, (Resource::LogGroup, 0));
    match phase {
        LogGroupPhase::Create(spec) => {
            run.next(key)?;
            aws::log_group::create(client, progress, spec).await
        }
        LogGroupPhase::Existing { name, arn, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating log group `{name}`"));
            }
            for update in updates {
                run.next(key)?;
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
async fn role(run: &Run<'_>, phase: &RolePhase) -> Result<String> {
    let (client, progress, key) = (&run.clients.iam, run.progress, (Resource::Role, 0));
    match phase {
        RolePhase::Create(spec) => {
            run.next(key)?;
            aws::role::create(client, progress, spec).await
        }
        RolePhase::Existing { name, arn, updates } => {
            if !updates.is_empty() {
                progress.step(&format!("updating role `{name}`"));
            }
            for update in updates {
                run.next(key)?;
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
    run: &Run<'_>,
    phase: &FunctionPhase,
    role_arn: &str,
    iam_wait: Wait,
) -> Result<()> {
    let (client, progress, key) = (&run.clients.lambda, run.progress, (Resource::Function, 0));
    match phase {
        FunctionPhase::Create { config, artifact } => {
            run.next(key)?;
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
                run.next(key)?;
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

/// Tear the deployment down as `plan` says (it only deletes what this deployment owns). A
/// stopped run ends as [`apply`]'s does, with a [`Stopped`] error.
pub async fn destroy(clients: &Clients, progress: &Progress, plan: &Plan) -> Result<()> {
    let steps = plan.destroy_steps()?;
    let run = Run::new(clients, progress);
    let run = &run;
    for (i, mapping) in steps.mappings.iter().enumerate() {
        if !mapping.deletes() {
            continue;
        }
        let key = (Resource::Mapping, i);
        let calls = async {
            run.next(key)?;
            aws::mapping::delete(&clients.lambda, progress, &mapping.name).await
        };
        if run.change(key, calls).await?.is_none() {
            return Err(run.stopped(plan));
        }
    }
    let function_then_role = async {
        let key = (Resource::Function, 0);
        let calls = async {
            if steps.function.deletes() {
                run.next(key)?;
                aws::function::delete(&clients.lambda, progress, &steps.function.name).await?;
            }
            Ok(())
        };
        if run.change(key, calls).await?.is_none() {
            return Ok(None);
        }
        // After the function, which would otherwise log into a new, untagged group.
        let key = (Resource::LogGroup, 0);
        let calls = async {
            if steps.log_group.deletes() {
                run.next(key)?;
                aws::log_group::delete(&clients.logs, progress, &steps.log_group.name).await?;
            }
            Ok(())
        };
        if run.change(key, calls).await?.is_none() {
            return Ok(None);
        }
        let key = (Resource::Role, 0);
        let calls = async {
            if steps.role.deletes() {
                run.next(key)?;
                aws::role::delete(&clients.iam, progress, &steps.role.name).await?;
            }
            Ok(())
        };
        run.change(key, calls).await
    };
    let stream = async {
        let key = (Resource::Stream, 0);
        let name = &steps.stream.name;
        run.change(key, async {
            match steps.stream.fate {
                Fate::Delete { .. } => {
                    run.next(key)?;
                    aws::stream::delete(&clients.kinesis, progress, name).await
                }
                Fate::BeingDeleted => {
                    run.next(key)?;
                    aws::stream::wait_gone(&clients.kinesis, progress, name).await
                }
                Fate::Keep { .. } | Fate::Gone => Ok(()),
            }
        })
        .await
    };
    let bucket = async {
        let key = (Resource::Bucket, 0);
        let name = &steps.bucket.name;
        run.change(key, async {
            if steps.bucket.deletes() {
                if steps.empty_bucket_first {
                    run.next(key)?;
                    let count = aws::bucket::empty(&clients.s3, progress, name).await?;
                    if count > 0 {
                        progress.note(&format!(
                            "deleted {count} object versions from bucket `{name}`"
                        ));
                    }
                }
                run.next(key)?;
                aws::bucket::delete(&clients.s3, progress, name).await?;
            }
            Ok(())
        })
        .await
    };
    // The mappings are gone: nothing sends failures any more.
    let queue = async {
        let key = (Resource::Queue, 0);
        run.change(key, async {
            match (&steps.queue.target.fate, &steps.queue.url) {
                (Fate::Delete { .. }, Some(url)) => {
                    run.next(key)?;
                    aws::queue::delete(&clients.sqs, progress, &steps.queue.target.name, url).await
                }
                _ => Ok(()),
            }
        })
        .await
    };
    let (function_then_role, stream, bucket, queue) =
        tokio::try_join!(function_then_role, stream, bucket, queue)?;
    match (function_then_role, stream, bucket, queue) {
        (Some(()), Some(()), Some(()), Some(())) => Ok(()),
        _ => Err(run.stopped(plan)),
    }
}

#[cfg(test)]
mod tests;
