//! A fault-injecting HTTP proxy in front of LocalStack: LocalStack's Kinesis never throttles,
//! so partial PutRecords failures are made here. Chosen entries are taken out of the request
//! before it is forwarded (so they really are not written) and put back into the response as
//! `ProvisionedThroughputExceededException`, exactly as Kinesis reports a throttled entry.
//! Every other request is forwarded unchanged.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Which entries to fail.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail every `every`-th entry of a call the first time it is sent, `budget` entries in all.
    FirstAttempt { every: usize, budget: usize },
    /// Always fail entries with this partition key.
    Key(String),
}

/// A running proxy; it stops with the test process.
pub struct Proxy {
    /// Where to point `endpoint_url`.
    pub addr: SocketAddr,
    /// Entries failed so far.
    pub failed: Arc<Mutex<usize>>,
}

impl Proxy {
    /// Start a proxy to `upstream` (LocalStack's address) injecting `fault`.
    pub fn start(upstream: SocketAddr, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let failed = Arc::new(Mutex::new(0));
        let counter = failed.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (fault, counter) = (fault.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &fault, &counter);
                });
            }
        });
        Proxy { addr, failed }
    }

    /// The endpoint URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An HTTP/1.1 message: start line, headers, body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Serialise with a fresh Content-Length and `Connection: close`.
    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            let skip = ["content-length", "connection", "transfer-encoding"];
            if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Read one message: headers, then a Content-Length or chunked body (or until EOF).
fn read_message(stream: &mut TcpStream, until_eof: bool) -> std::io::Result<Message> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = msg
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        while body.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if until_eof {
        stream.read_to_end(&mut body)?;
    }
    if msg
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        if !until_eof {
            stream.read_to_end(&mut body)?;
        }
        body = dechunk(&body);
    }
    Ok(Message { body, ..msg })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..i])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: &Fault,
    failed: &Mutex<usize>,
) -> std::io::Result<()> {
    let mut request = read_message(&mut client, false)?;
    let is_put_records = request
        .header("x-amz-target")
        .is_some_and(|t| t.ends_with(".PutRecords"));
    // Positions (in the original request) of the entries failed on purpose.
    let mut dropped = Vec::new();
    if is_put_records && let Ok(mut body) = serde_json::from_slice::<Value>(&request.body) {
        let records = body["Records"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        let mut count = failed.lock().unwrap_or_else(|e| e.into_inner());
        for (i, r) in records.into_iter().enumerate() {
            let fail = match fault {
                Fault::FirstAttempt { every, budget } => {
                    // A retried entry is sent in a smaller call, at another position: it is
                    // recognised by its own key and data, so it fails only once.
                    i % every == 0 && *count < *budget && !is_retry(&r)
                }
                Fault::Key(key) => r["PartitionKey"].as_str() == Some(key.as_str()),
            };
            if fail {
                *count += 1;
                dropped.push(i);
                remember(&r);
            } else {
                kept.push(r);
            }
        }
        body["Records"] = Value::Array(kept);
        request.body = serde_json::to_vec(&body)?;
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&request.bytes())?;
    let mut response = read_message(&mut up, true)?;
    if !dropped.is_empty() && response.start.contains(" 200 ") {
        let mut body: Value = serde_json::from_slice(&response.body)?;
        let mut written = body["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let total = written.len() + dropped.len();
        let merged: Vec<Value> = (0..total)
            .map(|i| {
                if dropped.contains(&i) {
                    json!({
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": "Rate exceeded for shard (injected by the test proxy)"
                    })
                } else {
                    written.next().unwrap_or(Value::Null)
                }
            })
            .collect();
        let failed_count = body["FailedRecordCount"].as_u64().unwrap_or(0) + dropped.len() as u64;
        body["Records"] = Value::Array(merged);
        body["FailedRecordCount"] = json!(failed_count);
        response.body = serde_json::to_vec(&body)?;
    }
    client.write_all(&response.bytes())?;
    client.flush()
}

/// Entries already failed once, by (partition key, data).
static FAILED_ONCE: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn identity(r: &Value) -> (String, String) {
    (
        r["PartitionKey"].as_str().unwrap_or_default().to_string(),
        r["Data"].as_str().unwrap_or_default().to_string(),
    )
}

fn is_retry(r: &Value) -> bool {
    FAILED_ONCE
        .lock()
        .map(|f| f.contains(&identity(r)))
        .unwrap_or(false)
}

fn remember(r: &Value) {
    if let Ok(mut f) = FAILED_ONCE.lock() {
        f.push(identity(r));
    }
}
