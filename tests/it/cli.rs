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
