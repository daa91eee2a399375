//! Terminal output: progress lines on stderr, colour decisions (`NO_COLOR`, non-terminals).
//!
//! stdout carries data (plans, JSON, objects); everything here goes to stderr.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use crate::interrupt::Stop;

/// Whether to colour output written to stdout.
pub fn stdout_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Whether stderr is an interactive terminal (progress bars) rather than a log (CI).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stdin is an interactive terminal (someone to ask a question).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Ask on the terminal for `expected` to be typed: `Some(answer == expected)`, or `None` when
/// stdin is not a terminal (nobody to ask). The question goes to stderr.
pub fn ask_to_type(question: &str, expected: &str) -> std::io::Result<Option<bool>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut err = std::io::stderr().lock();
    err.write_all(question.as_bytes())?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(Some(answer.trim() == expected))
}

/// Progress reporting for long operations: one line per step and note; waits are spinners
/// on a terminal and plain "waiting for …" / "done waiting for …" lines otherwise (CI logs).
///
/// It also carries the run's [`Stop`]: every step and every wait already receives the
/// `Progress`, and a wait (`aws::poll`, `aws::retry`) is where an interruption must end it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Spinners of the waits in progress, by what they wait for (terminal only).
    spinners: Option<std::sync::Arc<Spinners>>,
    /// Print nothing (tests).
    quiet: bool,
    /// Set when a signal stops the run (never, unless [`Progress::with_stop`]).
    stop: Stop,
}

#[derive(Debug, Default)]
struct Spinners {
    multi: indicatif::MultiProgress,
    active: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Progress {
    /// Progress that prints to stderr.
    pub fn stderr() -> Progress {
        Progress {
            spinners: stderr_is_terminal().then(|| std::sync::Arc::new(Spinners::default())),
            quiet: false,
            stop: Stop::new(),
        }
    }

    /// The same progress, for a run that `stop` can stop.
    pub fn with_stop(mut self, stop: Stop) -> Progress {
        self.stop = stop;
        self
    }

    /// The run's stop flag.
    pub fn stop_flag(&self) -> &Stop {
        &self.stop
    }

    /// Progress that prints nothing.
    #[cfg(test)]
    pub fn quiet() -> Progress {
        Progress {
            spinners: None,
            quiet: true,
            stop: Stop::new(),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.spinners {
            // Printed above the spinners, so lines and spinners do not overwrite each other.
            Some(s) => {
                let _ = s.multi.println(text);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }

    /// A write is about to be made ("creating stream `x`").
    pub fn step(&self, what: &str) {
        self.line(&format!("  {what}"));
    }

    /// A bounded wait started.
    pub fn waiting(&self, what: &str) {
        match &self.spinners {
            Some(s) => {
                let bar = s.multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "  {spinner} waiting for {msg} ({elapsed})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar.set_message(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut active) = s.active.lock() {
                    active.insert(what.to_string(), bar);
                }
            }
            _ => self.line(&format!("  waiting for {what}")),
        }
    }

    /// A wait finished.
    pub fn done(&self, what: &str, elapsed: Duration) {
        if let Some(s) = &self.spinners
            && let Some(bar) = s.active.lock().ok().and_then(|mut a| a.remove(what))
        {
            bar.finish_and_clear();
        }
        self.line(&format!(
            "  done waiting for {what} ({:.1} s)",
            elapsed.as_secs_f64()
        ));
    }

    /// A wait ended unfinished: the run was stopped.
    pub fn gave_up(&self, what: &str, elapsed: Duration) {
        if let Some(s) = &self.spinners
            && let Some(bar) = s.active.lock().ok().and_then(|mut a| a.remove(what))
        {
            bar.finish_and_clear();
        }
        self.line(&format!(
            "  stopped waiting for {what} ({:.1} s): not finished",
            elapsed.as_secs_f64()
        ));
    }

    /// A spinner for something short that may hang (reading the account); nothing when
    /// stderr is not a terminal. End it with [`Progress::stop`].
    pub fn spin(&self, what: &str) {
        if self.spinners.is_some() {
            self.waiting(what);
        }
    }

    /// Remove the spinner of [`Progress::spin`] without a line.
    pub fn stop(&self, what: &str) {
        if let Some(s) = &self.spinners
            && let Some(bar) = s.active.lock().ok().and_then(|mut a| a.remove(what))
        {
            bar.finish_and_clear();
        }
    }

    /// Anything else worth telling the user.
    pub fn note(&self, text: &str) {
        self.line(&format!("  note: {text}"));
    }
}
