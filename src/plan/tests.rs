//! The planner and the plan's text, on fixtures.

use std::path::Path;

use super::render::thousands;
use super::steps::Tags;
use super::*;
use crate::model::{FAILURE_RETENTION_S, HANDLER, ObservedLogGroup, ObservedQueue, RUNTIME};
use crate::model::{
    ObservedBucket, ObservedFunction, ObservedMapping, ObservedRole, ObservedStream,
};
use crate::package::Artifact;

const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/stream-output";

fn desired() -> Desired {
    let config = crate::config::parse(
        include_str!("../../tests/fixtures/plan/deploy.toml"),
        Path::new("deploy.toml"),
    )
    .expect("fixture config is valid");
    let artifact = Artifact {
        path: "bootstrap.zip".into(),
        sha256_base64: "c2hhLW9mLXRoZS16aXA=".into(),
        size: 3 * 1024 * 1024,
    };
    Desired::new(
        &config,
        "us-east-1".into(),
        "000000000000".into(),
        Some(artifact),
    )
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
            kms_key_id: d.stream.encryption.key_id().map(str::to_string),
            owner: Owner::This,
            tags: d.tags(),
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
            extra_policies: Vec::new(),
            region: Some(d.region.clone()),
            tags: d.role_tags(),
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
            tags: d.tags(),
        }),
        mappings: vec![mapping("m-1", d)],
        bucket_has_objects: None,
        queue: Some(ObservedQueue {
            url: format!("http://sqs/000000000000/{}", d.failure_queue_name()),
            arn: format!(
                "arn:aws:sqs:us-east-1:000000000000:{}",
                d.failure_queue_name()
            ),
            owner: Owner::This,
            encrypted: true,
            retention_s: FAILURE_RETENTION_S,
            messages: 0,
            tags: d.tags(),
        }),
        log_group: Some(ObservedLogGroup {
            arn: format!(
                "arn:aws:logs:us-east-1:000000000000:log-group:{}",
                d.log_group()
            ),
            owner: Owner::This,
            retention_days: Some(d.consumer.log_retention_days),
            tags: d.tags(),
        }),
    }
}

fn mapping(uuid: &str, d: &Desired) -> ObservedMapping {
    ObservedMapping {
        uuid: uuid.into(),
        state: "Enabled".into(),
        settings: d.mapping(),
        starting_position: Some(d.consumer.starting_position),
        last_processing_result: None,
        state_reason: None,
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
            Resource::Queue,
            Resource::LogGroup,
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
    assert_eq!(plan.counts(), (8, 0, 0));
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
    assert_eq!(
        env.keys().map(String::as_str).collect::<Vec<_>>(),
        kstream_contract::env::ALL
    );
    assert_eq!(
        Update::Environment.describe(),
        "environment: → KSTREAM_BUCKET, KSTREAM_KEY_PREFIX, KSTREAM_WRITE_CONCURRENCY"
    );
    assert_eq!(env[kstream_contract::env::WRITE_CONCURRENCY], "32");
}

#[test]
fn write_concurrency_is_planned_as_an_environment_update() {
    let d = desired();
    // A function deployed before the variable existed, and one set to another value by hand.
    let mut missing = converged(&d);
    let function = missing.function.as_mut().unwrap();
    function
        .env
        .remove(kstream_contract::env::WRITE_CONCURRENCY);
    let mut drifted = converged(&d);
    let function = drifted.function.as_mut().unwrap();
    function.env.insert(
        kstream_contract::env::WRITE_CONCURRENCY.to_owned(),
        "8".to_owned(),
    );
    for observed in [missing, drifted] {
        let plan = Plan::apply(&d, &observed, ApplyOptions::default());
        assert_eq!(plan.counts(), (0, 1, 0));
        match &plan.change(Resource::Function).unwrap().action {
            Action::Update { updates } => assert_eq!(updates, &vec![Update::Environment]),
            other => panic!("{other:?}"),
        }
    }
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
            Resource::LogGroup,
            Resource::Role,
            Resource::Stream,
            Resource::Bucket,
            Resource::Queue
        ]
    );
    assert!(matches!(
        plan.change(Resource::Bucket).unwrap().action,
        Action::Keep { .. }
    ));
    assert_eq!(plan.counts(), (0, 0, 6));
    insta::assert_snapshot!("destroy_keeps_bucket", plan.render(false));

    let plan = Plan::destroy(&d, &observed, DestroyOptions { force: true });
    assert_eq!(plan.counts(), (0, 0, 7));
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

#[test]
fn a_queue_holding_failures_is_kept_unless_forced() {
    let d = desired();
    let mut observed = converged(&d);
    if let Some(queue) = observed.queue.as_mut() {
        queue.messages = 3;
    }
    let plan = Plan::destroy(&d, &observed, DestroyOptions::default());
    let Action::Keep { reason } = &plan.change(Resource::Queue).unwrap().action else {
        panic!("{plan:#?}");
    };
    assert!(reason.contains("holds 3 failed batches"), "{reason}");
    let plan = Plan::destroy(&d, &observed, DestroyOptions { force: true });
    let Action::Delete { detail } = &plan.change(Resource::Queue).unwrap().action else {
        panic!("{plan:#?}");
    };
    assert_eq!(
        detail.as_deref(),
        Some("with the 3 failed batches in it (--force): they are lost")
    );
}

#[test]
fn failure_settings_reach_the_mapping_and_the_role() {
    let d = desired();
    let arn = format!(
        "arn:aws:sqs:us-east-1:000000000000:{}",
        d.failure_queue_name()
    );
    assert_eq!(d.mapping().on_failure.as_deref(), Some(arn.as_str()));
    let policy = d.role_policy(ARN);
    let send = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "SendFailures")
        .expect("a SendFailures statement");
    assert_eq!(send["Action"], serde_json::json!(["sqs:SendMessage"]));
    assert_eq!(send["Resource"], serde_json::json!([arn]));

    let mut none = desired();
    none.consumer.on_failure = crate::config::OnFailure::None;
    assert_eq!(none.mapping().on_failure, None);
    assert!(!none.role_policy(ARN).to_string().contains("SendFailures"));
    let plan = Plan::apply(&none, &Observed::default(), ApplyOptions::default());
    assert!(
        plan.change(Resource::Queue).is_none(),
        "no queue is managed"
    );

    let topic = "arn:aws:sns:us-east-1:123456789012:alerts".to_string();
    let mut sns = desired();
    sns.consumer.on_failure = crate::config::OnFailure::SnsArn(topic.clone());
    assert!(sns.role_policy(ARN).to_string().contains("sns:Publish"));
    assert_eq!(sns.mapping().on_failure, Some(topic));
}

#[test]
fn a_role_serving_another_region_is_neither_taken_nor_destroyed() {
    let d = desired();
    let mut observed = converged(&d);
    if let Some(role) = observed.role.as_mut() {
        role.owner = Owner::OtherRegion {
            region: "eu-west-1".into(),
        };
        role.region = Some("eu-west-1".into());
    }
    let plan = Plan::apply(&d, &observed, ApplyOptions { adopt: true });
    assert_eq!(plan.conflicts.len(), 1, "{plan:#?}");
    assert!(
        plan.conflicts[0]
            .message()
            .contains("is this deployment's role in eu-west-1"),
        "{}",
        plan.conflicts[0].message()
    );
    let plan = Plan::destroy(&d, &observed, DestroyOptions::default());
    assert!(matches!(
        plan.change(Resource::Role).unwrap().action,
        Action::Keep { .. }
    ));

    // A role of this deployment from before kstream tagged regions gets the tag.
    let mut observed = converged(&d);
    if let Some(role) = observed.role.as_mut() {
        role.region = None;
    }
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let Action::Update { updates } = &plan.change(Resource::Role).unwrap().action else {
        panic!("{plan:#?}");
    };
    assert_eq!(
        updates,
        &[Update::RegionTag {
            region: "us-east-1".into()
        }]
    );
}

#[test]
fn bucket_policy_statements_kstream_did_not_write_are_kept() {
    let d = desired();
    let audit = serde_json::json!({
        "Sid": "AuditRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bucket-output/*"
    });
    // Someone replaced the policy with their own statement only: ours is put back beside it.
    let mut observed = converged(&d);
    observed.bucket.as_mut().unwrap().policy = Some(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [audit.clone()]
    }));
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let BucketPhase::Existing { updates, .. } = &plan.apply_steps().unwrap().bucket else {
        panic!("the bucket exists");
    };
    let [BucketUpdate::Policy(put)] = updates.as_slice() else {
        panic!("only the policy is updated: {updates:?}");
    };
    let put = put.clone();
    assert_eq!(put["Statement"][0], audit);
    assert_eq!(put["Statement"][1], d.bucket_policy()["Statement"][0]);
    // Both statements present: converged.
    observed.bucket.as_mut().unwrap().policy = Some(put);
    assert!(Plan::apply(&d, &observed, ApplyOptions::default()).is_empty());
}

#[test]
fn policies_kstream_did_not_put_on_the_role_are_a_warning_not_a_change() {
    let d = desired();
    let mut observed = converged(&d);
    observed.role.as_mut().unwrap().extra_policies = vec![
        "inline `debug`".into(),
        "managed `arn:aws:iam::aws:policy/AdministratorAccess`".into(),
    ];
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    assert!(plan.is_empty(), "{plan:#?}");
    insta::assert_snapshot!("role_extra_policies", plan.render(false));
    let destroy = Plan::destroy(&d, &observed, DestroyOptions::default());
    assert!(
        destroy.warnings[0]
            .contains("destroy deletes the inline ones and detaches the managed ones"),
        "{:?}",
        destroy.warnings
    );
    // Without them, no warning.
    observed.role.as_mut().unwrap().extra_policies.clear();
    assert!(
        !Plan::apply(&d, &observed, ApplyOptions::default())
            .warnings
            .iter()
            .any(|w| w.contains("role"))
    );
}

#[test]
fn an_on_demand_stream_is_switched_back_only_by_an_explicit_plan_step() {
    let d = desired();
    let mut observed = converged(&d);
    let stream = observed.stream.as_mut().unwrap();
    stream.mode = "ON_DEMAND".into();
    stream.open_shards = 4;
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let Action::Update { updates } = &plan.change(Resource::Stream).unwrap().action else {
        panic!("{plan:#?}");
    };
    assert_eq!(
        updates,
        &vec![
            Update::StreamMode {
                from: "ON_DEMAND".into(),
                to: "PROVISIONED".into()
            },
            Update::ShardCount { from: 4, to: 2 }
        ]
    );
    // `apply` asks before it (see `commands::deploy::confirm`).
    assert_eq!(
        plan.mode_switch(),
        Some((
            "stream-output".into(),
            "ON_DEMAND".into(),
            "PROVISIONED".into()
        ))
    );
    assert!(
        plan.render(false)
            .contains("mode: ON_DEMAND → PROVISIONED (AWS allows two switches per 24 hours)")
    );
    // No other change asks.
    assert_eq!(
        Plan::apply(&d, &converged(&d), ApplyOptions::default()).mode_switch(),
        None
    );
}

#[test]
fn an_on_demand_config_never_reshards() {
    let mut d = desired();
    d.stream.mode = crate::config::StreamMode::OnDemand;
    let mut observed = converged(&d);
    let stream = observed.stream.as_mut().unwrap();
    stream.mode = "ON_DEMAND".into();
    stream.open_shards = 7;
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(plan.shard_hours_per_month, 0);
    assert_eq!(plan.capacity.as_ref().unwrap().shards, 7);
    assert!(plan.render(false).contains("cost: an on-demand stream"));
}

#[test]
fn mapping_parallelization_and_batching_window_are_updates() {
    let mut d = desired();
    d.consumer.parallelization_factor = 4;
    d.consumer.maximum_batching_window_s = 5;
    let observed = converged(&desired());
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let text = plan.render(false);
    assert!(text.contains("parallelization_factor: 1 → 4"), "{text}");
    assert!(text.contains("maximum_batching_window_s: 0 → 5"), "{text}");
    assert_eq!(plan.counts(), (0, 1, 0));
}

#[test]
fn plan_warns_when_the_consumer_cannot_keep_up() {
    let d = desired();
    let plan = Plan::apply(&d, &converged(&d), ApplyOptions::default());
    // The fixture's defaults: 2 shards × 100 records per poll.
    assert_eq!(plan.capacity.as_ref().unwrap().read_records_per_s, 200);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("cannot keep up") && w.contains("`consumer.batch_size`")),
        "{:?}",
        plan.warnings
    );
    let mut d = desired();
    d.consumer.batch_size = 1000;
    d.consumer.memory_mb = 512;
    let plan = Plan::apply(&d, &converged(&desired()), ApplyOptions::default());
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn without_a_packaged_zip_the_code_is_not_compared_and_the_plan_says_so() {
    let d = desired();
    let mut observed = converged(&d);
    let unpackaged = Desired {
        artifact: None,
        ..desired()
    };
    // The deployed code differs from the zip: only a compared plan can see it.
    if let Some(f) = observed.function.as_mut() {
        f.code_sha256 = "b3RoZXIgY29kZQ==".into();
    }

    let plan = Plan::apply(&unpackaged, &observed, ApplyOptions::default());
    assert!(plan.is_empty(), "{plan:#?}");
    let text = plan.render(false);
    assert!(
        text.contains("note: the function's code was not compared"),
        "{text}"
    );
    let json = serde_json::to_value(&plan).expect("json");
    assert_eq!(
        json["code"],
        serde_json::json!({ "compared": false, "zip": null })
    );

    let compared = Plan::apply(&d, &observed, ApplyOptions::default());
    assert!(!compared.is_empty(), "the code differs: {compared:#?}");
    assert!(!compared.render(false).contains("not compared"));
    let json = serde_json::to_value(&compared).expect("json");
    assert_eq!(json["code"]["compared"], true);
    assert_eq!(json["code"]["zip"], "bootstrap.zip");
}

#[test]
fn stream_encryption_is_observed_and_corrected() {
    let d = desired();
    let mut observed = converged(&d);
    // Someone ran StopStreamEncryption.
    observed.stream.as_mut().unwrap().kms_key_id = None;
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    assert_eq!(plan.counts(), (0, 1, 0));
    assert_eq!(
        plan.change(Resource::Stream).unwrap().action,
        Action::Update {
            updates: vec![Update::StreamEncryption {
                from: "none".into(),
                to: "KMS alias/aws/kinesis".into()
            }]
        }
    );
    let steps = plan.apply_steps().unwrap();
    let StreamPhase::Existing { updates, .. } = &steps.stream else {
        panic!("{:?}", steps.stream)
    };
    assert_eq!(
        updates,
        &[StreamUpdate::StartEncryption {
            from: None,
            key_id: "alias/aws/kinesis".into()
        }]
    );
    assert!(
        plan.render(false).contains(
            "  ~ stream `stream-output`\n      encryption: none → KMS alias/aws/kinesis\n"
        )
    );
}

/// `desired()` with `[stream]` lines added.
fn desired_with_stream(lines: &str) -> Desired {
    let text = include_str!("../../tests/fixtures/plan/deploy.toml").replace(
        "retention_hours = 24\n",
        &format!("retention_hours = 24\n{lines}"),
    );
    let config = crate::config::parse(&text, Path::new("deploy.toml")).expect("valid config");
    Desired::new(&config, "us-east-1".into(), "000000000000".into(), None)
}

#[test]
fn encryption_none_stops_it_and_a_new_key_switches_it() {
    let d = desired_with_stream("encryption = \"none\"\n");
    let mut observed = converged(&desired());
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let StreamPhase::Existing { updates, .. } = &plan.apply_steps().unwrap().stream else {
        panic!()
    };
    assert_eq!(
        updates,
        &[StreamUpdate::StopEncryption {
            key_id: "alias/aws/kinesis".into()
        }]
    );

    let key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let d = desired_with_stream(&format!("kms_key_id = \"{key}\"\n"));
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    let StreamPhase::Existing { updates, .. } = &plan.apply_steps().unwrap().stream else {
        panic!()
    };
    assert_eq!(
        updates,
        &[StreamUpdate::StartEncryption {
            from: Some("alias/aws/kinesis".into()),
            key_id: key.into()
        }]
    );
    // Kinesis reporting the key by its ID is the same key: nothing to do for the stream.
    observed.stream.as_mut().unwrap().kms_key_id =
        Some("1234abcd-12ab-34cd-56ef-1234567890ab".into());
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    assert_eq!(plan.change(Resource::Stream).unwrap().action, Action::NoOp);
}

#[test]
fn a_created_stream_is_encrypted_as_configured() {
    for (lines, key) in [
        ("", Some("alias/aws/kinesis")),
        ("kms_key_id = \"alias/orders\"\n", Some("alias/orders")),
        ("encryption = \"none\"\n", None),
    ] {
        let d = desired_with_stream(lines);
        let plan = Plan::apply(&d, &Observed::default(), ApplyOptions::default());
        let summary = match &plan.change(Resource::Stream).unwrap().action {
            Action::Create { summary } => summary.clone(),
            other => panic!("{other:?}"),
        };
        match key {
            Some(key) => assert!(summary.ends_with(&format!("encrypted with KMS key {key}"))),
            None => assert!(summary.ends_with("not encrypted"), "{summary}"),
        }
    }
}

#[test]
fn a_customer_key_lets_the_consumer_role_decrypt_only_through_the_stream() {
    let statement = |d: &Desired| {
        let policy = d.role_policy(ARN);
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "DecryptStream")
            .cloned()
    };
    assert_eq!(
        statement(&desired()),
        None,
        "the AWS-managed key needs nothing"
    );
    assert_eq!(
        statement(&desired_with_stream(
            "kms_key_id = \"arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis\"\n"
        )),
        None
    );
    assert_eq!(
        statement(&desired_with_stream("encryption = \"none\"\n")),
        None
    );
    let context = serde_json::json!({ "kms:EncryptionContext:aws:kinesis:arn": ARN });
    assert_eq!(
        statement(&desired_with_stream(
            "kms_key_id = \"1234abcd-12ab-34cd-56ef-1234567890ab\"\n"
        )),
        Some(serde_json::json!({
            "Sid": "DecryptStream",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": ["arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            "Condition": { "StringEquals": context }
        }))
    );
    assert_eq!(
        statement(&desired_with_stream("kms_key_id = \"alias/orders\"\n")),
        Some(serde_json::json!({
            "Sid": "DecryptStream",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": ["arn:aws:kms:us-east-1:000000000000:key/*"],
            "Condition": {
                "StringEquals": context,
                "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/orders" }
            }
        }))
    );
    // Switching to a customer key rewrites the role policy.
    let d = desired_with_stream("kms_key_id = \"alias/orders\"\n");
    let plan = Plan::apply(&d, &converged(&desired()), ApplyOptions::default());
    assert!(matches!(
        plan.change(Resource::RolePolicy).unwrap().action,
        Action::Update { .. }
    ));
}

/// `desired()` with a `[tags]` table.
fn desired_with_tags(tags: &str) -> Desired {
    let text = format!(
        "{}\n[tags]\n{tags}",
        include_str!("../../tests/fixtures/plan/deploy.toml")
    );
    let config = crate::config::parse(&text, Path::new("deploy.toml")).expect("valid config");
    let mut d = desired();
    d.user_tags = config.tags;
    d
}

#[test]
fn user_tags_go_into_every_create() {
    let d = desired_with_tags("team = \"data\"\nenv = \"dev\"\n");
    let plan = Plan::apply(&d, &Observed::default(), ApplyOptions::default());
    let steps = plan.apply_steps().unwrap();
    let want = |extra: &[(&str, &str)]| {
        let mut tags: Tags = [
            ("env", "dev"),
            ("team", "data"),
            ("kstream:deployment", "plan-test"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        tags.retain(|_, v| !v.is_empty());
        tags
    };
    let StreamPhase::Create { spec, .. } = &steps.stream else {
        panic!()
    };
    assert_eq!(spec.tags, want(&[]));
    let BucketPhase::Create(spec) = &steps.bucket else {
        panic!()
    };
    assert_eq!(spec.tags, want(&[]));
    let QueuePhase::Create(spec) = &steps.queue else {
        panic!()
    };
    assert_eq!(spec.tags, want(&[]));
    let LogGroupPhase::Create(spec) = &steps.log_group else {
        panic!()
    };
    assert_eq!(spec.tags, want(&[]));
    let RolePhase::Create(spec) = &steps.role else {
        panic!()
    };
    assert_eq!(spec.tags, want(&[("kstream:region", "us-east-1")]));
    let FunctionPhase::Create { config, .. } = &steps.function else {
        panic!()
    };
    assert_eq!(config.tags, want(&[]));
}

#[test]
fn changed_and_missing_user_tags_are_set_and_others_kept() {
    let d = desired_with_tags("team = \"data\"\nenv = \"prod\"\n");
    let mut observed = converged(&d);
    // The stream has an old value, the role lacks one, the function has an extra tag that is
    // not in the config (kept: kstream never removes tags).
    observed
        .stream
        .as_mut()
        .unwrap()
        .tags
        .insert("env".into(), "dev".into());
    observed.role.as_mut().unwrap().tags.remove("team");
    observed
        .function
        .as_mut()
        .unwrap()
        .tags
        .insert("owner".into(), "someone".into());
    let plan = Plan::apply(&d, &observed, ApplyOptions::default());
    assert_eq!(plan.counts(), (0, 2, 0), "{}", plan.render(false));
    let tags = |pairs: &[(&str, &str)]| -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        plan.change(Resource::Stream).unwrap().action,
        Action::Update {
            updates: vec![Update::Tags {
                from: tags(&[("env", "dev")]),
                to: tags(&[("env", "prod")])
            }]
        }
    );
    assert_eq!(
        plan.change(Resource::Role).unwrap().action,
        Action::Update {
            updates: vec![Update::Tags {
                from: tags(&[]),
                to: tags(&[("team", "data")])
            }]
        }
    );
    assert_eq!(
        plan.change(Resource::Function).unwrap().action,
        Action::NoOp
    );
    let text = plan.render(false);
    assert!(
        text.contains("  ~ stream `stream-output`\n      tag `env`: dev → prod\n"),
        "{text}"
    );
    assert!(
        text.contains("  ~ role `plan-test-consumer-role`\n      tag `team`: → data\n"),
        "{text}"
    );
    let steps = plan.apply_steps().unwrap();
    let RolePhase::Existing { updates, .. } = &steps.role else {
        panic!()
    };
    assert_eq!(
        updates,
        &[RoleUpdate::Tags(TagChange {
            from: tags(&[]),
            set: tags(&[("team", "data")])
        })]
    );
    // Converged once the tags are there.
    assert!(Plan::apply(&d, &converged(&d), ApplyOptions::default()).is_empty());
}
