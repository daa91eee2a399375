//! `plan` / `apply` / `destroy` against a real LocalStack.

use std::time::Duration;

use crate::support::{Aws, Deployment, FakeWorkspace, rt, stderr, stdout};

/// Assert that an `apply --json` made no write call, showing its plan otherwise.
fn assert_converged(v: &serde_json::Value) {
    assert_eq!(
        write_calls(v),
        Vec::<String>::new(),
        "a converged apply writes nothing; plan:\n{:#}",
        v["plan"]
    );
}

fn write_calls(v: &serde_json::Value) -> Vec<String> {
    v["write_calls"]
        .as_array()
        .expect("write_calls")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect()
}

/// What exists for a deployment, read with the SDK.
#[derive(Debug, PartialEq)]
struct Inventory {
    stream: Option<(String, i32)>,
    bucket: bool,
    role: bool,
    function: Option<String>,
    mappings: usize,
}

fn inventory(aws: &Aws, rt: &tokio::runtime::Runtime, d: &Deployment) -> Inventory {
    rt.block_on(async {
        let stream = aws
            .kinesis
            .describe_stream_summary()
            .stream_name(d.stream())
            .send()
            .await
            .ok()
            .and_then(|o| o.stream_description_summary)
            .map(|s| (s.stream_status().as_str().to_string(), s.open_shard_count()));
        let bucket = aws.s3.head_bucket().bucket(d.bucket()).send().await.is_ok();
        let role = aws.iam.get_role().role_name(d.role()).send().await.is_ok();
        let function = aws
            .lambda
            .get_function_configuration()
            .function_name(d.function())
            .send()
            .await
            .ok()
            .map(|c| {
                c.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            });
        let mappings = aws
            .lambda
            .list_event_source_mappings()
            .function_name(d.function())
            .send()
            .await
            .map(|o| o.event_source_mappings().len())
            .unwrap_or(0);
        Inventory {
            stream,
            bucket,
            role,
            function,
            mappings,
        }
    })
}

fn deployed() -> Inventory {
    Inventory {
        stream: Some(("ACTIVE".into(), 2)),
        bucket: true,
        role: true,
        function: Some("Active".into()),
        mappings: 1,
    }
}

fn nothing() -> Inventory {
    Inventory {
        stream: None,
        bucket: false,
        role: false,
        function: None,
        mappings: 0,
    }
}

#[test]
fn apply_twice_makes_no_write_call_and_destroy_removes_everything() {
    let d = Deployment::new("idem");
    let (rt, aws) = {
        let rt = rt();
        let aws = Aws::new(&rt);
        (rt, aws)
    };

    let plan = d.json(&["plan"]);
    assert_eq!(
        plan["changes"].as_array().map(Vec::len),
        Some(8),
        "{plan:#}"
    );
    assert_eq!(
        inventory(&aws, &rt, &d),
        nothing(),
        "plan must not create anything"
    );
    let changes = d.kstream(&["plan", "--detailed-exitcode"]);
    assert_eq!(changes.status.code(), Some(3), "{}", stderr(&changes));

    let first = d.json(&["apply"]);
    let writes = write_calls(&first);
    for op in [
        "Kinesis.CreateStream",
        "S3.CreateBucket",
        "IAM.CreateRole",
        "IAM.PutRolePolicy",
        "Lambda.CreateFunction",
        "Lambda.CreateEventSourceMapping",
        "SQS.CreateQueue",
        "CloudWatch Logs.CreateLogGroup",
    ] {
        assert_eq!(
            writes.iter().filter(|w| *w == op).count(),
            1,
            "{op} once in {writes:?}"
        );
    }
    assert_eq!(inventory(&aws, &rt, &d), deployed());

    // Ownership tags, security settings and the scoped policy really are in place.
    rt.block_on(async {
        let tags = aws
            .s3
            .get_bucket_tagging()
            .bucket(d.bucket())
            .send()
            .await
            .expect("bucket tags");
        assert!(
            tags.tag_set()
                .iter()
                .any(|t| t.key() == "kstream:deployment" && t.value() == d.name)
        );
        let pab = aws
            .s3
            .get_public_access_block()
            .bucket(d.bucket())
            .send()
            .await
            .expect("public access block");
        assert_eq!(
            pab.public_access_block_configuration()
                .and_then(|c| c.block_public_policy()),
            Some(true)
        );
        let policy = aws
            .iam
            .get_role_policy()
            .role_name(d.role())
            .policy_name("kstream-consumer")
            .send()
            .await
            .expect("role policy");
        let doc = policy.policy_document();
        assert!(
            doc.contains(&d.stream()) && doc.contains(&d.bucket()),
            "{doc}"
        );
    });

    let second = d.json(&["apply"]);
    assert_eq!(
        write_calls(&second),
        Vec::<String>::new(),
        "a converged apply writes nothing"
    );
    let text = d.ok(&["plan"]);
    assert!(
        stdout(&text).contains("no changes: deployment"),
        "{}",
        stdout(&text)
    );
    d.ok(&["plan", "--detailed-exitcode"]);

    let destroyed = d.json(&["destroy", "--yes"]);
    assert!(!write_calls(&destroyed).is_empty());
    assert_eq!(inventory(&aws, &rt, &d), nothing());
    let again = d.json(&["destroy", "--yes"]);
    assert_eq!(
        write_calls(&again),
        Vec::<String>::new(),
        "a second destroy is a no-op"
    );
}

#[test]
fn changed_settings_are_updated_in_place() {
    let mut d = Deployment::new("update");
    d.ok(&["apply"]);
    d.shards = 3;
    d.consumer_extra = "memory_mb = 256\nbatch_size = 50\n".into();
    d.write();
    let plan = d.ok(&["plan"]);
    let text = stdout(&plan);
    for line in [
        "shard_count: 2 → 3",
        "memory_mb: 128 → 256",
        "batch_size: 100 → 50",
        "plan: 0 to create, 3 to update, 0 to delete",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let applied = d.json(&["apply"]);
    let writes = write_calls(&applied);
    assert!(
        writes.contains(&"Kinesis.UpdateShardCount".to_string()),
        "{writes:?}"
    );
    assert!(
        writes.contains(&"Lambda.UpdateFunctionConfiguration".to_string()),
        "{writes:?}"
    );
    assert!(
        writes.contains(&"Lambda.UpdateEventSourceMapping".to_string()),
        "{writes:?}"
    );
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("Create") || w.contains("UpdateFunctionCode")),
        "{writes:?}"
    );
    assert_converged(&d.json(&["apply"]));
}

#[test]
fn existing_untagged_resource_is_refused_then_adopted() {
    let d = Deployment::new("adopt");
    let rt = rt();
    let aws = Aws::new(&rt);
    rt.block_on(async {
        aws.kinesis
            .create_stream()
            .stream_name(d.stream())
            .shard_count(2)
            .send()
            .await
            .expect("create foreign stream");
    });
    let refused = d.kstream(&["apply"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains(&format!(
            "stream `{}` already exists and was not created by kstream",
            d.stream()
        )),
        "{err}"
    );
    assert!(err.contains("kstream apply --adopt"), "{err}");
    let inv = inventory(&aws, &rt, &d);
    assert!(
        !inv.bucket && !inv.role && inv.function.is_none(),
        "nothing is created when apply refuses: {inv:?}"
    );

    d.ok(&["apply", "--adopt"]);
    assert_eq!(inventory(&aws, &rt, &d), deployed());
    assert_converged(&d.json(&["apply"]));
}

#[test]
fn destroy_keeps_a_bucket_with_objects_unless_forced() {
    let d = Deployment::new("keep");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply"]);
    rt.block_on(async {
        aws.s3
            .put_object()
            .bucket(d.bucket())
            .key("precious.txt")
            .body(b"data".to_vec().into())
            .send()
            .await
            .expect("put object");
    });
    let out = d.ok(&["destroy", "--yes"]);
    assert!(
        stdout(&out).contains(&format!("bucket `{}` kept: holds objects", d.bucket())),
        "{}",
        stdout(&out)
    );
    let inv = inventory(&aws, &rt, &d);
    assert!(
        inv.bucket && inv.stream.is_none() && inv.function.is_none() && !inv.role,
        "{inv:?}"
    );

    d.ok(&["destroy", "--force", "--yes"]);
    assert_eq!(inventory(&aws, &rt, &d), nothing());
}

#[test]
fn interrupted_apply_and_destroy_converge() {
    let d = Deployment::new("kill");
    let rt = rt();
    let aws = Aws::new(&rt);
    // Kill a cold apply at successive progress lines (1, 2, 3, …), re-running it each time from
    // wherever the previous one stopped; it must always converge to one of each resource.
    let mut point = 1;
    while d.kill_after_progress_line(&["apply"], "", point) {
        point += 1;
    }
    assert!(point > 2, "apply finished before it could be interrupted");
    d.ok(&["apply"]);
    assert_eq!(inventory(&aws, &rt, &d), deployed());
    assert_converged(&d.json(&["apply"]));

    let mut point = 1;
    while d.kill_after_progress_line(&["destroy", "--force", "--yes"], "", point) {
        point += 2;
    }
    d.ok(&["destroy", "--force", "--yes"]);
    assert_eq!(inventory(&aws, &rt, &d), nothing());
}

#[test]
fn a_signal_stops_apply_and_destroy_between_steps_and_a_rerun_converges() {
    let d = Deployment::new("sig");
    let rt = rt();
    let aws = Aws::new(&rt);
    let bound = Duration::from_secs(180);
    // Ctrl-C during the first phase (stream ∥ bucket ∥ role ∥ queue ∥ log group): the calls in
    // flight finish, the function and the mapping are never started.
    let run = d.signal_at_first_step(&["apply", "--yes"], "kstream: applying", &["INT"], bound);
    assert!(
        run.sent,
        "apply finished before the first step:\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    for line in [
        "kstream: SIGINT received: finishing the calls in flight of apply, starting nothing new",
        "kstream: stopped after ",
        &format!("  not started: function `{}`", d.function()),
        &format!("  not started: mapping `{} → {}`", d.stream(), d.function()),
        "error: apply stopped by SIGINT: ",
        "hint: run `kstream apply` again to finish",
    ] {
        assert!(run.stderr.contains(line), "no {line:?} in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("creating function"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let function = rt.block_on(aws.lambda.get_function().function_name(d.function()).send());
    assert!(
        function.is_err(),
        "the function was created after the signal"
    );
    d.ok(&["apply", "--yes"]);
    assert_eq!(inventory(&aws, &rt, &d), deployed());
    assert_converged(&d.json(&["apply"]));

    // SIGTERM (what CI runners send) stops destroy the same way, with 128 + 15.
    let destroy = ["destroy", "--force", "--yes"];
    let run = d.signal_at_first_step(&destroy, "kstream: destroying", &["TERM"], bound);
    assert!(
        run.sent,
        "destroy finished before the first step:\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(143), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: destroy stopped by SIGTERM: "),
        "{}",
        run.stderr
    );
    // The mapping is deleted first, alone; the role comes after the function and its logs.
    assert!(
        run.stderr
            .contains(&format!("  not started: role `{}`", d.role())),
        "{}",
        run.stderr
    );

    d.ok(&destroy);
    assert_eq!(inventory(&aws, &rt, &d), nothing());
}

/// A zip whose `bootstrap` is a script (accepted unchecked): other code than the deployed.
fn script_zip(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("zip dir");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).expect("create zip"));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .expect("zip entry");
    std::io::Write::write_all(&mut writer, b"#!/bin/sh\nexit 1\n").expect("zip bootstrap");
    writer.finish().expect("finish zip");
}

#[test]
fn plan_no_build_compares_the_last_packaged_zip_or_says_it_did_not() {
    let d = Deployment::new("nobuild");
    d.ok(&["apply"]);
    // The same deployment from a fresh checkout: no `consumer.zip`, nothing packaged yet.
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = FakeWorkspace::new(dir.path());
    let text = std::fs::read_to_string(d.config()).expect("read deploy.toml");
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("zip = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let config = ws.root.join("deploy.toml");
    std::fs::write(&config, text).expect("write deploy.toml");
    let config = config.to_str().expect("utf-8 path");
    let plan = |extra: &[&str]| {
        let mut args = vec!["--config", config];
        args.extend_from_slice(extra);
        let out = ws.kstream(&args);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        assert!(
            !ws.built.exists(),
            "{extra:?} ran a build: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("building consumer"),
            "{}",
            stderr(&out)
        );
        out
    };

    let out = plan(&["plan", "--no-build"]);
    assert!(
        stdout(&out).contains("note: the function's code was not compared"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("no changes"), "{}", stdout(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&plan(&["--json", "plan", "--no-build"]).stdout).expect("json");
    assert_eq!(
        v["code"],
        serde_json::json!({ "compared": false, "zip": null })
    );

    // A packaged zip with other code than the deployed: compared, so a code update.
    script_zip(&ws.packaged_zip());
    let out = plan(&["--json", "plan", "--no-build"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["code"]["compared"], true, "{v:#}");
    assert_eq!(v["code"]["zip"], ws.packaged_zip().to_str().expect("utf-8"));
    let function = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["resource"] == "function")
        .expect("a function change");
    assert_eq!(function["action"]["action"], "update", "{function:#}");
    assert_eq!(
        function["action"]["updates"][0]["field"], "code",
        "{function:#}"
    );
    // The zip that is deployed: compared, nothing to change.
    std::fs::copy(crate::support::consumer_zip(), ws.packaged_zip()).expect("copy zip");
    let out = plan(&["plan", "--no-build"]);
    assert!(stdout(&out).contains("no changes"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("not compared"), "{}", stdout(&out));

    // Without `--no-build`, plan builds (with the fake, which fails): the fake is what ran.
    let out = ws.kstream(&["--config", config, "plan"]);
    assert!(!out.status.success());
    assert!(ws.built.exists(), "plan did not build: {}", stderr(&out));
}

#[test]
fn destroy_without_yes_or_terminal_refuses_and_deletes_nothing() {
    let d = Deployment::new("ask");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply"]);
    let out = d.kstream(&["destroy", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no terminal to confirm on")
            && stderr(&out).contains("kstream destroy --yes"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("records the consumer has not written yet are lost"),
        "the plan says what is lost: {}",
        stdout(&out)
    );
    assert_eq!(inventory(&aws, &rt, &d), deployed());
}

#[test]
fn destroy_force_empties_a_versioned_bucket_within_a_bound() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    use futures::StreamExt as _;

    let d = Deployment::new("versions");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply"]);
    let bucket = d.bucket();
    let put = |key: String| {
        let s3 = aws.s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(b"v".to_vec().into())
                .send()
                .await
                .expect("put object");
        }
    };
    let versioning = |status: BucketVersioningStatus| {
        aws.s3
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
    };
    let total = rt.block_on(async {
        // A `null` version from before versioning, versions and a delete marker while
        // enabled, and a `null` version again while suspended: more than 1,000 in all.
        put("before.txt".into()).await;
        versioning(BucketVersioningStatus::Enabled)
            .await
            .expect("enable versioning");
        futures::stream::iter((0..1_050).map(|i| put(format!("v/{}.txt", i % 700))))
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        aws.s3
            .delete_object()
            .bucket(&bucket)
            .key("before.txt")
            .send()
            .await
            .expect("delete marker");
        versioning(BucketVersioningStatus::Suspended)
            .await
            .expect("suspend versioning");
        put("after.txt".into()).await;
        put("v/1.txt".into()).await;
        let listed = aws
            .s3
            .list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .expect("list versions");
        assert!(
            listed
                .versions()
                .iter()
                .any(|v| v.version_id() == Some("null")),
            "the setup has a `null` version"
        );
        1 + 1_050 + 1 + 2
    });
    let out = d.ok_within(Duration::from_secs(180), &["destroy", "--force", "--yes"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "deleted {total} object versions from bucket `{bucket}`"
        )),
        "{err}"
    );
    assert_eq!(inventory(&aws, &rt, &d), nothing());
}

/// The failure queue and the log group as they are: (queue retention s, SSE on, tag), and
/// (log retention days, tag).
type QueueAndLogGroup = (
    Option<(String, String, Option<String>)>,
    Option<(Option<i32>, Option<String>)>,
);

fn queue_and_log_group(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    d: &Deployment,
) -> QueueAndLogGroup {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    rt.block_on(async {
        let queue = match aws
            .sqs
            .get_queue_url()
            .queue_name(format!("{}-failures", d.function()))
            .send()
            .await
        {
            Ok(out) => {
                let url = out.queue_url.expect("queue url");
                let attrs = aws
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(A::All)
                    .send()
                    .await
                    .expect("queue attributes")
                    .attributes
                    .unwrap_or_default();
                let tags = aws
                    .sqs
                    .list_queue_tags()
                    .queue_url(&url)
                    .send()
                    .await
                    .expect("queue tags")
                    .tags
                    .unwrap_or_default();
                Some((
                    attrs
                        .get(&A::MessageRetentionPeriod)
                        .cloned()
                        .unwrap_or_default(),
                    attrs
                        .get(&A::SqsManagedSseEnabled)
                        .cloned()
                        .unwrap_or_default(),
                    tags.get("kstream:deployment").cloned(),
                ))
            }
            Err(_) => None,
        };
        let name = format!("/aws/lambda/{}", d.function());
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .expect("describe log groups");
        let group = groups
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name.as_str()))
            .cloned();
        let log_group = match group {
            Some(g) => {
                let arn = g
                    .log_group_arn()
                    .map(str::to_string)
                    .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                    .expect("log group arn");
                let tags = aws
                    .logs
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .expect("log group tags")
                    .tags
                    .unwrap_or_default();
                Some((
                    g.retention_in_days(),
                    tags.get("kstream:deployment").cloned(),
                ))
            }
            None => None,
        };
        (queue, log_group)
    })
}

#[test]
fn failure_queue_and_log_group_are_planned_created_corrected_and_destroyed() {
    let d = Deployment::new("queue");
    let rt = rt();
    let aws = Aws::new(&rt);
    let plan = stdout(&d.ok(&["plan"]));
    for line in [
        format!(
            "+ queue `{}-failures` (failed batches, kept 14 days, SQS-managed encryption)",
            d.function()
        ),
        format!(
            "+ log group `/aws/lambda/{}` (logs kept 14 days)",
            d.function()
        ),
    ] {
        assert!(plan.contains(&line), "{line}\n{plan}");
    }
    d.ok(&["apply"]);
    let tag = Some(d.name.clone());
    assert_eq!(
        queue_and_log_group(&aws, &rt, &d),
        (
            Some(("1209600".into(), "true".into(), tag.clone())),
            Some((Some(14), tag.clone()))
        )
    );

    // Drift: someone shortens both retentions.
    rt.block_on(async {
        let url = aws
            .sqs
            .get_queue_url()
            .queue_name(format!("{}-failures", d.function()))
            .send()
            .await
            .expect("queue url")
            .queue_url
            .expect("url");
        aws.sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
                "60",
            )
            .send()
            .await
            .expect("shorten queue retention");
        aws.logs
            .put_retention_policy()
            .log_group_name(format!("/aws/lambda/{}", d.function()))
            .retention_in_days(1)
            .send()
            .await
            .expect("shorten log retention");
    });
    let fixed = d.json(&["apply"]);
    let mut writes = write_calls(&fixed);
    writes.sort();
    assert_eq!(
        writes,
        [
            "CloudWatch Logs.PutRetentionPolicy",
            "SQS.SetQueueAttributes"
        ],
        "only the drift is corrected"
    );
    assert_converged(&d.json(&["apply"]));
    assert_eq!(
        queue_and_log_group(&aws, &rt, &d),
        (
            Some(("1209600".into(), "true".into(), tag.clone())),
            Some((Some(14), tag))
        )
    );

    d.ok(&["destroy", "--yes"]);
    assert_eq!(queue_and_log_group(&aws, &rt, &d), (None, None));
    assert_eq!(inventory(&aws, &rt, &d), nothing());
    let again = d.json(&["destroy", "--yes"]);
    assert_eq!(
        write_calls(&again),
        Vec::<String>::new(),
        "a second destroy is a no-op"
    );
}

#[test]
fn two_regions_never_share_a_role_or_a_bucket() {
    let d = Deployment::new("regions");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply"]);
    let us = std::fs::read_to_string(d.config()).expect("read deploy.toml");
    let in_eu = |text: &str, file: &str| {
        let path = d.dir.path().join(file);
        std::fs::write(
            &path,
            text.replace("region = \"us-east-1\"", "region = \"eu-west-1\""),
        )
        .expect("write eu config");
        path
    };
    let run = |config: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        crate::support::kstream_in(d.dir.path(), &all)
    };

    // The same config in another region: the global role and the bucket are refused.
    let same = in_eu(&us, "same-names.toml");
    let out = run(&same, &["plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // `plan` lists the conflicts with the plan on stdout and fails with their count.
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        err.contains(&format!(
            "role `{}` is this deployment's role in us-east-1",
            d.role()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("bucket `{}` is in us-east-1", d.bucket())),
        "{err}"
    );
    // Destroying there keeps them: they serve us-east-1.
    let out = run(&same, &["destroy", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(inventory(&aws, &rt, &d), deployed());

    // With names of its own, eu-west-1 gets a pipeline of its own, and loses it again.
    let own = in_eu(
        &us.replace(
            &format!("role_name = \"{}\"", d.role()),
            &format!("role_name = \"{}-eu\"", d.role()),
        )
        .replace(
            &format!("name = \"{}\"", d.bucket()),
            &format!("name = \"{}-eu\"", d.bucket()),
        ),
        "own-names.toml",
    );
    let out = run(&own, &["apply"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&own, &["--json", "destroy", "--force", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // us-east-1 was never touched.
    assert_eq!(inventory(&aws, &rt, &d), deployed());
    assert_converged(&d.json(&["apply"]));
}

#[test]
fn bucket_policy_keeps_statements_kstream_did_not_write() {
    let d = Deployment::new("bpolicy");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply", "--yes"]);
    let read = || -> serde_json::Value {
        rt.block_on(async {
            let out = aws
                .s3
                .get_bucket_policy()
                .bucket(d.bucket())
                .send()
                .await
                .expect("get bucket policy");
            serde_json::from_str(out.policy().expect("a policy")).expect("policy JSON")
        })
    };
    let ours = read();
    // Someone replaces the policy with an audit statement of their own.
    let audit = serde_json::json!({
        "Sid": "AuditRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/*", d.bucket())
    });
    let theirs = serde_json::json!({"Version": "2012-10-17", "Statement": [audit.clone()]});
    rt.block_on(async {
        aws.s3
            .put_bucket_policy()
            .bucket(d.bucket())
            .policy(theirs.to_string())
            .send()
            .await
            .expect("put their policy");
    });
    let plan = stdout(&d.ok(&["plan"]));
    assert!(plan.contains("policy: → deny non-TLS requests"), "{plan}");
    d.ok(&["apply", "--yes"]);
    let merged = read();
    let statements = merged["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 2, "{merged:#}");
    assert_eq!(statements[0], audit, "{merged:#}");
    assert_eq!(statements[1], ours["Statement"][0], "{merged:#}");
    assert_converged(&d.json(&["apply", "--yes"]));
}

#[test]
fn policies_added_to_the_role_by_someone_else_are_reported() {
    let d = Deployment::new("extrapol");
    let rt = rt();
    let aws = Aws::new(&rt);
    d.ok(&["apply", "--yes"]);
    rt.block_on(async {
        aws.iam
            .put_role_policy()
            .role_name(d.role())
            .policy_name("debug-access")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .expect("put a foreign inline policy");
    });
    let plan = d.ok(&["plan"]);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "warning: role `{}` has policies kstream did not put there: inline `debug-access`",
            d.role()
        )),
        "{text}"
    );
    assert!(
        text.contains("no changes"),
        "a warning, not a change:\n{text}"
    );
    let status = d.json(&["status"]);
    assert_eq!(
        status["role"]["extra_policies"],
        serde_json::json!(["inline `debug-access`"]),
        "{status:#}"
    );
    // `apply` leaves it alone: still converged, and the policy is still there.
    assert_converged(&d.json(&["apply", "--yes"]));
    rt.block_on(async {
        aws.iam
            .get_role_policy()
            .role_name(d.role())
            .policy_name("debug-access")
            .send()
            .await
            .expect("apply keeps the foreign policy");
    });
}

/// The stream's encryption as Kinesis reports it: (`EncryptionType`, `KeyId`).
fn stream_encryption(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    d: &Deployment,
) -> (String, Option<String>) {
    let summary = rt
        .block_on(
            aws.kinesis
                .describe_stream_summary()
                .stream_name(d.stream())
                .send(),
        )
        .expect("describe stream summary")
        .stream_description_summary
        .expect("summary");
    (
        summary
            .encryption_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        summary.key_id().map(str::to_string),
    )
}

#[test]
fn encryption_drift() {
    let d = Deployment::new("encrypt");
    let (rt, aws) = {
        let rt = rt();
        let aws = Aws::new(&rt);
        (rt, aws)
    };
    let applied = d.json(&["apply"]);
    assert!(
        write_calls(&applied).contains(&"Kinesis.StartStreamEncryption".to_string()),
        "a new stream is encrypted: {:?}",
        write_calls(&applied)
    );
    let kms = || ("KMS".to_string(), Some("alias/aws/kinesis".to_string()));
    assert_eq!(stream_encryption(&aws, &rt, &d), kms());
    assert_converged(&d.json(&["apply"]));

    // Someone turns encryption off behind kstream's back.
    rt.block_on(
        aws.kinesis
            .stop_stream_encryption()
            .stream_name(d.stream())
            .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
            .key_id("alias/aws/kinesis")
            .send(),
    )
    .expect("stop stream encryption");
    crate::support::eventually("the stream to be ACTIVE", Duration::from_secs(30), || {
        let status = rt
            .block_on(
                aws.kinesis
                    .describe_stream_summary()
                    .stream_name(d.stream())
                    .send(),
            )
            .ok()?
            .stream_description_summary?
            .stream_status()
            .clone();
        (status == aws_sdk_kinesis::types::StreamStatus::Active).then_some(())
    });
    assert_eq!(stream_encryption(&aws, &rt, &d).0, "NONE");

    let plan = stdout(&d.ok(&["plan"]));
    for line in [
        &format!("  ~ stream `{}`", d.stream()),
        "      encryption: none → KMS alias/aws/kinesis",
        "plan: 0 to create, 1 to update, 0 to delete",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
    let applied = d.json(&["apply"]);
    assert_eq!(
        write_calls(&applied),
        ["Kinesis.StartStreamEncryption"],
        "only the encryption is restored"
    );
    assert_eq!(stream_encryption(&aws, &rt, &d), kms());
    assert_converged(&d.json(&["apply"]));
}

/// Every resource's tags, read with the SDK: (resource, its tags).
fn all_tags(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    d: &Deployment,
) -> Vec<(&'static str, std::collections::BTreeMap<String, String>)> {
    rt.block_on(async {
        let stream = aws
            .kinesis
            .list_tags_for_stream()
            .stream_name(d.stream())
            .send()
            .await
            .expect("stream tags")
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let bucket = aws
            .s3
            .get_bucket_tagging()
            .bucket(d.bucket())
            .send()
            .await
            .expect("bucket tags")
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let role = aws
            .iam
            .get_role()
            .role_name(d.role())
            .send()
            .await
            .expect("role")
            .role()
            .expect("role")
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let function = aws
            .lambda
            .get_function()
            .function_name(d.function())
            .send()
            .await
            .expect("function")
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let url = aws
            .sqs
            .get_queue_url()
            .queue_name(format!("{}-failures", d.function()))
            .send()
            .await
            .expect("queue url")
            .queue_url()
            .expect("queue url")
            .to_string();
        let queue = aws
            .sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .expect("queue tags")
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        #[allow(deprecated)]
        let log_group = aws
            .logs
            .list_tags_log_group()
            .log_group_name(format!("/aws/lambda/{}", d.function()))
            .send()
            .await
            .expect("log group tags")
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        vec![
            ("stream", stream),
            ("bucket", bucket),
            ("role", role),
            ("function", function),
            ("queue", queue),
            ("log group", log_group),
        ]
    })
}

#[test]
fn user_tags_on_every_resource_are_updated_and_converge() {
    let mut d = Deployment::new("tags");
    d.consumer_extra = "\n[tags]\nteam = \"data platform\"\nenv = \"dev\"\n".into();
    d.write();
    let (rt, aws) = {
        let rt = rt();
        let aws = Aws::new(&rt);
        (rt, aws)
    };
    d.ok(&["apply"]);
    let check = |d: &Deployment, env: &str| {
        for (resource, tags) in all_tags(&aws, &rt, d) {
            assert_eq!(
                tags.get("team").map(String::as_str),
                Some("data platform"),
                "{resource}: {tags:?}"
            );
            assert_eq!(
                tags.get("env").map(String::as_str),
                Some(env),
                "{resource}: {tags:?}"
            );
            assert_eq!(
                tags.get("kstream:deployment"),
                Some(&d.name),
                "{resource}: {tags:?}"
            );
        }
    };
    check(&d, "dev");
    assert_converged(&d.json(&["apply"]));

    d.consumer_extra = "\n[tags]\nteam = \"data platform\"\nenv = \"prod\"\n".into();
    d.write();
    let plan = stdout(&d.ok(&["plan"]));
    assert!(
        plan.contains("tag `env`: dev → prod") && plan.contains("plan: 0 to create, 6 to update"),
        "{plan}"
    );
    let applied = d.json(&["apply"]);
    let mut writes = write_calls(&applied);
    writes.sort();
    assert_eq!(
        writes,
        [
            "CloudWatch Logs.TagResource",
            "IAM.TagRole",
            "Kinesis.AddTagsToStream",
            "Lambda.TagResource",
            "S3.PutBucketTagging",
            "SQS.TagQueue",
        ]
    );
    check(&d, "prod");
    assert_converged(&d.json(&["apply"]));
}
