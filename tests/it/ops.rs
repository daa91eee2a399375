//! The operational commands against LocalStack with the real consumer: `put` (one, lines,
//! load), `objects`, `status` (with the consumer's iterator age from CloudWatch), `smoke`.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Aws, Deployment, eventually, rt, stderr, stdout};

fn object_keys(d: &Deployment) -> Vec<String> {
    let v = d.json(&["objects"]);
    v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().expect("key").to_string())
        .collect()
}

#[test]
fn put_objects_status_and_smoke() {
    let d = Deployment::new("ops");
    d.ok(&["apply"]);

    // One record: shard and sequence number are printed.
    let one = d.ok(&["put", "--partition-key", "single", "--data", "hello"]);
    let text = stdout(&one);
    assert!(text.contains("shardId-"), "{text}");

    // Lines from stdin, the key taken from a JSON field.
    let config = d.config();
    let mut child = crate::support::command(
        d.dir.path(),
        &[
            "--config",
            config.to_str().expect("path"),
            "--json",
            "put",
            "--lines",
            "--key-field",
            "user",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn put --lines");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"{\"user\":\"ann\",\"n\":1}\n{\"user\":\"bob\",\"n\":2}\n{\"user\":\"ann\",\"n\":3}\n",
        )
        .expect("write lines");
    let lines = child.wait_with_output().expect("put --lines");
    assert!(lines.status.success(), "{}", stderr(&lines));
    let summary: serde_json::Value = serde_json::from_slice(&lines.stdout).expect("summary json");
    assert_eq!(
        (
            summary["records"].as_u64(),
            summary["acknowledged"].as_u64()
        ),
        (Some(3), Some(3)),
        "{summary:#}"
    );

    // An empty partition key is refused before anything is read or sent.
    let bad = std::fs::write(d.dir.path().join("bad.txt"), "ok\n\n");
    bad.expect("write bad lines");
    let out = d.kstream(&[
        "put",
        "--lines",
        d.dir.path().join("bad.txt").to_str().expect("path"),
        "--partition-key",
        "",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Load: batched PutRecords, every record acknowledged.
    let load = d.json(&[
        "put",
        "--count",
        "600",
        "--size",
        "64",
        "--partition-keys",
        "8",
    ]);
    assert_eq!(
        (load["acknowledged"].as_u64(), load["not_written"].as_u64()),
        (Some(600), Some(0)),
        "{load:#}"
    );
    assert_eq!(
        load["per_shard"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>()),
        Some(600)
    );

    // Every record becomes one object.
    let keys = eventually("604 objects", Duration::from_secs(120), || {
        let keys = object_keys(&d);
        (keys.len() >= 604).then_some(keys)
    });
    assert_eq!(keys.len(), 604);
    let single = keys
        .iter()
        .find(|k| k.starts_with("single-"))
        .expect("the single record's object");
    let cat = d.ok(&["objects", "--cat", single]);
    assert_eq!(cat.stdout, b"hello");
    assert_eq!(keys.iter().filter(|k| k.starts_with("ann-")).count(), 2);

    // The consumer's structured batch lines reach its CloudWatch log group.
    let logs = eventually("the consumer's logs", Duration::from_secs(60), || {
        let out = d.kstream(&["logs", "--since", "10m"]);
        let text = stdout(&out);
        (out.status.success() && text.contains("batch processed")).then_some(text)
    });
    assert!(logs.contains("written"), "{logs}");

    // Status reads the deployment as it is.
    let status = d.json(&["status"]);
    let text = status.to_string();
    for needle in [
        d.stream(),
        d.function(),
        d.bucket(),
        "ACTIVE".to_string(),
        "Enabled".to_string(),
    ] {
        assert!(text.contains(&needle), "status lacks {needle}: {status:#}");
    }

    // Smoke: marked records arrive as identical objects.
    let smoke = d.json(&["smoke", "--count", "10", "--timeout", "90s"]);
    assert_eq!(
        (smoke["records"].as_u64(), smoke["arrived"].as_u64()),
        (Some(10), Some(10)),
        "{smoke:#}"
    );
}

#[test]
fn throttled_entries_are_sent_again_and_nothing_is_lost() {
    use crate::proxy::{Fault, Proxy};
    let d = Deployment::new("throttle");
    d.ok(&["apply"]);
    let upstream = format!("127.0.0.1:{}", crate::support::port())
        .parse()
        .expect("address");

    // Every 7th entry of a call is throttled the first time it is sent.
    let proxy = Proxy::start(
        upstream,
        Fault::FirstAttempt {
            every: 7,
            budget: 120,
        },
    );
    let out = d.kstream_via(
        &proxy.url(),
        &[
            "--json",
            "put",
            "--count",
            "700",
            "--size",
            "48",
            "--partition-keys",
            "5",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    let injected = *proxy.failed.lock().expect("counter");
    assert!(injected > 0, "the proxy throttled entries");
    assert_eq!(
        (
            summary["acknowledged"].as_u64(),
            summary["not_written"].as_u64()
        ),
        (Some(700), Some(0)),
        "{summary:#}"
    );
    assert!(
        summary["retries"].as_u64().unwrap_or(0) >= injected as u64,
        "only failed entries are sent again: {summary:#}"
    );
    // Each record reached the stream once: exactly 700 objects.
    let count = eventually("700 objects", Duration::from_secs(180), || {
        let n = object_keys(&d).len();
        (n >= 700).then_some(n)
    });
    assert_eq!(count, 700);

    // An entry that keeps failing is reported, with the exact count, and the exit code says so.
    let proxy = Proxy::start(upstream, Fault::Key("doomed".into()));
    let out = d.kstream_via(
        &proxy.url(),
        &[
            "put",
            "--partition-key",
            "doomed",
            "--data",
            "x",
            "--max-attempts",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 of 1 record was not written"),
        "{}",
        stderr(&out)
    );
}

/// `put --lines` sends records while its input is still open (`tail -f | kstream put --lines`):
/// objects appear before stdin is closed; a line over the record limit is reported by number
/// and counted, without being held in memory; the summary counts every line.
#[test]
fn put_lines_streams_while_input_is_open() {
    let d = Deployment::new("stream");
    d.ok(&["apply"]);
    let config = d.config();
    let mut child = crate::support::command(
        d.dir.path(),
        &[
            "--config",
            config.to_str().expect("path"),
            "--json",
            "put",
            "--lines",
            "--partition-key",
            "live",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn put --lines");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first\nsecond\n").expect("write lines");
    stdin.flush().expect("flush");

    let keys = eventually(
        "the first two lines' objects, stdin still open",
        Duration::from_secs(120),
        || {
            let keys: Vec<String> = object_keys(&d)
                .into_iter()
                .filter(|k| k.starts_with("live-"))
                .collect();
            (keys.len() >= 2).then_some(keys)
        },
    );
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "put is still reading its open input"
    );

    let mut long = vec![b'x'; 2 * 1024 * 1024];
    long.push(b'\n');
    stdin.write_all(&long).expect("write a long line");
    stdin.write_all(b"third\n").expect("write lines");
    drop(stdin);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("put --lines did not finish within 60 s of its input closing");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("put --lines");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "line 3 of stdin: longer than the 1048576-byte (1 MiB) record limit; not sent"
        ),
        "{err}"
    );
    assert!(
        err.contains("1 of 4 records was not written (1 InvalidLine)"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary json");
    assert_eq!(
        (
            summary["records"].as_u64(),
            summary["acknowledged"].as_u64(),
            summary["errors"]["InvalidLine"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "{summary:#}"
    );
}

/// `status` reads the consumer's `IteratorAge` from CloudWatch: "not available" (null, never 0)
/// while there are no datapoints; once the metric rises minute by minute (put here with
/// PutMetricData, as Lambda would send it: LocalStack's event source mapping sends none), its
/// maximum and a warning naming the settings to change.
#[test]
fn status_shows_the_iterator_age_and_warns_when_it_grows() {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

    let d = Deployment::new("age");
    d.ok(&["apply"]);

    let status = d.json(&["status"]);
    let age = &status["iterator_age"];
    assert_eq!(age["not_available"], "no_data", "{status:#}");
    assert!(age["max_ms"].is_null(), "{status:#}");
    assert_eq!(age["points"], serde_json::json!([]), "{status:#}");
    assert_eq!(status["warnings"], serde_json::json!([]), "{status:#}");

    // Four minutes, each older one lower: 10 s, 70 s, 130 s, 190 s.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let rt = rt();
    let aws = Aws::new(&rt);
    rt.block_on(async {
        let mut put = aws.cloudwatch.put_metric_data().namespace("AWS/Lambda");
        for (minutes_ago, seconds) in [(4, 10), (3, 70), (2, 130), (1, 190)] {
            put = put.metric_data(
                MetricDatum::builder()
                    .metric_name("IteratorAge")
                    .dimensions(
                        Dimension::builder()
                            .name("FunctionName")
                            .value(d.function())
                            .build(),
                    )
                    .timestamp(DateTime::from_secs(now - 60 * minutes_ago))
                    .value(f64::from(seconds * 1000))
                    .unit(StandardUnit::Milliseconds)
                    .build(),
            );
        }
        put.send().await.expect("PutMetricData");
    });

    let status = eventually(
        "status to read the iterator age",
        Duration::from_secs(30),
        || {
            let status = d.json(&["status"]);
            status["iterator_age"]["max_ms"].is_u64().then_some(status)
        },
    );
    let age = &status["iterator_age"];
    assert_eq!(age["max_ms"], 190_000, "{status:#}");
    assert!(age["not_available"].is_null(), "{status:#}");
    let points: Vec<u64> = age["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["max_ms"].as_u64().expect("max_ms"))
        .collect();
    assert_eq!(points, [10_000, 70_000, 130_000, 190_000], "{status:#}");
    assert_eq!(age["growing"], true, "{status:#}");
    let warning = status["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("iterator age grows")
            && warning.contains("`consumer.parallelization_factor`"),
        "{status:#}"
    );
}
