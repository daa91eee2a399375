//! The function's log group `/aws/lambda/<function>`: created by kstream before the function
//! (tagged, with a retention), so that Lambda never creates an untagged one that keeps logs
//! forever, and deleted by `destroy`. An untagged group of that name is the one Lambda made
//! for this function before kstream managed it: `apply` tags it without `--adopt`.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudwatchlogs::Client;

use crate::model::{ObservedLogGroup, Owner};
use crate::plan::LogGroupSpec;
use crate::ui::Progress;

/// The log group named `name`, or `None` when it does not exist.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
) -> Result<Option<ObservedLogGroup>> {
    let Some((arn, retention_days)) = find(client, name).await? else {
        return Ok(None);
    };
    let tags = tags(client, name, &arn).await?;
    Ok(Some(ObservedLogGroup {
        owner: Owner::from_tags(
            deployment,
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        arn,
        retention_days,
        tags,
    }))
}

/// The ARN (without the trailing `:*`) and retention of the log group named exactly `name`.
async fn find(client: &Client, name: &str) -> Result<Option<(String, Option<u32>)>> {
    let mut token = None;
    loop {
        let out = client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
            .with_context(|| format!("failed to look up log group `{name}`"))?;
        if let Some(group) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            let arn = group
                .log_group_arn()
                .or(group.arn().map(|a| a.trim_end_matches(":*")))
                .context("DescribeLogGroups returned a log group without an ARN")?;
            let retention = group.retention_in_days().map(|d| d.max(0) as u32);
            return Ok(Some((arn.to_string(), retention)));
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn tags(client: &Client, name: &str, arn: &str) -> Result<BTreeMap<String, String>> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .with_context(|| format!("failed to read the tags of log group `{name}`"))?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}

/// Create the log group, tagged, then set its retention. One that exists already (a race,
/// or Lambda created it) is read back and refused unless it is this deployment's.
pub async fn create(client: &Client, progress: &Progress, spec: &LogGroupSpec) -> Result<()> {
    let deployment = &spec.deployment;
    let name = &spec.name;
    progress.step(&format!("creating log group `{name}`"));
    match client
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(spec.tags.clone().into_iter().collect()))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            // Lambda creates the group untagged when the function logs first: that one is
            // this function's, and is tagged; another deployment's is refused.
            let found = observe(client, name, deployment).await?;
            match found {
                Some(ObservedLogGroup {
                    owner: Owner::Other(other),
                    ..
                }) => bail!(
                    "log group `{name}` appeared meanwhile and belongs to deployment `{other}`\n  hint: set `consumer.function_name` to a name of this deployment's own"
                ),
                Some(ObservedLogGroup {
                    owner: Owner::Untagged,
                    arn,
                    ..
                }) => tag(client, name, &arn, &spec.tags).await?,
                Some(_) | None => {}
            }
        }
        Err(e) => return Err(e).with_context(|| format!("failed to create log group `{name}`")),
    }
    set_retention(client, name, spec.retention_days).await
}

/// Keep logs for `days`.
pub async fn set_retention(client: &Client, name: &str, days: u32) -> Result<()> {
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days as i32)
        .send()
        .await
        .with_context(|| format!("failed to set the retention of log group `{name}`"))?;
    Ok(())
}

/// Add the ownership tag (`--adopt`).
pub async fn tag(
    client: &Client,
    name: &str,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<()> {
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .with_context(|| format!("failed to tag log group `{name}`"))?;
    Ok(())
}

/// Delete the log group and its logs; a missing one counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    progress.step(&format!("deleting log group `{name}`"));
    match client.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("failed to delete log group `{name}`")),
    }
}
