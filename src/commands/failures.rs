//! `kstream failures`: list the batches the event source mapping gave up on, from its
//! on-failure queue, without consuming a message. Also reads the queue for `redrive`.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Context, UsageError};
use crate::aws::Clients;
use crate::aws::failures::{self as queue, QueueMessage};
use crate::redrive::{self, FailedBatch, Listing, Unrecognized};

/// How long a listing hides the messages it has received (it hands them back at the end).
const LIST_HIDE: Duration = Duration::from_secs(60);

/// Run `kstream failures`.
pub(super) async fn run(ctx: &Context) -> Result<()> {
    let clients = ctx.clients().await?;
    let read = read(ctx, &clients, LIST_HIDE).await?;
    let all: Vec<&QueueMessage> = read.messages.iter().collect();
    hand_back(&clients, &read.url, &all).await?;
    let listing = Listing::new(
        read.url.clone(),
        read.batches.into_iter().map(|(b, _)| b).collect(),
        read.unrecognized,
        read.complete,
    );
    if !listing.complete {
        eprintln!(
            "kstream: the listing stopped after {} messages and may be incomplete\n  hint: run `kstream failures` again, or `kstream redrive` to work through them",
            read.messages.len()
        );
    }
    ctx.output.print(&listing, || listing.render())
}

/// The on-failure queue as read: every message hidden for the time given to [`read`].
pub(super) struct Read {
    /// The queue's URL.
    pub url: String,
    /// The failed batches, each with its message.
    pub batches: Vec<(FailedBatch, QueueMessage)>,
    /// Messages that are not on-failure records.
    pub unrecognized: Vec<Unrecognized>,
    /// Every message received.
    pub messages: Vec<QueueMessage>,
    /// Whether every message was seen.
    pub complete: bool,
}

/// Find the deployment's on-failure queue and receive all its messages, hidden for
/// `hide_for`; the caller hands them back ([`hand_back`]) or deletes them.
pub(super) async fn read(ctx: &Context, clients: &Clients, hide_for: Duration) -> Result<Read> {
    let consumer = &ctx.config.consumer;
    let mut target = redrive::queue_target(&consumer.on_failure, &consumer.function_name)
        .map_err(|e| UsageError(e.to_string()))?;
    if target.owner.is_none() {
        // kstream's own queue is in the account of the credentials.
        target.owner = Some(clients.account().await?);
    }
    let url = queue::queue_url(clients, &target).await?;
    let started = Instant::now();
    eprintln!("kstream: reading the failure queue `{url}` (its messages stay in the queue)");
    let peeked = queue::peek(clients, &url, hide_for).await?;
    eprintln!(
        "kstream: {} message{} in {:.1} s",
        peeked.messages.len(),
        if peeked.messages.len() == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    let mut batches = Vec::new();
    let mut unrecognized = Vec::new();
    for m in &peeked.messages {
        match redrive::message::parse(&m.id, &m.body) {
            Ok(batch) => batches.push((batch, m.clone())),
            Err(u) => {
                eprintln!(
                    "kstream: message `{}` is not a failed-batch record and stays in the queue: {}",
                    u.message_id, u.reason
                );
                unrecognized.push(u);
            }
        }
    }
    Ok(Read {
        url,
        batches,
        unrecognized,
        messages: peeked.messages,
        complete: peeked.complete,
    })
}

/// Make `messages` visible in the queue again; says on stderr if some could not be.
pub(super) async fn hand_back(
    clients: &Clients,
    url: &str,
    messages: &[&QueueMessage],
) -> Result<()> {
    let failed = queue::release(clients, url, messages).await?;
    if failed > 0 {
        eprintln!(
            "kstream: {failed} message{} could not be made visible again; {} reappear{} when {} visibility timeout ends",
            if failed == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "they" },
            if failed == 1 { "s" } else { "" },
            if failed == 1 { "its" } else { "their" },
        );
    }
    Ok(())
}
