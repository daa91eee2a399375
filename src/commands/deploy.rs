//! `kstream plan`, `apply` and `destroy`: package (apply), observe, plan, print the plan,
//! execute it, and report the write calls.

use std::io::Write as _;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::{Context, UsageError};
use crate::aws::Clients;
use crate::aws::execute::{self, Stopped};
use crate::interrupt::Stop;
use crate::model::{Desired, Observed};
use crate::package::Artifact;
use crate::plan::{ApplyOptions, DestroyOptions, Plan};
use crate::ui::{self, Progress};

/// Which consumer zip a plan compares the function's code with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Consumer {
    /// Build (or read the prebuilt) zip, as `apply` deploys it.
    Build,
    /// `plan --no-build`: the last packaged zip, or none (the code is not compared).
    LastPackaged,
}

/// `plan` (`apply = None`) and `apply` (`Some(yes)`); returns whether the plan had changes.
pub(super) async fn plan(
    ctx: &Context,
    opts: ApplyOptions,
    apply: Option<bool>,
    consumer: Consumer,
) -> Result<bool> {
    let started = Instant::now();
    let (clients, desired, observed) = read(ctx, Some(consumer), false).await?;
    let plan = Plan::apply(&desired, &observed, opts).at_endpoint(clients.endpoint.clone());
    print_plan(ctx, &plan)?;
    let Some(yes) = apply else {
        if ctx.output.json {
            ctx.output
                .print(&serde_json::to_value(&plan)?, String::new)?;
        }
        if !plan.conflicts.is_empty() {
            bail!(
                "the plan has {} conflict(s); `kstream apply` would refuse to run",
                plan.conflicts.len()
            );
        }
        return Ok(!plan.is_empty());
    };
    if !plan.is_empty() || !plan.conflicts.is_empty() {
        // kstream's apply deletes only a duplicate mapping; it asks before that all the same.
        if plan.conflicts.is_empty() {
            confirm(&plan, "apply", yes)?;
        }
        eprintln!("kstream: applying");
        let progress = interruptible("apply")?;
        if let Err(e) = execute::apply(&clients, &progress, &plan).await {
            return Err(stopped(ctx, &clients, started, &plan, e));
        }
    }
    finish(ctx, &clients, "apply", started, &plan)?;
    Ok(!plan.is_empty())
}

/// `destroy`.
pub(super) async fn destroy(ctx: &Context, opts: DestroyOptions, yes: bool) -> Result<()> {
    let started = Instant::now();
    let (clients, desired, observed) = read(ctx, None, true).await?;
    let plan = Plan::destroy(&desired, &observed, opts).at_endpoint(clients.endpoint.clone());
    print_plan(ctx, &plan)?;
    confirm(&plan, "destroy", yes)?;
    if !plan.is_empty() {
        eprintln!("kstream: destroying");
    }
    // Always: a plan without deletions may still wait for a stream already being deleted.
    let progress = interruptible("destroy")?;
    if let Err(e) = execute::destroy(&clients, &progress, &plan).await {
        return Err(stopped(ctx, &clients, started, &plan, e));
    }
    finish(ctx, &clients, "destroy", started, &plan)
}

/// Progress on stderr for executing a plan, stopped by SIGINT or SIGTERM from now on (before
/// the plan runs, the default action of the signal ends kstream: nothing was written yet).
fn interruptible(verb: &'static str) -> Result<Progress> {
    let stop = Stop::new();
    stop.listen(verb)
        .context("failed to listen for SIGINT and SIGTERM")?;
    Ok(Progress::stderr().with_stop(stop))
}

/// After a failed execution: when a signal stopped it, say on stderr what was done and what
/// was not (and, with `--json`, print it with the plan and the write calls); the error stays.
fn stopped(
    ctx: &Context,
    clients: &Clients,
    started: Instant,
    plan: &Plan,
    err: anyhow::Error,
) -> anyhow::Error {
    let Some(report) = err.downcast_ref::<Stopped>() else {
        return err;
    };
    let writes = clients.calls.writes();
    eprintln!(
        "kstream: stopped after {:.1} s, {} write call{}: of the plan's changes, {} done, {} not finished, {} not started",
        started.elapsed().as_secs_f64(),
        writes.len(),
        if writes.len() == 1 { "" } else { "s" },
        report.done.len(),
        report.unfinished.len(),
        report.not_started.len(),
    );
    eprint!("{}", report.render());
    if ctx.output.json {
        let printed = ctx.output.print(
            &json!({
                "plan": plan,
                "write_calls": writes,
                "calls": clients.calls.counts(),
                "stopped": report,
            }),
            String::new,
        );
        if let Err(e) = printed {
            return e.context(err.to_string());
        }
    }
    err
}

/// Before a plan that deletes something: unless `--yes`, ask for the deployment's name on
/// the terminal, as Terraform does; without a terminal, refuse (exit code 2).
/// The same before a switch of the stream's capacity mode (billing changes; AWS allows two
/// switches per 24 hours), so that an ON_DEMAND stream is never switched back silently.
fn confirm(plan: &Plan, verb: &str, yes: bool) -> Result<()> {
    let (_, _, deletes) = plan.counts();
    let switch = plan.mode_switch();
    if yes || (deletes == 0 && switch.is_none()) {
        return Ok(());
    }
    let name = &plan.deployment;
    let (does, would) = match &switch {
        Some((stream, from, to)) if deletes == 0 => (
            format!(
                "switches stream `{stream}` from {from} to {to}, which changes its billing and counts toward AWS's two switches per 24 hours"
            ),
            format!("would switch stream `{stream}` from {from} to {to}"),
        ),
        _ => (
            format!(
                "deletes {deletes} resource{} of deployment `{name}`, as listed above; what they hold is lost",
                if deletes == 1 { "" } else { "s" }
            ),
            format!(
                "would delete {deletes} resource{}",
                if deletes == 1 { "" } else { "s" }
            ),
        ),
    };
    let question = format!("kstream: `{verb}` {does}.\n  type the deployment name to confirm: ");
    match ui::ask_to_type(&question, name)? {
        Some(true) => Ok(()),
        Some(false) => bail!("{verb} cancelled: the answer was not `{name}`; nothing was changed"),
        None => Err(UsageError(format!(
            "`kstream {verb}` {would} and there is no terminal to confirm on; nothing was changed\n  hint: check the plan above, then run `kstream {verb} --yes`"
        ))
        .into()),
    }
}

/// Connect, check who the credentials are (before any build: bad credentials fail in
/// seconds), get the consumer zip, and observe the deployment, as `plan`, `apply` and
/// `destroy` all start (`for_destroy` also checks whether the bucket holds objects).
async fn read(
    ctx: &Context,
    consumer: Option<Consumer>,
    for_destroy: bool,
) -> Result<(Clients, Desired, Observed)> {
    let clients = ctx.clients().await?;
    let account = read_account(&clients).await?;
    let artifact: Option<Artifact> = match consumer {
        Some(Consumer::Build) => Some(super::package::package_consumer(&ctx.config)?),
        Some(Consumer::LastPackaged) => super::package::last_consumer(&ctx.config)?,
        None => None,
    };
    let desired = Desired::new(&ctx.config, clients.region.clone(), account, artifact);
    eprintln!(
        "kstream: reading deployment `{}` in {}",
        desired.deployment, desired.region
    );
    let observed = clients.observe(&desired, for_destroy).await?;
    Ok((clients, desired, observed))
}

/// The account, with a spinner on a terminal meanwhile (the first call: a silent endpoint
/// shows here).
pub(super) async fn read_account(clients: &Clients) -> Result<String> {
    let progress = Progress::stderr();
    let what = format!(
        "the account of the AWS credentials ({})",
        clients.endpoint.as_deref().unwrap_or(&clients.region)
    );
    progress.spin(&what);
    let account = clients.account().await;
    progress.stop(&what);
    account
}

/// The plan's text on stdout (without `--json`; the JSON comes with the result).
fn print_plan(ctx: &Context, plan: &Plan) -> Result<()> {
    if !ctx.output.json {
        let mut out = std::io::stdout().lock();
        out.write_all(plan.render(ui::stdout_color()).as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

/// The closing line on stderr (with the number of write calls) and, with `--json`, the plan,
/// the write calls and every call's count on stdout.
fn finish(
    ctx: &Context,
    clients: &Clients,
    verb: &str,
    started: Instant,
    plan: &Plan,
) -> Result<()> {
    let writes = clients.calls.writes();
    eprintln!(
        "kstream: {verb} complete in {:.1} s: {} write call{}",
        started.elapsed().as_secs_f64(),
        writes.len(),
        if writes.len() == 1 { "" } else { "s" }
    );
    if ctx.output.json {
        ctx.output.print(
            &json!({ "plan": plan, "write_calls": writes, "calls": clients.calls.counts() }),
            String::new,
        )?;
    }
    Ok(())
}
