//! The plan as text, Terraform-style: one line per change, its field updates under it, then the
//! counts, notes, capacity, warnings and cost. `plan`, `apply` and `destroy` print this.

use std::fmt::Write as _;

use super::{Action, Mode, Plan};

impl Plan {
    /// The plan as text, Terraform-style; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let verb = match self.mode {
            Mode::Apply => "plan",
            Mode::Destroy => "destroy plan",
        };
        let _ = writeln!(
            out,
            "kstream {verb} for deployment `{}` in {}, account {}{}",
            self.deployment,
            self.region,
            self.account,
            self.endpoint
                .as_ref()
                .map(|e| format!(" (endpoint {e})"))
                .unwrap_or_default()
        );
        let _ = writeln!(out);
        for c in &self.changes {
            let what = format!("{} `{}`", c.resource.label(), c.name);
            match &c.action {
                Action::Create { summary } => {
                    let _ = writeln!(out, "  {} {what} ({summary})", paint("32", "+"));
                }
                Action::Update { updates } => {
                    let _ = writeln!(out, "  {} {what}", paint("33", "~"));
                    for u in updates {
                        for line in u.describe().lines() {
                            let _ = writeln!(out, "      {line}");
                        }
                    }
                }
                Action::Delete { detail } => {
                    let detail = detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "  {} {what}{detail}", paint("31", "-"));
                }
                Action::Keep { reason } => {
                    let _ = writeln!(out, "  {} {what} kept: {reason}", paint("35", "!"));
                }
                Action::NoOp => {
                    let state = match self.mode {
                        Mode::Apply => "up to date",
                        Mode::Destroy => "already gone",
                    };
                    let _ = writeln!(out, "    {what} {state}");
                }
            }
        }
        for conflict in &self.conflicts {
            let _ = writeln!(out, "  {} {}", paint("31", "✗"), conflict.message());
        }
        let _ = writeln!(out);
        let (create, update, delete) = self.counts();
        if self.is_empty() && self.conflicts.is_empty() {
            let _ = writeln!(
                out,
                "no changes: deployment `{}` is {}",
                self.deployment,
                match self.mode {
                    Mode::Apply => "up to date",
                    Mode::Destroy => "already destroyed",
                }
            );
        } else {
            let _ = writeln!(
                out,
                "plan: {create} to create, {update} to update, {delete} to delete"
            );
        }
        if self.code.as_ref().is_some_and(|c| !c.compared) {
            let _ = writeln!(
                out,
                "note: the function's code was not compared: there is no packaged consumer zip (`kstream package` writes one; `plan` without `--no-build` builds it)"
            );
        }
        if let Some(capacity) = &self.capacity {
            let _ = writeln!(out, "{}", capacity.describe());
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "{} {warning}", paint("33", "warning:"));
        }
        if self.mode == Mode::Apply && self.shard_hours_per_month == 0 {
            let _ = writeln!(
                out,
                "cost: an on-demand stream: Kinesis bills it per stream-hour and per GB written and read"
            );
        } else if self.mode == Mode::Apply {
            let _ = writeln!(
                out,
                "cost: {} provisioned shard-hours per month (Kinesis bills every shard-hour; it is not in the free tier)",
                thousands(self.shard_hours_per_month)
            );
        }
        out
    }
}

/// `1460` → `1,460`.
pub(super) fn thousands(n: u32) -> String {
    thousands_u64(u64::from(n))
}

/// `1460` → `1,460`.
pub(super) fn thousands_u64(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
