//! The S3 bucket: observe (owner, public access block, encryption, policy, tags), create with
//! its tags, secure it, empty it (`--force`) and delete it.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use serde_json::Value;

use super::{Wait, errors, poll};
use crate::model::{DEPLOYMENT_TAG, ObservedBucket, Owner};
use crate::plan::Resource;
use crate::ui::Progress;

/// The bucket as it is, or `None` when no bucket has that name. A bucket owned by another
/// account is an error: its name is taken. A bucket in another region than `region` is
/// observed as such (`Owner::OtherRegion`) and not read further: its pipeline is there.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
    region: &str,
) -> Result<Option<ObservedBucket>> {
    let located = match client.head_bucket().bucket(name).send().await {
        Ok(out) => out.bucket_region,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        // A regional endpoint answers a bucket of another region with a redirect.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 301) => e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string),
        Err(e) if errors::is_forbidden(&e) => {
            bail!(
                "bucket `{name}` exists and belongs to someone else (access denied)\n  hint: bucket names are global across all AWS accounts: choose another `bucket.name`"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("failed to look up bucket `{name}`")),
    };
    if let Some(other) = located.filter(|r| r != region) {
        return Ok(Some(ObservedBucket {
            owner: Owner::OtherRegion { region: other },
            tags: BTreeMap::new(),
            public_access_blocked: false,
            encrypted: false,
            policy: None,
        }));
    }
    let (tags, pab, enc, policy) = tokio::join!(
        client.get_bucket_tagging().bucket(name).send(),
        client.get_public_access_block().bucket(name).send(),
        client.get_bucket_encryption().bucket(name).send(),
        client.get_bucket_policy().bucket(name).send(),
    );
    let tags = tags_of(name, tags)?;
    let public_access_blocked = match pab {
        Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        Err(e) if errors::has_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => false,
        Err(e) => {
            return Err(e).with_context(|| {
                format!("failed to read the public access block of bucket `{name}`")
            });
        }
    };
    let encrypted = match enc {
        Ok(out) => out.server_side_encryption_configuration().is_some_and(|c| {
            c.rules()
                .iter()
                .any(|r| r.apply_server_side_encryption_by_default().is_some())
        }),
        Err(e) if errors::has_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) => {
            false
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to read the encryption of bucket `{name}`"));
        }
    };
    let policy = match policy {
        Ok(out) => match out.policy() {
            Some(text) => Some(
                serde_json::from_str::<Value>(text)
                    .with_context(|| format!("bucket `{name}` has a policy that is not JSON"))?,
            ),
            None => None,
        },
        Err(e) if errors::has_code(&e, &["NoSuchBucketPolicy"]) => None,
        Err(e) => {
            return Err(e).with_context(|| format!("failed to read the policy of bucket `{name}`"));
        }
    };
    let owner = Owner::from_tags(
        deployment,
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    Ok(Some(ObservedBucket {
        owner,
        tags,
        public_access_blocked,
        encrypted,
        policy,
    }))
}

/// The bucket's tags from a GetBucketTagging result (no tag set is an empty set).
fn tags_of(
    name: &str,
    result: Result<
        aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput,
        aws_sdk_s3::error::SdkError<
            aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingError,
        >,
    >,
) -> Result<BTreeMap<String, String>> {
    match result {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()),
        Err(e) if errors::has_code(&e, &["NoSuchTagSet"]) => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("failed to read the tags of bucket `{name}`")),
    }
}

/// Create the bucket with its tags in the same call (so an interrupted run never leaves an
/// untagged bucket behind). us-east-1 takes no location constraint; other regions need one.
pub async fn create(
    client: &Client,
    progress: &Progress,
    name: &str,
    region: &str,
    tags: &BTreeMap<String, String>,
) -> Result<()> {
    progress.step(&format!("creating bucket `{name}`"));
    let mut conf = CreateBucketConfiguration::builder().set_tags(Some(tag_list(tags)?));
    if region != "us-east-1" {
        conf = conf.location_constraint(BucketLocationConstraint::from(region));
    }
    let created = match client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(conf.build())
        .send()
        .await
    {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            false
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_exists()) =>
        {
            bail!(
                "bucket `{name}` already exists in another account\n  hint: bucket names are global across all AWS accounts: choose another `bucket.name`"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("failed to create bucket `{name}`")),
    };
    // S3 is eventually consistent right after creation: wait until the bucket answers.
    poll(
        progress,
        &format!("bucket `{name}` to exist"),
        Wait::STATE,
        || async {
            match client.head_bucket().bucket(name).send().await {
                Ok(_) => Ok(Some(())),
                Err(e) if errors::is_not_found(&e) => Ok(None),
                Err(e) => Err(e).with_context(|| format!("failed to look up bucket `{name}`")),
            }
        },
    )
    .await?;
    let current = tags_of(name, client.get_bucket_tagging().bucket(name).send().await)?;
    if !created {
        // Another run of this account created it first: go on only if it is ours.
        let owner = Owner::from_tags(
            tags.get(DEPLOYMENT_TAG).map_or("", String::as_str),
            current.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        super::ensure_ours(Resource::Bucket, name, owner)?;
    } else if tags.iter().any(|(k, v)| current.get(k) != Some(v)) {
        // The tags in CreateBucketConfiguration are not honoured everywhere: make sure.
        set_tags(client, name, &current, tags).await?;
    }
    Ok(())
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().context("bucket tag"))
        .collect()
}

/// Merge `add` into the bucket's existing tags (PutBucketTagging replaces the whole set).
pub async fn set_tags(
    client: &Client,
    name: &str,
    existing: &BTreeMap<String, String>,
    add: &BTreeMap<String, String>,
) -> Result<()> {
    let mut all = existing.clone();
    all.extend(add.clone());
    let tagging = Tagging::builder()
        .set_tag_set(Some(tag_list(&all)?))
        .build()
        .context("tagging")?;
    unless_aborted(&format!("tag bucket `{name}`"), || {
        client
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging.clone())
            .send()
    })
    .await?;
    Ok(())
}

/// Turn all four Block Public Access settings on.
pub async fn block_public_access(client: &Client, name: &str) -> Result<()> {
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    unless_aborted(&format!("block public access to bucket `{name}`"), || {
        client
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(block.clone())
            .send()
    })
    .await?;
    Ok(())
}

/// Turn default encryption (SSE-S3) on.
pub async fn encrypt(client: &Client, name: &str) -> Result<()> {
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .context("encryption default")?,
        )
        .build();
    let configuration = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .context("encryption configuration")?;
    unless_aborted(
        &format!("turn on default encryption of bucket `{name}`"),
        || {
            client
                .put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(configuration.clone())
                .send()
        },
    )
    .await?;
    Ok(())
}

/// Put the bucket policy.
pub async fn put_policy(client: &Client, name: &str, policy: &Value) -> Result<()> {
    unless_aborted(&format!("put the policy of bucket `{name}`"), || {
        client
            .put_bucket_policy()
            .bucket(name)
            .policy(policy.to_string())
            .send()
    })
    .await?;
    Ok(())
}

/// Run one bucket configuration call, again while S3 answers 409 `OperationAborted` ("a
/// conflicting conditional operation is currently in progress"): kstream configures a new
/// bucket with concurrent calls, and S3 may refuse one while another is applied.
async fn unless_aborted<T, E, F, Fut>(what: &str, op: F) -> Result<T>
where
    E: std::error::Error
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + Send
        + Sync
        + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    super::retry(
        &Progress::default(),
        what,
        Wait::CONFLICT,
        |e: &E| errors::has_code(e, &["OperationAborted"]),
        "another change to the bucket was still in progress; run `kstream apply` again",
        op,
    )
    .await
}

/// Whether the bucket holds any object, version or delete marker.
pub async fn has_objects(client: &Client, name: &str) -> Result<bool> {
    let out = client
        .list_object_versions()
        .bucket(name)
        .max_keys(1)
        .send()
        .await
        .with_context(|| format!("failed to list the objects of bucket `{name}`"))?;
    Ok(!out.versions().is_empty() || !out.delete_markers().is_empty())
}

/// How many times `empty` walks the whole bucket before it gives up.
const EMPTY_PASSES: usize = 3;

/// Delete every object version and delete marker, 1,000 per call, `null` versions included;
/// returns how many. Each pass walks all versions page by page; a pass that leaves something
/// behind (a concurrent writer) is followed by another, at most `EMPTY_PASSES` in all. A
/// stopped run ends it before the next page.
pub async fn empty(client: &Client, progress: &Progress, name: &str) -> Result<usize> {
    progress.step(&format!("emptying bucket `{name}`"));
    let mut deleted = 0;
    for _ in 0..EMPTY_PASSES {
        let mut key_marker = None;
        let mut version_marker = None;
        let before = deleted;
        loop {
            // A stopped run deletes no further page (what is deleted stays deleted).
            progress.stop_flag().check()?;
            let out = client
                .list_object_versions()
                .bucket(name)
                .max_keys(1000)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .with_context(|| format!("failed to list the objects of bucket `{name}`"))?;
            let mut ids = Vec::new();
            for v in out.versions() {
                ids.push(identifier(v.key(), v.version_id())?);
            }
            for m in out.delete_markers() {
                ids.push(identifier(m.key(), m.version_id())?);
            }
            if !ids.is_empty() {
                deleted += delete_versions(client, name, ids).await?;
            }
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker;
            version_marker = out.next_version_id_marker;
        }
        // A walk that found nothing saw an empty bucket; otherwise look again.
        if deleted == before || !has_objects(client, name).await? {
            return Ok(deleted);
        }
    }
    bail!(
        "bucket `{name}` still holds object versions after {EMPTY_PASSES} passes over it (is something writing to it?)\n  hint: stop the writers, then run `kstream destroy --force` again"
    )
}

/// Delete up to 1,000 versions in one call; returns how many.
async fn delete_versions(client: &Client, name: &str, ids: Vec<ObjectIdentifier>) -> Result<usize> {
    let count = ids.len();
    let result = client
        .delete_objects()
        .bucket(name)
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .context("delete request")?,
        )
        .send()
        .await
        .with_context(|| format!("failed to delete objects of bucket `{name}`"))?;
    if let Some(err) = result.errors().first() {
        bail!(
            "failed to delete version `{}` of object `{}` in bucket `{name}`: {}",
            err.version_id().unwrap_or("null"),
            err.key().unwrap_or("?"),
            err.message().unwrap_or("unknown error")
        );
    }
    Ok(count)
}

/// A version to delete. The version id is always sent, `"null"` included: S3 names the
/// version written while versioning was off or suspended `null`, and a delete without a
/// version id would only add another delete marker.
fn identifier(key: Option<&str>, version: Option<&str>) -> Result<ObjectIdentifier> {
    ObjectIdentifier::builder()
        .key(key.unwrap_or_default())
        .set_version_id(version.map(str::to_string))
        .build()
        .context("object identifier")
}

/// Delete the (empty) bucket; a missing bucket counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    progress.step(&format!("deleting bucket `{name}`"));
    match client.delete_bucket().bucket(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if errors::has_code(&e, &["NoSuchBucket"]) => Ok(()),
        Err(e) if errors::has_code(&e, &["BucketNotEmpty"]) => {
            bail!(
                "bucket `{name}` is not empty (objects were written while destroying)\n  hint: run `kstream destroy --force` again"
            )
        }
        Err(e) => Err(e).with_context(|| format!("failed to delete bucket `{name}`")),
    }
}
