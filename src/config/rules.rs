//! Rules for single values (names, URLs, prefixes): pure functions from a value to its problems.
//!
//! Each rule gets the full dotted key for its messages and returns every rule the value
//! breaks, each with its own message. An empty list means the value is valid.

use kstream_contract::MAX_KEY_PREFIX_BYTES;

use super::OnFailure;

/// One broken rule: the message, and help if the user can act on something specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub(super) fn new(message: String) -> Self {
        Self {
            message,
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Deployment name: 1-64 of `[a-zA-Z0-9_-]`, so it is also safe inside every derived name.
pub(super) fn deployment_name(key: &str, value: &str) -> Vec<Problem> {
    name(
        key,
        value,
        1,
        64,
        is_word_char,
        "ASCII letters, digits, `_` and `-`",
    )
}

/// Kinesis stream name: 1-128 of `[a-zA-Z0-9_.-]`.
pub(super) fn stream_name(key: &str, value: &str) -> Vec<Problem> {
    name(
        key,
        value,
        1,
        128,
        |c| is_word_char(c) || c == '.',
        "ASCII letters, digits, `_`, `.` and `-`",
    )
}

/// Lambda function name: 1-64 of `[a-zA-Z0-9_-]`.
pub(super) fn function_name(key: &str, value: &str) -> Vec<Problem> {
    name(
        key,
        value,
        1,
        FUNCTION_NAME_MAX,
        is_word_char,
        "ASCII letters, digits, `_` and `-`",
    )
}

/// Most characters in a Lambda function name.
pub(super) const FUNCTION_NAME_MAX: usize = 64;

/// IAM role name: 1-64 of `[A-Za-z0-9+=,.@_-]`.
pub(super) fn role_name(key: &str, value: &str) -> Vec<Problem> {
    name(
        key,
        value,
        1,
        ROLE_NAME_MAX,
        |c| is_word_char(c) || "+=,.@".contains(c),
        "ASCII letters, digits and `+`, `=`, `,`, `.`, `@`, `_`, `-`",
    )
}

/// Most characters in an IAM role name.
pub(super) const ROLE_NAME_MAX: usize = 64;

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A name of `min..=max` characters, each accepted by `allowed` (described for the message).
fn name(
    key: &str,
    value: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    described: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(length) = length(key, value, min, max) {
        problems.push(length);
    }
    if let Some((position, c)) = first_bad_char(value, allowed) {
        let got = show_char(c);
        problems.push(Problem::new(format!(
            "`{key}` must contain only {described}, got {got} at position {position}"
        )));
    }
    problems
}

/// The length rule shared by names: `min..=max` characters.
fn length(key: &str, value: &str, min: usize, max: usize) -> Option<Problem> {
    let count = value.chars().count();
    if count == 0 && min > 0 {
        Some(Problem::new(format!("`{key}` must not be empty")))
    } else if count < min || count > max {
        Some(Problem::new(format!(
            "`{key}` must be {min} to {max} characters long, got {count}"
        )))
    } else {
        None
    }
}

/// 1-based position and value of the first character `allowed` rejects.
fn first_bad_char(value: &str, allowed: impl Fn(char) -> bool) -> Option<(usize, char)> {
    value
        .chars()
        .enumerate()
        .find(|&(_, c)| !allowed(c))
        .map(|(i, c)| (i + 1, c))
}

/// A character as it reads in a message: in backticks, escaped when it is invisible.
pub(super) fn show_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '`' => "a backtick".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("`{}`", c.escape_debug()),
        c => format!("`{c}`"),
    }
}

/// Reserved bucket name prefixes.
const BUCKET_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Reserved bucket name suffixes.
const BUCKET_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
const BUCKET_RULES_URL: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html";

/// S3 general purpose bucket name rules; every broken rule is its own problem.
pub(super) fn bucket_name(key: &str, value: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(length) = length(key, value, 3, 63) {
        problems.push(length);
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    if let Some((position, c)) = first_bad_char(value, allowed) {
        let got = show_char(c);
        let problem = Problem::new(format!(
            "`{key}` must contain only lowercase letters, digits, `.` and `-`, got {got} at position {position}"
        ));
        problems.push(if c.is_ascii_uppercase() {
            problem.help("S3 bucket names are lowercase")
        } else {
            problem
        });
    }
    // Only `.` and `-` are reported here: any other bad first or last character already was.
    if let Some(c @ ('.' | '-')) = value.chars().next() {
        problems.push(Problem::new(format!(
            "`{key}` must start with a lowercase letter or digit, got `{c}`"
        )));
    }
    if let Some(c @ ('.' | '-')) = value
        .chars()
        .next_back()
        .filter(|_| value.chars().count() > 1)
    {
        problems.push(Problem::new(format!(
            "`{key}` must end with a lowercase letter or digit, got `{c}`"
        )));
    }
    if let Some(index) = value.find("..") {
        let position = value[..index].chars().count() + 1;
        problems.push(Problem::new(format!(
            "`{key}` must not contain two adjacent periods, got `..` at position {position}"
        )));
    }
    if looks_like_ipv4(value) {
        problems.push(Problem::new(format!(
            "`{key}` must not be formatted as an IP address, got `{value}`"
        )));
    }
    for prefix in BUCKET_PREFIXES.iter().filter(|p| value.starts_with(*p)) {
        problems.push(
            Problem::new(format!(
                "`{key}` must not start with `{prefix}`, which S3 reserves"
            ))
            .help(format!("see {BUCKET_RULES_URL}")),
        );
    }
    for suffix in BUCKET_SUFFIXES.iter().filter(|s| value.ends_with(*s)) {
        problems.push(
            Problem::new(format!(
                "`{key}` must not end with `{suffix}`, which S3 reserves"
            ))
            .help(format!("see {BUCKET_RULES_URL}")),
        );
    }
    problems
}

/// Four dot-separated groups of 1-3 digits, like `192.168.5.4`.
fn looks_like_ipv4(value: &str) -> bool {
    let groups: Vec<&str> = value.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// An AWS region: `^[a-z]{2}(-[a-z]+)+-[0-9]+$`, e.g. `us-east-1`, `us-gov-west-1`.
pub(super) fn region(key: &str, value: &str) -> Vec<Problem> {
    let parts: Vec<&str> = value.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Vec::new()
    } else {
        vec![
            Problem::new(format!("`{key}` must look like an AWS region, got `{value}`"))
                .help("regions look like `us-east-1` or `eu-central-1`; leave `region` out to use the AWS region chain"),
        ]
    }
}

/// An `http://` or `https://` URL with a host and no whitespace or control characters.
pub(super) fn endpoint_url(key: &str, value: &str) -> Vec<Problem> {
    let help = "for LocalStack, use `http://127.0.0.1:4566`";
    let Some(rest) = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
    else {
        return vec![
            Problem::new(format!(
                "`{key}` must be an `http://` or `https://` URL, got `{value}`"
            ))
            .help(help),
        ];
    };
    let mut problems = Vec::new();
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        problems.push(
            Problem::new(format!(
                "`{key}` must have a host after the scheme, got `{value}`"
            ))
            .help(help),
        );
    }
    if let Some((position, c)) = first_bad_char(value, |c| !c.is_whitespace() && !c.is_control()) {
        let got = show_char(c);
        problems.push(Problem::new(format!(
            "`{key}` must not contain whitespace or control characters, got {got} at position {position}"
        )));
    }
    problems
}

/// Object key prefix: at most [`MAX_KEY_PREFIX_BYTES`] (256) bytes of printable ASCII other than `\`, not starting with `/`.
pub(super) fn key_prefix(key: &str, value: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if value.len() > MAX_KEY_PREFIX_BYTES {
        problems.push(Problem::new(format!(
            "`{key}` must be at most {MAX_KEY_PREFIX_BYTES} bytes long, got {}",
            value.len()
        )));
    }
    if value.starts_with('/') {
        problems.push(
            Problem::new(format!("`{key}` must not start with `/`"))
                .help("object keys are relative to the bucket: write `events/`, not `/events/`"),
        );
    }
    let allowed = |c: char| (' '..='~').contains(&c) && c != '\\';
    if let Some((position, c)) = first_bad_char(value, allowed) {
        let got = if c == '\\' {
            "`\\`".to_owned()
        } else {
            show_char(c)
        };
        problems.push(Problem::new(format!(
            "`{key}` must contain only printable ASCII characters other than `\\`, got {got} at position {position}"
        )));
    }
    problems
}

/// A KMS key for the stream: a key ID, key ARN, alias name (`alias/...`) or alias ARN.
pub(super) fn kms_key_id(key: &str, value: &str) -> Vec<Problem> {
    match crate::kms::KeyRef::parse(value) {
        Ok(_) => Vec::new(),
        Err(reason) => vec![
            Problem::new(format!(
                "`{key}` must be a KMS key ID, key ARN, alias name (`alias/...`) or alias ARN: {reason}"
            ))
            .help(format!(
                "for example `alias/my-key` or `arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab`; leave `kms_key_id` out for the AWS-managed key `{}`",
                crate::kms::AWS_MANAGED_KINESIS_KEY
            )),
        ],
    }
}

/// The dotted key of the user tag `key` in messages: `tags.team`, or `tags."cost center"` when
/// the key is not a bare TOML key.
pub(super) fn tag_path(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!("tags.{key}")
    } else {
        format!("tags.{}", toml::Value::from(key))
    }
}

/// Characters every service kstream tags allows in keys and values (S3 and IAM, the
/// narrowest): Unicode letters and digits, spaces, and `_ . : / = + - @`.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

const TAG_CHARS: &str = "letters, digits, spaces and `_ . : / = + - @`";

/// A user tag key: 1 to 128 characters of [`is_tag_char`], not starting with `kstream:` (kstream's
/// own) or `aws:` (AWS's, in any case).
pub(super) fn tag_key(key: &str, name: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let count = name.chars().count();
    if count == 0 {
        problems.push(Problem::new(format!(
            "`{key}`: a tag key must not be empty"
        )));
    } else if count > 128 {
        problems.push(Problem::new(format!(
            "`{key}`: a tag key must be at most 128 characters long, got {count}"
        )));
    }
    if let Some((position, c)) = first_bad_char(name, is_tag_char) {
        problems.push(Problem::new(format!(
            "`{key}`: a tag key must contain only {TAG_CHARS}, got {} at position {position}",
            show_char(c)
        )));
    }
    let lower = name.to_lowercase();
    for (prefix, whose) in [("kstream:", "kstream's own"), ("aws:", "reserved by AWS")] {
        if lower.starts_with(prefix) {
            problems.push(
                Problem::new(format!(
                    "`{key}`: tag keys starting with `{prefix}` are {whose}"
                ))
                .help("choose a key without that prefix"),
            );
        }
    }
    problems
}

/// A user tag value: at most 256 characters of [`is_tag_char`] (empty is allowed).
pub(super) fn tag_value(key: &str, value: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let count = value.chars().count();
    if count > 256 {
        problems.push(Problem::new(format!(
            "`{key}` must be at most 256 characters long, got {count}"
        )));
    }
    if let Some((position, c)) = first_bad_char(value, is_tag_char) {
        problems.push(Problem::new(format!(
            "`{key}` must contain only {TAG_CHARS}, got {} at position {position}",
            show_char(c)
        )));
    }
    problems
}

/// A path to a prebuilt zip: not empty (existence is checked when packaging).
pub(super) fn zip(key: &str, value: &str) -> Vec<Problem> {
    if value.is_empty() {
        vec![
            Problem::new(format!("`{key}` must not be empty"))
                .help("leave `zip` out to build the consumer"),
        ]
    } else {
        Vec::new()
    }
}

/// `on_failure`: `"queue"`, `"none"`, or the ARN of an SQS queue or SNS topic.
pub(super) fn on_failure(key: &str, value: &str) -> Vec<Problem> {
    if value == "queue" || value == "none" {
        return Vec::new();
    }
    let parts: Vec<&str> = value.split(':').collect();
    let arn_ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && (parts[2] == "sqs" || parts[2] == "sns")
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if arn_ok {
        return Vec::new();
    }
    vec![
        Problem::new(format!(
            "`{key}` must be \"queue\", \"none\", or the ARN of an SQS queue or SNS topic, got {}",
            toml::Value::from(value)
        ))
        .help("for example `arn:aws:sqs:us-east-1:123456789012:my-failures`; leave the key out for a queue kstream creates"),
    ]
}

/// The destination `on_failure` accepted.
pub(super) fn parse_on_failure(value: &str) -> OnFailure {
    match value {
        "queue" => OnFailure::Queue,
        "none" => OnFailure::None,
        arn if arn.split(':').nth(2) == Some("sns") => OnFailure::SnsArn(arn.to_string()),
        arn => OnFailure::SqsArn(arn.to_string()),
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let threshold = word.chars().count().max(3) / 3;
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|&(distance, _)| distance <= threshold)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j] is the distance between a[..i] and b[..j].
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(problems: Vec<Problem>) -> Vec<String> {
        problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("shard_cuont", "shard_count"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("memory", "memory_mb"), 3);
    }

    #[test]
    fn closest_needs_a_near_match() {
        assert_eq!(
            closest("shard_cuont", ["name", "shard_count", "retention_hours"]),
            Some("shard_count")
        );
        assert_eq!(
            closest("Shard_Count", ["name", "shard_count"]),
            Some("shard_count")
        );
        assert_eq!(closest("colour", ["name", "shard_count"]), None);
    }

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "eu-central-2",
            "ap-southeast-10",
            "cn-north-1",
        ] {
            assert_eq!(region("region", ok), vec![], "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "us-east-",
            "usa-east-1",
            "US-EAST-1",
            "us--1",
            "us-1",
            "us-east-1a",
        ] {
            assert_eq!(region("region", bad).len(), 1, "{bad}");
        }
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            endpoint_url("endpoint_url", "http://127.0.0.1:4566"),
            vec![]
        );
        assert_eq!(
            endpoint_url("endpoint_url", "https://kinesis.example.com/path"),
            vec![]
        );
        assert_eq!(
            messages(endpoint_url("endpoint_url", "localhost:4566")),
            ["`endpoint_url` must be an `http://` or `https://` URL, got `localhost:4566`"]
        );
        assert_eq!(
            messages(endpoint_url("endpoint_url", "http:///x")),
            ["`endpoint_url` must have a host after the scheme, got `http:///x`"]
        );
        assert_eq!(
            messages(endpoint_url("endpoint_url", "http://local host")),
            [
                "`endpoint_url` must not contain whitespace or control characters, got a space at position 13"
            ]
        );
    }

    #[test]
    fn bucket_name_rules_each_have_their_own_message() {
        let cases: &[(&str, &[&str])] = &[
            ("abc", &[]),
            ("a.b-c.1", &[]),
            (&"a".repeat(63), &[]),
            ("ab", &["`b` must be 3 to 63 characters long, got 2"]),
            (
                &"a".repeat(64),
                &["`b` must be 3 to 63 characters long, got 64"],
            ),
            ("", &["`b` must not be empty"]),
            (
                "my_bucket",
                &[
                    "`b` must contain only lowercase letters, digits, `.` and `-`, got `_` at position 3",
                ],
            ),
            (
                "myBucket",
                &[
                    "`b` must contain only lowercase letters, digits, `.` and `-`, got `B` at position 3",
                ],
            ),
            (
                "-bucket",
                &["`b` must start with a lowercase letter or digit, got `-`"],
            ),
            (
                ".bucket",
                &["`b` must start with a lowercase letter or digit, got `.`"],
            ),
            (
                "bucket-",
                &["`b` must end with a lowercase letter or digit, got `-`"],
            ),
            (
                "bucket.",
                &["`b` must end with a lowercase letter or digit, got `.`"],
            ),
            (
                "my..bucket",
                &["`b` must not contain two adjacent periods, got `..` at position 3"],
            ),
            (
                "192.168.5.4",
                &["`b` must not be formatted as an IP address, got `192.168.5.4`"],
            ),
            ("192.168.5.4a", &[]),
            (
                "xn--bucket",
                &["`b` must not start with `xn--`, which S3 reserves"],
            ),
            (
                "sthree-bucket",
                &["`b` must not start with `sthree-`, which S3 reserves"],
            ),
            (
                "amzn-s3-demo-bucket",
                &["`b` must not start with `amzn-s3-demo-`, which S3 reserves"],
            ),
            (
                "bucket-s3alias",
                &["`b` must not end with `-s3alias`, which S3 reserves"],
            ),
            (
                "bucket--ol-s3",
                &["`b` must not end with `--ol-s3`, which S3 reserves"],
            ),
            (
                "bucket.mrap",
                &["`b` must not end with `.mrap`, which S3 reserves"],
            ),
            (
                "bucket--x-s3",
                &["`b` must not end with `--x-s3`, which S3 reserves"],
            ),
            (
                "bucket--table-s3",
                &["`b` must not end with `--table-s3`, which S3 reserves"],
            ),
            (
                "-A..",
                &[
                    "`b` must contain only lowercase letters, digits, `.` and `-`, got `A` at position 2",
                    "`b` must start with a lowercase letter or digit, got `-`",
                    "`b` must end with a lowercase letter or digit, got `.`",
                    "`b` must not contain two adjacent periods, got `..` at position 3",
                ],
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(messages(bucket_name("b", name)), *expected, "{name:?}");
        }
    }

    #[test]
    fn name_rules() {
        assert_eq!(deployment_name("name", &"a".repeat(64)), vec![]);
        assert_eq!(
            messages(deployment_name("name", &"a".repeat(65))),
            ["`name` must be 1 to 64 characters long, got 65"]
        );
        assert_eq!(
            messages(deployment_name("name", "a.b")),
            ["`name` must contain only ASCII letters, digits, `_` and `-`, got `.` at position 2"]
        );
        assert_eq!(stream_name("s", &"a.".repeat(64)), vec![]);
        assert_eq!(
            messages(stream_name("s", &"a".repeat(129))),
            ["`s` must be 1 to 128 characters long, got 129"]
        );
        assert_eq!(function_name("f", &"F_-9".repeat(16)), vec![]);
        assert_eq!(
            messages(function_name("f", &"a".repeat(65))),
            ["`f` must be 1 to 64 characters long, got 65"]
        );
        assert_eq!(role_name("r", "a+=,.@_-Z9"), vec![]);
        assert_eq!(
            messages(role_name("r", "a/b")),
            [
                "`r` must contain only ASCII letters, digits and `+`, `=`, `,`, `.`, `@`, `_`, `-`, got `/` at position 2"
            ]
        );
        assert_eq!(
            messages(deployment_name("name", "tab\there")),
            [
                "`name` must contain only ASCII letters, digits, `_` and `-`, got `\\t` at position 4"
            ]
        );
    }

    #[test]
    fn key_prefix_rules() {
        assert_eq!(key_prefix("k", ""), vec![]);
        assert_eq!(key_prefix("k", "events/2024 x~"), vec![]);
        assert_eq!(key_prefix("k", &"a".repeat(256)), vec![]);
        assert_eq!(
            messages(key_prefix("k", &"a".repeat(257))),
            ["`k` must be at most 256 bytes long, got 257"]
        );
        assert_eq!(
            messages(key_prefix("k", "/events/")),
            ["`k` must not start with `/`"]
        );
        assert_eq!(
            messages(key_prefix("k", "a\\b")),
            [
                "`k` must contain only printable ASCII characters other than `\\`, got `\\` at position 2"
            ]
        );
        assert_eq!(
            messages(key_prefix("k", "é")),
            [
                "`k` must contain only printable ASCII characters other than `\\`, got `é` at position 1"
            ]
        );
    }
}
