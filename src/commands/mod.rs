//! Every command, one module each, and what they share: the resolved `Context` (config,
//! connection, output), built once per run, and the one stdout printer.
//!
//! Each command turns its parsed arguments into work over `aws::*` and the pure engines,
//! printing data on stdout and progress on stderr. SDK types stay in `aws::*`.

mod deploy;
mod failures;
mod init;
mod logs;
mod objects;
mod package;
mod policy;
mod put;
mod redrive;
mod smoke;
mod status;

#[cfg(test)]
mod arg_props;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::aws::{Clients, Connection, Timeouts};
use crate::cli::{Cli, Command};
use crate::config::{self, Config, ConfigError};
use crate::plan::{ApplyOptions, DestroyOptions};

/// Not an error: `plan --detailed-exitcode` found changes (exit code 3, nothing printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plan has changes")]
pub struct ChangesPresent;

/// Input the user can fix (a bad line, a bad flag value): exit code 2, like a bad config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error: 2 for a bad config or usage, 128 + the signal's number for a run
/// a signal stopped (130 for SIGINT, 143 for SIGTERM), 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if let Some(code) = err.chain().find_map(|e| {
        e.downcast_ref::<crate::aws::execute::Stopped>()
            .map(|s| s.exit_code())
            .or_else(|| {
                e.downcast_ref::<crate::interrupt::Interrupted>()
                    .map(|i| i.0.exit_code())
            })
    }) {
        return ExitCode::from(code);
    }
    if err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some()
    }) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Execute the command line.
pub async fn run(cli: Cli) -> Result<()> {
    let output = Output { json: cli.json };
    match &cli.command {
        Command::Init(args) => return init::run(&cli.config, output, args),
        Command::Completions { shell } => {
            crate::cli::write_completions(*shell, &mut std::io::stdout().lock());
            return Ok(());
        }
        _ => {}
    }
    // Every other command starts from a valid config: no client is built for a bad one.
    let ctx = Context::load(&cli, output)?;
    match dispatch(&cli, &ctx).await {
        Ok(()) => Ok(()),
        // SDK failures become one line in the user's words (`aws::explain`).
        Err(err) => Err(crate::aws::explain(err, &ctx.connection).await),
    }
}

/// Run a command that reads the config.
async fn dispatch(cli: &Cli, ctx: &Context) -> Result<()> {
    match &cli.command {
        Command::Plan(args) => {
            let opts = ApplyOptions {
                adopt: args.plan.adopt,
            };
            let consumer = if args.no_build {
                deploy::Consumer::LastPackaged
            } else {
                deploy::Consumer::Build
            };
            let changes = deploy::plan(ctx, opts, None, consumer).await?;
            if changes && args.detailed_exitcode {
                return Err(ChangesPresent.into());
            }
            Ok(())
        }
        Command::Apply(args) => {
            let opts = ApplyOptions {
                adopt: args.plan.adopt,
            };
            deploy::plan(ctx, opts, Some(args.yes), deploy::Consumer::Build)
                .await
                .map(|_| ())
        }
        Command::Destroy(args) => {
            let opts = DestroyOptions { force: args.force };
            deploy::destroy(ctx, opts, args.yes).await
        }
        Command::Package => package::run(ctx),
        Command::Put(args) => put::run(ctx, args).await,
        Command::Objects(args) => objects::run(ctx, args).await,
        Command::Logs(args) => logs::run(ctx, args).await,
        Command::Status => status::run(ctx).await,
        Command::Smoke(args) => smoke::run(ctx, args).await,
        Command::Failures => failures::run(ctx).await,
        Command::Redrive(args) => redrive::run(ctx, args.yes).await,
        Command::Policy(args) => policy::run(ctx, args).await,
        Command::Init(_) | Command::Completions { .. } => unreachable!("handled above"),
    }
}

/// What every command that reads the config works with, resolved once.
#[derive(Debug)]
pub(crate) struct Context {
    /// The validated config.
    pub config: Config,
    /// Where and as whom to connect (CLI flags over the config).
    pub connection: Connection,
    /// How to print.
    pub output: Output,
}

impl Context {
    fn load(cli: &Cli, output: Output) -> Result<Context> {
        // Flags are checked with the config's rules before the config is read.
        for (flag, value) in [
            ("--region", &cli.region),
            ("--endpoint-url", &cli.endpoint_url),
        ] {
            if let Some(value) = value {
                config::check_flag(flag, value).map_err(UsageError)?;
            }
        }
        if let Some(t) = cli.aws_timeout
            && !Timeouts::RANGE.contains(&t)
        {
            return Err(UsageError(format!(
                "`--aws-timeout` must be between {} and {}, got {}\n  hint: the default is {}",
                humantime::format_duration(*Timeouts::RANGE.start()),
                humantime::format_duration(*Timeouts::RANGE.end()),
                humantime::format_duration(t),
                humantime::format_duration(Timeouts::DEFAULT),
            ))
            .into());
        }
        let config = config::load(&cli.config)?;
        let connection = Connection {
            region: cli.region.clone().or_else(|| config.region.clone()),
            profile: cli.profile.clone(),
            endpoint_url: cli
                .endpoint_url
                .clone()
                .or_else(|| config.endpoint_url.clone()),
            timeout: cli.aws_timeout,
            ..Connection::default()
        };
        Ok(Context {
            config,
            connection,
            output,
        })
    }

    /// The AWS clients, for the commands that call AWS.
    pub async fn clients(&self) -> Result<Clients> {
        Clients::connect(&self.connection).await
    }
}

/// How a command prints its data on stdout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// `--json`.
    pub json: bool,
}

impl Output {
    /// Print `value` as pretty JSON with `--json`, else `text()`, on stdout.
    pub fn print(&self, value: &impl Serialize, text: impl FnOnce() -> String) -> Result<()> {
        print_json_or(self.json, value, text)
    }
}

/// The version of every `--json` document's shape: raised when a field changes meaning or goes
/// away (new fields may be added within a version).
pub(crate) const FORMAT_VERSION: u32 = 1;

/// A `--json` document: `format_version` first, then the command's own fields.
#[derive(Serialize)]
pub(crate) struct Versioned<'a, T: Serialize> {
    format_version: u32,
    #[serde(flatten)]
    document: &'a T,
}

impl<'a, T: Serialize> Versioned<'a, T> {
    pub(crate) fn new(document: &'a T) -> Self {
        Versioned {
            format_version: FORMAT_VERSION,
            document,
        }
    }
}

/// Print `value` (a JSON object) as pretty JSON with `format_version` when `json`, else
/// `text()`, on stdout. The JSON is rendered first, so a closed pipe surfaces as the
/// `io::Error` that `main` treats as success.
pub(crate) fn print_json_or(
    json: bool,
    value: &impl Serialize,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let rendered = if json {
        let mut json = serde_json::to_string_pretty(&Versioned::new(value))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_json_document_starts_with_its_format_version() {
        #[derive(Serialize)]
        struct Doc {
            queue: &'static str,
            records: u64,
        }
        let text = serde_json::to_string(&Versioned::new(&Doc {
            queue: "q",
            records: 3,
        }))
        .unwrap();
        assert_eq!(text, r#"{"format_version":1,"queue":"q","records":3}"#);
        let value = serde_json::json!({"plan": {"mode": "apply"}});
        let text = serde_json::to_string(&Versioned::new(&value)).unwrap();
        assert_eq!(text, r#"{"format_version":1,"plan":{"mode":"apply"}}"#);
    }
}
