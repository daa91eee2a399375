//! `kstream policy`: the IAM policies the person or CI role running kstream needs, scoped to
//! this deployment (`crate::policy`). The account comes from `--account`, else from one STS
//! GetCallerIdentity call; when that fails, the ARNs say `*` for it and stderr says why.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use super::Context;
use crate::aws::Clients;
use crate::cli::{PolicyArgs, PolicyFamily};
use crate::policy::{self, Family, Scope};

/// How long the one STS call may take when `--aws-timeout` is not given: the policy does not
/// depend on it enough to wait a minute.
const STS_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run(ctx: &Context, args: &PolicyArgs) -> Result<()> {
    let mut conn = ctx.connection.clone();
    conn.timeout = conn.timeout.or(Some(STS_TIMEOUT));
    let (region, account) = match Clients::connect(&conn).await {
        Ok(clients) => {
            let account = match &args.account {
                Some(account) => Ok(account.clone()),
                None => clients.account().await,
            };
            (Some(clients.region.clone()), account)
        }
        Err(err) => (conn.region.clone(), args.account.clone().ok_or(err)),
    };
    let region = region.unwrap_or_else(|| {
        eprintln!(
            "note: no region is configured: the ARNs say `*` for it\n  hint: set `region` in the config or pass `--region`"
        );
        "*".to_string()
    });
    let (account, account_known) = match account {
        Ok(account) => (account, true),
        Err(err) => {
            let err = crate::aws::explain(err, &conn).await;
            eprintln!(
                "note: the account is unknown ({}): the ARNs say `*` for it\n  hint: pass `--account ID`, or run with credentials that can call `sts:GetCallerIdentity`",
                first_line(&err)
            );
            ("*".to_string(), false)
        }
    };
    let scope = Scope::new(&ctx.config, &region, &account);
    let families: Vec<Family> = match args.family {
        Some(family) => vec![from_cli(family)],
        None => Family::ALL.to_vec(),
    };
    let documents: Vec<(Family, Value)> = families
        .into_iter()
        .map(|family| (family, policy::document(&scope, family)))
        .collect();
    let report = json!({
        "deployment": ctx.config.name,
        "region": region,
        "account": account,
        "account_known": account_known,
        "policies": documents
            .iter()
            .map(|(family, document)| json!({
                "family": family.as_str(),
                "commands": family.commands(),
                "document": document,
            }))
            .collect::<Vec<_>>(),
    });
    ctx.output.print(&report, || {
        let mut text = String::new();
        for (_, document) in &documents {
            // `Value`'s pretty printer cannot fail.
            text.push_str(&serde_json::to_string_pretty(document).unwrap_or_default());
            text.push('\n');
        }
        text
    })
}

fn from_cli(family: PolicyFamily) -> Family {
    match family {
        PolicyFamily::Deploy => Family::Deploy,
        PolicyFamily::Produce => Family::Produce,
        PolicyFamily::Operate => Family::Operate,
    }
}

/// The first line of an error chain (`aws::explain`'s sentence, without its hint).
fn first_line(err: &anyhow::Error) -> String {
    format!("{err:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
