//! The plan: a pure value computed from desired × observed, printed by `plan`, `apply` and
//! `destroy` alike and executed step by step by `apply`/`destroy`.
//!
//! `diff` computes the typed steps of each resource (`steps`); `view` derives the printed and
//! JSON form (`Change`s) from those same steps; `crate::aws::execute` runs them. Nothing in
//! this module does I/O; every write `apply` makes is justified by a step here.

mod capacity;
mod diff;
mod render;
mod steps;
mod teardown;
#[cfg(test)]
mod tests;
mod view;

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::config::Architecture;
use crate::model::{Desired, MappingSettings, Observed, Owner};

pub use capacity::Capacity;
pub use diff::encryption as encryption_step;
pub use steps::{
    ApplySteps, BucketPhase, BucketUpdate, DestroySteps, Fate, FunctionConfig, FunctionPhase,
    FunctionUpdate, LogGroupPhase, LogGroupSpec, LogGroupUpdate, MappingStep, QueuePhase,
    QueueSpec, QueueUpdate, RolePhase, RolePolicyStep, RoleSpec, RoleUpdate, StreamPhase,
    StreamSpec, StreamUpdate, TagChange,
};

/// The kind of resource a change is about, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Kinesis data stream.
    Stream,
    /// S3 bucket.
    Bucket,
    /// SQS queue for failed batches.
    Queue,
    /// The function's CloudWatch log group.
    LogGroup,
    /// Consumer IAM role.
    Role,
    /// The role's inline policy.
    RolePolicy,
    /// Lambda function.
    Function,
    /// Event source mapping stream → function.
    Mapping,
}

impl Resource {
    /// Label used in printed plans.
    pub fn label(self) -> &'static str {
        match self {
            Resource::Stream => "stream",
            Resource::Bucket => "bucket",
            Resource::Queue => "queue",
            Resource::LogGroup => "log group",
            Resource::Role => "role",
            Resource::RolePolicy => "role policy",
            Resource::Function => "function",
            Resource::Mapping => "mapping",
        }
    }
}

/// One field-level update of an existing resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "field")]
pub enum Update {
    /// Put the `kstream:deployment` tag on an untagged resource (`--adopt`).
    AdoptTag,
    /// Put the `kstream:region` tag on the role.
    RegionTag { region: String },
    /// Add or change user tags (`[tags]`): the current values of those that exist, and the
    /// values wanted.
    Tags {
        from: BTreeMap<String, String>,
        to: BTreeMap<String, String>,
    },
    /// Stream capacity mode.
    StreamMode { from: String, to: String },
    /// Open shard count.
    ShardCount { from: u32, to: u32 },
    /// Retention in hours.
    RetentionHours { from: u32, to: u32 },
    /// Encryption at rest: `none` or the KMS key.
    StreamEncryption { from: String, to: String },
    /// Turn all four Block Public Access settings on.
    PublicAccessBlock,
    /// Turn default encryption (SSE-S3) on.
    Encryption,
    /// Put the TLS-only bucket policy.
    BucketPolicy,
    /// Replace the role's trust policy.
    TrustPolicy,
    /// Failure queue retention and encryption.
    QueueSettings { retention_s: u32 },
    /// Log retention in days (`None`: forever).
    LogRetentionDays { from: Option<u32>, to: u32 },
    /// Replace the role's inline policy (`None` when the stream ARN is not known yet).
    Policy,
    /// Deploy new code (and architecture).
    Code {
        from: String,
        to: String,
        architecture: Architecture,
    },
    /// Memory size.
    MemoryMb { from: u32, to: u32 },
    /// Timeout.
    TimeoutS { from: u32, to: u32 },
    /// Runtime.
    Runtime { from: String, to: String },
    /// Handler.
    Handler { from: String, to: String },
    /// Execution role.
    RoleArn { from: String, to: String },
    /// Environment variables (names only are printed).
    Environment,
    /// Event source mapping settings.
    Mapping {
        from: MappingSettings,
        to: MappingSettings,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// It does not exist and will be created.
    Create { summary: String },
    /// It exists; these fields change.
    Update { updates: Vec<Update> },
    /// It exists and will be deleted.
    Delete { detail: Option<String> },
    /// It exists and will deliberately be left alone (destroy).
    Keep { reason: String },
    /// It exists as desired (or, for destroy, is already gone).
    NoOp,
}

/// One resource's line in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Resource kind.
    pub resource: Resource,
    /// Resource name (a mapping's is its UUID when known).
    pub name: String,
    /// What happens to it.
    pub action: Action,
}

/// A resource `apply` will not touch because kstream does not own it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// Resource kind.
    pub resource: Resource,
    /// Resource name.
    pub name: String,
    /// Who owns it.
    pub owner: Owner,
}

impl Conflict {
    /// The user-facing explanation, with a hint.
    pub fn message(&self) -> String {
        let what = format!("{} `{}`", self.resource.label(), self.name);
        match &self.owner {
            Owner::Other(other) => format!(
                "{what} belongs to kstream deployment `{other}`\n  hint: choose another name, or destroy deployment `{other}` first"
            ),
            Owner::OtherRegion { region } if self.resource == Resource::Role => format!(
                "{what} is this deployment's role in {region}: IAM roles are global, and one role never serves two regions\n  hint: set `consumer.role_name` to a name of its own for this region"
            ),
            Owner::OtherRegion { region } => format!(
                "{what} is in {region}: a deployment keeps its {} in its own region\n  hint: choose another name for this region",
                self.resource.label()
            ),
            _ => format!(
                "{what} already exists and was not created by kstream (no `kstream:deployment` tag)\n  hint: run `kstream apply --adopt` to take it over (kstream will then manage and may destroy it)"
            ),
        }
    }
}

/// Whether the plan converges a deployment or tears it down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `plan` / `apply`.
    Apply,
    /// `destroy`.
    Destroy,
}

/// The complete plan for one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Deployment name.
    pub deployment: String,
    /// Region.
    pub region: String,
    /// Account the credentials belong to.
    pub account: String,
    /// Endpoint override (LocalStack), if any.
    pub endpoint: Option<String>,
    /// Converge or tear down.
    pub mode: Mode,
    /// One entry per resource, in dependency order for `apply` (reverse for `destroy`).
    pub changes: Vec<Change>,
    /// Resources that block `apply`.
    pub conflicts: Vec<Conflict>,
    /// The stream's write capacity next to the consumer's estimated read capacity (`apply`).
    pub capacity: Option<Capacity>,
    /// What deserves attention though it is no change (e.g. policies on the role that kstream
    /// did not put there, a consumer that cannot keep up).
    pub warnings: Vec<String>,
    /// Provisioned shard-hours per month once applied (cost hint; Kinesis is billed per shard-hour).
    pub shard_hours_per_month: u32,
    /// What the function's code was compared with (apply plans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// What the executor runs; `changes` is its view.
    #[serde(skip)]
    steps: Steps,
}

/// What an apply plan compared the function's code with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Code {
    /// Whether the deployed code was compared with a consumer zip; when not (`plan
    /// --no-build` without a packaged zip), the plan shows no code change whatever runs.
    pub compared: bool,
    /// The zip it was compared with.
    pub zip: Option<std::path::PathBuf>,
}

/// The typed steps of a plan.
#[derive(Debug, Clone, PartialEq)]
enum Steps {
    /// `None` when a conflict (or a missing package) blocks `apply`.
    Apply(Option<Box<ApplySteps>>),
    /// What `destroy` does with each resource.
    Destroy(Box<DestroySteps>),
}

/// Options that change what `apply` may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Take over resources that exist without kstream's tag.
    pub adopt: bool,
}

/// Options that change what `destroy` may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct DestroyOptions {
    /// Empty a non-empty bucket (all versions) and delete it.
    pub force: bool,
}

/// Hours in an average month, as AWS bills.
const HOURS_PER_MONTH: u32 = 730;

impl Plan {
    /// Plan that converges `observed` to `desired`.
    pub fn apply(desired: &Desired, observed: &Observed, opts: ApplyOptions) -> Plan {
        let mut conflicts = Vec::new();
        let phases = diff::apply(desired, observed, opts, &mut conflicts);
        let open_shards = observed.stream.as_ref().map(|s| s.open_shards);
        let capacity = Capacity::estimate(desired, open_shards);
        let steps = conflicts
            .is_empty()
            .then(|| phases.complete())
            .flatten()
            .map(Box::new);
        Plan {
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            account: desired.account.clone(),
            endpoint: None,
            mode: Mode::Apply,
            changes: view::apply(&phases, desired),
            conflicts,
            capacity: Some(capacity.clone()),
            warnings: view::warnings(desired, observed, Mode::Apply)
                .into_iter()
                .chain(capacity.warning())
                .collect(),
            shard_hours_per_month: match desired.stream.mode {
                crate::config::StreamMode::Provisioned => {
                    desired.stream.shard_count * HOURS_PER_MONTH
                }
                crate::config::StreamMode::OnDemand => 0,
            },
            code: Some(Code {
                compared: desired.artifact.is_some(),
                zip: desired.artifact.as_ref().map(|a| a.path.clone()),
            }),
            steps: Steps::Apply(steps),
        }
    }

    /// Plan that removes what this deployment owns, in reverse dependency order.
    pub fn destroy(desired: &Desired, observed: &Observed, opts: DestroyOptions) -> Plan {
        let steps = teardown::destroy(desired, observed, opts);
        Plan {
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            account: desired.account.clone(),
            endpoint: None,
            mode: Mode::Destroy,
            changes: view::destroy(&steps),
            conflicts: Vec::new(),
            capacity: None,
            warnings: view::warnings(desired, observed, Mode::Destroy),
            shard_hours_per_month: 0,
            code: None,
            steps: Steps::Destroy(Box::new(steps)),
        }
    }

    /// The same plan, saying that it was made against `endpoint` (an override such as
    /// LocalStack's).
    pub fn at_endpoint(mut self, endpoint: Option<String>) -> Plan {
        self.endpoint = endpoint;
        self
    }

    /// The stream's capacity-mode switch `apply` would make, as `(stream, from, to)` in
    /// Kinesis's names: it changes billing and AWS allows two per 24 hours, so `apply` asks
    /// first.
    pub fn mode_switch(&self) -> Option<(String, String, String)> {
        let Steps::Apply(Some(steps)) = &self.steps else {
            return None;
        };
        let StreamPhase::Existing { name, updates, .. } = &steps.stream else {
            return None;
        };
        updates.iter().find_map(|u| match u {
            StreamUpdate::Mode { from, to } => {
                Some((name.clone(), from.clone(), to.as_aws().to_string()))
            }
            _ => None,
        })
    }

    /// The steps `apply` executes; an error when conflicts block it.
    pub fn apply_steps(&self) -> Result<&ApplySteps> {
        if !self.conflicts.is_empty() {
            let messages: Vec<String> = self.conflicts.iter().map(|c| c.message()).collect();
            bail!("refusing to apply: {}", messages.join("\n"));
        }
        match &self.steps {
            Steps::Apply(Some(steps)) => Ok(steps),
            Steps::Apply(None) => {
                bail!("the consumer was not packaged, so the function cannot be created")
            }
            Steps::Destroy(_) => bail!("a destroy plan cannot be applied"),
        }
    }

    /// The steps `destroy` executes.
    pub fn destroy_steps(&self) -> Result<&DestroySteps> {
        match &self.steps {
            Steps::Destroy(steps) => Ok(steps),
            Steps::Apply(_) => bail!("an apply plan cannot be destroyed"),
        }
    }

    /// Changes that do something.
    pub fn actionable(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| !matches!(c.action, Action::NoOp | Action::Keep { .. }))
    }

    /// Whether executing the plan would make no write call.
    pub fn is_empty(&self) -> bool {
        self.actionable().next().is_none()
    }

    /// The change planned for a resource kind (the first one, for mappings).
    #[cfg(test)]
    pub fn change(&self, resource: Resource) -> Option<&Change> {
        self.changes.iter().find(|c| c.resource == resource)
    }

    /// Counts of (create, update, delete).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for c in &self.changes {
            match c.action {
                Action::Create { .. } => counts.0 += 1,
                Action::Update { .. } => counts.1 += 1,
                Action::Delete { .. } => counts.2 += 1,
                _ => {}
            }
        }
        counts
    }
}
