//! Runs one parsed command: config → desired state → (package) → clients → observe → plan →
//! execute. A config is validated, and the consumer packaged, before any client is built.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::aws::{Clients, Connection};
use crate::cli::{Cli, Command};
use crate::config::{self, Config, ConfigError};
use crate::model::Desired;
use crate::package::{self, Artifact, Source};
use crate::plan::{ApplyOptions, DestroyOptions, Plan};
use crate::reconcile;
use crate::ui::{self, Progress};

/// Exit code for an error: 2 for a bad config or usage, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some()
            || e.downcast_ref::<crate::commands::UsageError>().is_some()
    }) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Execute the command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan(args) => plan(&cli, ApplyOptions { adopt: args.adopt }, false).await,
        Command::Apply(args) => plan(&cli, ApplyOptions { adopt: args.adopt }, true).await,
        Command::Destroy(args) => destroy(&cli, DestroyOptions { force: args.force }).await,
        Command::Package => {
            let config = config::load(&cli.config)?;
            let artifact = package_consumer(&config)?;
            print_json_or(&cli, &artifact_json(&artifact), || {
                format!(
                    "{}\t{}\t{}\n",
                    artifact.path.display(),
                    artifact.size,
                    artifact.sha256_base64
                )
            })
        }
        Command::Put(ref args) => crate::commands::put::run(&cli, args).await,
        Command::Objects(ref args) => crate::commands::objects::run(&cli, args).await,
        Command::Logs(ref args) => crate::commands::logs::run(&cli, args).await,
        Command::Status => crate::commands::status::run(&cli).await,
        Command::Smoke(ref args) => crate::commands::smoke::run(&cli, args).await,
        Command::Init(ref args) => init(&cli, args),
        Command::Completions { shell } => {
            crate::cli::write_completions(shell, &mut std::io::stdout().lock());
            Ok(())
        }
    }
}

/// `kstream init`: a starter config whose bucket name is the deployment name plus a random
/// suffix, validated before it is written; an existing file is kept unless `--force`.
fn init(cli: &Cli, args: &crate::cli::InitArgs) -> Result<()> {
    let path = &cli.config;
    if path.exists() && !args.force {
        bail!(
            "`{}` already exists\n  hint: pass `--force` to overwrite it, or `--config` to write another file",
            path.display()
        );
    }
    let suffix: u32 = rand::random();
    let base: String = args.name.to_lowercase().replace('_', "-");
    let base = base.trim_matches('-');
    let base = &base[..base.len().min(40)];
    let bucket = format!("{base}-{suffix:08x}");
    let text = config::starter(&args.name, &bucket);
    // Same validation as every other command: a bad `--name` is a config error (exit 2).
    config::parse(&text, path)?;
    std::fs::write(path, &text).with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!(
        "kstream: wrote `{}` (deployment `{}`, bucket `{bucket}`); next: `kstream plan`",
        path.display(),
        args.name
    );
    print_json_or(
        cli,
        &json!({ "path": path, "name": args.name, "bucket": bucket }),
        String::new,
    )
}

fn artifact_json(a: &Artifact) -> serde_json::Value {
    json!({ "path": a.path, "size": a.size, "sha256": a.sha256_base64 })
}

/// Build (or read the prebuilt) consumer zip for the config.
pub fn package_consumer(config: &Config) -> Result<Artifact> {
    let source = match &config.consumer.zip {
        Some(zip) => Source::Prebuilt(zip.clone()),
        None => {
            let start = config
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| std::path::PathBuf::from("."));
            let root = package::find_workspace(&start).context(
                "cannot find the kstream workspace to build the consumer from\n  hint: run kstream inside its source checkout, or set `consumer.zip` to a prebuilt `bootstrap` zip",
            )?;
            Source::Workspace { root }
        }
    };
    package::package(&source, config.consumer.architecture)
}

pub(crate) fn connection(cli: &Cli, config: &Config) -> Connection {
    Connection {
        region: cli.region.clone().or_else(|| config.region.clone()),
        profile: cli.profile.clone(),
        endpoint_url: config.endpoint_url.clone(),
    }
}

pub(crate) fn print_json_or(
    cli: &Cli,
    value: &serde_json::Value,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if cli.json {
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", text())?;
    }
    out.flush()?;
    Ok(())
}

async fn plan(cli: &Cli, opts: ApplyOptions, execute: bool) -> Result<()> {
    let config = config::load(&cli.config)?;
    let artifact = package_consumer(&config)?;
    let clients = Clients::connect(&connection(cli, &config)).await?;
    let desired = Desired::new(&config, clients.region.clone(), Some(artifact));
    let progress = Progress::stderr();
    let started = Instant::now();
    eprintln!(
        "kstream: reading deployment `{}` in {}",
        desired.deployment, desired.region
    );
    let observed = clients.observe(&desired, false).await?;
    let plan = Plan::apply(&desired, &observed, opts);
    if !cli.json {
        print!("{}", plan.render(ui::stdout_color()));
        std::io::stdout().flush()?;
    }
    if !execute {
        if cli.json {
            print_json_or(cli, &serde_json::to_value(&plan)?, String::new)?;
        }
        if !plan.conflicts.is_empty() {
            bail!(
                "the plan has {} conflict(s); `kstream apply` would refuse to run",
                plan.conflicts.len()
            );
        }
        return Ok(());
    }
    if !plan.is_empty() || !plan.conflicts.is_empty() {
        eprintln!("kstream: applying");
        reconcile::apply(&clients, &progress, &plan).await?;
    }
    finish(cli, &clients, "apply", started, &plan)
}

/// The closing line on stderr (with the number of write calls) and, with `--json`, the plan,
/// the write calls and every call's count on stdout.
fn finish(cli: &Cli, clients: &Clients, verb: &str, started: Instant, plan: &Plan) -> Result<()> {
    let writes = clients.calls.writes();
    eprintln!(
        "kstream: {verb} complete in {:.1} s: {} write call{}",
        started.elapsed().as_secs_f64(),
        writes.len(),
        if writes.len() == 1 { "" } else { "s" }
    );
    if cli.json {
        print_json_or(
            cli,
            &json!({ "plan": plan, "write_calls": writes, "calls": clients.calls.counts() }),
            String::new,
        )?;
    }
    Ok(())
}

async fn destroy(cli: &Cli, opts: DestroyOptions) -> Result<()> {
    let config = config::load(&cli.config)?;
    let clients = Clients::connect(&connection(cli, &config)).await?;
    let desired = Desired::new(&config, clients.region.clone(), None);
    let progress = Progress::stderr();
    let started = Instant::now();
    eprintln!(
        "kstream: reading deployment `{}` in {}",
        desired.deployment, desired.region
    );
    let observed = clients.observe(&desired, true).await?;
    let plan = Plan::destroy(&desired, &observed, opts);
    if !cli.json {
        print!("{}", plan.render(ui::stdout_color()));
        std::io::stdout().flush()?;
    }
    if !plan.is_empty() {
        eprintln!("kstream: destroying");
        reconcile::destroy(&clients, &progress, &plan).await?;
    }
    finish(cli, &clients, "destroy", started, &plan)
}
