//! Terminal output: progress lines on stderr, colour decisions (`NO_COLOR`, non-terminals).
//!
//! stdout carries data (plans, JSON, objects); everything here goes to stderr.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

/// Whether to colour output written to stdout.
pub fn stdout_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Whether stderr is an interactive terminal (progress bars) rather than a log (CI).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Progress reporting for long operations: one line per step, wait and note.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    /// Progress that prints to stderr.
    pub fn stderr() -> Progress {
        Progress { quiet: false }
    }

    /// Progress that prints nothing.
    pub fn quiet() -> Progress {
        Progress { quiet: true }
    }

    fn line(&self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    /// A write is about to be made ("creating stream `x`").
    pub fn step(&self, what: &str) {
        self.line(&format!("  {what}"));
    }

    /// A bounded wait started.
    pub fn waiting(&self, what: &str) {
        self.line(&format!("  waiting for {what}"));
    }

    /// A wait finished.
    pub fn done(&self, what: &str, elapsed: Duration) {
        self.line(&format!(
            "  done waiting for {what} ({:.1} s)",
            elapsed.as_secs_f64()
        ));
    }

    /// Anything else worth telling the user.
    pub fn note(&self, text: &str) {
        self.line(&format!("  note: {text}"));
    }
}
