//! The plan: a pure value computed from desired × observed, printed by `plan`, `apply` and
//! `destroy` alike and executed step by step by `apply`/`destroy`.
//!
//! Nothing in this module does I/O; every write `apply` makes is justified by a `Change` here.

use std::fmt::Write as _;

use kstream_contract::env;
use serde::Serialize;

use crate::config::Architecture;
use crate::model::{
    Desired, HANDLER, MappingSettings, Observed, ObservedMapping, Owner, RUNTIME, same_policy,
};

/// The kind of resource a change is about, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Kinesis data stream.
    Stream,
    /// S3 bucket.
    Bucket,
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
    /// Stream capacity mode.
    StreamMode { from: String, to: String },
    /// Open shard count.
    ShardCount { from: u32, to: u32 },
    /// Retention in hours.
    RetentionHours { from: u32, to: u32 },
    /// Turn all four Block Public Access settings on.
    PublicAccessBlock,
    /// Turn default encryption (SSE-S3) on.
    Encryption,
    /// Put the TLS-only bucket policy.
    BucketPolicy,
    /// Replace the role's trust policy.
    TrustPolicy,
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

impl Update {
    /// Whether the update changes the function's configuration (not its code or tags).
    pub fn is_function_configuration(&self) -> bool {
        matches!(
            self,
            Update::MemoryMb { .. }
                | Update::TimeoutS { .. }
                | Update::Runtime { .. }
                | Update::Handler { .. }
                | Update::RoleArn { .. }
                | Update::Environment
        )
    }

    fn describe(&self) -> String {
        match self {
            Update::AdoptTag => "tags: adopt (add `kstream:deployment`)".into(),
            Update::StreamMode { from, to } => format!("mode: {from} → {to}"),
            Update::ShardCount { from, to } => format!("shard_count: {from} → {to}"),
            Update::RetentionHours { from, to } => format!("retention_hours: {from} → {to}"),
            Update::PublicAccessBlock => "block public access: off → on".into(),
            Update::Encryption => "default encryption: off → SSE-S3".into(),
            Update::BucketPolicy => "policy: → deny non-TLS requests".into(),
            Update::TrustPolicy => "trust policy: → lambda.amazonaws.com".into(),
            Update::Policy => "policy: → stream read, bucket write, function logs".into(),
            Update::Code { from, to, .. } => {
                format!("code_sha256: {} → {}", short(from), short(to))
            }
            Update::MemoryMb { from, to } => format!("memory_mb: {from} → {to}"),
            Update::TimeoutS { from, to } => format!("timeout_s: {from} → {to}"),
            Update::Runtime { from, to } => format!("runtime: {from} → {to}"),
            Update::Handler { from, to } => format!("handler: {from} → {to}"),
            Update::RoleArn { from, to } => format!("role: {from} → {to}"),
            Update::Environment => format!("environment: → {}", env::ALL.join(", ")),
            Update::Mapping { from, to } => {
                let mut parts = Vec::new();
                if from.batch_size != to.batch_size {
                    parts.push(format!(
                        "batch_size: {} → {}",
                        from.batch_size, to.batch_size
                    ));
                }
                if from.maximum_retry_attempts != to.maximum_retry_attempts {
                    parts.push(format!(
                        "maximum_retry_attempts: {} → {}",
                        from.maximum_retry_attempts, to.maximum_retry_attempts
                    ));
                }
                if from.bisect_batch_on_function_error != to.bisect_batch_on_function_error {
                    parts.push(format!(
                        "bisect_batch_on_function_error: {} → {}",
                        from.bisect_batch_on_function_error, to.bisect_batch_on_function_error
                    ));
                }
                if from.report_batch_item_failures != to.report_batch_item_failures {
                    parts.push("function_response_types: → [ReportBatchItemFailures]".into());
                }
                if from.enabled != to.enabled {
                    parts.push(format!("enabled: {} → {}", from.enabled, to.enabled));
                }
                parts.join("\n")
            }
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// What happens to one resource.
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
    /// Converge or tear down.
    pub mode: Mode,
    /// One entry per resource, in dependency order for `apply` (reverse for `destroy`).
    pub changes: Vec<Change>,
    /// Resources that block `apply`.
    pub conflicts: Vec<Conflict>,
    /// Provisioned shard-hours per month once applied (cost hint; Kinesis is billed per shard-hour).
    pub shard_hours_per_month: u32,
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
        let mut plan = Plan {
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            mode: Mode::Apply,
            changes: Vec::new(),
            conflicts: Vec::new(),
            shard_hours_per_month: desired.stream.shard_count * HOURS_PER_MONTH,
        };
        plan.plan_stream(desired, observed, opts);
        plan.plan_bucket(desired, observed, opts);
        plan.plan_role(desired, observed, opts);
        plan.plan_function(desired, observed, opts);
        plan.plan_mapping(desired, observed);
        plan
    }

    fn push(&mut self, resource: Resource, name: &str, action: Action) {
        self.changes.push(Change {
            resource,
            name: name.to_string(),
            action,
        });
    }

    /// Ownership check shared by every resource: returns the tag update to make, or records
    /// a conflict and returns `Err(())` so the caller plans nothing for the resource.
    fn ownership(
        &mut self,
        resource: Resource,
        name: &str,
        owner: &Owner,
        opts: ApplyOptions,
    ) -> Result<Option<Update>, ()> {
        match owner {
            Owner::This => Ok(None),
            Owner::Untagged if opts.adopt => Ok(Some(Update::AdoptTag)),
            other => {
                self.conflicts.push(Conflict {
                    resource,
                    name: name.to_string(),
                    owner: other.clone(),
                });
                Err(())
            }
        }
    }

    fn finish(&mut self, resource: Resource, name: &str, updates: Vec<Update>) {
        let action = if updates.is_empty() {
            Action::NoOp
        } else {
            Action::Update { updates }
        };
        self.push(resource, name, action);
    }

    fn plan_stream(&mut self, desired: &Desired, observed: &Observed, opts: ApplyOptions) {
        let want = &desired.stream;
        let Some(have) = &observed.stream else {
            let summary = format!(
                "PROVISIONED, {} shard{}, retention {} h",
                want.shard_count,
                plural(want.shard_count),
                want.retention_hours
            );
            return self.push(Resource::Stream, &want.name, Action::Create { summary });
        };
        let Ok(adopt) = self.ownership(Resource::Stream, &want.name, &have.owner, opts) else {
            return;
        };
        let mut updates: Vec<Update> = adopt.into_iter().collect();
        if have.mode != "PROVISIONED" {
            updates.push(Update::StreamMode {
                from: have.mode.clone(),
                to: "PROVISIONED".into(),
            });
        }
        if have.open_shards != want.shard_count {
            updates.push(Update::ShardCount {
                from: have.open_shards,
                to: want.shard_count,
            });
        }
        if have.retention_hours != want.retention_hours {
            updates.push(Update::RetentionHours {
                from: have.retention_hours,
                to: want.retention_hours,
            });
        }
        self.finish(Resource::Stream, &want.name, updates);
    }

    fn plan_bucket(&mut self, desired: &Desired, observed: &Observed, opts: ApplyOptions) {
        let name = &desired.bucket;
        let Some(have) = &observed.bucket else {
            let summary = "block public access, SSE-S3 encryption, TLS-only policy".to_string();
            return self.push(Resource::Bucket, name, Action::Create { summary });
        };
        let Ok(adopt) = self.ownership(Resource::Bucket, name, &have.owner, opts) else {
            return;
        };
        let mut updates: Vec<Update> = adopt.into_iter().collect();
        if !have.public_access_blocked {
            updates.push(Update::PublicAccessBlock);
        }
        if !have.encrypted {
            updates.push(Update::Encryption);
        }
        let policy_ok = have
            .policy
            .as_ref()
            .is_some_and(|p| same_policy(p, &desired.bucket_policy()));
        if !policy_ok {
            updates.push(Update::BucketPolicy);
        }
        self.finish(Resource::Bucket, name, updates);
    }

    fn plan_role(&mut self, desired: &Desired, observed: &Observed, opts: ApplyOptions) {
        let name = &desired.consumer.role_name;
        let Some(have) = &observed.role else {
            self.push(
                Resource::Role,
                name,
                Action::Create {
                    summary: "assumable by lambda.amazonaws.com".into(),
                },
            );
            return self.push(
                Resource::RolePolicy,
                name,
                Action::Create {
                    summary: "read the stream, write the bucket's objects, write logs".into(),
                },
            );
        };
        let Ok(adopt) = self.ownership(Resource::Role, name, &have.owner, opts) else {
            return;
        };
        let mut updates: Vec<Update> = adopt.into_iter().collect();
        if !same_policy(&have.trust_policy, &desired.trust_policy()) {
            updates.push(Update::TrustPolicy);
        }
        self.finish(Resource::Role, name, updates);

        let action = match (&have.policy, &observed.stream) {
            (None, _) => Action::Create {
                summary: "read the stream, write the bucket's objects, write logs".into(),
            },
            (Some(policy), Some(stream))
                if same_policy(policy, &desired.role_policy(&stream.arn)) =>
            {
                Action::NoOp
            }
            // Without a stream the ARN is known only after apply; the policy is rewritten then
            // only if it differs.
            (Some(_), _) => Action::Update {
                updates: vec![Update::Policy],
            },
        };
        self.push(Resource::RolePolicy, name, action);
    }

    fn plan_function(&mut self, desired: &Desired, observed: &Observed, opts: ApplyOptions) {
        let want = &desired.consumer;
        let name = &want.function_name;
        let Some(have) = &observed.function else {
            let code = match &desired.artifact {
                Some(a) => format!(", code {} sha256 {}", mib(a.size), short(&a.sha256_base64)),
                None => String::new(),
            };
            let summary = format!(
                "{RUNTIME}, {}, {} MB, {} s{code}",
                want.architecture.as_str(),
                want.memory_mb,
                want.timeout_s
            );
            return self.push(Resource::Function, name, Action::Create { summary });
        };
        let Ok(adopt) = self.ownership(Resource::Function, name, &have.owner, opts) else {
            return;
        };
        let mut updates: Vec<Update> = adopt.into_iter().collect();
        if let Some(artifact) = &desired.artifact
            && (artifact.sha256_base64 != have.code_sha256
                || have.architecture != Some(want.architecture))
        {
            updates.push(Update::Code {
                from: have.code_sha256.clone(),
                to: artifact.sha256_base64.clone(),
                architecture: want.architecture,
            });
        }
        if have.memory_mb != want.memory_mb {
            updates.push(Update::MemoryMb {
                from: have.memory_mb,
                to: want.memory_mb,
            });
        }
        if have.timeout_s != want.timeout_s {
            updates.push(Update::TimeoutS {
                from: have.timeout_s,
                to: want.timeout_s,
            });
        }
        if have.runtime != RUNTIME {
            updates.push(Update::Runtime {
                from: have.runtime.clone(),
                to: RUNTIME.into(),
            });
        }
        if have.handler != HANDLER {
            updates.push(Update::Handler {
                from: have.handler.clone(),
                to: HANDLER.into(),
            });
        }
        if let Some(role) = &observed.role
            && role.arn != have.role_arn
        {
            updates.push(Update::RoleArn {
                from: have.role_arn.clone(),
                to: role.arn.clone(),
            });
        }
        if have.env != desired.function_env() {
            updates.push(Update::Environment);
        }
        self.finish(Resource::Function, name, updates);
    }

    fn plan_mapping(&mut self, desired: &Desired, observed: &Observed) {
        let label = format!(
            "{} → {}",
            desired.stream.name, desired.consumer.function_name
        );
        // Only the function's owner manages its mappings: a conflict on the function stops here.
        if self
            .conflicts
            .iter()
            .any(|c| c.resource == Resource::Function)
        {
            return;
        }
        let want = desired.mapping();
        let mut mappings: Vec<&ObservedMapping> = observed.mappings.iter().collect();
        // Keep the oldest-looking healthy mapping; any other one is a leftover (e.g. from an
        // interrupted run) and is deleted so that records are not consumed twice.
        mappings.sort_by_key(|m| (m.state != "Enabled", m.uuid.clone()));
        let Some((keep, extra)) = mappings.split_first() else {
            let summary = format!(
                "batch {}, {}, retries {}, bisect {}, report batch item failures",
                want.batch_size,
                desired.consumer.starting_position.as_str(),
                want.maximum_retry_attempts,
                want.bisect_batch_on_function_error
            );
            return self.push(Resource::Mapping, &label, Action::Create { summary });
        };
        let updates = if keep.settings == want {
            Vec::new()
        } else {
            vec![Update::Mapping {
                from: keep.settings.clone(),
                to: want,
            }]
        };
        self.finish(Resource::Mapping, &keep.uuid, updates);
        for m in extra {
            self.push(
                Resource::Mapping,
                &m.uuid,
                Action::Delete {
                    detail: Some("duplicate mapping for the same stream and function".into()),
                },
            );
        }
    }

    /// Plan that removes what this deployment owns, in reverse dependency order.
    pub fn destroy(desired: &Desired, observed: &Observed, opts: DestroyOptions) -> Plan {
        let mut plan = Plan {
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            mode: Mode::Destroy,
            changes: Vec::new(),
            conflicts: Vec::new(),
            shard_hours_per_month: 0,
        };
        let not_owned = |owner: &Owner| match owner {
            Owner::This => None,
            Owner::Other(d) => Some(format!("belongs to deployment `{d}`")),
            Owner::Untagged => Some("not created by kstream (no `kstream:deployment` tag)".into()),
        };
        let function_owner = observed.function.as_ref().map(|f| &f.owner);
        for m in &observed.mappings {
            let action = match function_owner.and_then(not_owned) {
                Some(reason) => Action::Keep {
                    reason: format!("its function {reason}"),
                },
                None => Action::Delete { detail: None },
            };
            plan.push(Resource::Mapping, &m.uuid, action);
        }
        let mut one =
            |resource: Resource, name: &str, owner: Option<&Owner>, detail: Option<String>| {
                let action = match owner {
                    None => Action::NoOp,
                    Some(owner) => match not_owned(owner) {
                        Some(reason) => Action::Keep { reason },
                        None => Action::Delete {
                            detail: detail.clone(),
                        },
                    },
                };
                plan.push(resource, name, action);
            };
        one(
            Resource::Function,
            &desired.consumer.function_name,
            function_owner,
            None,
        );
        let role = observed.role.as_ref();
        one(
            Resource::Role,
            &desired.consumer.role_name,
            role.map(|r| &r.owner),
            role.and_then(|r| r.policy.as_ref())
                .map(|_| "with its inline policies".to_string()),
        );
        one(
            Resource::Stream,
            &desired.stream.name,
            observed.stream.as_ref().map(|s| &s.owner),
            None,
        );
        let bucket_owner = observed.bucket.as_ref().map(|b| &b.owner);
        let has_objects = observed.bucket_has_objects.unwrap_or(false);
        if bucket_owner == Some(&Owner::This) && has_objects && !opts.force {
            plan.push(
                Resource::Bucket,
                &desired.bucket,
                Action::Keep {
                    reason:
                        "holds objects; run `kstream destroy --force` to delete them and the bucket"
                            .into(),
                },
            );
        } else {
            let detail = (has_objects && opts.force)
                .then(|| "after deleting every object and version (--force)".to_string());
            one(Resource::Bucket, &desired.bucket, bucket_owner, detail);
        }
        plan
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
            "kstream {verb} for deployment `{}` in {}",
            self.deployment, self.region
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
        if self.mode == Mode::Apply {
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
fn thousands(n: u32) -> String {
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

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{
        ObservedBucket, ObservedFunction, ObservedMapping, ObservedRole, ObservedStream,
    };
    use crate::package::Artifact;

    const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/stream-output";

    fn desired() -> Desired {
        let config = crate::config::parse(
            include_str!("../tests/fixtures/plan/deploy.toml"),
            Path::new("deploy.toml"),
        )
        .expect("fixture config is valid");
        let artifact = Artifact {
            path: "bootstrap.zip".into(),
            sha256_base64: "c2hhLW9mLXRoZS16aXA=".into(),
            size: 3 * 1024 * 1024,
        };
        Desired::new(&config, "us-east-1".into(), Some(artifact))
    }

    /// What AWS holds once `desired` has been applied.
    fn converged(d: &Desired) -> Observed {
        Observed {
            stream: Some(ObservedStream {
                arn: ARN.into(),
                status: "ACTIVE".into(),
                mode: "PROVISIONED".into(),
                open_shards: d.stream.shard_count,
                retention_hours: d.stream.retention_hours,
                owner: Owner::This,
            }),
            bucket: Some(ObservedBucket {
                owner: Owner::This,
                tags: d.tags(),
                public_access_blocked: true,
                encrypted: true,
                policy: Some(d.bucket_policy()),
            }),
            role: Some(ObservedRole {
                arn: "arn:aws:iam::000000000000:role/r".into(),
                owner: Owner::This,
                trust_policy: d.trust_policy(),
                policy: Some(d.role_policy(ARN)),
            }),
            function: Some(ObservedFunction {
                arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                owner: Owner::This,
                code_sha256: d.artifact.as_ref().unwrap().sha256_base64.clone(),
                code_size: 1,
                memory_mb: d.consumer.memory_mb,
                timeout_s: d.consumer.timeout_s,
                architecture: Some(d.consumer.architecture),
                runtime: RUNTIME.into(),
                handler: HANDLER.into(),
                role_arn: "arn:aws:iam::000000000000:role/r".into(),
                env: d.function_env(),
                state: "Active".into(),
                last_update_status: "Successful".into(),
                last_modified: String::new(),
            }),
            mappings: vec![mapping("m-1", d)],
            bucket_has_objects: None,
        }
    }

    fn mapping(uuid: &str, d: &Desired) -> ObservedMapping {
        ObservedMapping {
            uuid: uuid.into(),
            state: "Enabled".into(),
            settings: d.mapping(),
            starting_position: Some(d.consumer.starting_position),
        }
    }

    #[test]
    fn cold_apply_creates_everything_in_dependency_order() {
        let d = desired();
        let plan = Plan::apply(&d, &Observed::default(), ApplyOptions::default());
        let order: Vec<Resource> = plan.changes.iter().map(|c| c.resource).collect();
        assert_eq!(
            order,
            [
                Resource::Stream,
                Resource::Bucket,
                Resource::Role,
                Resource::RolePolicy,
                Resource::Function,
                Resource::Mapping
            ]
        );
        assert!(
            plan.changes
                .iter()
                .all(|c| matches!(c.action, Action::Create { .. }))
        );
        assert_eq!(plan.counts(), (6, 0, 0));
        assert_eq!(plan.shard_hours_per_month, 2 * 730);
        insta::assert_snapshot!("cold_apply", plan.render(false));
    }

    #[test]
    fn converged_deployment_plans_nothing() {
        let d = desired();
        let plan = Plan::apply(&d, &converged(&d), ApplyOptions::default());
        assert!(plan.is_empty(), "{plan:#?}");
        assert!(plan.conflicts.is_empty());
        insta::assert_snapshot!("converged", plan.render(false));
    }

    #[test]
    fn equivalent_policies_are_not_a_change() {
        let d = desired();
        let mut observed = converged(&d);
        // IAM may hand documents back with single values instead of one-element lists.
        let role = observed.role.as_mut().unwrap();
        role.trust_policy["Statement"][0]["Principal"]["Service"] =
            serde_json::json!(["lambda.amazonaws.com"]);
        role.trust_policy["Statement"][0]["Action"] = serde_json::json!(["sts:AssumeRole"]);
        assert!(Plan::apply(&d, &observed, ApplyOptions::default()).is_empty());
    }

    #[test]
    fn changed_fields_are_updates() {
        let d = desired();
        let mut observed = converged(&d);
        let stream = observed.stream.as_mut().unwrap();
        stream.open_shards = 1;
        stream.retention_hours = 48;
        let function = observed.function.as_mut().unwrap();
        function.memory_mb = 256;
        function.code_sha256 = "b2xkLWNvZGU=".into();
        observed.mappings[0].settings.batch_size = 10;
        observed.bucket.as_mut().unwrap().public_access_blocked = false;
        let plan = Plan::apply(&d, &observed, ApplyOptions::default());
        assert_eq!(plan.counts(), (0, 4, 0));
        let updates = |r| match &plan.change(r).unwrap().action {
            Action::Update { updates } => updates.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            updates(Resource::Stream),
            vec![
                Update::ShardCount { from: 1, to: 2 },
                Update::RetentionHours { from: 48, to: 24 }
            ]
        );
        assert_eq!(updates(Resource::Bucket), vec![Update::PublicAccessBlock]);
        assert!(matches!(
            updates(Resource::Function)[..],
            [Update::Code { .. }, Update::MemoryMb { from: 256, to: 128 }]
        ));
        insta::assert_snapshot!("updates", plan.render(false));
    }

    #[test]
    fn environment_update_names_every_consumer_variable() {
        let env = desired().function_env();
        assert_eq!(env.keys().map(String::as_str).collect::<Vec<_>>(), env::ALL);
        assert_eq!(
            Update::Environment.describe(),
            "environment: → KSTREAM_BUCKET, KSTREAM_KEY_PREFIX"
        );
    }

    #[test]
    fn resources_not_owned_are_conflicts_unless_adopted() {
        let d = desired();
        let mut observed = converged(&d);
        observed.stream.as_mut().unwrap().owner = Owner::Untagged;
        observed.function.as_mut().unwrap().owner = Owner::Other("someone".into());
        let plan = Plan::apply(&d, &observed, ApplyOptions::default());
        assert_eq!(plan.conflicts.len(), 2);
        assert!(
            plan.change(Resource::Mapping).is_none(),
            "a foreign function's mappings are left alone"
        );
        insta::assert_snapshot!("conflicts", plan.render(false));

        let plan = Plan::apply(&d, &observed, ApplyOptions { adopt: true });
        assert_eq!(
            plan.conflicts.len(),
            1,
            "another deployment's resource is never adopted"
        );
        assert_eq!(
            plan.change(Resource::Stream).unwrap().action,
            Action::Update {
                updates: vec![Update::AdoptTag]
            }
        );
    }

    #[test]
    fn duplicate_mappings_are_deleted() {
        let d = desired();
        let mut observed = converged(&d);
        observed.mappings.push(mapping("m-0", &d));
        observed.mappings[1].state = "Disabled".into();
        let plan = Plan::apply(&d, &observed, ApplyOptions::default());
        let mappings: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.resource == Resource::Mapping)
            .collect();
        assert_eq!(mappings.len(), 2);
        assert_eq!(
            (mappings[0].name.as_str(), &mappings[0].action),
            ("m-1", &Action::NoOp)
        );
        assert!(matches!(mappings[1].action, Action::Delete { .. }));
    }

    #[test]
    fn destroy_deletes_owned_resources_and_keeps_data() {
        let d = desired();
        let mut observed = converged(&d);
        observed.bucket_has_objects = Some(true);
        let plan = Plan::destroy(&d, &observed, DestroyOptions::default());
        let order: Vec<Resource> = plan.changes.iter().map(|c| c.resource).collect();
        assert_eq!(
            order,
            [
                Resource::Mapping,
                Resource::Function,
                Resource::Role,
                Resource::Stream,
                Resource::Bucket
            ]
        );
        assert!(matches!(
            plan.change(Resource::Bucket).unwrap().action,
            Action::Keep { .. }
        ));
        assert_eq!(plan.counts(), (0, 0, 4));
        insta::assert_snapshot!("destroy_keeps_bucket", plan.render(false));

        let plan = Plan::destroy(&d, &observed, DestroyOptions { force: true });
        assert_eq!(plan.counts(), (0, 0, 5));
    }

    #[test]
    fn destroy_never_touches_foreign_resources() {
        let d = desired();
        let mut observed = converged(&d);
        observed.stream.as_mut().unwrap().owner = Owner::Untagged;
        observed.function.as_mut().unwrap().owner = Owner::Other("x".into());
        observed.bucket_has_objects = Some(false);
        let plan = Plan::destroy(&d, &observed, DestroyOptions { force: true });
        for r in [Resource::Stream, Resource::Function, Resource::Mapping] {
            assert!(
                matches!(plan.change(r).unwrap().action, Action::Keep { .. }),
                "{r:?}"
            );
        }
        assert!(matches!(
            plan.change(Resource::Bucket).unwrap().action,
            Action::Delete { .. }
        ));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(730), "730");
        assert_eq!(thousands(1460), "1,460");
        assert_eq!(thousands(730_000), "730,000");
    }

    #[test]
    fn destroy_of_nothing_is_empty() {
        let d = desired();
        let plan = Plan::destroy(&d, &Observed::default(), DestroyOptions::default());
        assert!(plan.is_empty());
        assert!(
            plan.render(false)
                .contains("no changes: deployment `plan-test` is already destroyed")
        );
    }
}
