//! Consumer benchmark (`cargo bench --bench consumer`): the real Lambda `bootstrap`, as
//! `kstream package` builds and zips it, run as a host process against a fake Lambda Runtime
//! API served here, fed Kinesis events of the event source mapping's shape (1,000 records of
//! 100 B, then of 10 KiB), writing to an S3 endpoint that answers every PutObject at once with
//! 200 (also served here, keep-alive, so only the consumer's own cost is measured), or with
//! `--localstack` to LocalStack's S3 as well.
//!
//! Per scenario, a fresh process: cold init (spawn → its first `invocation/next`), one warm-up
//! batch, then `--batches` measured batches. CPU is the process's user + system time from
//! `/proc/<pid>/stat` (clock ticks, so several batches are summed), wall time is from handing
//! out the event to receiving the response, peak RSS is `VmHWM` from `/proc/<pid>/status`.
//! Prints a markdown table.
//!
//! Options (after `--`): `--batches N` (default 10), `--records N` (default 1000),
//! `--write-concurrency N` (`KSTREAM_WRITE_CONCURRENCY`, default: the consumer's),
//! `--localstack [URL]` (default `http://127.0.0.1:$KSTREAM_LOCALSTACK_PORT`, port 4566 when
//! unset; the bucket `kstream-bench` is created there). `KSTREAM_BENCH_ZIP` names a prebuilt
//! consumer zip instead of running `kstream package` (e.g. to compare builds).

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const BUCKET: &str = "kstream-bench";
const FUNCTION: &str = "kstream-bench-consumer";
const ACCOUNT: &str = "000000000000";
/// Longest a batch may take before the benchmark gives up on the process.
const BATCH_TIMEOUT: Duration = Duration::from_secs(300);

struct Options {
    batches: usize,
    records: usize,
    localstack: Option<String>,
    write_concurrency: Option<usize>,
}

fn options() -> Options {
    let mut options = Options {
        batches: 10,
        records: 1000,
        localstack: None,
        write_concurrency: None,
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| fail(&format!("`{name}` takes a positive number")))
        };
        match arg.as_str() {
            "--batches" => options.batches = number("--batches"),
            "--records" => options.records = number("--records"),
            "--write-concurrency" => {
                options.write_concurrency = Some(number("--write-concurrency"));
            }
            "--localstack" => {
                let url = args
                    .next_if(|next| !next.starts_with("--"))
                    .unwrap_or_else(|| {
                        let port = std::env::var("KSTREAM_LOCALSTACK_PORT")
                            .unwrap_or_else(|_| "4566".to_owned());
                        format!("http://127.0.0.1:{port}")
                    });
                options.localstack = Some(url);
            }
            // `cargo bench` passes `--bench` to every benchmark binary.
            "--bench" => {}
            other => fail(&format!(
                "unknown argument `{other}`; use --batches N, --records N, --write-concurrency N, --localstack [URL]"
            )),
        }
    }
    options
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

fn main() {
    let options = options();
    let work = tempfile::tempdir().unwrap_or_else(|err| fail(&format!("temp dir: {err}")));
    let (zip_path, zip_size) = consumer_zip();
    let bootstrap = unzip_bootstrap(&zip_path, work.path());
    eprintln!(
        "consumer zip `{}`: {:.2} MiB",
        zip_path.display(),
        mib(zip_size)
    );

    let s3 = FakeS3::start();
    let mut endpoints = vec![("local (answers at once)", s3.url.clone())];
    if let Some(url) = &options.localstack {
        create_bucket(url);
        endpoints.push(("LocalStack", url.clone()));
    }

    let mut rows = Vec::new();
    for (endpoint, url) in &endpoints {
        for size in [100, 10 * 1024] {
            eprintln!("{endpoint}: {} records of {size} B", options.records);
            let before = s3.puts.load(Ordering::SeqCst);
            let connections = s3.connections.load(Ordering::SeqCst);
            let run = Run::new(&bootstrap, work.path(), url, options.write_concurrency);
            let measured = run.measure(&options, size);
            if url == &s3.url {
                let puts = s3.puts.load(Ordering::SeqCst) - before;
                let want = (options.records * (options.batches + 1)) as u64;
                if puts != want {
                    fail(&format!(
                        "the endpoint received {puts} PutObjects, not {want}"
                    ));
                }
            }
            let connections =
                (url == &s3.url).then(|| s3.connections.load(Ordering::SeqCst) - connections);
            rows.push((endpoint, size, measured, connections));
        }
    }

    println!(
        "| S3 endpoint | records/batch | record size | CPU µs/record | wall ms/batch | peak RSS MiB | zip MiB | init ms | connections |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (endpoint, size, m, connections) in rows {
        println!(
            "| {endpoint} | {} | {} | {:.0} | {:.0} | {:.1} | {:.2} | {:.0} | {} |",
            options.records,
            if size >= 1024 {
                format!("{} KiB", size / 1024)
            } else {
                format!("{size} B")
            },
            m.cpu_us_per_record,
            m.wall_ms_per_batch,
            m.peak_rss_mib,
            mib(zip_size),
            m.init_ms,
            connections.map_or_else(|| "–".to_owned(), |c| c.to_string()),
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The consumer zip: `KSTREAM_BENCH_ZIP`, else what `kstream package` builds for the example
/// config (the `lambda` profile; `CARGO_PROFILE_LAMBDA_*` variables reach that build).
fn consumer_zip() -> (PathBuf, u64) {
    let path = match std::env::var_os("KSTREAM_BENCH_ZIP") {
        Some(path) => PathBuf::from(path),
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            eprintln!("building the consumer: kstream package");
            let output = Command::new(env!("CARGO_BIN_EXE_kstream"))
                .arg("--config")
                .arg(root.join("deploy.example.toml"))
                .args(["--json", "package"])
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|err| fail(&format!("cannot run kstream package: {err}")));
            if !output.status.success() {
                fail("`kstream package` failed");
            }
            let json: serde_json::Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|err| fail(&format!("`kstream package` printed no JSON: {err}")));
            PathBuf::from(json["path"].as_str().unwrap_or_default())
        }
    };
    let size = std::fs::metadata(&path)
        .unwrap_or_else(|err| fail(&format!("cannot read `{}`: {err}", path.display())))
        .len();
    (path, size)
}

fn unzip_bootstrap(zip: &Path, dir: &Path) -> PathBuf {
    let file = std::fs::File::open(zip).unwrap_or_else(|err| fail(&format!("open zip: {err}")));
    let mut archive =
        zip::ZipArchive::new(file).unwrap_or_else(|err| fail(&format!("read zip: {err}")));
    let mut entry = archive
        .by_name("bootstrap")
        .unwrap_or_else(|err| fail(&format!("zip has no bootstrap: {err}")));
    let path = dir.join("bootstrap");
    let mut out = std::fs::File::create(&path).unwrap_or_else(|err| fail(&err.to_string()));
    std::io::copy(&mut entry, &mut out).unwrap_or_else(|err| fail(&err.to_string()));
    drop(out);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| fail(&err.to_string()));
    path
}

/// `PUT /<bucket>` on LocalStack (it accepts unsigned requests); an existing bucket is fine.
fn create_bucket(url: &str) {
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&authority)
        .unwrap_or_else(|err| fail(&format!("LocalStack at `{url}`: {err}")));
    write!(
        stream,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    if status != "200" && status != "409" {
        fail(&format!(
            "CreateBucket `{BUCKET}` on `{url}` answered `{}`",
            answer.lines().next().unwrap_or_default()
        ));
    }
}

/// What one scenario measured.
struct Measured {
    cpu_us_per_record: f64,
    wall_ms_per_batch: f64,
    peak_rss_mib: f64,
    init_ms: f64,
}

/// One `bootstrap` process and the Runtime API it polls.
struct Run {
    child: Child,
    events: Sender<Invocation>,
    results: Receiver<Outcome>,
    first_poll: Receiver<Instant>,
    started: Instant,
}

struct Invocation {
    id: String,
    body: Vec<u8>,
}

enum Outcome {
    Response(Vec<u8>),
    Error(String),
}

impl Run {
    fn new(bootstrap: &Path, work: &Path, s3_url: &str, concurrency: Option<usize>) -> Self {
        let (events, pending) = channel::<Invocation>();
        let (outcomes, results) = channel::<Outcome>();
        let (polled, first_poll) = channel::<Instant>();
        let pending = Arc::new(Mutex::new(pending));
        let polled = Mutex::new(Some(polled));
        let outcomes = Mutex::new(outcomes);
        let api = serve(move |request: &Request| {
            let path = request.path.as_str();
            if path == "/2018-06-01/runtime/invocation/next" {
                if let Some(polled) = polled.lock().unwrap().take() {
                    let _ = polled.send(Instant::now());
                }
                let next = pending.lock().unwrap().recv();
                return match next {
                    Ok(invocation) => Response {
                        status: 200,
                        headers: vec![
                            ("Lambda-Runtime-Aws-Request-Id", invocation.id),
                            (
                                "Lambda-Runtime-Deadline-Ms",
                                (unix_ms() + 900_000).to_string(),
                            ),
                            (
                                "Lambda-Runtime-Invoked-Function-Arn",
                                format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}"),
                            ),
                            ("Lambda-Runtime-Trace-Id", "Root=1-0-0".to_owned()),
                            ("Content-Type", "application/json".to_owned()),
                        ],
                        body: invocation.body,
                    },
                    // The benchmark is done with this process.
                    Err(_) => Response::status(500),
                };
            }
            let outcome = if path.ends_with("/response") {
                Outcome::Response(request.body.clone())
            } else {
                Outcome::Error(format!(
                    "{path}: {}",
                    String::from_utf8_lossy(&request.body)
                ))
            };
            let _ = outcomes.lock().unwrap().send(outcome);
            Response::status(202)
        });

        let log = std::fs::File::create(work.join("bootstrap.log"))
            .unwrap_or_else(|err| fail(&err.to_string()));
        let started = Instant::now();
        let mut command = Command::new(bootstrap);
        command.env_clear();
        if let Some(concurrency) = concurrency {
            command.env(
                kstream_contract::env::WRITE_CONCURRENCY,
                concurrency.to_string(),
            );
        }
        let child = command
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.trim_start_matches("http://")),
                ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    "/aws/lambda/kstream-bench-consumer",
                ),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_SESSION_TOKEN", "test"),
                ("AWS_ENDPOINT_URL", s3_url),
                ("LAMBDA_TASK_ROOT", &work.to_string_lossy()),
                ("TMPDIR", &work.to_string_lossy()),
                (kstream_contract::env::BUCKET, BUCKET),
                (kstream_contract::env::KEY_PREFIX, "bench/"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| fail(&format!("cannot start `{}`: {err}", bootstrap.display())));
        Self {
            child,
            events,
            results,
            first_poll,
            started,
        }
    }

    fn measure(mut self, options: &Options, size: usize) -> Measured {
        let init = match self.first_poll.recv_timeout(Duration::from_secs(30)) {
            Ok(at) => at - self.started,
            Err(_) => self.die("it never polled the Runtime API"),
        };
        let data = payload(size);
        // Warm-up: connections, allocator, lazy statics.
        self.invoke(&event(0, options.records, &data));
        let mut ticks = 0;
        let mut wall = Duration::ZERO;
        for batch in 1..=options.batches {
            let event = event(batch, options.records, &data);
            let before = cpu_ticks(self.child.id());
            let started = Instant::now();
            self.invoke(&event);
            wall += started.elapsed();
            ticks += cpu_ticks(self.child.id()) - before;
        }
        let peak_rss_kib = peak_rss_kib(self.child.id());
        let records = (options.batches * options.records) as f64;
        let measured = Measured {
            cpu_us_per_record: ticks as f64 * 1e6 / clock_ticks_per_second() / records,
            wall_ms_per_batch: wall.as_secs_f64() * 1e3 / options.batches as f64,
            peak_rss_mib: peak_rss_kib as f64 / 1024.0,
            init_ms: init.as_secs_f64() * 1e3,
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        measured
    }

    fn invoke(&mut self, body: &[u8]) {
        let id = format!("bench-{}", unix_ms());
        let _ = self.events.send(Invocation {
            id,
            body: body.to_vec(),
        });
        match self.results.recv_timeout(BATCH_TIMEOUT) {
            Ok(Outcome::Response(body)) => {
                let response: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let failures = response["batchItemFailures"]
                    .as_array()
                    .map_or(usize::MAX, Vec::len);
                if failures != 0 {
                    self.die(&format!(
                        "the batch was not written: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
            Ok(Outcome::Error(error)) => self.die(&format!("the invocation failed: {error}")),
            Err(_) => self.die("no response"),
        }
    }

    fn die(&mut self, message: &str) -> ! {
        let _ = self.child.kill();
        fail(&format!("bootstrap: {message}"))
    }
}

/// A record's data: printable ASCII (so `text/plain`), `size` bytes.
fn payload(size: usize) -> String {
    let text: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    STANDARD.encode(text)
}

/// A Kinesis event as the event source mapping sends it: batch `batch`, `records` records.
fn event(batch: usize, records: usize, data: &str) -> Vec<u8> {
    let records: Vec<serde_json::Value> = (0..records)
        .map(|i| {
            let n = batch * records + i;
            let sequence = format!("4959033827149025660855969253836157{n:022}");
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("device-{}", n % 1000),
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": 1_709_967_904.477 + n as f64 / 1000.0
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/kstream-bench-consumer-role"),
                "awsRegion": "us-east-1",
                "eventSourceARN": format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/kstream-bench")
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap_or_default()
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// User + system time of the process (all its threads, exited ones included), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> u64 { fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0) };
    field(14) + field(15)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The S3 endpoint that answers every request at once with 200.
struct FakeS3 {
    url: String,
    puts: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl FakeS3 {
    fn start() -> Self {
        let puts = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&puts);
        let (url, connections) = serve_counting(move |request: &Request| {
            if request.method == "PUT" {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            Response {
                status: 200,
                headers: vec![("ETag", "\"d41d8cd98f00b204e9800998ecf8427e\"".to_owned())],
                body: Vec::new(),
            }
        });
        Self {
            url,
            puts,
            connections,
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Serves HTTP/1.1 on a free loopback port, one thread per connection, keep-alive; returns
/// its URL.
fn serve(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> String {
    serve_counting(handler).0
}

fn serve_counting(
    handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| fail(&err.to_string()));
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .unwrap_or_else(|err| fail(&err.to_string()))
    );
    let connections = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&connections);
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = connection(stream, handler.as_ref());
            });
        }
    });
    (url, connections)
}

fn connection(stream: TcpStream, handler: &dyn Fn(&Request) -> Response) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            read_chunked(&mut reader)?
        } else {
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        };
        let response = handler(&Request { method, path, body });
        let mut out = format!("HTTP/1.1 {} X\r\n", response.status);
        for (name, value) in &response.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&response.body);
        writer.write_all(&bytes)?;
        if headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return Ok(());
        }
    }
}

fn read_chunked(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(std::io::Error::other)?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                if line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}
