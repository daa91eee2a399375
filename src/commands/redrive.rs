//! `kstream redrive`: send the batches the event source mapping gave up on through the same
//! consumer again, so each record becomes the object it would have become (same key), then
//! delete each batch's message once every record of it is written.
//!
//! Per batch: read its records back from the shard (from the first to the last sequence
//! number), build the event the mapping sends, invoke the function synchronously in payloads
//! under Lambda's limit, and count what the consumer reports as not written. Records the stream
//! no longer holds are lost; their batch's message stays unless `--yes`. Messages that are not
//! on-failure records, and batches not done, are handed back to the queue.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Result, bail};

use super::failures::{self, Read};
use super::{Context, UsageError};
use crate::aws::Clients;
use crate::aws::failures::{self as queue, QueueMessage};
use crate::redrive::{
    self, BatchOutcome, EventSource, FailedBatch, Listing, RedriveSummary, SYNC_PAYLOAD_LIMIT,
};
use crate::ui;

/// How long the messages stay hidden while they are worked through; a batch not done is
/// handed back at the end, and an interrupted run's messages reappear after this.
const REDRIVE_HIDE: Duration = Duration::from_secs(900);

/// Run `kstream redrive`.
pub(super) async fn run(ctx: &Context, yes: bool) -> Result<()> {
    // Refuse before any call, so the queue is untouched (not even received from).
    if !yes && !ui::stdin_is_terminal() {
        return Err(UsageError(format!(
            "`kstream redrive` invokes function `{}` with the failed batches and there is no terminal to confirm on; the queue was not read\n  hint: list them with `kstream failures`, then run `kstream redrive --yes`",
            ctx.config.consumer.function_name
        ))
        .into());
    }
    let clients = ctx.clients().await?;
    let read = failures::read(ctx, &clients, REDRIVE_HIDE).await?;
    match work(ctx, &clients, &read, yes).await {
        Ok(summary) => finish(ctx, &summary),
        Err(e) => {
            // Nothing was deleted: hand every message back before reporting.
            let all: Vec<&QueueMessage> = read.messages.iter().collect();
            failures::hand_back(&clients, &read.url, &all).await?;
            Err(e)
        }
    }
}

/// Ask, redrive every batch, delete the messages of the batches done, hand the rest back.
async fn work(ctx: &Context, clients: &Clients, read: &Read, yes: bool) -> Result<RedriveSummary> {
    let function = &ctx.config.consumer.function_name;
    let mut outcomes = Vec::new();
    if !read.batches.is_empty() {
        let role = queue::consumer_role(clients, function, &ctx.config.name).await?;
        if !yes {
            confirm(read, function)?;
        }
        eprintln!("kstream: redriving through function `{function}`");
        for (batch, message) in &read.batches {
            let mut outcome = redrive_batch(clients, function, &role, batch, yes).await;
            if outcome.error.is_none() {
                match queue::delete(clients, &read.url, message).await {
                    Ok(()) => outcome.deleted = true,
                    Err(e) => outcome.error = Some(format!("{e:#}")),
                }
            }
            eprintln!(
                "  {} {}: {} of {} redriven, {} lost{}",
                if outcome.deleted { "done" } else { "kept" },
                batch.message_id,
                outcome.redriven,
                outcome.batch_size,
                outcome.lost,
                outcome
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            outcomes.push(outcome);
        }
    }
    let deleted: HashSet<&str> = outcomes
        .iter()
        .filter(|o| o.deleted)
        .map(|o| o.message_id.as_str())
        .collect();
    let kept: Vec<&QueueMessage> = read
        .messages
        .iter()
        .filter(|m| !deleted.contains(m.id.as_str()))
        .collect();
    failures::hand_back(clients, &read.url, &kept).await?;
    Ok(RedriveSummary::new(
        read.url.clone(),
        outcomes,
        read.unrecognized.clone(),
        read.complete,
    ))
}

/// Show what will be redriven and ask for `yes` on the terminal.
fn confirm(read: &Read, function: &str) -> Result<()> {
    let listing = Listing::new(
        read.url.clone(),
        read.batches.iter().map(|(b, _)| b.clone()).collect(),
        Vec::new(),
        read.complete,
    );
    let question = format!(
        "{}kstream: redrive sends these {} records through function `{function}` again and deletes each batch's message once all its records are written.\n  type `yes` to continue: ",
        listing.render(),
        listing.records
    );
    match ui::ask_to_type(&question, "yes")? {
        Some(true) => Ok(()),
        _ => bail!("redrive cancelled: the answer was not `yes`; nothing was changed"),
    }
}

/// Read one failed batch back from its shard and send it through the consumer. Never fails:
/// what went wrong is the outcome's `error`, and the batch stays in the queue.
async fn redrive_batch(
    clients: &Clients,
    function: &str,
    role: &str,
    batch: &FailedBatch,
    yes: bool,
) -> BatchOutcome {
    let mut outcome = BatchOutcome {
        message_id: batch.message_id.clone(),
        shard_id: batch.shard_id.clone(),
        batch_size: batch.batch_size,
        redriven: 0,
        lost: 0,
        deleted: false,
        error: None,
    };
    if let Err(e) = send(clients, function, role, batch, yes, &mut outcome).await {
        outcome.error = Some(format!("{e:#}"));
    }
    outcome
}

/// The work of [`redrive_batch`]; an error leaves the batch in the queue.
async fn send(
    clients: &Clients,
    function: &str,
    role: &str,
    batch: &FailedBatch,
    yes: bool,
    outcome: &mut BatchOutcome,
) -> Result<()> {
    let Some(stream) = redrive::stream_name(&batch.stream_arn) else {
        bail!("`{}` is not a Kinesis stream ARN", batch.stream_arn);
    };
    let back = queue::read_back(
        clients,
        stream,
        &batch.shard_id,
        &batch.start_sequence_number,
        &batch.end_sequence_number,
        batch.batch_size,
    )
    .await?;
    outcome.lost = back.lost(batch);
    let source = EventSource {
        stream_arn: batch.stream_arn.clone(),
        shard_id: batch.shard_id.clone(),
        region: clients.region.clone(),
        role_arn: Some(role.to_string()),
    };
    let payloads = redrive::payloads(&source, &back.records, SYNC_PAYLOAD_LIMIT)?;
    let mut problems = Vec::new();
    for payload in payloads {
        let count = payload.sequence_numbers.len() as u64;
        let answer = queue::invoke(clients, function, payload.body).await?;
        if let Some(kind) = answer.function_error {
            problems.push(format!(
                "function `{function}` failed ({kind}) on {count} record{}",
                if count == 1 { "" } else { "s" }
            ));
            continue;
        }
        match redrive::event::not_written(&answer.payload) {
            Some(failed) => {
                let failed: HashSet<String> = failed.into_iter().collect();
                let not = payload
                    .sequence_numbers
                    .iter()
                    .filter(|s| failed.contains(*s))
                    .count() as u64;
                outcome.redriven += count - not;
                if not > 0 {
                    problems.push(format!(
                        "the consumer could not write {not} record{}",
                        if not == 1 { "" } else { "s" }
                    ));
                }
            }
            None => problems.push(format!(
                "function `{function}` answered with something other than `batchItemFailures`: {}",
                String::from_utf8_lossy(&answer.payload)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
        }
    }
    if outcome.lost > 0 && !yes {
        problems.push(format!(
            "{} record{} no longer in the stream; `--yes` deletes the message anyway",
            outcome.lost,
            if outcome.lost == 1 { " is" } else { "s are" }
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Print the summary on stdout; fail (exit 1) when batches are left in the queue.
fn finish(ctx: &Context, summary: &RedriveSummary) -> Result<()> {
    ctx.output.print(summary, || summary.render())?;
    if summary.lost > 0 {
        eprintln!(
            "kstream: {} record{} had expired from the stream and cannot be redriven",
            summary.lost,
            if summary.lost == 1 { "" } else { "s" }
        );
    }
    let kept = summary.batches.iter().filter(|b| !b.deleted).count();
    if kept > 0 {
        bail!(
            "{kept} failed batch{} ({} record{}) stay in the failure queue\n  hint: fix what the lines above name, then run `kstream redrive` again; `kstream failures` lists them",
            if kept == 1 { "" } else { "es" },
            summary.remaining,
            if summary.remaining == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
