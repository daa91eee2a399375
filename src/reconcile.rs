//! Executes a `Plan`: `apply` in dependency order (stream ∥ bucket ∥ role → role policy →
//! function → mapping), `destroy` in reverse (mapping → function → role, ∥ stream, ∥ bucket).
//!
//! Every call made here is justified by a `Change` of the plan; a plan without changes makes
//! no call at all.

use anyhow::{Context as _, Result, bail};

use crate::aws::{self, Clients};
use crate::model::{Desired, Observed, same_policy};
use crate::plan::{Action, Change, Plan, Resource, Update};
use crate::ui::Progress;

/// Converge the deployment as `plan` says. `observed` is what the plan was computed from.
pub async fn apply(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
) -> Result<()> {
    if !plan.conflicts.is_empty() {
        let messages: Vec<String> = plan.conflicts.iter().map(|c| c.message()).collect();
        bail!("refusing to apply: {}", messages.join("\n"));
    }
    let action = |r: Resource| plan.change(r).map(|c| &c.action).unwrap_or(&Action::NoOp);

    let (stream_arn, (), role_arn) = tokio::try_join!(
        apply_stream(
            clients,
            progress,
            desired,
            observed,
            action(Resource::Stream)
        ),
        apply_bucket(
            clients,
            progress,
            desired,
            observed,
            action(Resource::Bucket)
        ),
        apply_role(clients, progress, desired, observed, action(Resource::Role)),
    )?;

    if matches!(
        action(Resource::RolePolicy),
        Action::Create { .. } | Action::Update { .. }
    ) {
        let want = desired.role_policy(&stream_arn);
        let current = observed.role.as_ref().and_then(|r| r.policy.as_ref());
        if !current.is_some_and(|p| same_policy(p, &want)) {
            aws::role::put_policy(&clients.iam, progress, &desired.consumer.role_name, &want)
                .await?;
        }
    }

    apply_function(
        clients,
        progress,
        desired,
        observed,
        &role_arn,
        action(Resource::Function),
    )
    .await?;

    let mappings: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.resource == Resource::Mapping)
        .collect();
    for change in mappings {
        match &change.action {
            Action::Create { .. } => {
                aws::mapping::create(
                    &clients.lambda,
                    progress,
                    &desired.consumer.function_name,
                    &stream_arn,
                    &desired.mapping(),
                    desired.consumer.starting_position,
                )
                .await?;
            }
            Action::Update { .. } => {
                aws::mapping::update(&clients.lambda, progress, &change.name, &desired.mapping())
                    .await?
            }
            Action::Delete { .. } => {
                aws::mapping::delete(&clients.lambda, progress, &change.name).await?
            }
            Action::NoOp | Action::Keep { .. } => {}
        }
    }
    Ok(())
}

async fn apply_stream(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    observed: &Observed,
    action: &Action,
) -> Result<String> {
    let name = &desired.stream.name;
    let client = &clients.kinesis;
    match (action, &observed.stream) {
        (Action::Create { .. }, _) => {
            let created = aws::stream::create(
                client,
                progress,
                name,
                desired.stream.shard_count,
                &desired.tags(),
            )
            .await?;
            // An interrupted run may have created the stream with other settings: converge them too.
            if created.retention_hours != desired.stream.retention_hours {
                aws::stream::set_retention(
                    client,
                    progress,
                    name,
                    created.retention_hours,
                    desired.stream.retention_hours,
                )
                .await?;
            }
            if created.open_shards != desired.stream.shard_count {
                aws::stream::set_shard_count(
                    client,
                    progress,
                    name,
                    created.open_shards,
                    desired.stream.shard_count,
                )
                .await?;
            }
            Ok(created.arn)
        }
        (Action::Update { updates }, Some(have)) => {
            if have.status != "ACTIVE" {
                aws::stream::wait_active(client, progress, name).await?;
            }
            for update in updates {
                match update {
                    Update::AdoptTag => aws::stream::tag(client, name, &desired.tags()).await?,
                    Update::StreamMode { .. } => {
                        aws::stream::set_provisioned(client, progress, &have.arn, name).await?
                    }
                    Update::ShardCount { from, to } => {
                        aws::stream::set_shard_count(client, progress, name, *from, *to).await?
                    }
                    Update::RetentionHours { from, to } => {
                        aws::stream::set_retention(client, progress, name, *from, *to).await?
                    }
                    other => bail!("internal error: {other:?} is not a stream update"),
                }
            }
            Ok(have.arn.clone())
        }
        (_, Some(have)) => {
            // Up to date, but a stream that is still CREATING must be ACTIVE before the mapping.
            if have.status != "ACTIVE" {
                aws::stream::wait_active(client, progress, name).await?;
            }
            Ok(have.arn.clone())
        }
        (_, None) => bail!("internal error: stream `{name}` neither exists nor is planned"),
    }
}

async fn apply_bucket(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    observed: &Observed,
    action: &Action,
) -> Result<()> {
    let name = &desired.bucket;
    let client = &clients.s3;
    let policy = desired.bucket_policy();
    match action {
        Action::Create { .. } => {
            aws::bucket::create(client, progress, name, &clients.region, &desired.tags()).await?;
            progress.step(&format!("securing bucket `{name}`"));
            tokio::try_join!(
                aws::bucket::block_public_access(client, name),
                aws::bucket::encrypt(client, name),
            )?;
            // After the public access block: the TLS-only policy is a Deny, never public.
            aws::bucket::put_policy(client, name, &policy).await
        }
        Action::Update { updates } => {
            progress.step(&format!("updating bucket `{name}`"));
            let existing = observed
                .bucket
                .as_ref()
                .map(|b| b.tags.clone())
                .unwrap_or_default();
            for update in updates {
                match update {
                    Update::AdoptTag => {
                        aws::bucket::set_tags(client, name, &existing, &desired.tags()).await?
                    }
                    Update::PublicAccessBlock => {
                        aws::bucket::block_public_access(client, name).await?
                    }
                    Update::Encryption => aws::bucket::encrypt(client, name).await?,
                    Update::BucketPolicy => aws::bucket::put_policy(client, name, &policy).await?,
                    other => bail!("internal error: {other:?} is not a bucket update"),
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn apply_role(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    observed: &Observed,
    action: &Action,
) -> Result<String> {
    let name = &desired.consumer.role_name;
    let client = &clients.iam;
    match (action, &observed.role) {
        (Action::Create { .. }, _) => {
            aws::role::create(
                client,
                progress,
                name,
                &desired.trust_policy(),
                &desired.tags(),
            )
            .await
        }
        (Action::Update { updates }, Some(have)) => {
            progress.step(&format!("updating role `{name}`"));
            for update in updates {
                match update {
                    Update::AdoptTag => aws::role::tag(client, name, &desired.tags()).await?,
                    Update::TrustPolicy => {
                        aws::role::set_trust_policy(client, name, &desired.trust_policy()).await?
                    }
                    other => bail!("internal error: {other:?} is not a role update"),
                }
            }
            Ok(have.arn.clone())
        }
        (_, Some(have)) => Ok(have.arn.clone()),
        (_, None) => bail!("internal error: role `{name}` neither exists nor is planned"),
    }
}

async fn apply_function(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    observed: &Observed,
    role_arn: &str,
    action: &Action,
) -> Result<()> {
    let consumer = &desired.consumer;
    let spec = aws::function::FunctionSpec {
        name: &consumer.function_name,
        role_arn,
        memory_mb: consumer.memory_mb,
        timeout_s: consumer.timeout_s,
        architecture: consumer.architecture,
        env: desired.function_env(),
        tags: desired.tags(),
    };
    let client = &clients.lambda;
    match action {
        Action::Create { .. } => {
            let artifact = desired
                .artifact
                .as_ref()
                .context("the consumer was not packaged, so the function cannot be created")?;
            aws::function::create(client, progress, &spec, artifact).await
        }
        Action::Update { updates } => {
            for update in updates {
                match update {
                    Update::Code { architecture, .. } => {
                        let artifact = desired
                            .artifact
                            .as_ref()
                            .context("the consumer was not packaged")?;
                        aws::function::update_code(
                            client,
                            progress,
                            spec.name,
                            artifact,
                            *architecture,
                        )
                        .await?;
                    }
                    Update::AdoptTag => {
                        let arn = observed
                            .function
                            .as_ref()
                            .map(|f| f.arn.as_str())
                            .unwrap_or(spec.name);
                        aws::function::tag(client, arn, &desired.tags()).await?;
                    }
                    _ => {}
                }
            }
            if updates.iter().any(Update::is_function_configuration) {
                aws::function::update_configuration(client, progress, &spec).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Tear the deployment down as `plan` says (it only deletes what this deployment owns).
pub async fn destroy(
    clients: &Clients,
    progress: &Progress,
    desired: &Desired,
    plan: &Plan,
    force: bool,
) -> Result<()> {
    let deletes = |r: Resource| {
        plan.changes
            .iter()
            .filter(move |c| c.resource == r && matches!(c.action, Action::Delete { .. }))
    };
    for change in deletes(Resource::Mapping) {
        aws::mapping::delete(&clients.lambda, progress, &change.name).await?;
    }
    let function_then_role = async {
        if deletes(Resource::Function).next().is_some() {
            aws::function::delete(&clients.lambda, progress, &desired.consumer.function_name)
                .await?;
        }
        if deletes(Resource::Role).next().is_some() {
            aws::role::delete(&clients.iam, progress, &desired.consumer.role_name).await?;
        }
        Ok::<(), anyhow::Error>(())
    };
    let stream = async {
        if deletes(Resource::Stream).next().is_some() {
            aws::stream::delete(&clients.kinesis, progress, &desired.stream.name).await?;
        }
        Ok(())
    };
    let bucket = async {
        if deletes(Resource::Bucket).next().is_some() {
            if force {
                let count = aws::bucket::empty(&clients.s3, progress, &desired.bucket).await?;
                if count > 0 {
                    progress.note(&format!(
                        "deleted {count} object versions from bucket `{}`",
                        desired.bucket
                    ));
                }
            }
            aws::bucket::delete(&clients.s3, progress, &desired.bucket).await?;
        }
        Ok(())
    };
    tokio::try_join!(function_then_role, stream, bucket)?;
    Ok(())
}
