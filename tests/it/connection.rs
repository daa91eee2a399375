//! Connection failures end in bounded time with one line that says what to do: a silent
//! endpoint (accepts, never answers), a refused one, missing credentials, an unknown profile,
//! a malformed region, and rejected credentials against LocalStack.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, stderr};

/// A listener on 127.0.0.1 that accepts every connection and never answers; it lives as long
/// as the test process.
fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind silent listener");
    let addr = listener.local_addr().expect("listener address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

/// An endpoint where nothing listens: a port bound, then closed.
fn closed_endpoint() -> String {
    let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    format!("http://{addr}")
}

/// A config in `dir` pointed at `endpoint`, with a prebuilt zip whose `bootstrap` is a script
/// (accepted unchecked), so `plan` needs no build.
fn config(dir: &Path, endpoint: &str) -> String {
    let zip = dir.join("consumer.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).expect("create zip"));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .expect("zip entry");
    std::io::Write::write_all(&mut writer, b"#!/bin/sh\nexit 1\n").expect("zip bootstrap");
    writer.finish().expect("finish zip");
    let text = format!(
        "name = \"conn\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\n[stream]\nname = \"conn-stream\"\n\n[bucket]\nname = \"conn-bucket\"\n\n[consumer]\nfunction_name = \"conn-fn\"\nrole_name = \"conn-role\"\nzip = {:?}\n",
        zip.display().to_string()
    );
    let path = dir.join("deploy.toml");
    std::fs::write(&path, text).expect("write deploy.toml");
    path.display().to_string()
}

/// Run kstream in `dir`; kill it and fail if it runs longer than `deadline`.
fn run_within(dir: &Path, args: &[&str], deadline: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = support::command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kstream");
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "kstream {args:?} still running after {deadline:?}:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (child.wait_with_output().expect("output"), start.elapsed())
}

/// The error lines of stderr (from `error:` on), with the varying port replaced.
fn error_text(out: &Output, endpoint: &str) -> String {
    let text = stderr(out);
    let from = text.find("error:").unwrap_or(0);
    text[from..].replace(endpoint, "http://127.0.0.1:PORT")
}

#[test]
fn plan_checks_the_caller_before_building_the_consumer() {
    let endpoint = silent_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = support::FakeWorkspace::new(dir.path());
    // No `consumer.zip`: plan would build the workspace's consumer.
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"conn\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\n[stream]\nname = \"conn-stream\"\n\n[bucket]\nname = \"conn-bucket\"\n\n[consumer]\nfunction_name = \"conn-fn\"\nrole_name = \"conn-role\"\n"
        ),
    )
    .expect("write deploy.toml");
    let config = config.to_str().expect("utf-8 path");
    let start = Instant::now();
    let out = ws.kstream(&["--config", config, "--aws-timeout", "3s", "plan"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let text = error_text(&out, &endpoint);
    assert!(
        text.contains("endpoint `http://127.0.0.1:PORT/` did not answer"),
        "{text}"
    );
    assert!(!ws.built.exists(), "plan built first: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("building consumer"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("packaged consumer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn silent_endpoint_fails_each_command_within_the_timeout_naming_the_url() {
    let endpoint = silent_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &endpoint);
    for args in [
        vec!["plan"],
        vec!["put", "--partition-key", "k", "--data", "x"],
        vec!["destroy", "--yes"],
    ] {
        let mut all = vec!["--config", config.as_str(), "--aws-timeout", "3s"];
        all.extend_from_slice(&args);
        let (out, took) = run_within(dir.path(), &all, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(took < Duration::from_secs(15), "{args:?} took {took:?}");
        let text = error_text(&out, &endpoint);
        assert!(
            text.contains("endpoint `http://127.0.0.1:PORT/` did not answer")
                && text.contains("within 3s")
                && text.contains("\n  hint: "),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn silent_endpoint_fails_within_the_default_timeout() {
    let endpoint = silent_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &endpoint);
    let (out, took) = run_within(
        dir.path(),
        &["--config", &config, "plan"],
        Duration::from_secs(75),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(took <= Duration::from_secs(65), "took {took:?}");
    insta::assert_snapshot!("silent-default", error_text(&out, &endpoint));
}

#[test]
fn refused_endpoint_names_the_url_and_localstack() {
    let endpoint = closed_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &endpoint);
    let (out, _) = run_within(
        dir.path(),
        &["--config", &config, "status"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("refused", error_text(&out, &endpoint));
}

/// kstream with no credentials anywhere: an empty HOME, no `AWS_*` variables, no IMDS.
fn without_credentials(dir: &Path, args: &[&str]) -> Output {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let mut cmd = support::command(dir, args);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run kstream")
}

#[test]
fn credential_profile_and_region_errors_are_one_line_with_a_hint() {
    let endpoint = closed_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &endpoint);

    let out = without_credentials(dir.path(), &["--config", &config, "status"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("no-credentials", error_text(&out, &endpoint));

    let out = without_credentials(
        dir.path(),
        &["--config", &config, "--profile", "nosuch", "status"],
    );
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("unknown-profile", error_text(&out, &endpoint));

    let out = support::kstream_in(
        dir.path(),
        &["--config", &config, "--region", "US EAST", "status"],
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("bad-region-flag", error_text(&out, &endpoint));

    let out = support::kstream_in(
        dir.path(),
        &[
            "--config",
            &config,
            "--endpoint-url",
            "localhost:4566",
            "status",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("bad-endpoint-flag", error_text(&out, &endpoint));

    let out = support::kstream_in(
        dir.path(),
        &["--config", &config, "--aws-timeout", "0s", "status"],
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("bad-timeout-flag", error_text(&out, &endpoint));
}

#[test]
fn plan_header_names_account_region_and_endpoint() {
    support::localstack();
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = support::endpoint();
    let config = config(dir.path(), "http://127.0.0.1:1");
    // `--endpoint-url` overrides the config's unreachable one.
    let (out, _) = run_within(
        dir.path(),
        &["--config", &config, "--endpoint-url", &endpoint, "plan"],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .replace(&endpoint, "http://127.0.0.1:PORT");
    assert_eq!(
        first,
        "kstream plan for deployment `conn` in us-east-1, account 000000000000 (endpoint http://127.0.0.1:PORT)"
    );
}
