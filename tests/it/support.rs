//! Test tooling: a real LocalStack on 127.0.0.1 (started through `scripts/localstack up` when
//! it is not running), one uniquely named deployment per test, the real `kstream` binary, and
//! SDK clients to check what exists.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// LocalStack's port (the same variable the script reads).
pub fn port() -> u16 {
    std::env::var("KSTREAM_LOCALSTACK_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4566)
}

/// LocalStack's endpoint.
pub fn endpoint() -> String {
    format!("http://127.0.0.1:{}", port())
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ready() -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{}", port())
            .parse()
            .expect("socket address"),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /_localstack/init/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.replace(' ', "").contains("\"completed\":true")
}

/// Make sure LocalStack runs; start it with the project's script once per test binary.
pub fn localstack() {
    static STARTED: Mutex<bool> = Mutex::new(false);
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if *started || ready() {
        *started = true;
        return;
    }
    let status = Command::new(repo().join("scripts/localstack"))
        .arg("up")
        .status()
        .expect("run scripts/localstack up");
    assert!(status.success(), "scripts/localstack up failed");
    assert!(
        ready(),
        "LocalStack is not ready after `scripts/localstack up`"
    );
    *started = true;
}

/// A short random suffix for resource names.
pub fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}",
        (nanos ^ (std::process::id() as u128) << 20) & 0xff_ffff
    )
}

/// The consumer zip, packaged once per test binary by `kstream package`.
pub fn consumer_zip() -> PathBuf {
    static ZIP: OnceLock<PathBuf> = OnceLock::new();
    ZIP.get_or_init(|| {
        let out = kstream_in(
            repo(),
            &[
                "--config",
                "tests/fixtures/deploy/package.toml",
                "--json",
                "package",
            ],
        );
        assert!(
            out.status.success(),
            "kstream package failed:\n{}",
            stderr(&out)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("package --json");
        PathBuf::from(v["path"].as_str().expect("path"))
    })
    .clone()
}

/// Run the real `kstream` binary in `dir` with LocalStack credentials.
pub fn kstream_in(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run kstream")
}

/// The `kstream` command, set up for LocalStack and without the caller's AWS settings.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kstream"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("KSTREAM_CONFIG")
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One deployment with unique names, its config file in a temporary directory.
pub struct Deployment {
    /// Deployment name (also the prefix of every resource name).
    pub name: String,
    /// Temporary directory holding `deploy.toml`.
    pub dir: tempfile::TempDir,
    /// Extra `[consumer]` lines.
    pub consumer_extra: String,
    /// Whether to use the prebuilt zip (else kstream packages the workspace).
    pub prebuilt: bool,
    /// Shard count.
    pub shards: u32,
}

impl Deployment {
    /// A fresh deployment named after the test; LocalStack is started if needed.
    pub fn new(test: &str) -> Deployment {
        localstack();
        let d = Deployment {
            name: format!("t-{test}-{}", suffix()),
            dir: tempfile::tempdir().expect("tempdir"),
            consumer_extra: String::new(),
            prebuilt: true,
            shards: 2,
        };
        d.write();
        d
    }

    /// Rewrite `deploy.toml` from the fields.
    pub fn write(&self) {
        let zip = if self.prebuilt {
            format!("zip = {:?}\n", consumer_zip().display().to_string())
        } else {
            String::new()
        };
        let text = format!(
            "name = \"{name}\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\n[stream]\nname = \"{name}-stream\"\nshard_count = {shards}\n\n[bucket]\nname = \"{name}-bucket\"\n\n[consumer]\nfunction_name = \"{name}-fn\"\nrole_name = \"{name}-role\"\n{zip}{extra}",
            name = self.name,
            endpoint = endpoint(),
            shards = self.shards,
            extra = self.consumer_extra,
        );
        std::fs::write(self.config(), text).expect("write deploy.toml");
    }

    /// Path of `deploy.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("deploy.toml")
    }

    /// `kstream --config deploy.toml <args>`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let config = self.config();
        let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        command(self.dir.path(), &all)
    }

    /// Run `kstream <args> --config deploy.toml`.
    pub fn kstream(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kstream")
    }

    /// Run `kstream <args>` with the deployment's config pointed at another endpoint (a proxy).
    pub fn kstream_via(&self, endpoint: &str, args: &[&str]) -> Output {
        let text = std::fs::read_to_string(self.config()).expect("read deploy.toml");
        let text = text.replace(
            &format!("endpoint_url = \"{}\"", crate::support::endpoint()),
            &format!("endpoint_url = \"{endpoint}\""),
        );
        let config = self.dir.path().join("via-proxy.toml");
        std::fs::write(&config, text).expect("write via-proxy.toml");
        let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        kstream_in(self.dir.path(), &all)
    }

    /// Like `kstream`, asserting success.
    pub fn ok(&self, args: &[&str]) -> Output {
        assert_succeeded(self.kstream(args), args)
    }

    /// Like `ok`, but kill kstream and fail the test if it has not finished within `deadline`.
    pub fn ok_within(&self, deadline: Duration, args: &[&str]) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kstream");
        finish_within(child, deadline, args)
    }

    /// `kstream --json <args>`, parsed; asserts success.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", stdout(&out)));
        assert_eq!(v["format_version"], 1, "every --json document is versioned");
        v
    }

    /// Stream name.
    pub fn stream(&self) -> String {
        format!("{}-stream", self.name)
    }
    /// Bucket name.
    pub fn bucket(&self) -> String {
        format!("{}-bucket", self.name)
    }
    /// Function name.
    pub fn function(&self) -> String {
        format!("{}-fn", self.name)
    }
    /// Role name.
    pub fn role(&self) -> String {
        format!("{}-role", self.name)
    }

    /// Run `kstream <args>` and SIGKILL it right after the `nth` progress line (1-based) on
    /// stderr, counting from the first line that contains `from`; returns whether it was killed
    /// (false: it finished first).
    pub fn kill_after_progress_line(&self, args: &[&str], from: &str, nth: usize) -> bool {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kstream");
        let stderr = child.stderr.take().expect("stderr");
        let mut seen = 0;
        let mut killed = false;
        let mut counting = from.is_empty();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            counting |= line.contains(from);
            if counting && line.starts_with("  ") {
                seen += 1;
                if seen == nth {
                    child.kill().expect("SIGKILL kstream");
                    killed = true;
                    break;
                }
            }
        }
        let _ = child.wait();
        killed
    }
}

/// A checkout-like kstream workspace in `dir` (a `Cargo.toml` with the `consumer` member, no
/// `target/`), where building is a fake: `cargo` and `cargo-lambda` only create
/// `<dir>/built` and fail. Returns the command for `kstream <args>` there with the fakes first
/// on PATH (and as `CARGO`), and the marker's path.
pub struct FakeWorkspace {
    /// The workspace.
    pub root: PathBuf,
    /// Exists once anything tried to build.
    pub built: PathBuf,
    bin: PathBuf,
}

impl FakeWorkspace {
    pub fn new(dir: &Path) -> FakeWorkspace {
        let root = dir.to_path_buf();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"consumer\"]\n",
        )
        .expect("write Cargo.toml");
        std::fs::create_dir_all(root.join("consumer")).expect("consumer dir");
        std::fs::write(
            root.join("consumer/Cargo.toml"),
            "[package]\nname = \"consumer\"\n",
        )
        .expect("write consumer/Cargo.toml");
        let bin = root.join("fake-bin");
        std::fs::create_dir_all(&bin).expect("fake bin dir");
        let built = root.join("built");
        for program in ["cargo", "cargo-lambda"] {
            let path = bin.join(program);
            std::fs::write(
                &path,
                format!("#!/bin/sh\ntouch '{}'\nexit 1\n", built.display()),
            )
            .expect("write fake");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod fake");
        }
        FakeWorkspace { root, built, bin }
    }

    /// `kstream <args>` in the workspace, building only with the fakes.
    pub fn kstream(&self, args: &[&str]) -> Output {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(&path));
        command(&self.root, args)
            .env("PATH", std::env::join_paths(paths).expect("PATH"))
            .env("CARGO", self.bin.join("cargo"))
            .output()
            .expect("run kstream")
    }

    /// Where `kstream package` writes the x86_64 zip in this workspace.
    pub fn packaged_zip(&self) -> PathBuf {
        self.root.join("target/kstream/x86_64/bootstrap.zip")
    }
}

/// What a run that was sent signals did: its exit code and its stderr.
pub struct Signalled {
    /// The exit code (`None`: ended by a signal's default action).
    pub code: Option<i32>,
    /// All of stderr.
    pub stderr: String,
    /// Whether the signals were sent (false: it finished before the first step line).
    pub sent: bool,
}

impl Deployment {
    /// Run `kstream <args>` and, at the first progress line after the line containing `from`,
    /// send it `signals` (`kill -s` names: `INT`, `TERM`), 300 ms apart; kill it and fail the
    /// test if it has not ended `deadline` after starting.
    pub fn signal_at_first_step(
        &self,
        args: &[&str],
        from: &str,
        signals: &[&str],
        deadline: Duration,
    ) -> Signalled {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kstream");
        let pid = child.id().to_string();
        let stderr = child.stderr.take().expect("stderr");
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        let (mut text, mut counting, mut sent) = (String::new(), false, false);
        loop {
            let left = deadline.saturating_sub(start.elapsed());
            match received.recv_timeout(left) {
                Ok(line) => {
                    text.push_str(&line);
                    text.push('\n');
                    if counting && !sent && line.starts_with("  ") {
                        for (i, signal) in signals.iter().enumerate() {
                            if i > 0 {
                                std::thread::sleep(Duration::from_millis(300));
                            }
                            let status = Command::new("kill")
                                .args(["-s", signal, &pid])
                                .status()
                                .expect("run kill");
                            assert!(status.success(), "kill -s {signal} {pid} failed");
                        }
                        sent = true;
                    }
                    counting |= line.contains(from);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("kstream {args:?} did not end within {deadline:?}:\n{text}");
                }
            }
        }
        let status = child.wait().expect("wait for kstream");
        Signalled {
            code: status.code(),
            stderr: text,
            sent,
        }
    }
}

impl Drop for Deployment {
    /// Best effort: leave LocalStack clean even when a test fails.
    fn drop(&mut self) {
        let _ = self.kstream(&["destroy", "--force", "--yes"]);
    }
}

/// SDK clients against LocalStack, to check what exists.
pub struct Aws {
    pub kinesis: aws_sdk_kinesis::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// A tokio runtime for SDK checks inside synchronous tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Aws {
    /// Clients for LocalStack.
    pub fn new(rt: &tokio::runtime::Runtime) -> Aws {
        let sdk = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(endpoint())
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "test", "test", None, None, "tests",
                ))
                .load(),
        );
        Aws {
            kinesis: aws_sdk_kinesis::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(true)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        }
    }
}

/// Poll `check` until it returns `Some` or `deadline` passes (then panic with `what`).
pub fn eventually<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Every object in the bucket: key → (user metadata, bytes); empty when it cannot be listed.
pub fn objects_with_metadata(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    bucket: &str,
) -> BTreeMap<String, (BTreeMap<String, String>, Vec<u8>)> {
    rt.block_on(async {
        let mut all = BTreeMap::new();
        let Ok(list) = aws.s3.list_objects_v2().bucket(bucket).send().await else {
            return all;
        };
        for o in list.contents() {
            let key = o.key().expect("key").to_string();
            let got = aws
                .s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .expect("get object");
            let metadata = got
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let bytes = got
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec();
            all.insert(key, (metadata, bytes));
        }
        all
    })
}

/// The bucket's objects (as [`objects_with_metadata`]) once there are at least `count`,
/// within `deadline`; fails the test unless there are exactly `count`.
pub fn exactly_objects(
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
    bucket: &str,
    count: usize,
    deadline: Duration,
) -> BTreeMap<String, (BTreeMap<String, String>, Vec<u8>)> {
    let found = eventually(&format!("{count} objects"), deadline, || {
        let found = objects_with_metadata(aws, rt, bucket);
        (found.len() >= count).then_some(found)
    });
    assert_eq!(
        found.len(),
        count,
        "one object per record, no more: {:#?}",
        found.keys().collect::<Vec<_>>()
    );
    found
}

/// Waits for the kstream `child` (run with `args`, its output piped); kills it and fails the
/// test if it has not finished within `deadline`, and fails the test if it did not succeed.
pub fn finish_within(mut child: Child, deadline: Duration, args: &[&str]) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait for kstream").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("kstream output");
            panic!(
                "kstream {args:?} did not finish within {deadline:?}:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_succeeded(child.wait_with_output().expect("kstream output"), args)
}

/// `out` of `kstream args`, failing the test with its stdout and stderr unless it succeeded.
pub fn assert_succeeded(out: Output, args: &[&str]) -> Output {
    assert!(
        out.status.success(),
        "kstream {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}
