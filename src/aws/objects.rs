//! The bucket's objects as `objects`, `status` and `smoke` read them: bounded listings,
//! one object's bytes.

use super::{Clients, errors};
use std::io::Write;

use anyhow::{Context as _, Result, bail};
use aws_smithy_types::date_time::Format;
use serde::Serialize;

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, RFC 3339 in UTC.
    pub last_modified: String,
}

/// Objects under `prefix` in key order, at most `limit` (`None`: all), and whether more exist.
pub async fn list(
    clients: &Clients,
    bucket: &str,
    prefix: &str,
    limit: Option<usize>,
) -> Result<(Vec<ObjectInfo>, bool)> {
    let client = &clients.s3;
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page_size = limit.map_or(1000, |l| (l - objects.len()).clamp(1, 1000));
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(page_size as i32)
            .set_continuation_token(token.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if errors::is_not_found(&e) => {
                bail!("bucket `{bucket}` does not exist\n  hint: run `kstream apply` first");
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to list the objects of bucket `{bucket}`"));
            }
        };
        for o in out.contents() {
            if limit.is_some_and(|l| objects.len() == l) {
                return Ok((objects, true));
            }
            objects.push(ObjectInfo {
                key: o.key().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: o
                    .last_modified()
                    .and_then(|t| t.fmt(Format::DateTime).ok())
                    .unwrap_or_default(),
            });
        }
        token = out
            .next_continuation_token()
            .filter(|_| out.is_truncated().unwrap_or(false))
            .map(str::to_string);
        match token {
            None => return Ok((objects, false)),
            Some(_) if limit.is_some_and(|l| objects.len() >= l) => return Ok((objects, true)),
            Some(_) => {}
        }
    }
}

/// Number of objects in the bucket, counting at most `max`; `true` when there are more.
pub async fn count(clients: &Clients, bucket: &str, max: usize) -> Result<(u64, bool)> {
    let (objects, more) = list(clients, bucket, "", Some(max)).await?;
    Ok((objects.len() as u64, more))
}

/// One object's bytes, or `None` when there is no such key.
pub async fn get(clients: &Clients, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let client = &clients.s3;
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to get object `{key}` from bucket `{bucket}`"));
        }
    };
    let bytes = out
        .body
        .collect()
        .await
        .with_context(|| format!("failed to read object `{key}` from bucket `{bucket}`"))?;
    Ok(Some(bytes.into_bytes().to_vec()))
}

/// Copy one object's bytes to `out` as they arrive; returns the number of bytes.
pub async fn cat(clients: &Clients, bucket: &str, key: &str, out: &mut dyn Write) -> Result<u64> {
    let client = &clients.s3;
    let resp = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(resp) => resp,
        Err(e) if errors::is_not_found(&e) => {
            bail!(
                "object `{key}` does not exist in bucket `{bucket}`\n  hint: list the keys with `kstream objects`"
            );
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("failed to get object `{key}` from bucket `{bucket}`"));
        }
    };
    let mut body = resp.body;
    let mut written = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .with_context(|| format!("failed to read object `{key}` from bucket `{bucket}`"))?
    {
        out.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    out.flush()?;
    Ok(written)
}
