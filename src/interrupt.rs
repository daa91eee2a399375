//! Interruption: SIGINT (Ctrl-C) and SIGTERM (what CI runners send) during a run that writes.
//!
//! The first signal sets a [`Stop`]: nothing new starts, the calls in flight finish, waits end
//! at once, and the command reports what was done and what was not, then exits 128 + the
//! signal's number (130 for SIGINT, 143 for SIGTERM). A second signal exits at once with the
//! same code. Commands that never write (`plan`, `status`, …) install no handler: the default
//! action ends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::Notify;

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// Its conventional name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process it stopped: 128 + its number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }

    fn from_number(n: i32) -> Option<Signal> {
        [Signal::Interrupt, Signal::Terminate]
            .into_iter()
            .find(|s| s.number() == n)
    }
}

/// The error of a run that a signal stopped; `main` exits with [`Signal::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", .0.name())]
pub struct Interrupted(pub Signal);

/// The interruption in `err`'s chain, if a stopped run caused it.
pub fn cause(err: &anyhow::Error) -> Option<Interrupted> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Interrupted>().copied())
}

/// Whether a run must stop, shared by everything that runs its steps. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// 0 while running, else the number of the signal that stopped the run.
    signal: AtomicI32,
    /// Wakes the waits of [`Stop::stopped`].
    notify: Notify,
}

impl Stop {
    /// A flag nothing has set.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stop the run (the first signal wins).
    pub fn trigger(&self, signal: Signal) {
        if self
            .inner
            .signal
            .compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.inner.notify.notify_waiters();
        }
    }

    /// The signal that stopped the run, if one did.
    pub fn signal(&self) -> Option<Signal> {
        Signal::from_number(self.inner.signal.load(Ordering::SeqCst))
    }

    /// `Err(Interrupted)` once the run is stopped: call it before starting anything new.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.signal() {
            Some(signal) => Err(Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Resolves when the run is stopped (at once if it already is).
    pub async fn stopped(&self) -> Interrupted {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a trigger in between is not missed.
            notified.as_mut().enable();
            if let Some(signal) = self.signal() {
                return Interrupted(signal);
            }
            notified.await;
        }
    }

    /// Sleep for `pause`, or less when the run is stopped meanwhile.
    pub async fn sleep(&self, pause: std::time::Duration) -> Result<(), Interrupted> {
        tokio::select! {
            interrupted = self.stopped() => Err(interrupted),
            () = tokio::time::sleep(pause) => self.check(),
        }
    }

    /// Listen for SIGINT and SIGTERM from now on: the first sets this flag and says on stderr
    /// what happens now; the second ends the process at once. `what` names the work ("apply").
    pub fn listen(&self, what: &'static str) -> std::io::Result<()> {
        let stop = self.clone();
        let mut signals = Signals::new()?;
        tokio::spawn(async move {
            let Some(first) = signals.next().await else {
                return;
            };
            eprintln!(
                "\nkstream: {} received: finishing the calls in flight of {what}, starting nothing new (again to abort at once)",
                first.name()
            );
            stop.trigger(first);
            if let Some(second) = signals.next().await {
                eprintln!(
                    "\nkstream: {} received again: aborting {what} now; run it again to finish",
                    second.name()
                );
                std::process::exit(i32::from(first.exit_code()));
            }
        });
        Ok(())
    }
}

/// SIGINT and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            s = self.interrupt.recv() => s.map(|()| Signal::Interrupt),
            s = self.terminate.recv() => s.map(|()| Signal::Terminate),
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stop_ends_a_sleep_at_once_and_the_first_signal_wins() {
        let stop = Stop::new();
        assert_eq!(stop.check(), Ok(()));
        let sleeper = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.sleep(Duration::from_secs(600)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.trigger(Signal::Terminate);
        stop.trigger(Signal::Interrupt);
        let slept = tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("the sleep ends when the run stops")
            .expect("no panic");
        assert_eq!(slept, Err(Interrupted(Signal::Terminate)));
        assert_eq!(stop.check(), Err(Interrupted(Signal::Terminate)));
        assert_eq!(
            stop.sleep(Duration::from_secs(600)).await,
            Err(Interrupted(Signal::Terminate))
        );
    }

    #[tokio::test]
    async fn a_sleep_without_a_stop_sleeps() {
        let stop = Stop::new();
        assert_eq!(stop.sleep(Duration::from_millis(5)).await, Ok(()));
    }

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
