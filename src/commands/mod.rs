//! The operations commands, one module each: `put`, `objects`, `logs`, `status`, `smoke`.
//!
//! Each turns its parsed arguments into work over `aws::*` and the pure engines, printing
//! data on stdout and progress on stderr. SDK types stay in `aws::*`.

pub mod logs;
pub mod objects;
pub mod put;
pub mod smoke;
pub mod status;

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

pub(crate) use crate::run::print_json_or;
