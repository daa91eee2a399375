//! Where objects go: the [`ObjectSink`] trait the handler writes through, and its S3 adapter.
//!
//! This is the only module that knows `aws_sdk_s3` types; the handler is tested with fakes.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_s3::primitives::ByteStream;

/// User metadata of an object (`x-amz-meta-<name>: <value>`); names are lowercase ASCII.
pub type Metadata = BTreeMap<String, String>;

/// A store of objects by key, like S3's `PutObject`.
pub trait ObjectSink {
    /// Writes (or overwrites) one object.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        metadata: &Metadata,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// An object could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to put object")]
pub struct SinkError {
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl SinkError {
    /// Wraps the sink's own error as the cause.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Writes objects to one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The account the bucket must belong to (`ExpectedBucketOwner`): the function's own, so
    /// that a bucket name someone else registered never receives the records.
    expected_owner: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl S3Sink {
    /// A sink writing to `bucket` with `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            expected_owner: Default::default(),
        }
    }

    /// Expect the bucket to belong to the account in `function_arn` (the invoked function's
    /// ARN, `arn:<partition>:lambda:<region>:<account>:function:<name>`); the first call wins.
    pub fn expect_owner_of(&self, function_arn: &str) {
        if let Some(account) = function_arn.split(':').nth(4).filter(|a| !a.is_empty()) {
            let _ = self.expected_owner.set(account.to_owned());
        }
    }

    /// The S3 client from the standard AWS configuration chain.
    ///
    /// With `AWS_ENDPOINT_URL` set (LocalStack), requests use path-style addressing, since
    /// virtual-hosted bucket names do not resolve against a local endpoint.
    ///
    /// Tuned for many small PutObjects (see the consumer benchmark in the README):
    /// - no flexible checksum unless an operation requires one (PutObject does not): the SigV4
    ///   signature already covers the body's SHA-256, which S3 checks;
    /// - no stalled-stream protection: a body is a few bytes to a few MiB sent from memory,
    ///   and the function's own timeout bounds a write that hangs.
    pub async fn client_from_env() -> aws_sdk_s3::Client {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .stalled_stream_protection(
                aws_sdk_s3::config::StalledStreamProtectionConfig::disabled(),
            );
        if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
            config = config.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

impl ObjectSink for S3Sink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        metadata: &Metadata,
    ) -> Result<(), SinkError> {
        let content_length = i64::try_from(body.len()).map_err(SinkError::new)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(content_length)
            .set_metadata(Some(metadata.clone().into_iter().collect()))
            .set_expected_bucket_owner(self.expected_owner.get().cloned())
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(SinkError::new)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_owner_is_the_function_account() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let sink = S3Sink::new(aws_sdk_s3::Client::from_conf(config), "b");
        sink.expect_owner_of("not an arn");
        assert_eq!(sink.expected_owner.get(), None);
        sink.expect_owner_of("arn:aws:lambda:eu-west-1:123456789012:function:f");
        sink.expect_owner_of("arn:aws:lambda:eu-west-1:999999999999:function:f");
        assert_eq!(
            sink.expected_owner.get().map(String::as_str),
            Some("123456789012")
        );
    }
}
