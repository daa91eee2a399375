//! The Kinesis data stream: observe, create (PROVISIONED, tagged), reshard in legal steps,
//! change retention, delete; each followed by a bounded wait for `ACTIVE` or gone.

use anyhow::{Context as _, Result, bail};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{
    EncryptionType, ScalingType, StreamDescriptionSummary, StreamMode, StreamModeDetails,
    StreamStatus,
};

use super::conditions::{Condition, stream_active};
use super::{Wait, errors, poll};
use crate::model::{DEPLOYMENT_TAG, ObservedStream, Owner};
use crate::plan::{Resource, StreamSpec, StreamUpdate};
use crate::ui::Progress;

/// The stream as it is, or `None` when it does not exist.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
) -> Result<Option<ObservedStream>> {
    let summary = match client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
    {
        Ok(out) => out.stream_description_summary,
        Err(e) if errors::is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("failed to describe stream `{name}`")),
    };
    let Some(s) = summary else {
        return Ok(None);
    };
    // A stream being deleted (e.g. by an interrupted destroy) has lost its tags; the plan
    // waits for it to be gone.
    if s.stream_status() == &StreamStatus::Deleting {
        return Ok(Some(observed(&s, Owner::Untagged)));
    }
    let tags = list_tags(client, name).await?;
    let owner = Owner::from_tags(
        deployment,
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    Ok(Some(ObservedStream {
        tags,
        ..observed(&s, owner)
    }))
}

/// The stream's status, or `None` when it does not exist.
async fn status(client: &Client, name: &str) -> Result<Option<StreamStatus>> {
    match client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .stream_description_summary
            .map(|s| s.stream_status().clone())),
        Err(e) if errors::is_not_found(&e) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to describe stream `{name}`")),
    }
}

/// The stream's tags.
async fn list_tags(
    client: &Client,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    let out = client
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .with_context(|| format!("failed to list the tags of stream `{name}`"))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
        .collect())
}

fn observed(s: &StreamDescriptionSummary, owner: Owner) -> ObservedStream {
    ObservedStream {
        arn: s.stream_arn().to_string(),
        status: s.stream_status().as_str().to_string(),
        // Streams from before capacity modes report none: they are PROVISIONED.
        mode: s
            .stream_mode_details()
            .map(|d| d.stream_mode().as_str().to_string())
            .unwrap_or_else(|| "PROVISIONED".to_string()),
        open_shards: s.open_shard_count().max(0) as u32,
        retention_hours: s.retention_period_hours().max(0) as u32,
        // A stream from before server-side encryption reports no type: it is not encrypted.
        kms_key_id: match s.encryption_type() {
            Some(EncryptionType::Kms) => Some(s.key_id().unwrap_or_default().to_string()),
            _ => None,
        },
        owner,
        tags: Default::default(),
    }
}

/// Create the stream with its ownership tag in the same call, wait for `ACTIVE`, and return
/// its ARN. A stream that appeared meanwhile (a concurrent or interrupted run) is waited on
/// and converged to the same spec (shard count, retention).
pub async fn create(client: &Client, progress: &Progress, spec: &StreamSpec) -> Result<String> {
    let name = &spec.name;
    progress.step(&format!("creating stream `{name}`"));
    let mut req = client
        .create_stream()
        .stream_name(name)
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::from(spec.mode.as_aws()))
                .build()
                .context("stream mode details")?,
        );
    if spec.mode == crate::config::StreamMode::Provisioned {
        req = req.shard_count(spec.shard_count as i32);
    }
    for (k, v) in &spec.tags {
        req = req.tags(k, v);
    }
    let created = match req.send().await {
        Ok(_) => true,
        Err(e) if errors::is_in_use(&e) => false,
        Err(e) => return Err(e).with_context(|| format!("failed to create stream `{name}`")),
    };
    let stream = wait_active(client, progress, name).await?;
    let current = list_tags(client, name).await?;
    if !created {
        // Another run created it first: converge it only if it is this deployment's.
        let owner = Owner::from_tags(
            spec.tags.get(DEPLOYMENT_TAG).map_or("", String::as_str),
            current.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        super::ensure_ours(Resource::Stream, name, owner)?;
    } else if spec.tags.iter().any(|(k, v)| current.get(k) != Some(v)) {
        // Some emulators (stock LocalStack's kinesis-mock) ignore tags on CreateStream.
        tag(client, name, &spec.tags).await?;
    }
    if stream.retention_hours != spec.retention_hours {
        set_retention(
            client,
            progress,
            name,
            stream.retention_hours,
            spec.retention_hours,
        )
        .await?;
    }
    if stream.mode != spec.mode.as_aws() {
        set_mode(client, progress, &stream.arn, name, spec.mode).await?;
    }
    if spec.mode == crate::config::StreamMode::Provisioned && stream.open_shards != spec.shard_count
    {
        set_shard_count(client, progress, name, stream.open_shards, spec.shard_count).await?;
    }
    // CreateStream takes no encryption: it is set once the stream is ACTIVE.
    match crate::plan::encryption_step(spec.kms_key_id.as_deref(), stream.kms_key_id.as_deref()) {
        Some(StreamUpdate::StartEncryption { key_id, .. }) => {
            start_encryption(client, progress, name, &key_id).await?
        }
        Some(StreamUpdate::StopEncryption { key_id }) => {
            stop_encryption(client, progress, name, &key_id).await?
        }
        _ => {}
    }
    Ok(stream.arn)
}

/// Encrypt the stream with the KMS key `key_id` (or switch it to that key), then wait for
/// `ACTIVE` (the stream is `UPDATING` meanwhile).
pub async fn start_encryption(
    client: &Client,
    progress: &Progress,
    name: &str,
    key_id: &str,
) -> Result<()> {
    progress.step(&format!(
        "encrypting stream `{name}` with KMS key `{key_id}`"
    ));
    client
        .start_stream_encryption()
        .stream_name(name)
        .encryption_type(EncryptionType::Kms)
        .key_id(key_id)
        .send()
        .await
        .with_context(|| {
            format!(
                "failed to encrypt stream `{name}` with KMS key `{key_id}`\n  hint: check that the key exists in this account and region and that its key policy lets you use it, or set `stream.kms_key_id`"
            )
        })?;
    wait_active(client, progress, name).await.map(|_| ())
}

/// Turn encryption off (`encryption = "none"`); the call names the current key. Then wait
/// for `ACTIVE`.
pub async fn stop_encryption(
    client: &Client,
    progress: &Progress,
    name: &str,
    key_id: &str,
) -> Result<()> {
    progress.step(&format!("turning encryption of stream `{name}` off"));
    client
        .stop_stream_encryption()
        .stream_name(name)
        .encryption_type(EncryptionType::Kms)
        .key_id(key_id)
        .send()
        .await
        .with_context(|| format!("failed to turn encryption of stream `{name}` off"))?;
    wait_active(client, progress, name).await.map(|_| ())
}

/// Wait until the stream is `ACTIVE` and return it.
pub async fn wait_active(
    client: &Client,
    progress: &Progress,
    name: &str,
) -> Result<ObservedStream> {
    poll(
        progress,
        &format!("stream `{name}` to be ACTIVE"),
        Wait::STATE,
        || async {
            let out = client
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .with_context(|| format!("failed to describe stream `{name}`"))?;
            let Some(s) = out.stream_description_summary else {
                return Ok(None);
            };
            match stream_active(s.stream_status().as_str()) {
                Condition::Ready => Ok(Some(observed(&s, Owner::This))),
                Condition::Wait => Ok(None),
                Condition::Failed(why) => bail!(
                    "stream `{name}` will not become ACTIVE: {why}\n  hint: run `kstream apply` again once it is gone"
                ),
            }
        },
    )
    .await
}

/// Shard counts to pass through to go from `from` to `to`: one UpdateShardCount call may at
/// most double or halve the open shards.
pub fn reshard_steps(from: u32, to: u32) -> Vec<u32> {
    let mut steps = Vec::new();
    let mut current = from.max(1);
    while current != to {
        current = if to > current {
            to.min(current * 2)
        } else {
            to.max(current.div_ceil(2))
        };
        steps.push(current);
    }
    steps
}

/// Reshard with UNIFORM_SCALING in legal steps, waiting for `ACTIVE` between steps.
pub async fn set_shard_count(
    client: &Client,
    progress: &Progress,
    name: &str,
    from: u32,
    to: u32,
) -> Result<()> {
    for step in reshard_steps(from, to) {
        progress.step(&format!("resharding stream `{name}` to {step} shards"));
        client
            .update_shard_count()
            .stream_name(name)
            .target_shard_count(step as i32)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .with_context(|| format!("failed to reshard stream `{name}` to {step} shards"))?;
        wait_active(client, progress, name).await?;
    }
    Ok(())
}

/// Increase or decrease the retention period, then wait for `ACTIVE`.
pub async fn set_retention(
    client: &Client,
    progress: &Progress,
    name: &str,
    from: u32,
    to: u32,
) -> Result<()> {
    progress.step(&format!("changing retention of stream `{name}` to {to} h"));
    if to > from {
        client
            .increase_stream_retention_period()
            .stream_name(name)
            .retention_period_hours(to as i32)
            .send()
            .await
            .with_context(|| format!("failed to increase the retention of stream `{name}`"))?;
    } else {
        client
            .decrease_stream_retention_period()
            .stream_name(name)
            .retention_period_hours(to as i32)
            .send()
            .await
            .with_context(|| format!("failed to decrease the retention of stream `{name}`"))?;
    }
    wait_active(client, progress, name).await.map(|_| ())
}

/// Switch the stream's capacity mode, then wait for `ACTIVE`.
pub async fn set_mode(
    client: &Client,
    progress: &Progress,
    arn: &str,
    name: &str,
    mode: crate::config::StreamMode,
) -> Result<()> {
    let to = mode.as_aws();
    progress.step(&format!("switching stream `{name}` to {to}"));
    client
        .update_stream_mode()
        .stream_arn(arn)
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::from(to))
                .build()
                .context("stream mode details")?,
        )
        .send()
        .await
        .with_context(|| format!("failed to switch stream `{name}` to {to}"))?;
    wait_active(client, progress, name).await.map(|_| ())
}

/// Most tags in one AddTagsToStream call: the API reference says 50 today and said 10 before;
/// 10 is accepted by both.
const TAGS_PER_CALL: usize = 10;

/// Add or overwrite `tags` (the ownership tag with `--adopt`, user tags), ten per call.
pub async fn tag(
    client: &Client,
    name: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let tags: Vec<(&String, &String)> = tags.iter().collect();
    for chunk in tags.chunks(TAGS_PER_CALL) {
        client
            .add_tags_to_stream()
            .stream_name(name)
            .set_tags(Some(
                chunk
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
            .send()
            .await
            .with_context(|| format!("failed to tag stream `{name}`"))?;
    }
    Ok(())
}

/// Delete the stream and wait until it is gone; a missing stream counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    // A stream that is still CREATING/UPDATING refuses deletion: let it settle first.
    if status(client, name)
        .await?
        .is_some_and(|s| s != StreamStatus::Active && s != StreamStatus::Deleting)
    {
        wait_active(client, progress, name).await?;
    }
    progress.step(&format!("deleting stream `{name}`"));
    match client
        .delete_stream()
        .stream_name(name)
        .enforce_consumer_deletion(true)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => {}
        Err(e) => return Err(e).with_context(|| format!("failed to delete stream `{name}`")),
    }
    wait_gone(client, progress, name).await
}

/// Wait until the stream no longer exists.
pub async fn wait_gone(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    poll(
        progress,
        &format!("stream `{name}` to be deleted"),
        Wait::STATE,
        || async { Ok(status(client, name).await?.is_none().then_some(())) },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::reshard_steps;

    #[test]
    fn reshard_in_legal_steps() {
        assert_eq!(reshard_steps(2, 2), Vec::<u32>::new());
        assert_eq!(reshard_steps(2, 4), vec![4]);
        assert_eq!(reshard_steps(2, 5), vec![4, 5]);
        assert_eq!(reshard_steps(1, 10), vec![2, 4, 8, 10]);
        assert_eq!(reshard_steps(10, 1), vec![5, 3, 2, 1]);
        assert_eq!(reshard_steps(4, 3), vec![3]);
        for (from, to) in [(1, 1000), (1000, 1), (7, 3), (3, 7)] {
            let mut cur = from;
            for s in reshard_steps(from, to) {
                assert!(s <= cur * 2 && s >= cur.div_ceil(2), "{cur} -> {s}");
                cur = s;
            }
            assert_eq!(cur, to);
        }
    }
}
