//! The whole pipeline on LocalStack with the real `bootstrap`: `kstream apply` → PutRecords →
//! LocalStack's event source mapping → the consumer (run by the project's host executor) → S3.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::support::{Aws, Deployment, eventually, objects_with_metadata, rt, stdout};

/// Partition keys that are hard to turn into flat S3 keys.
fn hard_records() -> Vec<(String, Vec<u8>)> {
    let mut records: Vec<(String, Vec<u8>)> = vec![
        ("plain".into(), b"hello, world".to_vec()),
        ("a/b/../c".into(), b"slashes and dots".to_vec()),
        ("..".into(), b"dot dot".to_vec()),
        (".".into(), b"dot".to_vec()),
        ("with space".into(), "naïve café ✓".as_bytes().to_vec()),
        ("ctrl\u{1}\t\n".into(), b"control characters".to_vec()),
        ("emoji 🦀🚀".into(), b"emoji key".to_vec()),
        ("%41".into(), b"percent".to_vec()),
        // LocalStack's Kinesis counts a key's length in bytes (AWS: in characters), so the
        // longest keys here stay within 256 bytes; both are shortened by the consumer's rule.
        (
            "/".repeat(256),
            b"longest partition key, all escaped".to_vec(),
        ),
        ("🦀".repeat(64), b"long emoji key".to_vec()),
        ("binary".into(), (0..=255u8).rev().collect()),
        ("empty".into(), Vec::new()),
    ];
    // Two records with the same key in the same second must not overwrite each other.
    records.push(("plain".into(), b"same key, same second".to_vec()));
    records
}

/// Put records with PutRecords; returns sequence number → data.
fn put(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    stream: &str,
    records: &[(String, Vec<u8>)],
) -> BTreeMap<String, Vec<u8>> {
    rt.block_on(async {
        let entries = records
            .iter()
            .map(|(k, v)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(k)
                    .data(Blob::new(v.clone()))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = aws
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(out.failed_record_count(), Some(0), "{out:?}");
        out.records()
            .iter()
            .zip(records)
            .map(|(r, (_, data))| {
                (
                    r.sequence_number().expect("sequence number").to_string(),
                    data.clone(),
                )
            })
            .collect()
    })
}

/// Every object in the bucket: key → (sequence-number metadata, bytes).
fn objects(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    bucket: &str,
) -> BTreeMap<String, (String, Vec<u8>)> {
    objects_with_metadata(aws, rt, bucket)
        .into_iter()
        .map(|(key, (metadata, bytes))| {
            let seq = metadata.get("sequence-number").cloned().unwrap_or_default();
            (key, (seq, bytes))
        })
        .collect()
}

/// Wait until the bucket holds exactly the records put (by sequence number), then check them.
fn assert_exactly_once(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    d: &Deployment,
    put: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
) {
    let found = eventually(
        "every record to become an object",
        Duration::from_secs(90),
        || {
            let found = objects(aws, rt, &d.bucket());
            (found.len() >= put.len()).then_some(found)
        },
    );
    assert_eq!(
        found.len(),
        put.len(),
        "one object per record: {:#?}",
        found.keys().collect::<Vec<_>>()
    );
    let by_seq: BTreeMap<&String, (&String, &Vec<u8>)> =
        found.iter().map(|(k, (seq, b))| (seq, (k, b))).collect();
    for (seq, data) in put {
        let (key, bytes) = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("no object for record {seq}"));
        assert_eq!(
            *bytes, data,
            "object `{key}` holds the record's bytes exactly"
        );
        let rest = key
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("`{key}` starts with `{prefix}`"));
        assert!(!rest.contains('/'), "`{key}` is one flat object");
        assert!(
            key.ends_with(&format!("-{seq}.txt")),
            "`{key}` ends with its sequence number"
        );
        assert!(key.len() <= 1024, "`{key}` fits S3's key limit");
    }
}

#[test]
fn every_record_becomes_exactly_one_identical_object() {
    let mut d = Deployment::new("pipe");
    // This deployment packages the consumer from the workspace, as a user's apply does.
    d.prebuilt = false;
    d.consumer_extra = "key_prefix = \"events/\"\n".into();
    d.write();
    d.ok(&["apply"]);
    let rt = rt();
    let aws = Aws::new(&rt);
    let records = hard_records();
    let put = put(&aws, &rt, &d.stream(), &records);
    assert_eq!(put.len(), records.len());
    assert_exactly_once(&aws, &rt, &d, &put, "events/");

    let out = d.ok(&["destroy", "--force", "--yes"]);
    assert!(
        stdout(&out).contains(&format!("- bucket `{}`", d.bucket())),
        "{}",
        stdout(&out)
    );
    assert!(objects(&aws, &rt, &d.bucket()).is_empty());
}

#[test]
fn a_record_that_cannot_be_written_is_retried_until_it_lands() {
    let mut d = Deployment::new("retry");
    d.consumer_extra = "maximum_retry_attempts = 10000\n".into();
    d.write();
    d.ok(&["apply"]);
    let rt = rt();
    let aws = Aws::new(&rt);

    // The fault: the bucket disappears, so every write fails until `apply` brings it back.
    rt.block_on(async {
        aws.s3
            .delete_bucket()
            .bucket(d.bucket())
            .send()
            .await
            .expect("delete bucket")
    });
    let records: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("k{i}"), format!("record {i}").into_bytes()))
        .collect();
    let put = put(&aws, &rt, &d.stream(), &records);

    let logs = aws_sdk_cloudwatchlogs::Client::new(
        &rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(crate::support::endpoint())
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test", "test", None, None, "tests",
                ))
                .load(),
        ),
    );
    let group = format!("/aws/lambda/{}", d.function());
    eventually(
        "the consumer to report records it could not write",
        Duration::from_secs(60),
        || {
            rt.block_on(async {
                let out = logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .send()
                    .await
                    .ok()?;
                out.events()
                    .iter()
                    .any(|e| {
                        e.message()
                            .is_some_and(|m| m.contains("record not written"))
                    })
                    .then_some(())
            })
        },
    );

    let out = d.ok(&["apply"]);
    assert!(
        stdout(&out).contains(&format!("+ bucket `{}`", d.bucket())),
        "{}",
        stdout(&out)
    );
    assert_exactly_once(&aws, &rt, &d, &put, "");
}
