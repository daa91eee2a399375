//! Command-line arguments. Only this module knows clap; it turns raw arguments into
//! `Command` values that the rest of kstream executes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Deploy and operate a Kinesis → Lambda → S3 pipeline, without a state file.
#[derive(Debug, Parser)]
#[command(
    name = "kstream",
    version,
    about,
    long_about = "kstream deploys a Kinesis data stream, a Rust Lambda consumer, its IAM role, an S3 bucket \
and the event source mapping between them, straight from a TOML config and what exists in the \
account: no state file. Every resource is tagged `kstream:deployment=<name>`; kstream only ever \
changes or deletes resources carrying its deployment's tag.",
    after_help = "Examples:\n  kstream plan                      show what `apply` would change\n  kstream apply                     create or update the deployment\n  kstream put --partition-key k --data hello\n  kstream destroy --force           delete everything, including the bucket's objects\n\nExit codes: 0 ok, 1 failure, 2 usage or config error."
)]
pub struct Cli {
    /// Config file
    #[arg(short, long, global = true, default_value = "deploy.toml", env = "KSTREAM_CONFIG")]
    pub config: PathBuf,
    /// AWS named profile (else the standard credential chain)
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (overrides the config's `region`)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// More logs on stderr (-v: debug, -vv: trace); `RUST_LOG` is honoured too
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// kstream's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `apply` would create, update or delete (makes no change)
    #[command(after_help = "Example:\n  kstream plan --config deploy.toml")]
    Plan(PlanArgs),
    /// Create or update the deployment until it matches the config
    #[command(after_help = "Running it again on a converged deployment changes nothing and makes no write call.\n\nExample:\n  kstream apply --config deploy.toml")]
    Apply(PlanArgs),
    /// Delete what this deployment created, in dependency order
    #[command(after_help = "Resources without this deployment's tag are never touched. A bucket that holds objects is kept unless `--force`.\n\nExample:\n  kstream destroy --force")]
    Destroy(DestroyArgs),
    /// Build and zip the consumer Lambda (`bootstrap`) for the configured architecture
    Package,
}

/// Arguments of `plan` and `apply`.
#[derive(Debug, Args, Clone, Copy)]
pub struct PlanArgs {
    /// Take over existing resources that lack kstream's tag (kstream will manage and may delete them)
    #[arg(long)]
    pub adopt: bool,
}

/// Arguments of `destroy`.
#[derive(Debug, Args, Clone, Copy)]
pub struct DestroyArgs {
    /// Also delete every object (all versions) in the bucket, then the bucket
    #[arg(long)]
    pub force: bool,
}
