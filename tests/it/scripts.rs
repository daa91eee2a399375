//! The README's scripts off their happy path: tearing down what is not running, and a port
//! that another program holds.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{repo, stderr};

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn demo_down_without_localstack_starts_and_builds_nothing() {
    let state = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = Command::new(repo().join("scripts/demo"))
        .arg("down")
        .env("KSTREAM_LOCALSTACK_PORT", free_port().to_string())
        // Not the state dir of a LocalStack the test run itself uses.
        .env("KSTREAM_STATE_DIR", state.path())
        // No cargo to run: a build attempt would fail loudly.
        .env("CARGO", "/nonexistent/cargo")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run scripts/demo down");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("LocalStack is not running: nothing to tear down"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn localstack_up_on_a_taken_port_says_how_to_pick_another() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let state = tempfile::tempdir().expect("tempdir");
    let out = Command::new(repo().join("scripts/localstack"))
        .arg("up")
        .env("KSTREAM_LOCALSTACK_PORT", port.to_string())
        // Not the state dir of a LocalStack the test run itself uses (CI sets one).
        .env("KSTREAM_STATE_DIR", state.path())
        .output()
        .expect("run scripts/localstack up");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is taken")),
        "{err}"
    );
    assert!(err.contains("KSTREAM_LOCALSTACK_PORT="), "{err}");
    drop(listener);
}
