//! Command-line arguments. Only this module knows clap; it turns raw arguments into
//! `Command` values that the rest of kstream executes.

use std::path::PathBuf;

use clap::builder::StyledStr;
use clap::builder::styling::Style;
use clap::{Args, Parser, Subcommand};

mod ops;
pub use ops::{LogsArgs, ObjectsArgs, PutArgs, Since, SmokeArgs, parse_since};

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
    after_help = "Examples:\n  kstream plan                      show what `apply` would change\n  kstream apply                     create or update the deployment\n  kstream put --partition-key k --data hello\n  kstream destroy --force --yes     delete everything, including the bucket's objects\n\nExit codes: 0 ok, 1 failure, 2 usage or config error."
)]
pub struct Cli {
    /// Config file
    #[arg(
        short,
        long,
        global = true,
        default_value = "deploy.toml",
        env = "KSTREAM_CONFIG"
    )]
    pub config: PathBuf,
    /// AWS named profile (else the standard credential chain)
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (overrides the config's `region`)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Endpoint for every AWS service, e.g. LocalStack's (overrides the config's `endpoint_url`)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// How long one AWS call may take, retries included (`30s`, `2m`; default 60s, 1s to 1h);
    /// connecting may take at most 5 s and one attempt a third of it, at most 20 s
    #[arg(long, global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub aws_timeout: Option<std::time::Duration>,
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
    #[command(
        after_help = "The credentials are checked first (STS GetCallerIdentity), so bad ones fail before the consumer is built; the plan compares the built consumer's code with the function's.\n\nExamples:\n  kstream plan --config deploy.toml\n  kstream plan --no-build           no build: the last packaged zip, if any"
    )]
    Plan(PlanCommandArgs),
    /// Create or update the deployment until it matches the config
    #[command(
        after_help = "Running it again on a converged deployment changes nothing and makes no write call.\n\nExample:\n  kstream apply --config deploy.toml"
    )]
    Apply(ApplyArgs),
    /// Delete what this deployment created, in dependency order
    #[command(
        after_help = "Resources without this deployment's tag are never touched. A bucket that holds objects is kept unless `--force`.\n\nOn a terminal, destroy shows the plan and asks for the deployment's name; `--yes` skips the question, and without a terminal it is required.\n\nExample:\n  kstream destroy --force --yes"
    )]
    Destroy(DestroyArgs),
    /// Build and zip the consumer Lambda (`bootstrap`) for the configured architecture
    Package,
    /// Put records into the stream: one, one per line, or generated load
    #[command(
        after_help = keep_placeholders("Records are batched into PutRecords calls (at most 500 records and 5 MiB each), paced under each shard's write limits, and only failed entries are sent again, with backoff, up to `--max-attempts`. If any record is still not written, kstream says how many and exits 1.\n\nWith `--aggregate`, each shard's records are packed into KPL aggregated records of up to 1 MiB, each sent when full, or once the input pauses 100 ms after its first record (5 s at most): a shard then takes far more than 1,000 small records/s, up to its 1 MiB/s. Progress and counts stay in your records; the consumer deaggregates.\n\nExamples:\n  kstream put --partition-key k --data hello      prints the shard id and sequence number\n  kstream put --lines events.txt --key-template 'user-{n}'\n  jq -c '.[]' events.json | kstream put --lines --key-field user\n  kstream put --count 100000 --size 512 --partition-keys random\n  tail -f app.log | kstream put --lines --key-template 'app-{n}' --aggregate")
    )]
    Put(PutArgs),
    /// List the objects the consumer wrote, or print one (`--cat KEY`)
    #[command(
        after_help = "Examples:\n  kstream objects --limit 20\n  kstream objects --cat 'k-2024-03-09-070504-4959….txt' > record.txt"
    )]
    Objects(ObjectsArgs),
    /// Show the consumer function's CloudWatch Logs
    #[command(after_help = "Examples:\n  kstream logs --since 1h\n  kstream logs --follow")]
    Logs(LogsArgs),
    /// Show the deployment as it is: stream, shards, function, mapping, bucket
    #[command(
        after_help = "A table on a terminal; JSON when `--json` is given or stdout is not a terminal."
    )]
    Status,
    /// Put marked records and check that each arrives as an identical object
    #[command(
        after_help = "Prints the put→object latency (p50, p95, max) and exits 1 naming any record that did not arrive, or arrived different, within `--timeout`.\n\nExample:\n  kstream smoke --count 20 --timeout 2m"
    )]
    Smoke(SmokeArgs),
    /// List the batches the event source mapping gave up on (from its failure queue)
    #[command(
        after_help = "Reads the failure queue without consuming it: each message is received, then made visible again. Shows, per batch, the shard, the first and last sequence numbers, the number of records, when and why the mapping gave up.\n\nExamples:\n  kstream failures\n  kstream failures --json | jq .records"
    )]
    Failures,
    /// Send the failed batches through the consumer again, then delete them from the queue
    #[command(
        after_help = "Each batch's records are read back from the stream and the function is invoked with them as the mapping would, so every record becomes the object it would have become. A batch leaves the queue only when every record is written. Records the stream no longer holds are reported as lost, and their batch stays in the queue unless `--yes`.\n\nOn a terminal, redrive lists the batches and asks first; `--yes` skips the question, and without a terminal it is required.\n\nExamples:\n  kstream redrive\n  kstream redrive --yes --json"
    )]
    Redrive(RedriveArgs),
    /// Print the least-privilege IAM policies for running kstream on this deployment
    #[command(
        after_help = "One policy per command family, scoped to the config's stream, bucket, role, function, log group and failure queue:\n  deploy   plan, apply, destroy\n  produce  put, smoke\n  operate  objects, logs, status, failures, redrive\n\nEach document is valid IAM policy JSON. Without `--family` all three are printed, one after the other (each names its family in `Id`). The account comes from `--account`, else from one STS GetCallerIdentity call; when neither works, the ARNs say `*` for it (a note on stderr says so).\n\nExamples:\n  kstream policy --family deploy --account 123456789012 > deploy-policy.json\n  aws iam put-role-policy --role-name ci --policy-name kstream-deploy --policy-document file://deploy-policy.json"
    )]
    Policy(PolicyArgs),
    /// Write a commented starter config with a bucket name that is very likely globally unique
    #[command(
        after_help = "Example:\n  kstream init --name my-pipeline   # writes deploy.toml (see --config)"
    )]
    Init(InitArgs),
    /// Print shell completions
    #[command(
        after_help = "Example:\n  kstream completions bash > ~/.local/share/bash-completion/completions/kstream"
    )]
    Completions {
        /// Shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Arguments of `policy`.
#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// Print only this family's policy [default: all three]
    #[arg(long, value_enum)]
    pub family: Option<PolicyFamily>,
    /// The account id the ARNs name (12 digits); without it kstream asks STS once
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Option<String>,
}

/// A command family of `policy --family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyFamily {
    /// plan, apply, destroy
    Deploy,
    /// put, smoke
    Produce,
    /// objects, logs, status, failures, redrive
    Operate,
}

/// `--account`: an AWS account id, 12 digits.
fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err("expected an AWS account id: 12 digits, like `123456789012`".into())
    }
}

/// Arguments of `init`.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Deployment name, also the start of the bucket name [default: `kstream-` and six random
    /// hex digits, so that two people in one account never share a deployment]
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite an existing config file
    #[arg(long)]
    pub force: bool,
}

/// Help text in which `{n}` (the key template's placeholder) shows as written. clap turns
/// every `{n}` of help text into a line break, with no escape; styling the `n` (bold, like
/// clap's literals) puts style codes between it and its braces, and uncoloured help, where
/// the codes are dropped, still reads `{n}`. clap's wrapping may break a line where a style
/// starts, so texts using it keep their lines short (explicit `\n`).
pub(crate) fn keep_placeholders(text: &str) -> StyledStr {
    let lit = Style::new().bold();
    let mut help = StyledStr::new();
    help.push_str(&text.replace("{n}", &format!("{{{lit}n{lit:#}}}")));
    help
}

/// Write completions for `shell` to `out`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory as _;
    clap_complete::generate(shell, &mut Cli::command(), "kstream", out);
}

/// Arguments of `plan` and `apply`.
#[derive(Debug, Args, Clone, Copy)]
pub struct PlanArgs {
    /// Take over existing resources that lack kstream's tag (kstream will manage and may delete them)
    #[arg(long)]
    pub adopt: bool,
}

/// Arguments of `plan`.
#[derive(Debug, Args, Clone, Copy)]
pub struct PlanCommandArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Exit 0 when there is nothing to change, 3 when there are changes (1 stays an error, 2 a
    /// usage or config error), as `terraform plan -detailed-exitcode` does
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Do not build the consumer: compare the function's code with the last packaged zip
    /// (`kstream package`, `apply`), or, without one, leave the code out and say so
    #[arg(long)]
    pub no_build: bool,
}

/// Arguments of `apply`.
#[derive(Debug, Args, Clone, Copy)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask before a plan that deletes something (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Arguments of `redrive`.
#[derive(Debug, Args, Clone, Copy)]
pub struct RedriveArgs {
    /// Do not ask first (needed without a terminal); also delete batches whose records expired
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Arguments of `destroy`.
#[derive(Debug, Args, Clone, Copy)]
pub struct DestroyArgs {
    /// Also delete every object (all versions) in the bucket, then the bucket
    #[arg(long)]
    pub force: bool,
    /// Do not ask for the deployment name first (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}
