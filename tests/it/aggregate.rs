//! `kstream put --aggregate` against an implementation not written here: records it writes to
//! LocalStack are read back with GetRecords and deaggregated by AWS's Python `aws-kinesis-agg`
//! (`scripts/kpl-agg deaggregate`), and must come back exactly, each in the shard its key
//! hashes to. Also: what `--aggregate` cannot honour exits 2 before any AWS call.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::{Digest as _, Md5};

use crate::support::{
    Aws, command, endpoint, finish_within, kstream_in, localstack, repo, rt, stderr, suffix,
};

#[test]
fn aggregate_refuses_what_it_cannot_honour_before_any_call() {
    let started = Instant::now();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-k", "k", "--data", "x"],
            "`--aggregate` packs many records into one; `--data` puts a single record",
        ),
        (
            &["-k", "k", "--data-file", "Cargo.toml"],
            "`--aggregate` packs many records into one; `--data-file` puts a single record",
        ),
        (
            &["--count", "3", "--rate", "5"],
            "`--aggregate` cannot honour `--rate`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["--config", "deploy.example.toml", "put", "--aggregate"];
        all.extend_from_slice(args);
        let out = kstream_in(repo(), &all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "put {all:?}: {err}");
        assert!(err.contains(message), "put {all:?}: {err}");
        assert!(err.contains("hint:"), "put {all:?}: {err}");
    }
    // The example config's endpoint was never called: each refusal is immediate.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A stream of its own, deleted when the test ends (a config naming it, no other resource).
struct Stream {
    name: String,
    dir: tempfile::TempDir,
    aws: Aws,
    rt: tokio::runtime::Runtime,
}

impl Stream {
    fn create(test: &str, shards: i32) -> Stream {
        localstack();
        let rt = rt();
        let aws = Aws::new(&rt);
        let deployment = format!("t-{test}-{}", suffix());
        let name = format!("{deployment}-stream");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "name = \"{deployment}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n\n[stream]\nname = \"{name}\"\nshard_count = {shards}\n\n[bucket]\nname = \"{deployment}-bucket\"\n\n[consumer]\nfunction_name = \"{deployment}-fn\"\nrole_name = \"{deployment}-role\"\n",
            endpoint()
        );
        std::fs::write(dir.path().join("deploy.toml"), config).expect("write deploy.toml");
        rt.block_on(
            aws.kinesis
                .create_stream()
                .stream_name(&name)
                .shard_count(shards)
                .send(),
        )
        .expect("create the stream");
        let stream = Stream { name, dir, aws, rt };
        let started = Instant::now();
        loop {
            let status = stream
                .rt
                .block_on(
                    stream
                        .aws
                        .kinesis
                        .describe_stream_summary()
                        .stream_name(&stream.name)
                        .send(),
                )
                .ok()
                .and_then(|o| {
                    o.stream_description_summary()
                        .map(|s| s.stream_status().clone())
                });
            if status == Some(aws_sdk_kinesis::types::StreamStatus::Active) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "stream not ACTIVE: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        stream
    }

    /// `kstream --config deploy.toml <args>` with `stdin` as its input; must succeed in time.
    fn put(&self, args: &[&str], deadline: Duration) -> serde_json::Value {
        let config = self.dir.path().join("deploy.toml");
        let mut all = vec!["--config", config.to_str().expect("utf-8 path"), "--json"];
        all.extend_from_slice(args);
        let child = command(self.dir.path(), &all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kstream");
        let out = finish_within(child, deadline, args);
        serde_json::from_slice(&out.stdout).expect("put --json")
    }

    /// Open shards and their hash key ranges.
    fn shards(&self) -> Vec<(String, u128, u128)> {
        let out = self
            .rt
            .block_on(
                self.aws
                    .kinesis
                    .list_shards()
                    .stream_name(&self.name)
                    .send(),
            )
            .expect("list shards");
        out.shards()
            .iter()
            .map(|s| {
                let range = s.hash_key_range().expect("hash key range");
                (
                    s.shard_id().to_string(),
                    range.starting_hash_key().parse().expect("start"),
                    range.ending_hash_key().parse().expect("end"),
                )
            })
            .collect()
    }

    /// Every record of shard `shard`, as the `kinesis` objects of a Lambda event.
    fn read(&self, shard: &str, deadline: Instant) -> Vec<serde_json::Value> {
        let kinesis = &self.aws.kinesis;
        let mut iterator = self
            .rt
            .block_on(
                kinesis
                    .get_shard_iterator()
                    .stream_name(&self.name)
                    .shard_id(shard)
                    .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                    .send(),
            )
            .expect("shard iterator")
            .shard_iterator()
            .map(str::to_string);
        let mut records = Vec::new();
        while let Some(it) = iterator.take() {
            assert!(
                Instant::now() < deadline,
                "reading shard {shard} took too long"
            );
            let out = self
                .rt
                .block_on(kinesis.get_records().shard_iterator(it).limit(1000).send())
                .expect("get records");
            for r in out.records() {
                records.push(serde_json::json!({
                    "partitionKey": r.partition_key(),
                    "sequenceNumber": r.sequence_number(),
                    "data": base64::engine::general_purpose::STANDARD.encode(r.data().as_ref()),
                }));
            }
            if out.records().is_empty() && out.millis_behind_latest().unwrap_or(0) == 0 {
                break;
            }
            iterator = out.next_shard_iterator().map(str::to_string);
        }
        records
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.rt.block_on(
            self.aws
                .kinesis
                .delete_stream()
                .stream_name(&self.name)
                .enforce_consumer_deletion(true)
                .send(),
        );
    }
}

/// AWS's deaggregator over `records`: the user records, with their Kinesis sequence numbers.
fn deaggregate(records: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut child = Command::new(repo().join("scripts/kpl-agg"))
        .arg("deaggregate")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/kpl-agg");
    let input = serde_json::to_vec(records).expect("records JSON");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("kpl-agg output");
    writer.join().expect("writer").expect("write records");
    assert!(
        out.status.success(),
        "kpl-agg deaggregate failed:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("kpl-agg JSON")
}

fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(path, bytes).expect("write lines");
}

#[test]
fn put_aggregate_is_deaggregated_exactly_by_aws_kinesis_agg() {
    let stream = Stream::create("agg", 2);
    // Lines of non-UTF-8 bytes, small and large (large ones fill an aggregate per shard
    // several times over), under keys that need encoding in an object key.
    let binary: Vec<Vec<u8>> = (0..400u32)
        .map(|i| {
            let mut line = vec![0xff, 0xfe, 0x00, (i % 127) as u8 | 0x80, 0x80];
            line.extend_from_slice(format!(" record {i} é").as_bytes());
            if i % 40 == 7 {
                line.extend(std::iter::repeat_n(0xc3, 300_000));
            }
            line
        })
        .collect();
    let binary_file = stream.dir.path().join("binary.txt");
    write_lines(&binary_file, &binary);
    let template = "ключ/{n} ?&=%+ü";
    let binary_path = binary_file.to_str().expect("utf-8 path");
    let first = stream.put(
        &[
            "put",
            "--aggregate",
            "--lines",
            binary_path,
            "--key-template",
            template,
        ],
        Duration::from_secs(120),
    );
    // JSON lines keyed by a field: keys with spaces, slashes, emoji and dots.
    let users = ["ann smith", "b/ö", "../x", "🦀", "k%2F", "z"];
    let json: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("{{\"user\":\"{}\",\"n\":{i}}}", users[i % users.len()]).into_bytes())
        .collect();
    let json_file = stream.dir.path().join("users.jsonl");
    write_lines(&json_file, &json);
    let second = stream.put(
        &[
            "put",
            "--aggregate",
            "--lines",
            json_file.to_str().expect("utf-8 path"),
            "--key-field",
            "user",
        ],
        Duration::from_secs(120),
    );
    for (summary, n) in [(&first, 400), (&second, 300)] {
        assert_eq!(summary["records"], n, "{summary}");
        assert_eq!(summary["acknowledged"], n, "{summary}");
        assert_eq!(summary["not_written"], 0, "{summary}");
        let kinesis_records = summary["aggregated"]["records"]
            .as_u64()
            .expect("aggregated");
        assert!(kinesis_records >= 2 && kinesis_records < n, "{summary}");
    }

    let mut expected: Vec<(String, Vec<u8>)> = binary
        .iter()
        .enumerate()
        .map(|(n, data)| (template.replace("{n}", &n.to_string()), data.clone()))
        .collect();
    expected.extend(
        json.iter()
            .enumerate()
            .map(|(i, data)| (users[i % users.len()].to_string(), data.clone())),
    );

    // Read everything back, shard by shard, and deaggregate it with AWS's library.
    let deadline = Instant::now() + Duration::from_secs(90);
    let shards = stream.shards();
    assert_eq!(shards.len(), 2);
    let mut shard_of_sequence = HashMap::new();
    let mut records = Vec::new();
    for (shard, _, _) in &shards {
        for r in stream.read(shard, deadline) {
            shard_of_sequence.insert(
                r["sequenceNumber"].as_str().expect("seq").to_string(),
                shard.clone(),
            );
            records.push(r);
        }
    }
    assert!(
        records.len() < expected.len(),
        "{} Kinesis records for {} user records",
        records.len(),
        expected.len()
    );
    let user_records = deaggregate(&records);

    let mut got = Vec::new();
    let mut per_shard: BTreeMap<String, usize> = BTreeMap::new();
    for user in &user_records {
        let key = user["partition_key"]
            .as_str()
            .expect("partition_key")
            .to_string();
        let data = base64::engine::general_purpose::STANDARD
            .decode(user["data"].as_str().expect("data"))
            .expect("base64 data");
        let sequence = user["sequence_number"].as_str().expect("sequence_number");
        let shard = &shard_of_sequence[sequence];
        // The aggregated record sits in the shard its user records hash to.
        let hash = hash_key(&key);
        let (want, _, _) = shards
            .iter()
            .find(|(_, start, end)| (*start..=*end).contains(&hash))
            .expect("a shard for every hash key");
        assert_eq!(
            shard, want,
            "user record under `{key}` is in the wrong shard"
        );
        *per_shard.entry(shard.clone()).or_default() += 1;
        got.push((key, data));
    }
    assert_eq!(
        per_shard.len(),
        2,
        "both shards got user records: {per_shard:?}"
    );
    expected.sort();
    got.sort();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the deaggregated user records differ from the input"
    );
}
