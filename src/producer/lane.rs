//! A lane: the records bound for one shard (or for the whole stream without a shard map),
//! fresh ones in input order and failed ones waiting out their backoff.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use tokio::time::Instant;

use super::Entry;
use super::window::Window;

/// A record waiting to be (re-)sent.
#[derive(Debug)]
pub(super) struct Pending {
    /// Position in the input.
    pub index: u64,
    /// The record.
    pub entry: Entry,
    /// Times it was sent so far.
    pub attempts: u32,
    /// The lane it belongs to.
    pub lane: usize,
}

/// A failed record waiting for its backoff; ordered by due time, then input order.
#[derive(Debug)]
pub(super) struct Due {
    /// When it may be sent again.
    pub at: Instant,
    /// The record.
    pub item: Pending,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.item.index) == (other.at, other.item.index)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.item.index).cmp(&(other.at, other.item.index))
    }
}

/// The records bound for one shard, and that shard's budget when pacing.
#[derive(Debug)]
pub(super) struct Lane {
    /// Records not sent yet, in input order.
    pub fresh: VecDeque<Pending>,
    /// Failed records, earliest due first.
    pub retry: BinaryHeap<Reverse<Due>>,
    /// The shard's budget; `None` without a shard map.
    pub window: Option<Window>,
}

impl Lane {
    /// An empty lane, paced by `window` if given.
    pub fn new(window: Option<Window>) -> Lane {
        Lane {
            fresh: VecDeque::new(),
            retry: BinaryHeap::new(),
            window,
        }
    }

    /// Whether no record waits in this lane.
    pub fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.retry.is_empty()
    }

    /// Size of the record this lane would send next: a due retry, else (only when no retry
    /// waits) the oldest fresh record.
    pub fn peek(&self, now: Instant) -> Option<usize> {
        match self.retry.peek() {
            Some(Reverse(due)) if due.at <= now => Some(due.item.entry.size()),
            Some(_) => None,
            None => self.fresh.front().map(|p| p.entry.size()),
        }
    }

    /// Take the record [`Lane::peek`] sized.
    pub fn pop(&mut self) -> Option<Pending> {
        match self.retry.pop() {
            Some(Reverse(due)) => Some(due.item),
            None => self.fresh.pop_front(),
        }
    }

    /// Put a failed record back, to be sent again at `at`.
    pub fn schedule(&mut self, at: Instant, item: Pending) {
        self.retry.push(Reverse(Due { at, item }));
    }

    /// When the earliest retry falls due, if any waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.retry.peek().map(|Reverse(due)| due.at)
    }

    /// Take every record still waiting, retries first.
    pub fn drain(&mut self) -> impl Iterator<Item = Pending> + '_ {
        self.retry
            .drain()
            .map(|Reverse(d)| d.item)
            .chain(self.fresh.drain(..))
    }
}
