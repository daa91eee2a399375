//! Unit tests of loading and validating configs; the messages are part of the interface.

use std::path::{Path, PathBuf};

use super::validate::{BUCKET_KEYS, CONSUMER_KEYS, ROOT_KEYS, ROOT_TABLES, STREAM_KEYS};
use super::*;

const FIXTURES: &str = "tests/fixtures/config";
const EXAMPLE: &str = include_str!("../../deploy.example.toml");

/// A valid config with `extra` appended (usually a `[consumer]` table or keys for it).
fn with(extra: &str) -> String {
    format!(
        "name = \"demo\"\n\n[stream]\nname = \"demo-stream\"\n\n[bucket]\nname = \"demo-bucket\"\n{extra}"
    )
}

fn ok(text: &str) -> Config {
    match parse(text, Path::new("deploy.toml")) {
        Ok(config) => config,
        Err(err) => panic!("expected a valid config, got:\n{err}\n--- config:\n{text}"),
    }
}

/// The full report for an invalid `text` loaded from `deploy.toml`.
fn err(text: &str) -> String {
    match parse(text, Path::new("deploy.toml")) {
        Ok(config) => panic!("expected an invalid config, got {config:?}\n--- config:\n{text}"),
        Err(err) => err.to_string(),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// Every bad fixture and its full report.
const BAD_FIXTURES: &[(&str, &str)] = &[
    (
        "bad-architecture.toml",
        "invalid config `tests/fixtures/config/bad-architecture.toml` at line 10, column 16: `consumer.architecture` must be `\"x86_64\"` or `\"arm64\"`, got `\"aarch64\"`\n  help: did you mean `\"arm64\"`?",
    ),
    (
        "bad-bucket-name-ip.toml",
        "invalid config `tests/fixtures/config/bad-bucket-name-ip.toml` at line 7, column 8: `bucket.name` must not be formatted as an IP address, got `192.168.5.4`",
    ),
    (
        "bad-bucket-name-reserved-suffix.toml",
        "invalid config `tests/fixtures/config/bad-bucket-name-reserved-suffix.toml` at line 7, column 8: `bucket.name` must not end with `-s3alias`, which S3 reserves\n  help: see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
    ),
    (
        "bad-bucket-name-uppercase.toml",
        "invalid config `tests/fixtures/config/bad-bucket-name-uppercase.toml` at line 7, column 8: `bucket.name` must contain only lowercase letters, digits, `.` and `-`, got `M` at position 1\n  help: S3 bucket names are lowercase",
    ),
    (
        "bad-default-function-name-too-long.toml",
        "invalid config `tests/fixtures/config/bad-default-function-name-too-long.toml` at line 2, column 8: the default `consumer.function_name` (`<name>-consumer`) would be 69 characters long, more than 64\n  help: set `function_name` under `[consumer]`, or shorten `name`",
    ),
    (
        "bad-duplicate-key.toml",
        "invalid config `tests/fixtures/config/bad-duplicate-key.toml` at line 6, column 1: syntax error: duplicate key `shard_count`",
    ),
    (
        "bad-endpoint-url.toml",
        "invalid config `tests/fixtures/config/bad-endpoint-url.toml` at line 2, column 16: `endpoint_url` must be an `http://` or `https://` URL, got `localhost:4566`\n  help: for LocalStack, use `http://127.0.0.1:4566`",
    ),
    (
        "bad-key-in-wrong-table.toml",
        "invalid config `tests/fixtures/config/bad-key-in-wrong-table.toml` at line 5, column 1: unknown key `stream.memory_mb`\n  help: `memory_mb` belongs in `[consumer]`",
    ),
    (
        "bad-key-prefix.toml",
        "invalid config `tests/fixtures/config/bad-key-prefix.toml` at line 10, column 14: `consumer.key_prefix` must not start with `/`\n  help: object keys are relative to the bucket: write `events/`, not `/events/`",
    ),
    (
        "bad-missing-bucket-name.toml",
        "invalid config `tests/fixtures/config/bad-missing-bucket-name.toml` at line 6, column 1: missing required key `bucket.name`\n  help: add `name = \"<globally unique bucket name>\"` under `[bucket]`",
    ),
    (
        "bad-missing-bucket-table.toml",
        "invalid config `tests/fixtures/config/bad-missing-bucket-table.toml` at line 1, column 1: missing required table `[bucket]`\n  help: add a `[bucket]` table with at least `name = \"...\"`",
    ),
    (
        "bad-missing-name.toml",
        "invalid config `tests/fixtures/config/bad-missing-name.toml` at line 1, column 1: missing required key `name`\n  help: add `name = \"<deployment name>\"` at the top of the file, before any table",
    ),
    (
        "bad-missing-stream-name.toml",
        "invalid config `tests/fixtures/config/bad-missing-stream-name.toml` at line 3, column 1: missing required key `stream.name`\n  help: add `name = \"<stream name>\"` under `[stream]`",
    ),
    (
        "bad-name-character.toml",
        "invalid config `tests/fixtures/config/bad-name-character.toml` at line 1, column 8: `name` must contain only ASCII letters, digits, `_` and `-`, got a space at position 8",
    ),
    (
        "bad-not-utf8.toml",
        "invalid config `tests/fixtures/config/bad-not-utf8.toml` at line 1, column 12: the file is not valid UTF-8 (byte 0xe9)\n  help: save the file as UTF-8",
    ),
    (
        "bad-region.toml",
        "invalid config `tests/fixtures/config/bad-region.toml` at line 2, column 10: `region` must look like an AWS region, got `us-east`\n  help: regions look like `us-east-1` or `eu-central-1`; leave `region` out to use the AWS region chain",
    ),
    (
        "bad-retention-too-long.toml",
        "invalid config `tests/fixtures/config/bad-retention-too-long.toml` at line 5, column 19: `stream.retention_hours` must be an integer from 24 to 8760, got 8761",
    ),
    (
        "bad-several-errors.toml",
        "invalid config `tests/fixtures/config/bad-several-errors.toml` at line 4, column 8: `stream.name` must contain only ASCII letters, digits, `_`, `.` and `-`, got `/` at position 8\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 5, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 0\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 8, column 8: `bucket.name` must contain only lowercase letters, digits, `.` and `-`, got `S` at position 2\n  help: S3 bucket names are lowercase\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 8, column 8: `bucket.name` must start with a lowercase letter or digit, got `-`\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 8, column 8: `bucket.name` must not contain two adjacent periods, got `..` at position 9\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 11, column 13: `consumer.memory_mb` must be an integer from 128 to 10240, got 64\n\
         invalid config `tests/fixtures/config/bad-several-errors.toml` at line 12, column 16: `consumer.architecture` must be `\"x86_64\"` or `\"arm64\"`, got `\"x86\"`\n  help: did you mean `\"x86_64\"`?",
    ),
    (
        "bad-shard-count-zero.toml",
        "invalid config `tests/fixtures/config/bad-shard-count-zero.toml` at line 7, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 0",
    ),
    (
        "bad-starting-position.toml",
        "invalid config `tests/fixtures/config/bad-starting-position.toml` at line 10, column 21: `consumer.starting_position` must be `\"TRIM_HORIZON\"` or `\"LATEST\"`, got `\"trim_horizon\"`\n  help: did you mean `\"TRIM_HORIZON\"`?",
    ),
    (
        "bad-syntax.toml",
        "invalid config `tests/fixtures/config/bad-syntax.toml` at line 4, column 22: syntax error: invalid basic string, expected `\"`",
    ),
    (
        "bad-top-level-key-under-table.toml",
        "invalid config `tests/fixtures/config/bad-top-level-key-under-table.toml` at line 8, column 1: unknown key `bucket.region`\n  help: `region` is a top-level key: move it above the first `[table]` header",
    ),
    (
        "bad-unknown-key-typo.toml",
        "invalid config `tests/fixtures/config/bad-unknown-key-typo.toml` at line 5, column 1: unknown key `stream.shard_cuont`\n  help: did you mean `shard_count`?",
    ),
    (
        "bad-unknown-key.toml",
        "invalid config `tests/fixtures/config/bad-unknown-key.toml` at line 5, column 1: unknown key `stream.colour`\n  help: allowed keys in `[stream]` are `name`, `mode`, `shard_count`, `retention_hours`, `encryption` and `kms_key_id`",
    ),
    (
        "bad-stream-mode.toml",
        "invalid config `tests/fixtures/config/bad-stream-mode.toml` at line 6, column 15: `stream.shard_count` applies to provisioned streams only, and `stream.mode` is \"on_demand\"\n  help: remove `shard_count`: Kinesis manages an on-demand stream's shards\ninvalid config `tests/fixtures/config/bad-stream-mode.toml` at line 12, column 26: `consumer.parallelization_factor` must be an integer from 1 to 10, got 11\ninvalid config `tests/fixtures/config/bad-stream-mode.toml` at line 13, column 29: `consumer.maximum_batching_window_s` must be an integer from 0 to 300, got 301",
    ),
    (
        "bad-unknown-table-typo.toml",
        "invalid config `tests/fixtures/config/bad-unknown-table-typo.toml` at line 9, column 1: unknown table `[consumers]`\n  help: did you mean `[consumer]`?",
    ),
    (
        "bad-unknown-table.toml",
        "invalid config `tests/fixtures/config/bad-unknown-table.toml` at line 9, column 1: unknown table `[logging]`\n  help: allowed top-level keys are `name`, `region` and `endpoint_url`, and tables `[stream]`, `[bucket]`, `[consumer]` and `[tags]`",
    ),
    (
        "bad-failure-settings.toml",
        "invalid config `tests/fixtures/config/bad-failure-settings.toml` at line 10, column 14: `consumer.on_failure` must be \"queue\", \"none\", or the ARN of an SQS queue or SNS topic, got \"arn:aws:s3:::failures-bucket\"\n  help: for example `arn:aws:sqs:us-east-1:123456789012:my-failures`; leave the key out for a queue kstream creates\ninvalid config `tests/fixtures/config/bad-failure-settings.toml` at line 11, column 24: `consumer.maximum_record_age_s` must be -1 (no limit) or from 60 to 604800, got 30\ninvalid config `tests/fixtures/config/bad-failure-settings.toml` at line 12, column 22: `consumer.log_retention_days` must be one of the periods CloudWatch Logs accepts, got 10\n  help: choose one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
    ),
    (
        "bad-wrong-type-quoted-boolean.toml",
        "invalid config `tests/fixtures/config/bad-wrong-type-quoted-boolean.toml` at line 10, column 34: `consumer.bisect_batch_on_function_error` must be `true` or `false`, got a string\n  help: write the boolean without quotes: `bisect_batch_on_function_error = false`",
    ),
    (
        "bad-wrong-type-quoted-integer.toml",
        "invalid config `tests/fixtures/config/bad-wrong-type-quoted-integer.toml` at line 5, column 15: `stream.shard_count` must be an integer from 1 to 1000, got a string\n  help: write the number without quotes: `shard_count = 2`",
    ),
    (
        "bad-wrong-type-string.toml",
        "invalid config `tests/fixtures/config/bad-wrong-type-string.toml` at line 1, column 8: `name` must be a string, got an integer\n  help: put the value in double quotes: `name = \"...\"`",
    ),
    (
        "bad-wrong-type-table.toml",
        "invalid config `tests/fixtures/config/bad-wrong-type-table.toml` at line 2, column 10: `stream` must be a table, got a string\n  help: write `[stream]` on a line of its own, then its keys below it",
    ),
];

#[test]
fn bad_fixtures_report_exact_messages() {
    for (name, expected) in BAD_FIXTURES {
        match load(&fixture(name)) {
            Ok(config) => panic!("{name}: expected an error, got {config:?}"),
            Err(err) => assert_eq!(err.to_string(), *expected, "{name}"),
        }
    }
}

#[test]
fn every_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures directory")
        .map(|entry| {
            entry
                .expect("fixture entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() > 30, "{names:?}");
    for name in names {
        if name.starts_with("good-") {
            if let Err(err) = load(&fixture(&name)) {
                panic!("{name} should be valid:\n{err}");
            }
        } else {
            assert!(
                name.starts_with("bad-"),
                "{name}: fixtures are named good-* or bad-*"
            );
            assert!(
                BAD_FIXTURES.iter().any(|(bad, _)| *bad == name),
                "{name} has no expected message"
            );
        }
    }
}

#[test]
fn error_fields_point_at_the_value() {
    let err = load(&fixture("bad-shard-count-zero.toml")).unwrap_err();
    assert_eq!(err.path, fixture("bad-shard-count-zero.toml"));
    assert_eq!((err.line, err.column), (7, 15));
    assert_eq!(err.key.as_deref(), Some("stream.shard_count"));
    assert_eq!(
        err.message,
        "`stream.shard_count` must be an integer from 1 to 1000, got 0"
    );
    assert_eq!(err.help, None);
    assert!(err.more.is_empty());
    // The example from the brief, with the path as the user gave it.
    let text = std::fs::read_to_string(fixture("bad-shard-count-zero.toml")).unwrap();
    assert_eq!(
        parse(&text, Path::new("deploy.toml"))
            .unwrap_err()
            .to_string(),
        "invalid config `deploy.toml` at line 7, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 0"
    );
}

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let err = load(&fixture("bad-several-errors.toml")).unwrap_err();
    let positions: Vec<(usize, usize)> = err.problems().map(|p| (p.line, p.column)).collect();
    assert_eq!(
        positions,
        [(4, 8), (5, 15), (8, 8), (8, 8), (8, 8), (11, 13), (12, 16)]
    );
    assert!(err.more.iter().all(|p| p.more.is_empty()));
    let keys: Vec<&str> = err.problems().filter_map(|p| p.key.as_deref()).collect();
    assert_eq!(
        keys,
        [
            "stream.name",
            "stream.shard_count",
            "bucket.name",
            "bucket.name",
            "bucket.name",
            "consumer.memory_mb",
            "consumer.architecture"
        ]
    );
}

#[test]
fn missing_file_names_the_path_and_suggests_init() {
    let err = load(Path::new("tests/fixtures/config/does-not-exist.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read config `tests/fixtures/config/does-not-exist.toml`: file not found\n  help: create one with `kstream init`"
    );
    assert_eq!((err.line, err.column, err.key), (0, 0, None));
}

#[test]
fn defaults_apply_when_consumer_is_absent() {
    let config = load(&fixture("good-minimal.toml")).unwrap();
    assert_eq!(
        config,
        Config {
            path: fixture("good-minimal.toml"),
            name: "orders".to_owned(),
            region: None,
            endpoint_url: None,
            stream: StreamConfig {
                name: "orders-stream".to_owned(),
                mode: StreamMode::Provisioned,
                shard_count: 2,
                retention_hours: 24,
                encryption: StreamEncryption::aws_managed(),
            },
            bucket: BucketConfig {
                name: "orders-archive-123".to_owned()
            },
            consumer: ConsumerConfig {
                function_name: "orders-consumer".to_owned(),
                role_name: "orders-consumer-role".to_owned(),
                memory_mb: 128,
                timeout_s: 30,
                architecture: Architecture::X86_64,
                batch_size: 100,
                parallelization_factor: 1,
                maximum_batching_window_s: 0,
                starting_position: StartingPosition::TrimHorizon,
                maximum_retry_attempts: 10,
                bisect_batch_on_function_error: true,
                maximum_record_age_s: -1,
                on_failure: OnFailure::Queue,
                log_retention_days: 14,
                key_prefix: String::new(),
                write_concurrency: 32,
                zip: None,
            },
            tags: Default::default(),
        }
    );
    // An empty `[consumer]` is the same as none.
    assert_eq!(ok(&with("[consumer]\n")).consumer, ok(&with("")).consumer);
}

#[test]
fn every_key_can_be_set() {
    let config = load(&fixture("good-full.toml")).unwrap();
    assert_eq!(
        config,
        Config {
            path: fixture("good-full.toml"),
            name: "kstream-full".to_owned(),
            region: Some("eu-central-1".to_owned()),
            endpoint_url: Some("http://127.0.0.1:4566".to_owned()),
            stream: StreamConfig {
                name: "full.stream_1".to_owned(),
                mode: StreamMode::Provisioned,
                shard_count: 4,
                retention_hours: 48,
                encryption: StreamEncryption::Kms {
                    key_id: "arn:aws:kms:eu-central-1:123456789012:alias/full-stream".to_owned()
                },
            },
            bucket: BucketConfig {
                name: "full.archive-bucket".to_owned()
            },
            consumer: ConsumerConfig {
                function_name: "full-fn".to_owned(),
                role_name: "full-fn+role@kstream".to_owned(),
                memory_mb: 512,
                timeout_s: 60,
                architecture: Architecture::Arm64,
                batch_size: 500,
                parallelization_factor: 4,
                maximum_batching_window_s: 5,
                starting_position: StartingPosition::Latest,
                maximum_retry_attempts: -1,
                bisect_batch_on_function_error: false,
                maximum_record_age_s: 3600,
                on_failure: OnFailure::SnsArn(
                    "arn:aws:sns:eu-central-1:123456789012:full-failures".to_owned()
                ),
                log_retention_days: 30,
                key_prefix: "events/".to_owned(),
                write_concurrency: 64,
                zip: Some(fixture("build/bootstrap.zip")),
            },
            tags: std::collections::BTreeMap::from([
                ("team".to_owned(), "data platform".to_owned()),
                ("cost-center".to_owned(), "CC-1234/ingest".to_owned()),
            ]),
        }
    );
}

#[test]
fn default_role_name_follows_an_explicit_function_name() {
    let config = ok(&with("[consumer]\nfunction_name = \"ingest\"\n"));
    assert_eq!(config.consumer.function_name, "ingest");
    assert_eq!(config.consumer.role_name, "ingest-role");
}

#[test]
fn default_role_name_too_long_points_at_the_function_name() {
    let function_name = "f".repeat(60);
    assert_eq!(
        err(&with(&format!(
            "[consumer]\nfunction_name = \"{function_name}\"\n"
        ))),
        "invalid config `deploy.toml` at line 9, column 17: the default `consumer.role_name` (`<function_name>-role`) would be 65 characters long, more than 64\n  help: set `role_name` under `[consumer]`, or shorten `consumer.function_name`"
    );
    // An explicit role name makes the long function name fine.
    ok(&with(&format!(
        "[consumer]\nfunction_name = \"{function_name}\"\nrole_name = \"short\"\n"
    )));
}

#[test]
fn default_names_at_the_length_limit_are_fine() {
    // 55 + "-consumer" = 64; the default role name then needs setting.
    let name = "n".repeat(55);
    let text = format!(
        "name = \"{name}\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n[consumer]\nrole_name = \"r\"\n"
    );
    assert_eq!(ok(&text).consumer.function_name.len(), 64);
    let name = "n".repeat(56);
    let text = format!(
        "name = \"{name}\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n[consumer]\nrole_name = \"r\"\n"
    );
    assert!(err(&text).contains("would be 65 characters long, more than 64"));
}

#[test]
fn zip_is_resolved_against_the_config_directory() {
    let zip = |config_path: &str, zip: &str| {
        let text = with(&format!("[consumer]\nzip = {zip:?}\n"));
        parse(&text, Path::new(config_path))
            .unwrap()
            .consumer
            .zip
            .unwrap()
    };
    assert_eq!(
        zip("/etc/kstream/deploy.toml", "bootstrap.zip"),
        Path::new("/etc/kstream/bootstrap.zip")
    );
    assert_eq!(
        zip("conf/deploy.toml", "../build/b.zip"),
        Path::new("conf/../build/b.zip")
    );
    assert_eq!(
        zip("deploy.toml", "bootstrap.zip"),
        Path::new("bootstrap.zip")
    );
    assert_eq!(
        zip("conf/deploy.toml", "/opt/b.zip"),
        Path::new("/opt/b.zip")
    );
    assert_eq!(
        err(&with("[consumer]\nzip = \"\"\n")),
        "invalid config `deploy.toml` at line 9, column 7: `consumer.zip` must not be empty\n  help: leave `zip` out to build the consumer"
    );
}

/// Every integer key: table, key, smallest and largest allowed value.
const INTEGER_RANGES: &[(&str, &str, i64, i64)] = &[
    ("stream", "shard_count", 1, 1000),
    ("stream", "retention_hours", 24, 8760),
    ("consumer", "memory_mb", 128, 10240),
    ("consumer", "timeout_s", 1, 900),
    ("consumer", "batch_size", 1, 10000),
    ("consumer", "maximum_retry_attempts", -1, 10000),
    ("consumer", "write_concurrency", 1, 256),
];

/// A valid config with `table.key = value` (value as TOML text).
fn with_value(table: &str, key: &str, value: &str) -> String {
    let stream = match (table, key) {
        ("stream", "name") => format!("name = {value}\n"),
        ("stream", _) => format!("name = \"s\"\n{key} = {value}\n"),
        _ => "name = \"s\"\n".to_owned(),
    };
    let consumer = match (table, key) {
        // A long function name would make the default role name too long.
        ("consumer", "function_name") => {
            format!("[consumer]\n{key} = {value}\nrole_name = \"r\"\n")
        }
        ("consumer", _) => format!("[consumer]\n{key} = {value}\n"),
        _ => String::new(),
    };
    format!("name = \"demo\"\n[stream]\n{stream}[bucket]\nname = \"bkt\"\n{consumer}")
}

fn integer_of(config: &Config, key: &str) -> i64 {
    match key {
        "shard_count" => config.stream.shard_count.into(),
        "retention_hours" => config.stream.retention_hours.into(),
        "memory_mb" => config.consumer.memory_mb.into(),
        "timeout_s" => config.consumer.timeout_s.into(),
        "batch_size" => config.consumer.batch_size.into(),
        "maximum_retry_attempts" => config.consumer.maximum_retry_attempts.into(),
        "write_concurrency" => config.consumer.write_concurrency.into(),
        _ => unreachable!("{key}"),
    }
}

#[test]
fn integer_ranges_hold_at_each_boundary() {
    for &(table, key, low, high) in INTEGER_RANGES {
        for inside in [low, low + 1, high - 1, high] {
            let config = ok(&with_value(table, key, &inside.to_string()));
            assert_eq!(integer_of(&config, key), inside, "{table}.{key} = {inside}");
        }
        for outside in [low - 1, high + 1] {
            let text = with_value(table, key, &outside.to_string());
            let line = if table == "stream" { 4 } else { 7 };
            let column = key.len() + 4;
            assert_eq!(
                err(&text),
                format!(
                    "invalid config `deploy.toml` at line {line}, column {column}: `{table}.{key}` must be an integer from {low} to {high}, got {outside}"
                )
            );
        }
    }
}

#[test]
fn integers_are_reported_as_written() {
    assert_eq!(
        ok(&with_value("stream", "shard_count", "0x10"))
            .stream
            .shard_count,
        16
    );
    assert_eq!(
        ok(&with_value("consumer", "batch_size", "1_000"))
            .consumer
            .batch_size,
        1000
    );
    assert_eq!(
        err(&with_value("stream", "shard_count", "99999999999999999999")),
        "invalid config `deploy.toml` at line 4, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 99999999999999999999"
    );
    assert_eq!(
        err(&with_value("consumer", "batch_size", "10_001")),
        "invalid config `deploy.toml` at line 7, column 14: `consumer.batch_size` must be an integer from 1 to 10000, got 10_001"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let cases = [
        (
            "stream",
            "shard_count",
            "2.0",
            "`stream.shard_count` must be an integer from 1 to 1000, got a float",
        ),
        (
            "consumer",
            "timeout_s",
            "true",
            "`consumer.timeout_s` must be an integer from 1 to 900, got a boolean",
        ),
        (
            "consumer",
            "memory_mb",
            "[128]",
            "`consumer.memory_mb` must be an integer from 128 to 10240, got an array",
        ),
        (
            "stream",
            "name",
            "1979-05-27",
            "`stream.name` must be a string, got a date-time",
        ),
        (
            "consumer",
            "bisect_batch_on_function_error",
            "1",
            "`consumer.bisect_batch_on_function_error` must be `true` or `false`, got an integer",
        ),
        (
            "consumer",
            "architecture",
            "64",
            "`consumer.architecture` must be `\"x86_64\"` or `\"arm64\"`, got an integer",
        ),
        (
            "consumer",
            "key_prefix",
            "{ a = 1 }",
            "`consumer.key_prefix` must be a string, got a table",
        ),
    ];
    for (table, key, value, message) in cases {
        let report = err(&with_value(table, key, value));
        let first_line = report.lines().next().unwrap();
        assert!(
            first_line.ends_with(message),
            "{table}.{key} = {value}:\n{report}"
        );
    }
    assert_eq!(
        err("name = \"demo\"\n[[stream]]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n"),
        "invalid config `deploy.toml` at line 2, column 1: `stream` must be a table, got an array\n  help: write `[stream]` on a line of its own, then its keys below it"
    );
}

#[test]
fn enum_values_are_exact() {
    let arch = |value: &str| {
        ok(&with_value("consumer", "architecture", value))
            .consumer
            .architecture
    };
    assert_eq!(arch("\"x86_64\""), Architecture::X86_64);
    assert_eq!(arch("\"arm64\""), Architecture::Arm64);
    let position = |value: &str| {
        ok(&with_value("consumer", "starting_position", value))
            .consumer
            .starting_position
    };
    assert_eq!(position("\"TRIM_HORIZON\""), StartingPosition::TrimHorizon);
    assert_eq!(position("\"LATEST\""), StartingPosition::Latest);
    assert_eq!(
        err(&with_value("consumer", "architecture", "\"ARM64\"")),
        "invalid config `deploy.toml` at line 7, column 16: `consumer.architecture` must be `\"x86_64\"` or `\"arm64\"`, got `\"ARM64\"`\n  help: did you mean `\"arm64\"`?"
    );
    assert_eq!(
        err(&with_value(
            "consumer",
            "starting_position",
            "\"AT_TIMESTAMP\""
        )),
        "invalid config `deploy.toml` at line 7, column 21: `consumer.starting_position` must be `\"TRIM_HORIZON\"` or `\"LATEST\"`, got `\"AT_TIMESTAMP\"`"
    );
}

#[test]
fn booleans() {
    let bisect = |value: &str| {
        ok(&with_value(
            "consumer",
            "bisect_batch_on_function_error",
            value,
        ))
        .consumer
        .bisect_batch_on_function_error
    };
    assert!(bisect("true"));
    assert!(!bisect("false"));
}

#[test]
fn string_rules_name_the_full_key() {
    let long = |n: usize| format!("\"{}\"", "a".repeat(n));
    let cases = [
        ("", "name", long(64), None),
        (
            "",
            "name",
            long(65),
            Some("`name` must be 1 to 64 characters long, got 65"),
        ),
        (
            "",
            "name",
            "\"\"".to_owned(),
            Some("`name` must not be empty"),
        ),
        ("stream", "name", long(128), None),
        (
            "stream",
            "name",
            long(129),
            Some("`stream.name` must be 1 to 128 characters long, got 129"),
        ),
        (
            "stream",
            "name",
            "\"a:b\"".to_owned(),
            Some(
                "`stream.name` must contain only ASCII letters, digits, `_`, `.` and `-`, got `:` at position 2",
            ),
        ),
        ("consumer", "function_name", long(64), None),
        (
            "consumer",
            "function_name",
            long(65),
            Some("`consumer.function_name` must be 1 to 64 characters long, got 65"),
        ),
        (
            "consumer",
            "function_name",
            "\"fn.v2\"".to_owned(),
            Some(
                "`consumer.function_name` must contain only ASCII letters, digits, `_` and `-`, got `.` at position 3",
            ),
        ),
        ("consumer", "role_name", long(64), None),
        (
            "consumer",
            "role_name",
            long(65),
            Some("`consumer.role_name` must be 1 to 64 characters long, got 65"),
        ),
        (
            "consumer",
            "role_name",
            "\"role name\"".to_owned(),
            Some(
                "`consumer.role_name` must contain only ASCII letters, digits and `+`, `=`, `,`, `.`, `@`, `_`, `-`, got a space at position 5",
            ),
        ),
        (
            "consumer",
            "key_prefix",
            format!("\"{}\"", "p".repeat(256)),
            None,
        ),
        (
            "consumer",
            "key_prefix",
            format!("\"{}\"", "p".repeat(257)),
            Some("`consumer.key_prefix` must be at most 256 bytes long, got 257"),
        ),
        (
            "consumer",
            "key_prefix",
            "'a\\b'".to_owned(),
            Some(
                "`consumer.key_prefix` must contain only printable ASCII characters other than `\\`, got `\\` at position 2",
            ),
        ),
        (
            "consumer",
            "key_prefix",
            "\"a\\tb\"".to_owned(),
            Some(
                "`consumer.key_prefix` must contain only printable ASCII characters other than `\\`, got `\\t` at position 2",
            ),
        ),
    ];
    for (table, key, value, expected) in cases {
        let text = if table.is_empty() {
            // The function name is set so that the default one cannot be what is too long.
            format!(
                "{key} = {value}\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n[consumer]\nfunction_name = \"f\"\n"
            )
        } else {
            with_value(table, key, &value)
        };
        match (parse(&text, Path::new("deploy.toml")), expected) {
            (Ok(_), None) => {}
            (Err(err), Some(message)) => {
                assert_eq!(err.message, message, "{table}.{key} = {value}");
                assert!(err.more.is_empty(), "{err}");
            }
            (result, expected) => {
                panic!("{table}.{key} = {value}: expected {expected:?}, got {result:?}")
            }
        }
    }
}

#[test]
fn region_and_endpoint_url() {
    let text = |region: &str| {
        format!(
            "name = \"demo\"\nregion = \"{region}\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n"
        )
    };
    assert_eq!(
        ok(&text("us-gov-west-1")).region.as_deref(),
        Some("us-gov-west-1")
    );
    assert_eq!(
        err(&text("US-EAST-1")),
        "invalid config `deploy.toml` at line 2, column 10: `region` must look like an AWS region, got `US-EAST-1`\n  help: regions look like `us-east-1` or `eu-central-1`; leave `region` out to use the AWS region chain"
    );
    let text = |url: &str| {
        format!(
            "name = \"demo\"\nendpoint_url = \"{url}\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n"
        )
    };
    assert_eq!(
        ok(&text("https://localhost:4566")).endpoint_url.as_deref(),
        Some("https://localhost:4566")
    );
    assert_eq!(
        err(&text("ftp://localhost")),
        "invalid config `deploy.toml` at line 2, column 16: `endpoint_url` must be an `http://` or `https://` URL, got `ftp://localhost`\n  help: for LocalStack, use `http://127.0.0.1:4566`"
    );
}

#[test]
fn bucket_names_at_the_length_limits() {
    let text = |bucket: &str| {
        format!("name = \"demo\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"{bucket}\"\n")
    };
    ok(&text("abc"));
    ok(&text(&"b".repeat(63)));
    assert_eq!(
        err(&text("ab")),
        "invalid config `deploy.toml` at line 5, column 8: `bucket.name` must be 3 to 63 characters long, got 2"
    );
    assert_eq!(
        err(&text(&"b".repeat(64))),
        "invalid config `deploy.toml` at line 5, column 8: `bucket.name` must be 3 to 63 characters long, got 64"
    );
}

#[test]
fn unknown_keys_and_tables() {
    assert_eq!(
        err(&format!("nmae = \"x\"\n{}", with(""))),
        "invalid config `deploy.toml` at line 1, column 1: unknown key `nmae`\n  help: did you mean `name`?"
    );
    assert_eq!(
        err(&format!("shard_count = 3\n{}", with(""))),
        "invalid config `deploy.toml` at line 1, column 1: unknown key `shard_count`\n  help: `shard_count` belongs in `[stream]`"
    );
    assert_eq!(
        err(&with("[consumer]\nname = \"fn\"\n")),
        "invalid config `deploy.toml` at line 9, column 1: unknown key `consumer.name`\n  help: allowed keys in `[consumer]` are `function_name`, `role_name`, `memory_mb`, `timeout_s`, `architecture`, `batch_size`, `parallelization_factor`, `maximum_batching_window_s`, `starting_position`, `maximum_retry_attempts`, `bisect_batch_on_function_error`, `maximum_record_age_s`, `on_failure`, `log_retention_days`, `key_prefix`, `write_concurrency` and `zip`"
    );
    assert_eq!(
        err(&with("[stream.settings]\nmode = \"PROVISIONED\"\n")),
        "invalid config `deploy.toml` at line 8, column 1: unknown table `[stream.settings]`\n  help: allowed keys in `[stream]` are `name`, `mode`, `shard_count`, `retention_hours`, `encryption` and `kms_key_id`"
    );
    assert_eq!(
        err(&with("[bucket]\n")).lines().next().unwrap(),
        "invalid config `deploy.toml` at line 8, column 2: syntax error: duplicate key `bucket`"
    );
    let err = parse(
        &with("[consumer]\ntimeout = 60\n"),
        Path::new("deploy.toml"),
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("consumer.timeout"));
    assert_eq!(err.help.as_deref(), Some("did you mean `timeout_s`?"));
}

#[test]
fn missing_tables_and_keys() {
    assert_eq!(
        err("name = \"demo\"\n[bucket]\nname = \"bkt\"\n"),
        "invalid config `deploy.toml` at line 1, column 1: missing required table `[stream]`\n  help: add a `[stream]` table with at least `name = \"...\"`"
    );
    // A missing key inside an inline table points at its `{`.
    assert_eq!(
        err("name = \"demo\"\nstream = { shard_count = 1 }\n[bucket]\nname = \"bkt\"\n"),
        "invalid config `deploy.toml` at line 2, column 10: missing required key `stream.name`\n  help: add `name = \"<stream name>\"` under `[stream]`"
    );
    // An empty file lists every required piece, and nothing else.
    let err = parse("", Path::new("deploy.toml")).unwrap_err();
    let messages: Vec<&str> = err.problems().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "missing required key `name`",
            "missing required table `[stream]`",
            "missing required table `[bucket]`"
        ]
    );
}

#[test]
fn syntax_errors_use_the_parser_position() {
    assert_eq!(
        err("name = \"demo\"\n[stream]\nname = [\"a\",\n"),
        "invalid config `deploy.toml` at line 3, column 13: syntax error: unclosed array, expected `]`"
    );
    assert_eq!(
        err("name = demo\n"),
        "invalid config `deploy.toml` at line 1, column 8: syntax error: string values must be quoted, expected literal string"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        err(
            "name = \"demo\" # café ☕\n[stream]\nname = \"s\"\nshard_count = 0 # ünïcödé\n[bucket]\nname = \"bkt\"\n"
        ),
        "invalid config `deploy.toml` at line 4, column 15: `stream.shard_count` must be an integer from 1 to 1000, got 0"
    );
    assert_eq!(
        err(
            "name = \"demo\"\nconsumer = { zip = \"café☕.zip\", memory_mb = 0 }\n[stream]\nname = \"s\"\n[bucket]\nname = \"bkt\"\n"
        ),
        "invalid config `deploy.toml` at line 2, column 45: `consumer.memory_mb` must be an integer from 128 to 10240, got 0"
    );
    assert_eq!(error::line_column("a\nbc", 4), (2, 3));
    assert_eq!(error::line_column("é", 1), (1, 1));
}

#[test]
fn example_is_the_starter_and_validates() {
    let starter = starter("kstream-demo", "my-globally-unique-bucket");
    if std::env::var_os("KSTREAM_BLESS").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/deploy.example.toml"),
            &starter,
        )
        .unwrap();
    }
    assert!(
        EXAMPLE == starter,
        "deploy.example.toml differs from `starter()`; rerun with KSTREAM_BLESS=1 to rewrite it"
    );
    let config = parse(EXAMPLE, Path::new("deploy.example.toml")).unwrap();
    assert_eq!(config.name, "kstream-demo");
    assert_eq!(config.stream.name, "kstream-demo-stream");
    assert_eq!(config.bucket.name, "my-globally-unique-bucket");
    // The values written out are the defaults, so the example behaves like a minimal config.
    let minimal = "name = \"kstream-demo\"\n[stream]\nname = \"kstream-demo-stream\"\n[bucket]\nname = \"my-globally-unique-bucket\"\n";
    assert_eq!(
        config,
        parse(minimal, Path::new("deploy.example.toml")).unwrap()
    );
}

#[test]
fn example_documents_every_key() {
    let tables = [
        ("", ROOT_KEYS),
        ("stream", STREAM_KEYS),
        ("bucket", BUCKET_KEYS),
        ("consumer", CONSUMER_KEYS),
    ];
    for (table, keys) in tables {
        let section = if table.is_empty() {
            EXAMPLE.split("\n[").next().unwrap()
        } else {
            let header = format!("\n[{table}]\n");
            let start = EXAMPLE
                .find(&header)
                .unwrap_or_else(|| panic!("no {header:?}"));
            EXAMPLE[start + header.len()..].split("\n[").next().unwrap()
        };
        for key in keys {
            let lines: Vec<&str> = section.lines().collect();
            let at = lines
                .iter()
                .position(|line| {
                    line.trim_start_matches("# ")
                        .starts_with(&format!("{key} = "))
                })
                .unwrap_or_else(|| panic!("`{key}` is not in [{table}] of the example"));
            assert!(
                at > 0 && lines[at - 1].starts_with('#'),
                "`{key}` has no comment above it"
            );
        }
    }
    for table in ROOT_TABLES {
        assert!(EXAMPLE.contains(&format!("\n[{table}]\n")), "{table}");
    }
    // Every commented-out key, uncommented, is valid too.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest
                    .split(" = ")
                    .next()
                    .is_some_and(|k| !k.contains(' ') && rest.contains(" = ")) =>
            {
                rest
            }
            _ => line,
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    let config = parse(&uncommented, Path::new("conf/deploy.toml")).unwrap();
    assert_eq!(config.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        config.endpoint_url.as_deref(),
        Some("http://127.0.0.1:4566")
    );
    assert_eq!(
        config.consumer.zip.as_deref(),
        Some(Path::new("conf/target/lambda/consumer/bootstrap.zip"))
    );
    let mut consumer = config.consumer;
    consumer.zip = None;
    assert_eq!(
        consumer,
        parse(EXAMPLE, Path::new("conf/deploy.toml"))
            .unwrap()
            .consumer
    );
}

#[test]
fn starter_validates_for_other_names() {
    let config = parse(
        &starter("orders", "orders-archive"),
        Path::new("deploy.toml"),
    )
    .unwrap();
    assert_eq!(config.name, "orders");
    assert_eq!(config.stream.name, "orders-stream");
    assert_eq!(config.bucket.name, "orders-archive");
    assert_eq!(config.consumer.function_name, "orders-consumer");
    // Awkward input stays valid TOML: the problem is reported against the key, not as a syntax error.
    let err = parse(&starter("a\"b\\c", "bucket"), Path::new("deploy.toml")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("name"), "{err}");
}

#[test]
fn enums_serialize_as_spelled_in_the_config() {
    let cases = [
        (serde_json::to_string(&Architecture::X86_64), "\"x86_64\""),
        (serde_json::to_string(&Architecture::Arm64), "\"arm64\""),
        (
            serde_json::to_string(&StartingPosition::TrimHorizon),
            "\"TRIM_HORIZON\"",
        ),
        (
            serde_json::to_string(&StartingPosition::Latest),
            "\"LATEST\"",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(json.unwrap(), expected);
    }
}

#[test]
fn enums_know_their_own_spelling() {
    for arch in Architecture::ALL {
        let json = serde_json::to_string(&arch).unwrap();
        assert_eq!(json, format!("\"{}\"", arch.as_str()));
        assert_eq!(Architecture::from_aws(arch.as_str()), Some(arch));
    }
    assert_eq!(Architecture::from_aws("x86"), None);
    assert_eq!(
        Architecture::Arm64.target_triple(),
        "aarch64-unknown-linux-gnu"
    );
    for position in StartingPosition::ALL {
        let json = serde_json::to_string(&position).unwrap();
        assert_eq!(json, format!("\"{}\"", position.as_str()));
        assert_eq!(
            StartingPosition::from_aws(position.as_str()),
            Some(position)
        );
    }
    assert_eq!(StartingPosition::from_aws("AT_TIMESTAMP"), None);
}

#[test]
fn an_on_demand_stream_takes_no_shard_count() {
    let config = ok(&with("").replace(
        "name = \"demo-stream\"\n",
        "name = \"demo-stream\"\nmode = \"on_demand\"\n",
    ));
    assert_eq!(config.stream.mode, StreamMode::OnDemand);
    let report = err(&with("").replace(
        "name = \"demo-stream\"\n",
        "name = \"demo-stream\"\nmode = \"on-demand\"\n",
    ));
    assert!(report.contains("did you mean `\"on_demand\"`?"), "{report}");
}

/// A valid config with `lines` under `[stream]`.
fn with_stream(lines: &str) -> String {
    format!(
        "name = \"demo\"\n\n[stream]\nname = \"demo-stream\"\n{lines}\n[bucket]\nname = \"demo-bucket\"\n"
    )
}

#[test]
fn stream_encryption_defaults_to_the_aws_managed_key() {
    let kms = |key: &str| StreamEncryption::Kms {
        key_id: key.to_owned(),
    };
    assert_eq!(
        ok(&with_stream("")).stream.encryption,
        kms("alias/aws/kinesis")
    );
    assert_eq!(
        ok(&with_stream("encryption = \"kms\"\n")).stream.encryption,
        kms("alias/aws/kinesis")
    );
    assert_eq!(
        ok(&with_stream("encryption = \"none\"\n"))
            .stream
            .encryption,
        StreamEncryption::None
    );
    for key in [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/orders",
        "arn:aws:kms:us-east-1:123456789012:alias/orders",
    ] {
        let text = with_stream(&format!("kms_key_id = \"{key}\"\n"));
        assert_eq!(ok(&text).stream.encryption, kms(key), "{key}");
    }
}

#[test]
fn bad_stream_encryption_names_the_key() {
    assert_eq!(
        err(&with_stream("encryption = \"aes\"\n")),
        "invalid config `deploy.toml` at line 5, column 14: `stream.encryption` must be `\"kms\"` or `\"none\"`, got `\"aes\"`"
    );
    assert_eq!(
        err(&with_stream("encryption = \"off\"\n")),
        "invalid config `deploy.toml` at line 5, column 14: `stream.encryption` must be `\"kms\"` or `\"none\"`, got `\"off\"`\n  help: did you mean `\"none\"`?"
    );
    assert_eq!(
        err(&with_stream("kms_key_id = \"my-key\"\n")),
        "invalid config `deploy.toml` at line 5, column 14: `stream.kms_key_id` must be a KMS key ID, key ARN, alias name (`alias/...`) or alias ARN: a key ID must be a UUID like `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-` and 32 hex digits, got `my-key`\n  help: for example `alias/my-key` or `arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab`; leave `kms_key_id` out for the AWS-managed key `alias/aws/kinesis`"
    );
    assert!(
        err(&with_stream("kms_key_id = \"alias/aws/s3\"\n"))
            .contains("`alias/aws/s3` is another service's AWS-managed key")
    );
    assert!(
        err(&with_stream("kms_key_id = \"arn:aws:s3:::bucket\"\n"))
            .contains("an ARN must be a KMS ARN (`arn:aws:kms:…`), got service `s3`")
    );
    assert!(err(&with_stream("kms_key_id = 7\n")).contains("`stream.kms_key_id` must be a string"));
}

#[test]
fn a_key_without_encryption_is_an_error_naming_the_key() {
    assert_eq!(
        err(&with_stream(
            "encryption = \"none\"\nkms_key_id = \"alias/orders\"\n"
        )),
        "invalid config `deploy.toml` at line 6, column 14: `stream.kms_key_id` is set to `alias/orders`, but `stream.encryption` is \"none\"\n  help: remove `kms_key_id`, or set `encryption = \"kms\"` to encrypt with that key"
    );
}

#[test]
fn tags_are_strings_of_the_aws_tag_rules() {
    let text = with(
        "\n[tags]\nteam = \"data platform\"\n\"cost:center\" = \"CC-1/x@y+z=1\"\nempty = \"\"\n\"é\" = \"ü\"\n",
    );
    assert_eq!(
        ok(&text).tags,
        std::collections::BTreeMap::from([
            ("team".to_owned(), "data platform".to_owned()),
            ("cost:center".to_owned(), "CC-1/x@y+z=1".to_owned()),
            ("empty".to_owned(), String::new()),
            ("é".to_owned(), "ü".to_owned()),
        ])
    );
    assert!(ok(&with("")).tags.is_empty());
    let long_key = "k".repeat(128);
    let long_value = "v".repeat(256);
    ok(&with(&format!("[tags]\n{long_key} = \"{long_value}\"\n")));
}

#[test]
fn bad_tags_name_the_key_line_and_column() {
    assert_eq!(
        err(&with("[tags]\n\"kstream:owner\" = \"me\"\n")),
        "invalid config `deploy.toml` at line 9, column 1: `tags.\"kstream:owner\"`: tag keys starting with `kstream:` are kstream's own\n  help: choose a key without that prefix"
    );
    assert_eq!(
        err(&with("[tags]\n\"AWS:x\" = \"me\"\n")),
        "invalid config `deploy.toml` at line 9, column 1: `tags.\"AWS:x\"`: tag keys starting with `aws:` are reserved by AWS\n  help: choose a key without that prefix"
    );
    assert_eq!(
        err(&with("[tags]\nteam = 7\n")),
        "invalid config `deploy.toml` at line 9, column 8: `tags.team` must be a string, got an integer\n  help: tag values are strings: put the value in double quotes"
    );
    assert_eq!(
        err(&with("[tags]\nteam = \"a;b\"\n")),
        "invalid config `deploy.toml` at line 9, column 8: `tags.team` must contain only letters, digits, spaces and `_ . : / = + - @`, got `;` at position 2"
    );
    assert_eq!(
        err(&with("[tags]\n\"a#b\" = \"x\"\n")),
        "invalid config `deploy.toml` at line 9, column 1: `tags.\"a#b\"`: a tag key must contain only letters, digits, spaces and `_ . : / = + - @`, got `#` at position 2"
    );
    assert_eq!(
        err(&with(&format!("[tags]\n{} = \"x\"\n", "k".repeat(129)))),
        format!(
            "invalid config `deploy.toml` at line 9, column 1: `tags.{}`: a tag key must be at most 128 characters long, got 129",
            "k".repeat(129)
        )
    );
    assert_eq!(
        err(&with(&format!("[tags]\nteam = \"{}\"\n", "v".repeat(257)))),
        "invalid config `deploy.toml` at line 9, column 8: `tags.team` must be at most 256 characters long, got 257"
    );
    assert_eq!(
        err(&with("[tags]\n\"\" = \"x\"\n")),
        "invalid config `deploy.toml` at line 9, column 1: `tags.\"\"`: a tag key must not be empty"
    );
    assert_eq!(
        err(&with("[tags]\nTeam = \"a\"\nteam = \"b\"\n")),
        "invalid config `deploy.toml` at line 10, column 1: `tags.team` and `tags.Team` differ only in case, which IAM does not tell apart\n  help: keep one of them"
    );
}

#[test]
fn at_most_48_tags() {
    let tags = |n: usize| -> String { (0..n).map(|i| format!("t{i} = \"v\"\n")).collect() };
    assert_eq!(ok(&with(&format!("[tags]\n{}", tags(48)))).tags.len(), 48);
    assert_eq!(
        err(&with(&format!("[tags]\n{}", tags(49)))),
        "invalid config `deploy.toml` at line 8, column 1: `[tags]` has 49 tags, more than 48: AWS allows 50 tags per resource, and kstream puts two of its own on the role (`kstream:deployment`, `kstream:region`)\n  help: remove 1 of them"
    );
}
