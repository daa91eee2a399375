//! The event source mapping stream → function: found by (function, stream ARN), created with
//! `ReportBatchItemFailures`, updated in place, deleted; waits poll with a deadline because the
//! SDK has no waiter for mappings.

use anyhow::{Context as _, Result, bail};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::{
    DestinationConfig, EventSourceMappingConfiguration, EventSourcePosition, FunctionResponseType,
    OnFailure,
};

use super::conditions::{Condition, mapping_settled};
use super::{Wait, errors, poll, retry};
use crate::config::StartingPosition;
use crate::model::{MappingSettings, ObservedMapping};
use crate::ui::Progress;

fn to_observed(m: &EventSourceMappingConfiguration) -> ObservedMapping {
    ObservedMapping {
        uuid: m.uuid().unwrap_or_default().to_string(),
        state: m.state().unwrap_or_default().to_string(),
        settings: MappingSettings {
            batch_size: m.batch_size().unwrap_or(100).max(0) as u32,
            parallelization_factor: m.parallelization_factor().unwrap_or(1).max(1) as u32,
            maximum_batching_window_s: m.maximum_batching_window_in_seconds().unwrap_or(0).max(0)
                as u32,
            maximum_retry_attempts: m.maximum_retry_attempts().unwrap_or(-1),
            bisect_batch_on_function_error: m.bisect_batch_on_function_error().unwrap_or(false),
            maximum_record_age_s: m.maximum_record_age_in_seconds().unwrap_or(-1),
            on_failure: m
                .destination_config()
                .and_then(|d| d.on_failure())
                .and_then(|f| f.destination())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            report_batch_item_failures: m
                .function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
            enabled: enabled(m.state().unwrap_or_default()),
        },
        starting_position: m
            .starting_position()
            .and_then(|p| StartingPosition::from_aws(p.as_str())),
        last_processing_result: reported(m.last_processing_result()),
        state_reason: reported(m.state_transition_reason()),
    }
}

/// A reported text, unless empty.
fn reported(text: Option<&str>) -> Option<String> {
    text.filter(|t| !t.is_empty()).map(str::to_string)
}

fn enabled(state: &str) -> bool {
    !matches!(state, "Disabled" | "Disabling")
}

/// The on-failure destination; an empty one removes it.
fn destination(settings: &MappingSettings) -> DestinationConfig {
    DestinationConfig::builder()
        .on_failure(
            OnFailure::builder()
                .set_destination(settings.on_failure.clone())
                .build(),
        )
        .build()
}

/// Every mapping from `stream_arn` to `function_arn` (normally one).
pub async fn observe(
    client: &Client,
    function_arn: &str,
    stream_arn: &str,
) -> Result<Vec<ObservedMapping>> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let out = client
            .list_event_source_mappings()
            .function_name(function_arn)
            .event_source_arn(stream_arn)
            .set_marker(marker)
            .send()
            .await
            .context("failed to list event source mappings")?;
        found.extend(
            out.event_source_mappings()
                .iter()
                .filter(|m| m.event_source_arn() == Some(stream_arn))
                .map(to_observed),
        );
        marker = out.next_marker;
        if marker.is_none() {
            break;
        }
    }
    // The state comes from GetEventSourceMapping, which is authoritative: LocalStack's listing
    // can keep a replaced poller's `Disabled` after an update has re-enabled the mapping.
    let mut observed = Vec::with_capacity(found.len());
    for mut mapping in found {
        let uuid = mapping.uuid.clone();
        let state = match client.get_event_source_mapping().uuid(&uuid).send().await {
            Ok(m) => {
                mapping.last_processing_result = reported(m.last_processing_result());
                mapping.state_reason = reported(m.state_transition_reason());
                m.state().unwrap_or_default().to_string()
            }
            Err(e) if errors::is_not_found(&e) => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to get event source mapping `{uuid}`"));
            }
        };
        // A mapping already being deleted (an interrupted destroy) is as good as gone.
        if state == "Deleting" {
            continue;
        }
        mapping.settings.enabled = enabled(&state);
        mapping.state = state;
        observed.push(mapping);
    }
    Ok(observed)
}

/// Create the mapping and wait until it is `Enabled`. `iam_wait` bounds the retries while the
/// role's stream permissions propagate (`Wait::IAM` when they changed in this run).
pub async fn create(
    client: &Client,
    progress: &Progress,
    function_name: &str,
    stream_arn: &str,
    settings: &MappingSettings,
    position: StartingPosition,
    iam_wait: Wait,
) -> Result<String> {
    progress.step(&format!(
        "creating event source mapping to function `{function_name}`"
    ));
    let position = EventSourcePosition::from(position.as_str());
    let out = retry(
        progress,
        &format!("create the event source mapping to function `{function_name}`"),
        iam_wait,
        errors::iam_not_propagated,
        "the role's stream permissions can take a minute to propagate; run `kstream apply` again",
        || async {
            let mut req = client
                .create_event_source_mapping()
                .function_name(function_name)
                .event_source_arn(stream_arn)
                .starting_position(position.clone())
                .batch_size(settings.batch_size as i32)
                .parallelization_factor(settings.parallelization_factor as i32)
                .maximum_batching_window_in_seconds(settings.maximum_batching_window_s as i32)
                .parallelization_factor(settings.parallelization_factor as i32)
                .maximum_batching_window_in_seconds(settings.maximum_batching_window_s as i32)
                .maximum_retry_attempts(settings.maximum_retry_attempts)
                .bisect_batch_on_function_error(settings.bisect_batch_on_function_error)
                .maximum_record_age_in_seconds(settings.maximum_record_age_s)
                .destination_config(destination(settings))
                .enabled(settings.enabled);
            if settings.report_batch_item_failures {
                req = req.function_response_types(FunctionResponseType::ReportBatchItemFailures);
            }
            req.send().await.map_err(aws_sdk_lambda::Error::from)
        },
    )
    .await?;
    let uuid = out
        .uuid()
        .context("CreateEventSourceMapping returned no UUID")?
        .to_string();
    wait_settled(client, progress, &uuid).await?;
    Ok(uuid)
}

/// Update the settings in place and wait until the mapping settles.
pub async fn update(
    client: &Client,
    progress: &Progress,
    uuid: &str,
    settings: &MappingSettings,
) -> Result<()> {
    wait_settled(client, progress, uuid).await?;
    progress.step(&format!("updating event source mapping `{uuid}`"));
    let types = if settings.report_batch_item_failures {
        vec![FunctionResponseType::ReportBatchItemFailures]
    } else {
        Vec::new()
    };
    client
        .update_event_source_mapping()
        .uuid(uuid)
        .batch_size(settings.batch_size as i32)
        .maximum_retry_attempts(settings.maximum_retry_attempts)
        .bisect_batch_on_function_error(settings.bisect_batch_on_function_error)
        .maximum_record_age_in_seconds(settings.maximum_record_age_s)
        .destination_config(destination(settings))
        .set_function_response_types(Some(types))
        .enabled(settings.enabled)
        .send()
        .await
        .with_context(|| format!("failed to update event source mapping `{uuid}`"))?;
    wait_settled(client, progress, uuid).await
}

/// Wait until the mapping is `Enabled` or `Disabled` (not in a transition).
pub async fn wait_settled(client: &Client, progress: &Progress, uuid: &str) -> Result<()> {
    poll(
        progress,
        &format!("event source mapping `{uuid}` to be enabled"),
        Wait::STATE,
        || async {
            let out = client
                .get_event_source_mapping()
                .uuid(uuid)
                .send()
                .await
                .with_context(|| format!("failed to get event source mapping `{uuid}`"))?;
            match mapping_settled(out.state(), out.state_transition_reason()) {
                Condition::Ready => Ok(Some(())),
                Condition::Wait => Ok(None),
                Condition::Failed(reason) => {
                    bail!("event source mapping `{uuid}` failed: {reason}")
                }
            }
        },
    )
    .await
}

/// Delete the mapping and wait until it is gone; a missing mapping counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, uuid: &str) -> Result<()> {
    progress.step(&format!("deleting event source mapping `{uuid}`"));
    // A mapping in transition (Creating/Updating) refuses deletion with ResourceInUse: settle first.
    let mut deleting = false;
    match client.get_event_source_mapping().uuid(uuid).send().await {
        // Already being deleted (an interrupted destroy): only wait for it to go.
        Ok(m) if m.state() == Some("Deleting") => deleting = true,
        Ok(_) => wait_settled(client, progress, uuid).await.or_else(|e| {
            // A stopped run deletes nothing more.
            if crate::interrupt::cause(&e).is_some() {
                return Err(e);
            }
            // A failed mapping can still be deleted.
            tracing::debug!("mapping `{uuid}` did not settle: {e:#}");
            Ok::<(), anyhow::Error>(())
        })?,
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("failed to get event source mapping `{uuid}`"));
        }
    }
    if !deleting {
        match client.delete_event_source_mapping().uuid(uuid).send().await {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to delete event source mapping `{uuid}`"));
            }
        }
    }
    poll(
        progress,
        &format!("event source mapping `{uuid}` to be deleted"),
        Wait::STATE,
        || async {
            match client.get_event_source_mapping().uuid(uuid).send().await {
                Ok(_) => Ok(None),
                Err(e) if errors::is_not_found(&e) => Ok(Some(())),
                Err(e) => {
                    Err(e).with_context(|| format!("failed to get event source mapping `{uuid}`"))
                }
            }
        },
    )
    .await
}
