//! `kstream failures` and `kstream redrive` on LocalStack with the real consumer: records the
//! mapping gives up on (the bucket is gone, no retries) are listed from the on-failure queue,
//! then redriven into exactly the objects the consumer would have written.

use std::time::Duration;

use kstream_contract::KeyRule;

use crate::support::{Deployment, eventually, rt, stderr, stdout};

/// An SQS client for LocalStack.
fn sqs(rt: &tokio::runtime::Runtime) -> aws_sdk_sqs::Client {
    crate::support::Aws::new(rt).sqs
}

/// The URL of the deployment's failure queue, which `kstream apply` created.
fn failure_queue_url(rt: &tokio::runtime::Runtime, d: &Deployment) -> String {
    let sqs = sqs(rt);
    rt.block_on(
        sqs.get_queue_url()
            .queue_name(format!("{}-failures", d.function()))
            .send(),
    )
    .expect("the failure queue exists after `kstream apply`")
    .queue_url
    .expect("queue url")
}

/// Number of messages in the queue: (visible, hidden).
fn queue_depth(rt: &tokio::runtime::Runtime, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = sqs(rt);
    let attrs = rt
        .block_on(
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .send(),
        )
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    let n = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (
        n(A::ApproximateNumberOfMessages),
        n(A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Records with hard partition keys and data: (partition key, bytes).
fn records() -> Vec<(String, Vec<u8>)> {
    vec![
        ("a/b/../c".into(), b"slashes and dots".to_vec()),
        ("..".into(), b"dot dot".to_vec()),
        ("emoji 🦀 ✓".into(), "naïve café".as_bytes().to_vec()),
        ("%41".into(), b"percent".to_vec()),
        ("binary".into(), (0..=255u8).rev().collect()),
        ("empty".into(), Vec::new()),
    ]
}

#[test]
fn failed_batches_are_listed_then_redriven_into_the_same_objects() {
    let mut d = Deployment::new("fail");
    d.consumer_extra = "maximum_retry_attempts = 0\n".into();
    d.write();
    d.ok(&["apply"]);
    let rt = rt();
    let aws = crate::support::Aws::new(&rt);
    let url = failure_queue_url(&rt, &d);

    // The fault: the bucket is gone, so every write fails and the mapping gives up at once.
    rt.block_on(async {
        let list = aws
            .s3
            .list_objects_v2()
            .bucket(d.bucket())
            .send()
            .await
            .expect("list objects");
        for o in list.contents() {
            aws.s3
                .delete_object()
                .bucket(d.bucket())
                .key(o.key().expect("key"))
                .send()
                .await
                .expect("delete object");
        }
        aws.s3
            .delete_bucket()
            .bucket(d.bucket())
            .send()
            .await
            .expect("delete bucket");
    });

    // Each record through `kstream put`, binary data from a file: (key, sequence number, data).
    let mut put = Vec::new();
    for (i, (key, data)) in records().into_iter().enumerate() {
        let file = d.dir.path().join(format!("record-{i}"));
        std::fs::write(&file, &data).expect("write record file");
        let v = d.json(&[
            "put",
            "--partition-key",
            &key,
            "--data-file",
            file.to_str().expect("utf-8 path"),
        ]);
        let seq = v["sequence_number"].as_str().expect("sequence number");
        put.push((key, seq.to_string(), data));
    }

    let listing = eventually(
        "`kstream failures` to list every record put",
        Duration::from_secs(90),
        || {
            let v = d.json(&["failures"]);
            (v["records"] == put.len()).then_some(v)
        },
    );
    assert_eq!(listing["format_version"], 1);
    assert_eq!(listing["queue"], url.as_str());
    assert_eq!(listing["complete"], true);
    let batches = listing["batches"].as_array().expect("batches");
    assert!(!batches.is_empty());
    // `status` shows the queue's depth: one message per failed batch.
    let status = d.json(&["status"]);
    assert_eq!(
        status["failure_queue"]["messages"],
        batches.len(),
        "{status:#}"
    );
    for b in batches {
        assert!(
            b["shard_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("shardId-")),
            "{b}"
        );
        assert_eq!(b["condition"], "RetryAttemptsExhausted", "{b}");
        assert!(b["start_sequence_number"].is_string(), "{b}");
        assert!(b["end_sequence_number"].is_string(), "{b}");
        assert!(b["failed_at"].is_string(), "{b}");
    }
    // Listing consumed nothing: every message is visible again.
    assert_eq!(queue_depth(&rt, &url), (batches.len() as u64, 0));

    // The bucket comes back.
    d.ok(&["apply"]);

    // Without `--yes` and without a terminal: refused before any call to the queue.
    let out = d.kstream(&["redrive"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("there is no terminal to confirm on; the queue was not read\n  hint: list them with `kstream failures`, then run `kstream redrive --yes`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(queue_depth(&rt, &url), (batches.len() as u64, 0));

    let summary = d.json(&["redrive", "--yes"]);
    assert_eq!(summary["format_version"], 1);
    assert_eq!(summary["redriven"], put.len(), "{summary:#}");
    assert_eq!(summary["lost"], 0, "{summary:#}");
    assert_eq!(summary["remaining"], 0, "{summary:#}");

    // Every record is one object, with its exact bytes, under the consumer's key.
    let objects = d.json(&["objects"]);
    let keys: Vec<String> = objects["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().expect("key").to_string())
        .collect();
    assert_eq!(keys.len(), put.len(), "one object per record: {keys:#?}");
    let rule = KeyRule::new("").expect("key rule");
    for (key, seq, data) in &put {
        let object = keys
            .iter()
            .find(|k| rule.is_key_of(k, key, seq))
            .unwrap_or_else(|| panic!("no object for record {seq} ({key:?}) in {keys:#?}"));
        let out = d.ok(&["objects", "--cat", object]);
        assert_eq!(
            &out.stdout, data,
            "object `{object}` holds the record's bytes"
        );
    }

    let after = d.json(&["failures"]);
    assert_eq!(after["batches"], serde_json::json!([]), "{after:#}");
    assert_eq!(after["records"], 0);
    assert_eq!(queue_depth(&rt, &url), (0, 0));
}

#[test]
fn a_destination_kstream_cannot_read_is_explained() {
    let mut d = Deployment::new("faildest");
    let cases = [
        ("none", 2, "`consumer.on_failure` is \"none\""),
        (
            "arn:aws:sns:us-east-1:000000000000:topic",
            2,
            "kstream cannot read it back",
        ),
        (
            "arn:aws:sqs:us-east-1:000000000000:no-such-queue",
            1,
            "the failure queue `no-such-queue` does not exist\n  hint: run `kstream apply`",
        ),
    ];
    for (on_failure, code, message) in cases {
        d.consumer_extra = format!("on_failure = {on_failure:?}\n");
        d.write();
        for args in [&["failures"][..], &["redrive", "--yes"][..]] {
            let out = d.kstream(args);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{on_failure} {args:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(message),
                "{on_failure} {args:?}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        }
    }
}
