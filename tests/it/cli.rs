//! The CLI's user-facing text and exit codes, without AWS: bad configs exit 2 before any
//! client is built, help reads like a manual.

use std::path::Path;

use crate::support::{kstream_in, repo, stderr, stdout};

/// Every bad fixture exits 2 with the message pinned in a snapshot; the endpoint points at a
/// closed port, so any AWS call would fail differently.
#[test]
fn bad_configs_exit_2_before_any_aws_call() {
    let dir = repo().join("tests/fixtures/config");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bad-") && n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 20,
        "expected the bad-config fixtures, found {names:?}"
    );
    for name in names {
        let config = format!("tests/fixtures/config/{name}");
        for command in ["plan", "apply", "destroy"] {
            let out = kstream_in(repo(), &["--config", &config, command]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} {command}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).is_empty(), "{name}: nothing on stdout");
            if command == "plan" {
                insta::assert_snapshot!(format!("config-{name}"), stderr(&out));
            }
        }
    }
}

#[test]
fn missing_config_names_the_file_and_the_fix() {
    let out = kstream_in(
        Path::new("/"),
        &["--config", "/nonexistent/deploy.toml", "plan"],
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("missing-config", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let out = kstream_in(repo(), &["aply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unrecognized subcommand"),
        "{}",
        stderr(&out)
    );
}

/// Every subcommand's `--help`, pinned: one snapshot each (`help-<command>`).
#[test]
fn every_command_has_its_help_pinned() {
    use clap::CommandFactory as _;
    let cli = kstream::cli::Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        let out = kstream_in(repo(), &[name, "--help"]);
        assert!(out.status.success(), "{name} --help: {}", stderr(&out));
        insta::assert_snapshot!(format!("help-{name}"), stdout(&out));
    }
}

/// Hostile values for `put` exit 2 at once, without a panic and before any AWS call (the
/// example config's endpoint is never reached).
#[test]
fn hostile_put_input_exits_2_without_a_panic() {
    let started = std::time::Instant::now();
    let put = |args: &[&str]| {
        let mut all = vec!["--config", "deploy.example.toml", "put"];
        all.extend_from_slice(args);
        kstream_in(repo(), &all)
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["--count", "1", "--size", "18446744073709551615"],
            "invalid value '18446744073709551615' for '--size <BYTES>'",
        ),
        (
            &["--count", "3", "--rate", "1e-300"],
            "invalid value '1e-300' for '--rate <R>'",
        ),
        (&["--count", "0"], "invalid value '0' for '--count <N>'"),
        (
            &["-k", "k", "--data-file", "/dev/zero"],
            "`--data-file`: `/dev/zero` is larger than the 1048576-byte (1 MiB) record limit",
        ),
        (
            &["-k", "", "--data", "x"],
            "`--partition-key` is empty; a partition key needs 1 to 256 characters",
        ),
    ];
    for (args, message) in cases {
        let out = put(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "put {args:?}: {err}");
        assert!(!err.contains("panicked"), "put {args:?}: {err}");
        assert!(err.contains(message), "put {args:?}: {err}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "hostile input is refused at once, took {:?}",
        started.elapsed()
    );
}

#[test]
fn help_reads_like_a_manual() {
    let out = kstream_in(repo(), &["--help"]);
    assert!(out.status.success());
    insta::assert_snapshot!("help", stdout(&out));
    for sub in ["plan", "apply", "destroy"] {
        let out = kstream_in(repo(), &[sub, "--help"]);
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("Example"),
            "{sub} --help has an example"
        );
    }
}

#[test]
fn example_config_plans_offline_up_to_the_first_aws_call() {
    // deploy.example.toml is valid: `package` accepts it (it only builds, no AWS call).
    let out = kstream_in(
        repo(),
        &["--config", "deploy.example.toml", "--json", "package"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["size"].as_u64().unwrap_or(0) > 100_000, "{v}");
}

#[test]
fn init_writes_a_valid_config_with_a_unique_bucket_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket_of = |path: &Path| -> String {
        let text = std::fs::read_to_string(path).expect("config written");
        let line = text
            .lines()
            .skip_while(|l| l.trim() != "[bucket]")
            .find(|l| l.starts_with("name = "))
            .expect("bucket name line")
            .to_string();
        line.trim_start_matches("name = ")
            .trim_matches('"')
            .to_string()
    };
    let out = kstream_in(dir.path(), &["init", "--name", "my-pipeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = bucket_of(&dir.path().join("deploy.toml"));
    assert!(
        first.starts_with("my-pipeline-") && first.len() == "my-pipeline-".len() + 8,
        "{first}"
    );

    let again = kstream_in(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(bucket_of(&dir.path().join("deploy.toml")), first, "kept");

    let forced = kstream_in(dir.path(), &["init", "--force", "--name", "my-pipeline"]);
    assert!(forced.status.success());
    assert_ne!(
        bucket_of(&dir.path().join("deploy.toml")),
        first,
        "a new random suffix"
    );

    // Without `--name`, every init names a deployment of its own.
    let name_of = |out: &std::process::Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("init --json");
        v["name"].as_str().expect("name").to_string()
    };
    let names: Vec<String> = ["a.toml", "b.toml"]
        .iter()
        .map(|file| {
            let out = kstream_in(dir.path(), &["--json", "--config", file, "init"]);
            assert!(out.status.success(), "{}", stderr(&out));
            name_of(&out)
        })
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("kstream-") && n.len() == "kstream-".len() + 6),
        "{names:?}"
    );
    assert_ne!(names[0], names[1]);

    // The written file passes the same validation as every command (package validates, then builds).
    let bad = kstream_in(
        dir.path(),
        &["--config", "other.toml", "init", "--name", "bad name!"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(!dir.path().join("other.toml").exists());
}

#[test]
fn version_and_completions() {
    let out = kstream_in(repo(), &["--version"]);
    assert_eq!(
        stdout(&out),
        format!("kstream {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = kstream_in(repo(), &["completions", "bash"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("_kstream()"),
        "bash completion function"
    );
}

#[test]
fn credentials_are_never_printed_even_at_trace_level() {
    crate::support::localstack();
    let secret = "kstreamTestSecretValue0123456789abcdef";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"secrets\"\nendpoint_url = \"{}\"\n[stream]\nname = \"secrets-stream\"\n[bucket]\nname = \"secrets-bucket\"\n[consumer]\nzip = {:?}\n",
            crate::support::endpoint(),
            crate::support::consumer_zip().display().to_string()
        ),
    )
    .expect("write config");
    let out = crate::support::command(
        dir.path(),
        &["-vv", "--config", config.to_str().expect("path"), "plan"],
    )
    .env("AWS_SECRET_ACCESS_KEY", secret)
    .env("AWS_SESSION_TOKEN", format!("{secret}-token"))
    .output()
    .expect("run kstream");
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("aws call"), "-vv logs the calls it makes");
    assert!(!all.contains(secret), "a secret leaked into the output");
}
