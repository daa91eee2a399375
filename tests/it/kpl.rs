//! KPL aggregation against an implementation not written here: AWS's Python
//! `aws-kinesis-agg` (`scripts/kpl-agg`, pinned in `scripts/pins.env`).
//!
//! - Records it aggregates decode with `kstream_contract::kpl::decode` to exactly its input.
//! - On LocalStack, with the real `bootstrap`: plain records, records it aggregated and a
//!   record that only starts like one, put in one PutRecords call onto one shard, come out as
//!   one exact object per user record (and one per plain record).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kstream_contract::KeyRule;
use kstream_contract::kpl::{self, UserRecord};
use serde_json::{Value, json};

use crate::support::{Aws, Deployment, eventually, exactly_objects, repo, rt, stdout};

/// A record as `scripts/kpl_agg.py` reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AggRecord {
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: Vec<u8>,
}

impl AggRecord {
    fn new(partition_key: &str, data: &[u8]) -> AggRecord {
        AggRecord {
            partition_key: partition_key.to_owned(),
            explicit_hash_key: None,
            data: data.to_vec(),
        }
    }
}

/// `scripts/kpl-agg aggregate`: the Kinesis records aws-kinesis-agg packs `users` into.
fn aggregate_with_aws_kinesis_agg(users: &[AggRecord]) -> Vec<AggRecord> {
    let input: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "partition_key": u.partition_key,
                "explicit_hash_key": u.explicit_hash_key,
                "data": STANDARD.encode(&u.data),
            })
        })
        .collect();
    let mut child = Command::new(repo().join("scripts/kpl-agg"))
        .arg("aggregate")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/kpl-agg aggregate");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = serde_json::to_vec(&input).expect("json");
    // Written from a thread: the output may fill its pipe before the input is all read.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("scripts/kpl-agg aggregate");
    writer.join().expect("writer").expect("write stdin");
    assert!(
        out.status.success(),
        "scripts/kpl-agg aggregate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("kpl-agg output");
    records
        .iter()
        .map(|r| AggRecord {
            partition_key: r["partition_key"].as_str().expect("partition_key").into(),
            explicit_hash_key: r["explicit_hash_key"].as_str().map(str::to_owned),
            data: STANDARD
                .decode(r["data"].as_str().expect("data"))
                .expect("base64"),
        })
        .collect()
}

/// User records that are hard to carry: not UTF-8, empty, keys that need encoding, explicit
/// hash keys, a repeated key.
fn hard_user_records() -> Vec<AggRecord> {
    let mut users = vec![
        AggRecord::new("plain", b"hello, world"),
        AggRecord::new("binary", &(0..=255u8).rev().collect::<Vec<_>>()),
        AggRecord::new("empty", b""),
        AggRecord::new("a/b c 🦀", "naïve café ✓".as_bytes()),
        AggRecord::new("..", b"dot dot"),
        AggRecord::new("plain", b"same key again"),
    ];
    users.push(AggRecord {
        explicit_hash_key: Some("170141183460469231731687303715884105728".into()),
        ..AggRecord::new("hashed", b"explicit hash key")
    });
    users
}

/// The user records of the aggregated records, in order, as `UserRecord`s.
fn expected(users: &[AggRecord]) -> Vec<UserRecord> {
    users
        .iter()
        .map(|u| UserRecord {
            partition_key: u.partition_key.clone(),
            explicit_hash_key: u.explicit_hash_key.clone(),
            data: u.data.clone(),
        })
        .collect()
}

#[test]
fn records_aggregated_by_aws_kinesis_agg_decode_to_exactly_their_user_records() {
    let mut users = hard_user_records();
    // Enough bytes to make aws-kinesis-agg start a second aggregated record (it closes one
    // before 1 MiB).
    for i in 0..6 {
        users.push(AggRecord::new(
            &format!("big-{i}"),
            &vec![u8::try_from(i).expect("small"); 300_000],
        ));
    }
    users.extend(
        (0..500).map(|i| AggRecord::new(&format!("k{}", i % 7), format!("{i}").as_bytes())),
    );

    let aggregated = aggregate_with_aws_kinesis_agg(&users);
    assert!(
        aggregated.len() >= 2,
        "aws-kinesis-agg split the records: {} aggregated",
        aggregated.len()
    );
    let mut decoded = Vec::new();
    for record in &aggregated {
        assert!(record.data.len() <= 1024 * 1024, "within Kinesis's limit");
        let users = kpl::decode(&record.data)
            .expect("a valid aggregated record")
            .expect("aggregated, not plain");
        // The Kinesis record carries its first user record's partition key.
        assert_eq!(record.partition_key, users[0].partition_key);
        decoded.extend(users);
    }
    assert_eq!(decoded, expected(&users));

    // A single user record is aggregated too, and a plain record is not mistaken for one.
    let one = aggregate_with_aws_kinesis_agg(&[AggRecord::new("k", b"x")]);
    assert_eq!(one.len(), 1);
    assert_eq!(
        kpl::decode(&one[0].data).expect("valid"),
        Some(expected(&[AggRecord::new("k", b"x")]))
    );
    assert_eq!(kpl::decode(b"x").expect("plain"), None);
}

/// What the test put into the stream, by the object each thing must become.
enum Want {
    /// A plain record, or one that only looks aggregated: one object of its whole data.
    Plain {
        partition_key: String,
        sequence_number: String,
        data: Vec<u8>,
    },
    /// One user record of an aggregated record.
    User {
        partition_key: String,
        sequence_number: String,
        subsequence: u64,
        data: Vec<u8>,
    },
}

#[test]
fn aggregated_and_plain_records_in_one_batch_become_one_exact_object_per_user_record() {
    let mut d = Deployment::new("kpl");
    // One shard: the whole PutRecords call reaches the consumer in one batch.
    d.shards = 1;
    d.write();
    d.ok(&["apply"]);
    let rt = rt();
    let aws = Aws::new(&rt);

    let first = hard_user_records();
    let second: Vec<AggRecord> = (0..20)
        .map(|i| AggRecord::new(&format!("user-{i}"), format!("user record {i}").as_bytes()))
        .collect();
    let aggregated_first = aggregate_with_aws_kinesis_agg(&first);
    let aggregated_second = aggregate_with_aws_kinesis_agg(&second);
    assert_eq!((aggregated_first.len(), aggregated_second.len()), (1, 1));
    let mut bad_digest = aggregate_with_aws_kinesis_agg(&[AggRecord::new("x", b"y")])
        .remove(0)
        .data;
    *bad_digest.last_mut().expect("digest") ^= 0x01;
    assert!(bad_digest.starts_with(&kpl::MAGIC));

    // (what is put, the user records it holds if aggregated)
    let puts: Vec<(AggRecord, Option<&[AggRecord]>)> = vec![
        (AggRecord::new("plain-1", b"a plain record"), None),
        (aggregated_first[0].clone(), Some(&first)),
        (AggRecord::new("plain/2", &[0xff, 0x00, 0xfe]), None),
        (AggRecord::new("looks-aggregated", &bad_digest), None),
        (aggregated_second[0].clone(), Some(&second)),
        (AggRecord::new("plain-3", b""), None),
    ];
    let sequence_numbers: Vec<String> = rt.block_on(async {
        let entries = puts
            .iter()
            .map(|(r, _)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .set_explicit_hash_key(r.explicit_hash_key.clone())
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = aws
            .kinesis
            .put_records()
            .stream_name(d.stream())
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(out.failed_record_count(), Some(0), "{out:?}");
        out.records()
            .iter()
            .map(|r| r.sequence_number().expect("sequence number").to_owned())
            .collect()
    });
    assert_eq!(sequence_numbers.len(), puts.len());

    let mut want = Vec::new();
    for ((record, users), sequence_number) in puts.iter().zip(&sequence_numbers) {
        match users {
            None => want.push(Want::Plain {
                partition_key: record.partition_key.clone(),
                sequence_number: sequence_number.clone(),
                data: record.data.clone(),
            }),
            Some(users) => {
                want.extend((0..).zip(users.iter()).map(|(subsequence, u)| Want::User {
                    partition_key: u.partition_key.clone(),
                    sequence_number: sequence_number.clone(),
                    subsequence,
                    data: u.data.clone(),
                }))
            }
        }
    }
    assert_eq!(want.len(), 4 + first.len() + second.len());

    // One object per user record and per plain record.
    let found = exactly_objects(&aws, &rt, &d.bucket(), want.len(), Duration::from_secs(90));
    let keys = KeyRule::default();
    for want in &want {
        let (what, data, subsequence, sequence_number) = match want {
            Want::Plain {
                partition_key,
                sequence_number,
                data,
            } => (
                found
                    .iter()
                    .find(|(key, _)| keys.is_key_of(key, partition_key, sequence_number)),
                data,
                None,
                sequence_number,
            ),
            Want::User {
                partition_key,
                sequence_number,
                subsequence,
                data,
            } => (
                found.iter().find(|(key, _)| {
                    keys.is_user_record_key_of(key, partition_key, sequence_number, *subsequence)
                }),
                data,
                Some(subsequence.to_string()),
                sequence_number,
            ),
        };
        let (key, (metadata, bytes)) = what.unwrap_or_else(|| {
            panic!(
                "no object for record {sequence_number} (subsequence {subsequence:?}): {:#?}",
                found.keys().collect::<Vec<_>>()
            )
        });
        assert_eq!(bytes, data, "object `{key}` holds exactly its bytes");
        assert_eq!(
            metadata.get("sequence-number"),
            Some(sequence_number),
            "{key}"
        );
        assert_eq!(
            metadata.get("subsequence-number"),
            subsequence.as_ref(),
            "{key}"
        );
    }

    // The record that only looked aggregated was logged, with its sequence number.
    let group = format!("/aws/lambda/{}", d.function());
    let bad_sequence_number = &sequence_numbers[3];
    eventually(
        "the consumer to log the record that only looks aggregated",
        Duration::from_secs(30),
        || {
            rt.block_on(async {
                let out = aws
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .send()
                    .await
                    .ok()?;
                out.events()
                    .iter()
                    .any(|e| {
                        e.message().is_some_and(|m| {
                            m.contains("stored as one plain object")
                                && m.contains(bad_sequence_number.as_str())
                                && m.contains("MD5 digest does not match")
                        })
                    })
                    .then_some(())
            })
        },
    );

    let out = d.ok(&["destroy", "--force", "--yes"]);
    assert!(
        stdout(&out).contains(&format!("- bucket `{}`", d.bucket())),
        "{}",
        stdout(&out)
    );
}

/// End to end with nothing but kstream: `kstream put --aggregate` packs lines per shard, the
/// real consumer deaggregates them, and each line becomes exactly one object, under its own
/// partition key and its aggregate's sequence and subsequence numbers, holding exactly its
/// bytes (non-UTF-8 and 200 KB lines included).
#[test]
fn put_aggregate_through_the_consumer_becomes_one_exact_object_per_line() {
    let d = Deployment::new("kplput");
    d.ok(&["apply"]);
    let rt = rt();
    let aws = Aws::new(&rt);

    let lines: Vec<Vec<u8>> = (0..150u32)
        .map(|i| {
            let mut line = vec![0xff, 0x00, (i % 127) as u8 | 0x80];
            line.extend_from_slice(format!(" line {i} é").as_bytes());
            if i % 50 == 3 {
                line.extend(std::iter::repeat_n(b'x', 200_000));
            }
            line
        })
        .collect();
    let file = d.dir.path().join("lines.bin");
    let mut bytes = Vec::new();
    for line in &lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(&file, bytes).expect("write lines");
    let template = "k/{n} ü?";
    let summary = d.json(&[
        "put",
        "--aggregate",
        "--lines",
        file.to_str().expect("utf-8 path"),
        "--key-template",
        template,
    ]);
    assert_eq!(summary["acknowledged"], lines.len(), "{summary}");
    assert_eq!(summary["not_written"], 0, "{summary}");
    let aggregates = summary["aggregated"]["records"]
        .as_u64()
        .expect("aggregated records");
    assert!(
        aggregates >= 2 && aggregates < lines.len() as u64,
        "lines were packed into a few Kinesis records: {summary}"
    );

    // One object per line.
    let found = exactly_objects(
        &aws,
        &rt,
        &d.bucket(),
        lines.len(),
        Duration::from_secs(120),
    );
    let keys = KeyRule::default();
    let mut subsequences_per_record: std::collections::BTreeMap<&str, usize> = Default::default();
    for (n, line) in lines.iter().enumerate() {
        let partition_key = template.replace("{n}", &n.to_string());
        let matches: Vec<_> = found
            .iter()
            .filter(|(key, (metadata, _))| {
                let (Some(sequence_number), Some(subsequence)) = (
                    metadata.get("sequence-number"),
                    metadata
                        .get("subsequence-number")
                        .and_then(|s| s.parse().ok()),
                ) else {
                    return false;
                };
                keys.is_user_record_key_of(key, &partition_key, sequence_number, subsequence)
            })
            .collect();
        assert_eq!(
            matches.len(),
            1,
            "line {n}: exactly one object under `{partition_key}`"
        );
        let (key, (metadata, data)) = matches[0];
        assert_eq!(data, line, "object `{key}` holds exactly line {n}");
        *subsequences_per_record
            .entry(&metadata["sequence-number"])
            .or_default() += 1;
    }
    assert_eq!(
        subsequences_per_record.len() as u64,
        aggregates,
        "the objects come from exactly the Kinesis records put reported"
    );

    d.ok(&["destroy", "--force", "--yes"]);
}
