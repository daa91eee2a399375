//! Bounded waits: `poll` until a condition holds (`conditions` decides) and `retry` while an
//! error is transient, each with backoff, a deadline, progress on stderr, and an end at the
//! run's stop flag.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::error_text;
use crate::ui::Progress;

/// A bounded wait: how long at most, and the first and largest pause between polls.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Give up after this long.
    pub deadline: Duration,
    /// First pause.
    pub initial: Duration,
    /// Largest pause.
    pub max: Duration,
}

impl Wait {
    /// Resource state transitions (stream ACTIVE, function Active, mapping Enabled).
    pub const STATE: Wait = Wait {
        deadline: Duration::from_secs(600),
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
    };
    /// IAM eventual consistency (role and policy propagation).
    pub const IAM: Wait = Wait {
        deadline: Duration::from_secs(120),
        initial: Duration::from_secs(1),
        max: Duration::from_secs(8),
    };
    /// A call S3 refuses while a conflicting one is in progress (`OperationAborted`).
    pub const CONFLICT: Wait = Wait {
        deadline: Duration::from_secs(30),
        initial: Duration::from_millis(500),
        max: Duration::from_secs(4),
    };
    /// No retry at all.
    pub const NONE: Wait = Wait {
        deadline: Duration::ZERO,
        initial: Duration::ZERO,
        max: Duration::ZERO,
    };
}

/// Poll `check` until it yields `Some`, with exponential backoff, within `wait.deadline`.
/// `what` is printed as progress ("waiting for stream `x` to be ACTIVE"). Once the run is
/// stopped (`Progress::stop_flag`), no further check is made: the wait ends with
/// [`Interrupted`](crate::interrupt::Interrupted), during its pause at the latest.
pub async fn poll<T, F, Fut>(progress: &Progress, what: &str, wait: Wait, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut pause = wait.initial;
    let mut announced = false;
    let stop = progress.stop_flag();
    let stopped = |announced: bool, interrupted| {
        if announced {
            progress.gave_up(what, start.elapsed());
        }
        Err(anyhow::Error::new(interrupted))
    };
    loop {
        if let Err(interrupted) = stop.check() {
            return stopped(announced, interrupted);
        }
        if let Some(value) = check().await? {
            if announced {
                progress.done(what, start.elapsed());
            }
            return Ok(value);
        }
        if !announced {
            progress.waiting(what);
            announced = true;
        }
        if start.elapsed() + pause > wait.deadline {
            bail!(
                "timed out after {} waiting for {what}",
                humantime::format_duration(Duration::from_secs(wait.deadline.as_secs()))
            );
        }
        if let Err(interrupted) = stop.sleep(pause).await {
            return stopped(announced, interrupted);
        }
        pause = (pause * 3 / 2).min(wait.max);
    }
}

/// Retry `op` while `retryable` says its error is transient (IAM propagation), with backoff,
/// within `wait.deadline`; then fail with `hint` attached. A stopped run makes no further
/// attempt: the pause ends with [`Interrupted`](crate::interrupt::Interrupted).
pub async fn retry<T, E, F, Fut>(
    progress: &Progress,
    what: &str,
    wait: Wait,
    retryable: impl Fn(&E) -> bool,
    hint: &str,
    mut op: F,
) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let start = Instant::now();
    let mut pause = wait.initial;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if retryable(&e) && start.elapsed() + pause <= wait.deadline => {
                progress.note(&format!(
                    "{what}: not yet possible ({}), retrying in {:.1} s",
                    error_text(&e),
                    pause.as_secs_f64()
                ));
                progress
                    .stop_flag()
                    .sleep(pause)
                    .await
                    .map_err(|interrupted| {
                        anyhow::Error::new(interrupted).context(format!("failed to {what}"))
                    })?;
                pause = (pause * 2).min(wait.max);
            }
            Err(e) if retryable(&e) && !wait.deadline.is_zero() => {
                return Err(anyhow::Error::new(e).context(format!(
                    "failed to {what} after retrying for {} s\n  hint: {hint}",
                    start.elapsed().as_secs()
                )));
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("failed to {what}"))),
        }
    }
}
