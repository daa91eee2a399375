//! Per-shard pacing: a shard's write budget over a window of time.
//!
//! A record holds its share of the budget from the moment it is sent until one window after
//! its acknowledgement. Kinesis counts a record at some instant between the two, so a producer
//! that stays within the window is never throttled by a sliding-window limiter, whatever the
//! call latency.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::limits::{ShardLimits, Volume};

/// A shard's budget: what is in flight plus what was accepted within the last window.
#[derive(Debug)]
pub(super) struct Window {
    limits: ShardLimits,
    in_flight: Volume,
    held: VecDeque<Held>,
    held_sum: Volume,
}

/// Written records that count against the budget until `until`.
#[derive(Debug)]
struct Held {
    until: Instant,
    volume: Volume,
}

impl Window {
    /// An unused shard's budget under `limits`.
    pub fn new(limits: ShardLimits) -> Window {
        Window {
            limits,
            in_flight: Volume::default(),
            held: VecDeque::new(),
            held_sum: Volume::default(),
        }
    }

    /// Release what was held until `now` or earlier.
    pub fn expire(&mut self, now: Instant) {
        while let Some(held) = self.held.front() {
            if held.until > now {
                break;
            }
            self.held_sum -= held.volume;
            self.held.pop_front();
        }
    }

    fn used(&self) -> Volume {
        self.in_flight + self.held_sum
    }

    /// Whether one more record of `bytes` fits; an unused shard always takes one record, so
    /// limits smaller than a record cannot stall the producer.
    pub fn fits(&self, bytes: u64) -> bool {
        let used = self.used();
        used.is_zero()
            || (used.records < self.limits.records && used.bytes + bytes <= self.limits.bytes)
    }

    /// A record of `bytes` was sent.
    pub fn start(&mut self, bytes: u64) {
        self.in_flight += Volume::record(bytes);
    }

    /// A sent record got its answer: a written one holds its budget for one more window.
    pub fn finish(&mut self, now: Instant, bytes: u64, written: bool) {
        let record = Volume::record(bytes);
        self.in_flight -= record;
        if written {
            let until = now + self.limits.window;
            match self.held.back_mut() {
                Some(last) if last.until == until => last.volume += record,
                _ => self.held.push_back(Held {
                    until,
                    volume: record,
                }),
            }
            self.held_sum += record;
        }
    }

    /// When the oldest held budget is released, if any is held.
    pub fn next_release(&self) -> Option<Instant> {
        self.held.front().map(|h| h.until)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn written_records_hold_the_budget_for_one_window() {
        let limits = ShardLimits {
            records: 2,
            bytes: 100,
            window: Duration::from_millis(50),
        };
        let mut w = Window::new(limits);
        // An unused shard takes a record larger than its byte budget.
        assert!(w.fits(1000));
        w.start(10);
        w.start(10);
        assert!(!w.fits(1), "two records in flight fill the record budget");
        let now = Instant::now();
        w.finish(now, 10, false);
        assert!(w.fits(1), "a failed record frees its budget at once");
        w.finish(now, 10, true);
        assert_eq!(w.next_release(), Some(now + limits.window));
        assert!(!w.fits(91), "a written record still holds its bytes");
        w.expire(now + limits.window);
        assert_eq!(w.next_release(), None);
        assert!(w.used().is_zero());
    }
}
