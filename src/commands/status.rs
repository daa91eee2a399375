//! `kstream status`: the deployment as it is, read-only. Stream (status, mode, open shards
//! with their hash key ranges, retention), function (state, architecture, code SHA-256 and
//! size, last modified), event source mapping (state, batch size, starting position), bucket
//! (object count, bounded), the failure queue's depth, and the consumer's iterator age from
//! CloudWatch (`IteratorAge`, Maximum per minute over the last 5 minutes, with a warning when
//! it grows: `iterator_age::growing`). A table on a terminal, JSON otherwise or with `--json`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use anyhow::Result;
use serde::Serialize;

use super::{Context, print_json_or};
use crate::aws::metrics::{self, Reading};
use crate::aws::{objects, records};
use crate::model::{Desired, Observed, Owner};
use crate::producer::ShardMap;

mod iterator_age;

pub use iterator_age::IteratorAgeStatus;

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
    /// The consumer's iterator age from CloudWatch, `null` when the function is missing.
    pub iterator_age: Option<IteratorAgeStatus>,
    /// What needs attention (the iterator age grows), one sentence each.
    pub warnings: Vec<String>,
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
        iterator_age: Option<&Reading>,
    ) -> Status {
        let iterator_age = observed
            .function
            .as_ref()
            .and(iterator_age)
            .map(|r| IteratorAgeStatus::new(r, desired.consumer.maximum_batching_window_s));
        let warnings = iterator_age
            .iter()
            .filter_map(|a| a.warning(desired))
            .collect();
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
            iterator_age,
            warnings,
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
        // What the mapping reports to CloudWatch: how far behind the stream it reads.
        if let Some(a) = &self.iterator_age {
            rows.push([
                "  metric".into(),
                "IteratorAge".into(),
                a.state().into(),
                a.details(),
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
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
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
    // The metric read never fails: `Reading::Unavailable` says why there is none.
    let iterator_age = async {
        Ok::<_, anyhow::Error>(match &observed.function {
            Some(_) => Some(
                metrics::iterator_age(
                    &clients,
                    &desired.consumer.function_name,
                    std::time::SystemTime::now(),
                )
                .await,
            ),
            None => None,
        })
    };
    let (shards, count, iterator_age) = tokio::try_join!(
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
        iterator_age,
    )?;
    let status = Status::new(
        &desired,
        &observed,
        shards.as_ref(),
        count,
        iterator_age.as_ref(),
    );
    // JSON when asked for, or when stdout is not a terminal (a pipe, a file).
    let json = ctx.output.json || !std::io::stdout().is_terminal();
    print_json_or(json, &status, || status.render(&desired))
}

#[cfg(test)]
mod tests {
    use super::iterator_age::{AgePoint, age, clock, growing};
    use super::*;
    use crate::aws::metrics::Unavailable;
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
            Some(&Reading::Unavailable {
                why: Unavailable::NoData,
                code: None,
            }),
        );
        let text = status.render(&d);
        let expected = "\
deployment `demo` in us-east-1

RESOURCE  NAME                    STATE          DETAILS
stream    demo-events             ACTIVE         PROVISIONED, 2 open shards, retention 24 h
  shard   shardId-000000000000    open           hash keys 0 to 170141183460469231731687303715884105727
  shard   shardId-000000000001    open           hash keys 170141183460469231731687303715884105728 to 340282366920938463463374607431768211455
role      demo-consumer-role      exists         also has policies kstream did not put there: managed `arn:aws:iam::aws:policy/AdministratorAccess`
function  demo-consumer           Active         arm64, provided.al2023, 128 MB, 30 s; code q2Vk= (1.2 KiB), modified 2024-03-09T07:05:04.000+0000 (not tagged by kstream)
mapping   1a2b                    Enabled        batch size 100, starting position TRIM_HORIZON, last poll: PROBLEM: Function call failed
  metric  IteratorAge             not available  no datapoints in the last 5 min (Lambda sends them once the mapping has processed batches; an emulator may not send them)
bucket    demo-bucket-1234        exists         10000+ objects
queue     demo-consumer-failures  exists         2 failed batches: `kstream failures` lists them, `kstream redrive` writes them
";
        assert_eq!(text, expected);
    }

    #[test]
    fn missing_resources_are_shown_and_null_in_json() {
        let d = desired();
        let status = Status::new(&d, &Observed::default(), None, None, Some(&no_data()));
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
        // No function, no metric to read: `null`, and no row.
        assert!(json["iterator_age"].is_null());
        assert_eq!(json["warnings"], serde_json::json!([]));
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
            None,
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

    fn no_data() -> Reading {
        Reading::Unavailable {
            why: Unavailable::NoData,
            code: None,
        }
    }

    /// 2026-01-01 12:00:00 UTC.
    const NOON: i64 = 1_767_268_800;

    fn series(ages_ms: &[u64]) -> Vec<AgePoint> {
        ages_ms
            .iter()
            .enumerate()
            .map(|(i, &max_ms)| AgePoint {
                at_s: NOON + 60 * i as i64,
                max_ms,
            })
            .collect()
    }

    fn reading(ages_ms: &[u64]) -> Reading {
        Reading::Points(
            series(ages_ms)
                .iter()
                .map(|p| metrics::Point {
                    at_s: p.at_s,
                    value: p.max_ms as f64,
                })
                .collect(),
        )
    }

    #[test]
    fn growth_needs_three_rising_consecutive_minutes_above_the_floor() {
        // Rising for three minutes, the latest at the floor.
        assert!(growing(&series(&[500, 20_000, 40_000, 60_000]), 0));
        assert!(growing(&series(&[90_000, 80_000, 100_000, 200_000]), 0));
        // Only the last three count: an earlier fall does not matter, a late one does.
        assert!(!growing(&series(&[20_000, 40_000, 90_000, 80_000]), 0));
        // A flat step is not growth.
        assert!(!growing(&series(&[70_000, 80_000, 80_000]), 0));
        // Below the floor: near the head of the stream, whatever the trend.
        assert!(!growing(&series(&[100, 1_000, 59_999]), 0));
        // The batching window raises the floor: 60 s + 30 s.
        assert!(!growing(&series(&[50_000, 70_000, 89_999]), 30));
        assert!(growing(&series(&[50_000, 70_000, 90_000]), 30));
        // Too few points.
        assert!(!growing(&series(&[70_000, 200_000]), 0));
        assert!(!growing(&[], 0));
        // A missing minute breaks the run.
        let mut gap = series(&[70_000, 80_000, 90_000]);
        gap[2].at_s += 60;
        assert!(!growing(&gap, 0));
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(0), "0 ms");
        assert_eq!(age(999), "999 ms");
        assert_eq!(age(12_345), "12.3 s");
        assert_eq!(age(190_000), "3 min 10 s");
        assert_eq!(age(7_500_000), "2 h 5 min");
        assert_eq!(clock(NOON + 61), "12:01");
    }

    #[test]
    fn a_growing_iterator_age_is_shown_with_a_warning() {
        let d = desired();
        let status = Status::new(
            &d,
            &observed(),
            Some(&ShardMap::uniform(2)),
            Some((3, false)),
            Some(&reading(&[800, 10_000, 70_000, 130_000, 190_000])),
        );
        insta::assert_snapshot!("iterator_age_growing", status.render(&d));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["iterator_age"]["max_ms"], 190_000);
        assert_eq!(json["iterator_age"]["growing"], true);
        assert_eq!(json["iterator_age"]["window_s"], 300);
        assert!(json["iterator_age"]["not_available"].is_null());
        assert_eq!(
            json["iterator_age"]["points"][0],
            serde_json::json!({"at_s": NOON, "max_ms": 800})
        );
        assert_eq!(json["iterator_age"]["points"].as_array().unwrap().len(), 5);
        let warning = json["warnings"][0].as_str().unwrap();
        assert!(
            warning.contains("`consumer.parallelization_factor` (now 1)"),
            "{warning}"
        );
    }

    #[test]
    fn a_steady_iterator_age_has_no_warning() {
        let d = desired();
        let status = Status::new(
            &d,
            &observed(),
            None,
            None,
            Some(&reading(&[1_200, 900, 1_500])),
        );
        let text = status.render(&d);
        let row = text
            .lines()
            .find(|l| l.contains("IteratorAge"))
            .expect("the metric's row");
        assert!(
            row.split_whitespace()
                .take(3)
                .eq(["metric", "IteratorAge", "steady"]),
            "{row}"
        );
        assert!(
            text.contains(
                "max 1.5 s in the last 5 min; per minute from 12:00 UTC: 1.2 s, 900 ms, 1.5 s"
            ),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
        assert_eq!(status.warnings, Vec::<String>::new());
    }

    #[test]
    fn an_unavailable_iterator_age_is_null_never_zero() {
        let d = desired();
        let cases = [
            (Unavailable::NoData, None),
            (Unavailable::NotSupported, Some("UnknownOperationException")),
            (Unavailable::AccessDenied, Some("AccessDenied")),
            (Unavailable::Throttled, Some("Throttling")),
            (Unavailable::Unreachable, None),
            (Unavailable::Error, Some("InternalServiceError")),
        ];
        let mut rows = String::new();
        for (why, code) in cases {
            let status = Status::new(
                &d,
                &observed(),
                None,
                None,
                Some(&Reading::Unavailable {
                    why,
                    code: code.map(str::to_string),
                }),
            );
            let json = serde_json::to_value(&status).unwrap();
            let age = &json["iterator_age"];
            assert!(age["max_ms"].is_null(), "{age}");
            assert_eq!(age["points"], serde_json::json!([]));
            assert_eq!(age["growing"], false);
            assert_eq!(age["not_available"], serde_json::to_value(why).unwrap());
            assert_eq!(age["error_code"], serde_json::json!(code));
            let text = status.render(&d);
            let row = text
                .lines()
                .find(|l| l.contains("IteratorAge"))
                .expect("the metric's row");
            assert!(row.contains("not available"), "{row}");
            assert!(!row.contains(" 0 ms"), "{row}");
            rows.push_str(row.trim_end());
            rows.push('\n');
        }
        insta::assert_snapshot!("iterator_age_not_available", rows);
        let json = serde_json::to_value(Unavailable::NotSupported).unwrap();
        assert_eq!(json, "not_supported");
    }
}
