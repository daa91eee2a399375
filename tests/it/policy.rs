//! `kstream policy`: every AWS operation every command makes against LocalStack is allowed by
//! the printed policy of its family, and the policies (and the ones kstream writes: the
//! consumer role's and the bucket's) pass parliament.
//!
//! The operations come from LocalStack's own call log (`AWS <service>.<Operation> => <status>`
//! lines in the state dir's `localstack.log`), sliced by its length before and after each
//! command. LocalStack's log names no caller, and other tests (and the consumer, writing its
//! objects) call the same LocalStack meanwhile, so a slice is attributed to kstream by its own
//! trace (`RUST_LOG=kstream::aws=debug`, one line per call): every call kstream reports must be
//! in the slice, and every call of the slice that kstream made is checked. The rest of the
//! slice is printed, not checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Aws, Deployment, eventually, repo, rt, stderr, stdout};

/// LocalStack's account and region.
const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------------------------
// A tiny IAM evaluator: Allow/Deny statements, `*`/`?` wildcards in Action and Resource, and the
// condition operators kstream's policies use. Enough to tell "allowed" from "not allowed" for
// one request; not IAM.

/// One request to authorise: an action on a resource, with the request's condition keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Request {
    action: String,
    resource: String,
    context: Vec<(String, String)>,
}

fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn condition_holds(condition: Option<&Value>, context: &[(String, String)]) -> bool {
    let Some(Value::Object(operators)) = condition else {
        return condition.is_none();
    };
    operators.iter().all(|(operator, keys)| {
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let Some((_, actual)) = context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
            else {
                return false; // a missing key never satisfies a positive operator
            };
            let wanted = strings(wanted);
            match operator.as_str() {
                "StringEquals" | "ArnEquals" => wanted.iter().any(|w| w == actual),
                "StringLike" | "ArnLike" => wanted.iter().any(|w| glob(w, actual, false)),
                _ => false, // unknown here: never assume it holds
            }
        })
    })
}

fn statement_matches(statement: &Value, request: &Request) -> bool {
    strings(&statement["Action"])
        .iter()
        .any(|a| glob(a, &request.action, true))
        && strings(&statement["Resource"])
            .iter()
            .any(|r| glob(r, &request.resource, false))
        && condition_holds(statement.get("Condition"), &request.context)
}

/// Whether `policy` allows `request`: some Allow statement matches and no Deny does.
fn allows(policy: &Value, request: &Request) -> bool {
    let statements = match &policy["Statement"] {
        Value::Array(s) => s.clone(),
        single => vec![single.clone()],
    };
    let matching = |effect: &str| {
        statements
            .iter()
            .any(|s| s["Effect"] == effect && statement_matches(s, request))
    };
    matching("Allow") && !matching("Deny")
}

#[test]
fn the_matcher_tells_allowed_from_not() {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ["arn:aws:iam::1:role/r"],
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret"}
    ]});
    let req = |action: &str, resource: &str, context: &[(&str, &str)]| Request {
        action: action.into(),
        resource: resource.into(),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert!(allows(
        &policy,
        &req("s3:getobject", "arn:aws:s3:::b/k", &[])
    ));
    assert!(!allows(
        &policy,
        &req("s3:PutObject", "arn:aws:s3:::b/k", &[])
    ));
    assert!(!allows(
        &policy,
        &req("s3:GetObject", "arn:aws:s3:::c/k", &[])
    ));
    assert!(!allows(
        &policy,
        &req("s3:GetObject", "arn:aws:s3:::b/secret", &[])
    ));
    let role = "arn:aws:iam::1:role/r";
    assert!(allows(
        &policy,
        &req(
            "iam:PassRole",
            role,
            &[("iam:PassedToService", "lambda.amazonaws.com")]
        )
    ));
    assert!(!allows(
        &policy,
        &req(
            "iam:PassRole",
            role,
            &[("iam:PassedToService", "ec2.amazonaws.com")]
        )
    ));
    assert!(!allows(&policy, &req("iam:PassRole", role, &[])));
}

// ---------------------------------------------------------------------------------------------
// Operations → IAM actions.

/// The deployment's names, to give each operation its resource.
struct Names {
    stream: String,
    bucket: String,
    role: String,
    function: String,
}

impl Names {
    fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            self.function
        )
    }
}

/// What IAM authorises for one logged operation (`service`, `Operation` as LocalStack names
/// them): one request per action, with its resource. `None` for an operation kstream does not
/// know how to map, which fails the test.
fn requests(service: &str, op: &str, n: &Names) -> Option<Vec<Request>> {
    let on = |action: String, resource: String| Request {
        action,
        resource,
        context: Vec::new(),
    };
    let stream = format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{}", n.stream);
    let bucket = format!("arn:aws:s3:::{}", n.bucket);
    // Any object key: kstream's policies scope objects by bucket (and, for `smoke`, by the
    // key prefix, which is empty here).
    let object = format!("{bucket}/k-2026-01-01-000000-1.txt");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{}", n.role);
    let function = n.function_arn();
    let log_group = format!(
        "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{}",
        n.function
    );
    let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}-failures", n.function);
    let mapping = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:0f1e2d3c");
    let pass_role = Request {
        action: "iam:PassRole".into(),
        resource: role.clone(),
        context: vec![("iam:PassedToService".into(), "lambda.amazonaws.com".into())],
    };
    let for_function = |action: &str, resource: &str| Request {
        action: action.into(),
        resource: resource.into(),
        context: vec![("lambda:FunctionArn".into(), function.clone())],
    };
    let same = |prefix: &str, resource: &str| vec![on(format!("{prefix}:{op}"), resource.into())];
    Some(match (service, op) {
        // Needs no permission: STS answers any valid credentials.
        ("sts", "GetCallerIdentity") => Vec::new(),
        ("kinesis", _) => same("kinesis", &stream),
        // S3's actions are not its operations' names.
        ("s3", "HeadBucket" | "ListObjectsV2" | "ListObjects") => {
            vec![on("s3:ListBucket".into(), bucket)]
        }
        ("s3", "ListObjectVersions") => vec![on("s3:ListBucketVersions".into(), bucket)],
        ("s3", "GetBucketEncryption") => {
            vec![on("s3:GetEncryptionConfiguration".into(), bucket)]
        }
        ("s3", "PutBucketEncryption") => {
            vec![on("s3:PutEncryptionConfiguration".into(), bucket)]
        }
        ("s3", "GetPublicAccessBlock") => {
            vec![on("s3:GetBucketPublicAccessBlock".into(), bucket)]
        }
        ("s3", "PutPublicAccessBlock") => {
            vec![on("s3:PutBucketPublicAccessBlock".into(), bucket)]
        }
        ("s3", "GetBucketLocation") => vec![on("s3:GetBucketLocation".into(), bucket)],
        // kstream creates the bucket with its tags.
        ("s3", "CreateBucket") => vec![
            on("s3:CreateBucket".into(), bucket.clone()),
            on("s3:TagResource".into(), bucket),
        ],
        ("s3", "HeadObject" | "GetObject") => vec![on("s3:GetObject".into(), object)],
        ("s3", "PutObject") => vec![on("s3:PutObject".into(), object)],
        // Deleting versions by id needs both.
        ("s3", "DeleteObjects" | "DeleteObject") => vec![
            on("s3:DeleteObject".into(), object.clone()),
            on("s3:DeleteObjectVersion".into(), object),
        ],
        (
            "s3",
            "DeleteBucket" | "GetBucketPolicy" | "PutBucketPolicy" | "GetBucketTagging"
            | "PutBucketTagging",
        ) => same("s3", &bucket),
        // Created with its tags.
        ("iam", "CreateRole") => vec![
            on("iam:CreateRole".into(), role.clone()),
            on("iam:TagRole".into(), role),
        ],
        ("iam", _) => same("iam", &role),
        // Creating or configuring the function passes the role to Lambda.
        ("lambda", "CreateFunction") => vec![
            on("lambda:CreateFunction".into(), function.clone()),
            on("lambda:TagResource".into(), function.clone()),
            pass_role,
        ],
        ("lambda", "UpdateFunctionConfiguration") => vec![
            on(
                "lambda:UpdateFunctionConfiguration".into(),
                function.clone(),
            ),
            pass_role,
        ],
        ("lambda", "Invoke") => vec![on("lambda:InvokeFunction".into(), function.clone())],
        ("lambda", "ListEventSourceMappings") => {
            vec![on("lambda:ListEventSourceMappings".into(), "*".into())]
        }
        ("lambda", "CreateEventSourceMapping") => {
            vec![for_function("lambda:CreateEventSourceMapping", "*")]
        }
        (
            "lambda",
            "GetEventSourceMapping" | "UpdateEventSourceMapping" | "DeleteEventSourceMapping",
        ) => vec![for_function(&format!("lambda:{op}"), &mapping)],
        ("lambda", _) => same("lambda", &function),
        ("logs", "DescribeLogGroups") => vec![on("logs:DescribeLogGroups".into(), "*".into())],
        ("logs", "CreateLogGroup") => vec![
            on("logs:CreateLogGroup".into(), log_group.clone()),
            on("logs:TagResource".into(), log_group),
        ],
        ("logs", _) => same("logs", &log_group),
        ("sqs", "ChangeMessageVisibilityBatch") => {
            vec![on("sqs:ChangeMessageVisibility".into(), queue)]
        }
        ("sqs", "DeleteMessageBatch") => vec![on("sqs:DeleteMessage".into(), queue)],
        ("sqs", "CreateQueue") => vec![
            on("sqs:CreateQueue".into(), queue.clone()),
            on("sqs:TagQueue".into(), queue),
        ],
        ("sqs", _) => same("sqs", &queue),
        // No resource type in the IAM reference: only `*` grants it.
        ("cloudwatch", "GetMetricData") => vec![on("cloudwatch:GetMetricData".into(), "*".into())],
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// LocalStack's call log and kstream's own trace.

/// LocalStack's log file (scripts/localstack's `LOG_FILE`, in its state dir).
fn localstack_log() -> PathBuf {
    if let Some(dir) = std::env::var_os("KSTREAM_STATE_DIR") {
        return PathBuf::from(dir).join("localstack.log");
    }
    let cache = std::env::var_os("KSTREAM_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kstream")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/kstream")))
        .expect("HOME or a cache dir");
    cache
        .join("localstack-2026.3.0")
        .join(format!("state-{}", crate::support::port()))
        .join("localstack.log")
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log)
        .map(|m| m.len())
        .unwrap_or_else(|e| panic!("LocalStack's log `{}`: {e}", log.display()))
}

/// The `(service, Operation)` of each `AWS service.Operation => status` line after `from`.
fn logged_calls(log: &Path, from: u64) -> Vec<(String, String)> {
    let bytes = std::fs::read(log).expect("read LocalStack's log");
    let tail = String::from_utf8_lossy(&bytes[(from as usize).min(bytes.len())..]).into_owned();
    tail.lines()
        .filter_map(|line| {
            let rest = &line[line.find(" AWS ")? + 5..];
            let (call, _status) = rest.split_once(" => ")?;
            let (service, op) = call.split_once('.')?;
            Some((service.to_string(), op.to_string()))
        })
        .collect()
}

/// The calls kstream reports on stderr with `RUST_LOG=kstream::aws=debug`, in LocalStack's
/// service names.
fn traced_calls(stderr: &str) -> Vec<(String, String)> {
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{name}="))? + name.len() + 1;
        let rest = &line[start..];
        Some(if let Some(quoted) = rest.strip_prefix('"') {
            quoted[..quoted.find('"')?].to_string()
        } else {
            rest.split_whitespace().next()?.to_string()
        })
    };
    stderr
        .lines()
        .filter(|l| l.contains("aws call"))
        .filter_map(|l| {
            let service = match field(l, "service")?.as_str() {
                "Kinesis" => "kinesis",
                "Lambda" => "lambda",
                "S3" => "s3",
                "IAM" => "iam",
                "CloudWatch Logs" => "logs",
                "CloudWatch" => "cloudwatch",
                "SQS" => "sqs",
                "STS" => "sts",
                other => panic!("unknown service `{other}` in kstream's trace: {l}"),
            };
            Some((service.to_string(), field(l, "operation")?))
        })
        .collect()
}

/// What one command did, as LocalStack logged it and kstream traced it.
#[derive(Clone)]
struct Run {
    args: Vec<String>,
    out: Output,
    /// Calls of the log slice that kstream made (checked).
    calls: Vec<(String, String)>,
    /// Calls of the slice kstream did not make: the consumer's, other tests' (printed).
    others: Vec<(String, String)>,
}

/// Run `kstream <args>` for `d`, with its calls sliced from LocalStack's log.
fn run(d: &Deployment, args: &[&str]) -> Run {
    let log = localstack_log();
    let before = log_len(&log);
    let config = d.config();
    let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let out = crate::support::command(d.dir.path(), &all)
        .env("RUST_LOG", "kstream::aws=debug")
        .output()
        .expect("run kstream");
    let traced = traced_calls(&stderr(&out));
    // LocalStack writes a line once it has answered: wait until every traced call is there.
    let logged = eventually(
        &format!("LocalStack to log every call of `kstream {args:?}`"),
        Duration::from_secs(10),
        || {
            let logged = logged_calls(&log, before);
            let mut left = logged.clone();
            traced
                .iter()
                .all(|call| match left.iter().position(|l| l == call) {
                    Some(i) => {
                        left.remove(i);
                        true
                    }
                    None => false,
                })
                .then_some(logged)
        },
    );
    let mut others = logged;
    for call in &traced {
        if let Some(i) = others.iter().position(|l| l == call) {
            others.remove(i);
        }
    }
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        out,
        calls: traced,
        others,
    }
}

/// The policies `kstream policy --json` printed, by family.
fn policies(report: &Value) -> BTreeMap<String, Value> {
    assert_eq!(report["format_version"], 1, "{report:#}");
    report["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| {
            (
                p["family"].as_str().expect("family").to_string(),
                p["document"].clone(),
            )
        })
        .collect()
}

/// Run parliament (scripts/parliament, the pinned version) on policy documents.
fn parliament(dir: &Path, documents: &[(&str, &Value)]) {
    let mut files = Vec::new();
    for (name, document) in documents {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(
            &path,
            serde_json::to_string_pretty(document).expect("policy JSON"),
        )
        .expect("write policy");
        files.push(path);
    }
    let out = std::process::Command::new(repo().join("scripts/parliament"))
        .arg("check")
        .args(&files)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run scripts/parliament");
    // One known false positive: `kms:ResourceAliases` is a condition key of KMS's `key`
    // resource type (parliament's own IAM database lists it there, and the KMS guide's
    // "Use aliases to control access" grants Decrypt and GenerateDataKey with it), but
    // parliament checks conditions against the action's keys only.
    let findings = stdout(&out);
    let real: Vec<&str> = findings
        .lines()
        .filter(|line| {
            !["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
                .iter()
                .any(|action| {
                    line.starts_with("MEDIUM - Unknown condition for action")
                        && line.contains(&format!(
                            "Unknown condition kms:ResourceAliases for action {action} -"
                        ))
                })
        })
        .collect();
    assert!(
        real.is_empty() && (out.status.success() || !findings.is_empty()),
        "parliament has findings ({}):\n{}{}",
        out.status,
        real.join("\n"),
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------

/// Without LocalStack: each family's policy, for kstream's own queue and for an external one,
/// passes parliament; the plain output is the same documents as `--json`'s.
#[test]
fn printed_policies_pass_parliament() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut documents = Vec::new();
    for (variant, on_failure, key) in [
        ("own-queue", "queue", ""),
        (
            "external-queue",
            "arn:aws:sqs:eu-west-1:210987654321:elsewhere",
            "",
        ),
        ("no-queue", "none", ""),
        // A customer-managed stream key, by ID and by alias: the KMS statements too.
        (
            "key-id",
            "queue",
            "kms_key_id = \"1234abcd-12ab-34cd-56ef-1234567890ab\"\n",
        ),
        ("key-alias", "queue", "kms_key_id = \"alias/pipeline\"\n"),
    ] {
        let config = dir.path().join(format!("{variant}.toml"));
        std::fs::write(
            &config,
            format!(
                "name = \"p\"\nregion = \"eu-west-1\"\n[stream]\nname = \"p-stream\"\n{key}[bucket]\nname = \"p-bucket-1234\"\n[consumer]\non_failure = {on_failure:?}\nkey_prefix = \"events/\"\n"
            ),
        )
        .expect("write config");
        let config = config.to_str().expect("utf-8 path");
        let base = ["--config", config, "policy", "--account", "123456789012"];
        let out = crate::support::kstream_in(dir.path(), &[&base[..], &["--json"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).is_empty(),
            "no STS call, no note: {}",
            stderr(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("policy --json");
        assert_eq!(report["account"], "123456789012");
        assert_eq!(report["account_known"], true);
        let by_family = policies(&report);
        assert_eq!(
            by_family.keys().collect::<Vec<_>>(),
            ["deploy", "operate", "produce"]
        );
        for family in ["deploy", "produce", "operate"] {
            let out = crate::support::kstream_in(
                dir.path(),
                &[&base[..], &["--family", family]].concat(),
            );
            assert!(out.status.success(), "{}", stderr(&out));
            // Plain output is the IAM document itself.
            let plain: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{family}: not one JSON document ({e})"));
            assert_eq!(plain, by_family[family], "{family}");
            assert_eq!(plain["Version"], "2012-10-17");
        }
        if !key.is_empty() {
            for (family, action) in [
                ("deploy", "kms:DescribeKey"),
                ("produce", "kms:GenerateDataKey"),
                ("operate", "kms:Decrypt"),
            ] {
                assert!(
                    by_family[family]
                        .to_string()
                        .contains(&format!("\"{action}\"")),
                    "{variant}: {family} lacks {action}"
                );
            }
        }
        for (family, document) in by_family {
            documents.push((format!("{variant}-{family}"), document));
        }
    }
    let named: Vec<(&str, &Value)> = documents.iter().map(|(n, d)| (n.as_str(), d)).collect();
    parliament(dir.path(), &named);
}

/// Without credentials and without `--account`, the ARNs say `*` for the account and stderr
/// says why; the exit code is still 0.
#[test]
fn an_unknown_account_is_a_wildcard_and_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("deploy.toml");
    std::fs::write(
        &config,
        "name = \"p\"\nregion = \"eu-west-1\"\n[stream]\nname = \"s\"\n[bucket]\nname = \"p-bucket-1234\"\n",
    )
    .expect("write config");
    let out = crate::support::command(
        dir.path(),
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--aws-timeout",
            "3s",
            "policy",
            "--family",
            "produce",
        ],
    )
    .output()
    .expect("run kstream");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("note: the account is unknown (")
            && stderr(&out).contains("the ARNs say `*` for it\n  hint: pass `--account ID`"),
        "{}",
        stderr(&out)
    );
    let document: Value = serde_json::from_slice(&out.stdout).expect("policy JSON");
    assert_eq!(
        document["Statement"][0]["Resource"],
        json!(["arn:aws:kinesis:eu-west-1:*:stream/s"])
    );
    // `--account` must be an account id.
    let bad = crate::support::kstream_in(
        dir.path(),
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "policy",
            "--account",
            "12",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

/// Every command, against LocalStack: each operation kstream makes is allowed by its family's
/// printed policy; the consumer role's policy and the bucket policy kstream writes pass
/// parliament too.
#[test]
fn every_call_of_every_command_is_allowed_by_its_policy() {
    let mut d = Deployment::new("policy");
    d.consumer_extra = "maximum_retry_attempts = 0\n".into();
    d.write();
    let names = Names {
        stream: d.stream(),
        bucket: d.bucket(),
        role: d.role(),
        function: d.function(),
    };

    // The account from STS (LocalStack's).
    let report = d.json(&["policy"]);
    assert_eq!(report["account"], ACCOUNT, "{report:#}");
    assert_eq!(report["account_known"], true);
    assert_eq!(report["region"], REGION);
    let policies = policies(&report);

    let rt = rt();
    let aws = Aws::new(&rt);
    let mut runs: Vec<(&str, Run)> = Vec::new();
    let mut ok = |family: &'static str, d: &Deployment, args: &[&str]| -> Run {
        let r = run(d, args);
        assert!(
            r.out.status.success(),
            "kstream {args:?} failed ({}):\n{}\n{}",
            r.out.status,
            stdout(&r.out),
            stderr(&r.out)
        );
        runs.push((family, r.clone()));
        r
    };

    // Deploy: from nothing, converged, then changed (shards, memory: UpdateShardCount,
    // UpdateFunctionConfiguration with its PassRole).
    ok("deploy", &d, &["plan"]);
    ok("deploy", &d, &["apply"]);
    ok("deploy", &d, &["apply"]);
    d.shards = 3;
    d.consumer_extra = "maximum_retry_attempts = 0\nmemory_mb = 256\n".into();
    d.write();
    ok("deploy", &d, &["apply"]);

    // The consumer role's policy and the bucket policy kstream wrote, as AWS holds them.
    let (role_policy, bucket_policy) = rt.block_on(async {
        let role = aws
            .iam
            .get_role_policy()
            .role_name(d.role())
            .policy_name("kstream-consumer")
            .send()
            .await
            .expect("get role policy");
        let doc = role.policy_document();
        let doc = urlencoding_decode(doc);
        let bucket = aws
            .s3
            .get_bucket_policy()
            .bucket(d.bucket())
            .send()
            .await
            .expect("get bucket policy");
        (
            serde_json::from_str::<Value>(&doc).expect("role policy JSON"),
            serde_json::from_str::<Value>(bucket.policy().expect("bucket policy"))
                .expect("bucket policy JSON"),
        )
    });

    // Produce and operate.
    ok(
        "produce",
        &d,
        &["put", "--partition-key", "k", "--data", "hello"],
    );
    ok(
        "produce",
        &d,
        &["smoke", "--count", "3", "--timeout", "90s"],
    );
    ok("operate", &d, &["status"]);
    let listing = ok("operate", &d, &["--json", "objects"]);
    let listing: Value = serde_json::from_slice(&listing.out.stdout).expect("objects --json");
    let key = listing["objects"][0]["key"]
        .as_str()
        .expect("an object")
        .to_string();
    ok("operate", &d, &["objects", "--cat", &key]);
    ok("operate", &d, &["logs", "--since", "1h"]);

    // A failed batch: the bucket is gone, the mapping gives up at once (no retries).
    rt.block_on(async {
        let list = aws
            .s3
            .list_object_versions()
            .bucket(d.bucket())
            .send()
            .await
            .expect("list versions");
        for v in list.versions() {
            let mut req = aws
                .s3
                .delete_object()
                .bucket(d.bucket())
                .key(v.key().expect("key"));
            if let Some(id) = v.version_id() {
                req = req.version_id(id);
            }
            req.send().await.expect("delete object");
        }
        aws.s3
            .delete_bucket()
            .bucket(d.bucket())
            .send()
            .await
            .expect("delete bucket");
    });
    ok(
        "produce",
        &d,
        &["put", "--partition-key", "lost", "--data", "again"],
    );
    eventually(
        "`kstream failures` to list the failed batch",
        Duration::from_secs(90),
        || {
            let r = ok("operate", &d, &["--json", "failures"]);
            let v: Value = serde_json::from_slice(&r.out.stdout).expect("failures --json");
            (v["records"].as_u64() > Some(0)).then_some(())
        },
    );
    ok("deploy", &d, &["apply"]);
    ok("operate", &d, &["redrive", "--yes"]);
    ok("deploy", &d, &["destroy", "--force", "--yes"]);

    // Every call kstream made is allowed by its family's policy.
    let mut denied = Vec::new();
    let mut checked = std::collections::BTreeSet::new();
    for (family, r) in &runs {
        let policy = &policies[*family];
        for (service, op) in &r.calls {
            let Some(requests) = requests(service, op, &names) else {
                denied.push(format!(
                    "{family}: `kstream {}` called {service}.{op}, which this test cannot map to IAM actions",
                    r.args.join(" ")
                ));
                continue;
            };
            for request in requests {
                checked.insert(format!("{family}: {service}.{op} → {}", request.action));
                if !allows(policy, &request) {
                    denied.push(format!(
                        "{family}: `kstream {}` called {service}.{op}, but the policy does not allow {} on {} ({:?})",
                        r.args.join(" "),
                        request.action,
                        request.resource,
                        request.context
                    ));
                }
            }
        }
        if !r.others.is_empty() {
            eprintln!(
                "policy test: during `kstream {}` LocalStack also logged (not kstream's): {:?}",
                r.args.join(" "),
                r.others
            );
        }
    }
    eprintln!(
        "policy test: checked {} actions:\n  {}",
        checked.len(),
        checked.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
    assert!(denied.is_empty(), "not allowed:\n{}", denied.join("\n"));
    // The run reached what the families are for (a test that checked nothing would pass).
    for expected in [
        "deploy: kinesis.CreateStream → kinesis:CreateStream",
        "deploy: kinesis.UpdateShardCount → kinesis:UpdateShardCount",
        "deploy: lambda.UpdateFunctionConfiguration → iam:PassRole",
        "deploy: s3.DeleteObjects → s3:DeleteObjectVersion",
        "produce: kinesis.PutRecords → kinesis:PutRecords",
        "produce: s3.GetObject → s3:GetObject",
        "operate: sqs.ReceiveMessage → sqs:ReceiveMessage",
        "operate: lambda.Invoke → lambda:InvokeFunction",
        "operate: logs.FilterLogEvents → logs:FilterLogEvents",
        "operate: cloudwatch.GetMetricData → cloudwatch:GetMetricData",
    ] {
        assert!(checked.contains(expected), "never checked: {expected}");
    }

    // And what kstream writes passes parliament too.
    let dir = tempfile::tempdir().expect("tempdir");
    parliament(
        dir.path(),
        &[
            ("deploy", &policies["deploy"]),
            ("produce", &policies["produce"]),
            ("operate", &policies["operate"]),
            ("consumer-role", &role_policy),
            ("bucket", &bucket_policy),
        ],
    );
}

/// IAM returns policy documents URL-encoded (LocalStack too, or not): decode `%XX` when present.
fn urlencoding_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
