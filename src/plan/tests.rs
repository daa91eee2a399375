//! The planner and the plan's text, on fixtures.

use std::path::Path;

use super::view::thousands;
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
            region: Some(d.region.clone()),
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
        }),
        log_group: Some(ObservedLogGroup {
            arn: format!(
                "arn:aws:logs:us-east-1:000000000000:log-group:{}",
                d.log_group()
            ),
            owner: Owner::This,
            retention_days: Some(d.consumer.log_retention_days),
        }),
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
