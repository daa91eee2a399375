//! The failure queue (`on_failure = "queue"`): an SQS queue `<function>-failures` with
//! SQS-managed encryption and 14 days' retention, where the mapping records the batches it
//! gives up on. Observe, create, converge its attributes, tag, delete.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::model::{ObservedQueue, Owner};
use crate::plan::{QueueSpec, Resource};
use crate::ui::Progress;

/// The queue named `name`, or `None` when it does not exist.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
) -> Result<Option<ObservedQueue>> {
    let Some(url) = url(client, name).await? else {
        return Ok(None);
    };
    let (attributes, tags) = tokio::try_join!(
        async {
            client
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .with_context(|| format!("failed to read the attributes of queue `{name}`"))
        },
        tags(client, name, &url),
    )?;
    let attributes = attributes.attributes.unwrap_or_default();
    let get = |key: QueueAttributeName| attributes.get(&key).map(String::as_str);
    let count = |key: QueueAttributeName| get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Some(ObservedQueue {
        arn: get(QueueAttributeName::QueueArn)
            .unwrap_or_default()
            .to_string(),
        owner: Owner::from_tags(
            deployment,
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        encrypted: get(QueueAttributeName::SqsManagedSseEnabled) == Some("true")
            || get(QueueAttributeName::KmsMasterKeyId).is_some_and(|k| !k.is_empty()),
        retention_s: get(QueueAttributeName::MessageRetentionPeriod)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        messages: count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        url,
        tags,
    }))
}

/// The URL of the queue named `name` in the clients' account, or `None`.
pub async fn url(client: &Client, name: &str) -> Result<Option<String>> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("failed to look up queue `{name}`")),
    }
}

async fn tags(client: &Client, name: &str, url: &str) -> Result<BTreeMap<String, String>> {
    let out = client
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .with_context(|| format!("failed to read the tags of queue `{name}`"))?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}

/// The attributes kstream sets: retention and SQS-managed encryption.
fn attributes(spec_retention_s: u32) -> Vec<(QueueAttributeName, String)> {
    vec![
        (
            QueueAttributeName::MessageRetentionPeriod,
            spec_retention_s.to_string(),
        ),
        (QueueAttributeName::SqsManagedSseEnabled, "true".to_string()),
    ]
}

/// Create the queue, tagged, and return its URL. SQS answers a create of an existing queue
/// with the same attributes by returning it, so the tags are read back: a queue that is not
/// this deployment's is refused, as `plan` would.
pub async fn create(client: &Client, progress: &Progress, spec: &QueueSpec) -> Result<String> {
    let deployment = &spec.deployment;
    let name = &spec.name;
    progress.step(&format!("creating queue `{name}`"));
    let mut req = client.create_queue().queue_name(name);
    for (key, value) in attributes(spec.retention_s) {
        req = req.attributes(key, value);
    }
    for (k, v) in &spec.tags {
        req = req.tags(k, v);
    }
    let url = match req.send().await {
        Ok(out) => out.queue_url.context("CreateQueue returned no URL")?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_deleted_recently()) =>
        {
            return Err(e).with_context(|| {
                format!("failed to create queue `{name}`: a queue of that name was deleted less than 60 s ago\n  hint: SQS keeps the name for 60 s; run `kstream apply` again in a minute")
            });
        }
        Err(e) => return Err(e).with_context(|| format!("failed to create queue `{name}`")),
    };
    let found = tags(client, name, &url).await?;
    let owner = Owner::from_tags(
        deployment,
        found.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    super::ensure_ours(Resource::Queue, name, owner)?;
    Ok(url)
}

/// Set retention and encryption as kstream wants them.
pub async fn set_attributes(
    client: &Client,
    name: &str,
    url: &str,
    retention_s: u32,
) -> Result<()> {
    client
        .set_queue_attributes()
        .queue_url(url)
        .set_attributes(Some(attributes(retention_s).into_iter().collect()))
        .send()
        .await
        .with_context(|| format!("failed to set the attributes of queue `{name}`"))?;
    Ok(())
}

/// Add the ownership tag (`--adopt`).
pub async fn tag(
    client: &Client,
    name: &str,
    url: &str,
    tags: &BTreeMap<String, String>,
) -> Result<()> {
    client
        .tag_queue()
        .queue_url(url)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .with_context(|| format!("failed to tag queue `{name}`"))?;
    Ok(())
}

/// Delete the queue (and the failures in it); a missing queue counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str, url: &str) -> Result<()> {
    progress.step(&format!("deleting queue `{name}`"));
    match client.delete_queue().queue_url(url).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if super::errors::has_code(
                &e,
                &[
                    "AWS.SimpleQueueService.NonExistentQueue",
                    "QueueDoesNotExist",
                ],
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("failed to delete queue `{name}`")),
    }
}
