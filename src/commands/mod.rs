//! The operations commands, one module each: `put`, `objects`, `logs`, `status`, `smoke`.
//!
//! Each turns its parsed arguments into work over `aws::*` and the pure engines, printing
//! data on stdout and progress on stderr. SDK types stay in `aws::*`.

pub mod logs;
pub mod objects;
pub mod put;
pub mod smoke;
pub mod status;

use std::io::Write as _;

use anyhow::Result;

use crate::aws::Clients;
use crate::cli::Cli;
use crate::config::{self, Config};

/// Input the user can fix (a bad line, a bad flag value): exit code 2, like a bad config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Load the config and connect the clients, as every command does.
pub(crate) async fn connect(cli: &Cli) -> Result<(Config, Clients)> {
    let config = config::load(&cli.config)?;
    let clients = Clients::connect(&crate::run::connection(cli, &config)).await?;
    Ok((config, clients))
}

/// Print `value` as pretty JSON with `--json`, else `text()`, on stdout. The JSON is rendered
/// first, so a closed pipe surfaces as the `io::Error` that `main` treats as success.
pub(crate) fn print_json_or(
    cli: &Cli,
    value: &serde_json::Value,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let rendered = if cli.json {
        let mut json = serde_json::to_string_pretty(value)?;
        json.push('\n');
        json
    } else {
        text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(rendered.as_bytes())?;
    out.flush()?;
    Ok(())
}
