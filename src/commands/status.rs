//! `kstream status`: the deployment as it is, read-only. Stream (status, mode, open shards
//! with their hash key ranges, retention), function (state, architecture, code SHA-256 and
//! size, last modified), event source mapping (state, batch size, starting position), bucket
//! (object count, bounded). A table on a terminal, JSON otherwise or with `--json`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use anyhow::Result;
use serde::Serialize;

use super::{Context, print_json_or};
use crate::aws::{objects, records};
use crate::model::{Desired, Observed, Owner};
use crate::producer::ShardMap;

/// Count objects up to this many; more shows as `10000+`.
pub const MAX_COUNTED_OBJECTS: usize = 10_000;

/// The deployment as observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Deployment name.
    pub deployment: String,
    /// Region.
    pub region: String,
    /// The stream, `null` when missing.
    pub stream: Option<StreamStatus>,
    /// The consumer's role, `null` when missing.
    pub role: Option<RoleStatus>,
    /// The consumer function, `null` when missing.
    pub function: Option<FunctionStatus>,
    /// Event source mappings from the function to the stream.
    pub mappings: Vec<MappingStatus>,
    /// The bucket, `null` when missing.
    pub bucket: Option<BucketStatus>,
    /// The failure queue kstream owns, `null` when missing or not kstream's
    /// (`consumer.on_failure` is not `"queue"`).
    pub failure_queue: Option<QueueStatus>,
}

/// The stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStatus {
    /// Name.
    pub name: String,
    /// `ACTIVE`, `UPDATING`, …
    pub status: String,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    /// Retention in hours.
    pub retention_hours: u32,
    /// Ownership tag.
    pub owner: Owner,
    /// Open shards, by ascending hash key.
    pub open_shards: Vec<ShardStatus>,
}

/// One open shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardStatus {
    /// Shard id.
    pub shard_id: String,
    /// Lowest hash key (decimal; 128-bit).
    pub starting_hash_key: String,
    /// Highest hash key (decimal; 128-bit).
    pub ending_hash_key: String,
}

/// The consumer's IAM role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleStatus {
    /// Name.
    pub name: String,
    /// Ownership tag.
    pub owner: Owner,
    /// Policies kstream did not put there (``inline `name` `` / ``managed `arn` ``).
    pub extra_policies: Vec<String>,
}

/// The consumer function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionStatus {
    /// Name.
    pub name: String,
    /// `Active`, `Pending`, `Failed`, …
    pub state: String,
    /// `Successful`, `InProgress`, `Failed`.
    pub last_update_status: String,
    /// `x86_64` or `arm64`.
    pub architecture: Option<String>,
    /// Runtime.
    pub runtime: String,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Base64 SHA-256 of the deployed zip.
    pub code_sha256: String,
    /// Size of the deployed zip in bytes.
    pub code_size: i64,
    /// Last change.
    pub last_modified: String,
    /// Ownership tag.
    pub owner: Owner,
}

/// An event source mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingStatus {
    /// Mapping id.
    pub uuid: String,
    /// `Enabled`, `Creating`, …
    pub state: String,
    /// Records per batch.
    pub batch_size: u32,
    /// Where it started reading.
    pub starting_position: Option<String>,
    /// How its last poll went (`OK`, `PROBLEM: …`), `null` when not reported.
    pub last_processing_result: Option<String>,
    /// Why it is in its state, `null` when not reported.
    pub state_reason: Option<String>,
}

/// The failure queue kstream owns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Name.
    pub name: String,
    /// Messages in it (failed batches), approximate as SQS counts.
    pub messages: u64,
    /// Ownership tag.
    pub owner: Owner,
}

/// The bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketStatus {
    /// Name.
    pub name: String,
    /// Ownership tag.
    pub owner: Owner,
    /// Objects counted (at most [`MAX_COUNTED_OBJECTS`]).
    pub objects: u64,
    /// Whether there are more objects than counted.
    pub more_objects: bool,
}

impl Status {
    /// Assemble the status from what was observed.
    pub fn new(
        desired: &Desired,
        observed: &Observed,
        shards: Option<&ShardMap>,
        objects: Option<(u64, bool)>,
    ) -> Status {
        Status {
            deployment: desired.deployment.clone(),
            region: desired.region.clone(),
            stream: observed.stream.as_ref().map(|s| StreamStatus {
                name: desired.stream.name.clone(),
                status: s.status.clone(),
                mode: s.mode.clone(),
                retention_hours: s.retention_hours,
                owner: s.owner.clone(),
                open_shards: shards
                    .map(|m| {
                        m.shards()
                            .iter()
                            .map(|r| ShardStatus {
                                shard_id: r.shard_id.clone(),
                                starting_hash_key: r.start.to_string(),
                                ending_hash_key: r.end.to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            role: observed.role.as_ref().map(|r| RoleStatus {
                name: desired.consumer.role_name.clone(),
                owner: r.owner.clone(),
                extra_policies: r.extra_policies.clone(),
            }),
            function: observed.function.as_ref().map(|f| FunctionStatus {
                name: desired.consumer.function_name.clone(),
                state: f.state.clone(),
                last_update_status: f.last_update_status.clone(),
                architecture: f.architecture.map(|a| a.as_str().to_string()),
                runtime: f.runtime.clone(),
                memory_mb: f.memory_mb,
                timeout_s: f.timeout_s,
                code_sha256: f.code_sha256.clone(),
                code_size: f.code_size,
                last_modified: f.last_modified.clone(),
                owner: f.owner.clone(),
            }),
            mappings: observed
                .mappings
                .iter()
                .map(|m| MappingStatus {
                    uuid: m.uuid.clone(),
                    state: m.state.clone(),
                    batch_size: m.settings.batch_size,
                    starting_position: m.starting_position.map(|p| p.as_str().to_string()),
                    last_processing_result: m.last_processing_result.clone(),
                    state_reason: m.state_reason.clone(),
                })
                .collect(),
            failure_queue: observed
                .queue
                .as_ref()
                .filter(|_| desired.owns_failure_queue())
                .map(|q| QueueStatus {
                    name: desired.failure_queue_name(),
                    messages: q.messages,
                    owner: q.owner.clone(),
                }),
            bucket: observed.bucket.as_ref().map(|b| BucketStatus {
                name: desired.bucket.clone(),
                owner: b.owner.clone(),
                objects: objects.map_or(0, |o| o.0),
                more_objects: objects.is_some_and(|o| o.1),
            }),
        }
    }

    /// The table shown on a terminal.
    pub fn render(&self, desired: &Desired) -> String {
        let mut rows: Vec<[String; 4]> = Vec::new();
        let missing = |kind: &str, name: &str| {
            [
                kind.to_string(),
                name.to_string(),
                "missing".into(),
                String::new(),
            ]
        };
        match &self.stream {
            Some(s) => {
                rows.push([
                    "stream".into(),
                    s.name.clone(),
                    s.status.clone(),
                    format!(
                        "{}, {} open shard{}, retention {} h{}",
                        s.mode,
                        s.open_shards.len(),
                        if s.open_shards.len() == 1 { "" } else { "s" },
                        s.retention_hours,
                        owner_note(&s.owner)
                    ),
                ]);
                for shard in &s.open_shards {
                    rows.push([
                        "  shard".into(),
                        shard.shard_id.clone(),
                        "open".into(),
                        format!(
                            "hash keys {} to {}",
                            shard.starting_hash_key, shard.ending_hash_key
                        ),
                    ]);
                }
            }
            None => rows.push(missing("stream", &desired.stream.name)),
        }
        match &self.role {
            Some(r) => rows.push([
                "role".into(),
                r.name.clone(),
                "exists".into(),
                match r.extra_policies.as_slice() {
                    [] => owner_note(&r.owner).trim_start().to_string(),
                    extra => format!(
                        "also has policies kstream did not put there: {}{}",
                        extra.join(", "),
                        owner_note(&r.owner)
                    ),
                },
            ]),
            None => rows.push(missing("role", &desired.consumer.role_name)),
        }
        match &self.function {
            Some(f) => rows.push([
                "function".into(),
                f.name.clone(),
                f.state.clone(),
                format!(
                    "{}, {}, {} MB, {} s; code {} ({}), modified {}{}{}",
                    f.architecture.as_deref().unwrap_or("unknown architecture"),
                    f.runtime,
                    f.memory_mb,
                    f.timeout_s,
                    f.code_sha256,
                    super::put::human_bytes(f.code_size.max(0) as u64),
                    f.last_modified,
                    if f.last_update_status.is_empty() || f.last_update_status == "Successful" {
                        String::new()
                    } else {
                        format!(", last update {}", f.last_update_status)
                    },
                    owner_note(&f.owner)
                ),
            ]),
            None => rows.push(missing("function", &desired.consumer.function_name)),
        }
        if self.mappings.is_empty() {
            rows.push(missing("mapping", "-"));
        }
        for m in &self.mappings {
            rows.push([
                "mapping".into(),
                m.uuid.clone(),
                m.state.clone(),
                format!(
                    "batch size {}, starting position {}{}{}",
                    m.batch_size,
                    m.starting_position.as_deref().unwrap_or("unknown"),
                    m.last_processing_result
                        .as_ref()
                        .map(|r| format!(", last poll: {r}"))
                        .unwrap_or_default(),
                    m.state_reason
                        .as_ref()
                        .filter(|r| r.as_str() != "User action" && r.as_str() != "USER_INITIATED")
                        .map(|r| format!(", state reason: {r}"))
                        .unwrap_or_default()
                ),
            ]);
        }
        match &self.bucket {
            Some(b) => rows.push([
                "bucket".into(),
                b.name.clone(),
                "exists".into(),
                format!(
                    "{}{} object{}{}",
                    b.objects,
                    if b.more_objects { "+" } else { "" },
                    if b.objects == 1 && !b.more_objects {
                        ""
                    } else {
                        "s"
                    },
                    owner_note(&b.owner)
                ),
            ]),
            None => rows.push(missing("bucket", &desired.bucket)),
        }
        if let Some(q) = &self.failure_queue {
            rows.push([
                "queue".into(),
                q.name.clone(),
                "exists".into(),
                match q.messages {
                    0 => format!("no failed batches{}", owner_note(&q.owner)),
                    n => format!(
                        "{n} failed batch{}: `kstream failures` lists them, `kstream redrive` writes them{}",
                        if n == 1 { "" } else { "es" },
                        owner_note(&q.owner)
                    ),
                },
            ]);
        }
        let header = ["RESOURCE", "NAME", "STATE", "DETAILS"].map(String::from);
        let mut widths = [0; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = format!("deployment `{}` in {}\n\n", self.deployment, self.region);
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

fn owner_note(owner: &Owner) -> String {
    match owner {
        Owner::This => String::new(),
        Owner::Other(d) => format!(" (belongs to deployment `{d}`)"),
        Owner::Untagged => " (not tagged by kstream)".into(),
        Owner::OtherRegion { region } => format!(" (serves this deployment in {region})"),
    }
}

/// Run `kstream status`.
pub(crate) async fn run(ctx: &Context) -> Result<()> {
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let account = super::deploy::read_account(&clients).await?;
    let desired = Desired::new(config, clients.region.clone(), account, None);
    let observed = clients.observe(&desired, false).await?;
    let (shards, count) = tokio::try_join!(
        async {
            match &observed.stream {
                Some(_) => records::open_shards(&clients, &desired.stream.name).await,
                None => Ok(None),
            }
        },
        async {
            match &observed.bucket {
                Some(_) => objects::count(&clients, &desired.bucket, MAX_COUNTED_OBJECTS)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        },
    )?;
    let status = Status::new(&desired, &observed, shards.as_ref(), count);
    // JSON when asked for, or when stdout is not a terminal (a pipe, a file).
    let json = ctx.output.json || !std::io::stdout().is_terminal();
    print_json_or(json, &status, || status.render(&desired))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, StartingPosition};
    use crate::model::{
        MappingSettings, ObservedBucket, ObservedFunction, ObservedMapping, ObservedQueue,
        ObservedRole, ObservedStream,
    };

    fn desired() -> Desired {
        let config = crate::config::parse(
            "name = \"demo\"\n[stream]\nname = \"demo-events\"\n[bucket]\nname = \"demo-bucket-1234\"\n",
            std::path::Path::new("deploy.toml"),
        )
        .unwrap();
        Desired::new(&config, "us-east-1".into(), "000000000000".into(), None)
    }

    fn observed() -> Observed {
        Observed {
            stream: Some(ObservedStream {
                arn: "arn:aws:kinesis:us-east-1:000000000000:stream/demo-events".into(),
                status: "ACTIVE".into(),
                mode: "PROVISIONED".into(),
                open_shards: 2,
                retention_hours: 24,
                kms_key_id: None,
                tags: Default::default(),
                owner: Owner::This,
            }),
            bucket: Some(ObservedBucket {
                owner: Owner::This,
                tags: Default::default(),
                public_access_blocked: true,
                encrypted: true,
                policy: None,
            }),
            role: Some(ObservedRole {
                arn: "arn:aws:iam::000000000000:role/demo-consumer-role".into(),
                owner: Owner::This,
                trust_policy: serde_json::Value::Null,
                policy: None,
                region: None,
                extra_policies: vec![
                    "managed `arn:aws:iam::aws:policy/AdministratorAccess`".into(),
                ],
                tags: Default::default(),
            }),
            function: Some(ObservedFunction {
                arn: "arn:aws:lambda:us-east-1:000000000000:function:demo-consumer".into(),
                owner: Owner::Untagged,
                code_sha256: "q2Vk=".into(),
                code_size: 1234,
                memory_mb: 128,
                timeout_s: 30,
                architecture: Some(Architecture::Arm64),
                runtime: "provided.al2023".into(),
                handler: "bootstrap".into(),
                role_arn: String::new(),
                env: Default::default(),
                state: "Active".into(),
                last_update_status: "Successful".into(),
                last_modified: "2024-03-09T07:05:04.000+0000".into(),
                tags: Default::default(),
            }),
            mappings: vec![ObservedMapping {
                uuid: "1a2b".into(),
                state: "Enabled".into(),
                settings: MappingSettings {
                    batch_size: 100,
                    parallelization_factor: 1,
                    maximum_batching_window_s: 0,
                    maximum_retry_attempts: 10,
                    bisect_batch_on_function_error: true,
                    maximum_record_age_s: -1,
                    on_failure: None,
                    report_batch_item_failures: true,
                    enabled: true,
                },
                starting_position: Some(StartingPosition::TrimHorizon),
                last_processing_result: Some("PROBLEM: Function call failed".into()),
                state_reason: Some("User action".into()),
            }],
            bucket_has_objects: None,
            queue: Some(ObservedQueue {
                url: "https://sqs.us-east-1.amazonaws.com/000000000000/demo-consumer-failures"
                    .into(),
                arn: "arn:aws:sqs:us-east-1:000000000000:demo-consumer-failures".into(),
                owner: Owner::This,
                encrypted: true,
                retention_s: 1_209_600,
                messages: 2,
                tags: Default::default(),
            }),
            log_group: None,
        }
    }

    #[test]
    fn table_shows_every_resource() {
        let d = desired();
        let status = Status::new(
            &d,
            &observed(),
            Some(&ShardMap::uniform(2)),
            Some((10_000, true)),
        );
        let text = status.render(&d);
        let expected = "\
deployment `demo` in us-east-1

RESOURCE  NAME                    STATE    DETAILS
stream    demo-events             ACTIVE   PROVISIONED, 2 open shards, retention 24 h
  shard   shardId-000000000000    open     hash keys 0 to 170141183460469231731687303715884105727
  shard   shardId-000000000001    open     hash keys 170141183460469231731687303715884105728 to 340282366920938463463374607431768211455
role      demo-consumer-role      exists   also has policies kstream did not put there: managed `arn:aws:iam::aws:policy/AdministratorAccess`
function  demo-consumer           Active   arm64, provided.al2023, 128 MB, 30 s; code q2Vk= (1.2 KiB), modified 2024-03-09T07:05:04.000+0000 (not tagged by kstream)
mapping   1a2b                    Enabled  batch size 100, starting position TRIM_HORIZON, last poll: PROBLEM: Function call failed
bucket    demo-bucket-1234        exists   10000+ objects
queue     demo-consumer-failures  exists   2 failed batches: `kstream failures` lists them, `kstream redrive` writes them
";
        assert_eq!(text, expected);
    }

    #[test]
    fn missing_resources_are_shown_and_null_in_json() {
        let d = desired();
        let status = Status::new(&d, &Observed::default(), None, None);
        let text = status.render(&d);
        let expected = "\
deployment `demo` in us-east-1

RESOURCE  NAME                STATE    DETAILS
stream    demo-events         missing
role      demo-consumer-role  missing
function  demo-consumer       missing
mapping   -                   missing
bucket    demo-bucket-1234    missing
";
        assert_eq!(text, expected);
        let json = serde_json::to_value(&status).unwrap();
        assert!(json["stream"].is_null() && json["function"].is_null());
        assert_eq!(json["mappings"], serde_json::json!([]));
    }

    #[test]
    fn json_carries_hash_keys_as_strings() {
        let d = desired();
        let status = Status::new(
            &d,
            &observed(),
            Some(&ShardMap::uniform(2)),
            Some((3, false)),
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["stream"]["open_shards"][1]["ending_hash_key"],
            u128::MAX.to_string()
        );
        assert_eq!(json["function"]["architecture"], "arm64");
        assert_eq!(json["mappings"][0]["starting_position"], "TRIM_HORIZON");
        assert_eq!(json["bucket"]["objects"], 3);
        assert_eq!(json["bucket"]["more_objects"], false);
        assert_eq!(json["failure_queue"]["messages"], 2);
        assert_eq!(
            json["mappings"][0]["last_processing_result"],
            "PROBLEM: Function call failed"
        );
    }
}
