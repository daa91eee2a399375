//! The consumer's IAM role and its inline policy: observe, create with trust policy and tags,
//! update the documents when they differ (as JSON values), delete with every policy.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_sdk_iam::Client;
use aws_sdk_iam::types::Role;
use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::errors;
use crate::model::{ObservedRole, Owner, REGION_TAG, ROLE_POLICY_NAME};
use crate::plan::{Resource, RoleSpec};
use crate::ui::Progress;

/// IAM returns policy documents URL-encoded; decode (plain JSON passes through).
pub fn decode_document(doc: &str) -> Result<Value> {
    let text = if doc.trim_start().starts_with('{') {
        doc.to_string()
    } else {
        percent_decode(doc)
    };
    serde_json::from_str(&text).context("policy document is not JSON")
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1]).zip(hex(bytes[i + 2])),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The role as it is, or `None` when it does not exist.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
    region: &str,
) -> Result<Option<ObservedRole>> {
    let role = match client.get_role().role_name(name).send().await {
        Ok(out) => out.role,
        Err(e) if errors::is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("failed to get role `{name}`")),
    };
    let Some(role) = role else { return Ok(None) };
    let (policy, extra_policies) = tokio::join!(
        client
            .get_role_policy()
            .role_name(name)
            .policy_name(ROLE_POLICY_NAME)
            .send(),
        extra_policies(client, name)
    );
    let policy = match policy {
        Ok(out) => {
            Some(decode_document(out.policy_document()).with_context(|| format!("role `{name}`"))?)
        }
        Err(e) if errors::is_not_found(&e) => None,
        Err(e) => {
            return Err(e).with_context(|| format!("failed to get the policy of role `{name}`"));
        }
    };
    let trust_policy = match role.assume_role_policy_document() {
        Some(doc) => {
            decode_document(doc).with_context(|| format!("trust policy of role `{name}`"))?
        }
        None => Value::Null,
    };
    Ok(Some(ObservedRole {
        arn: role.arn().to_string(),
        owner: owner(&role, deployment, region),
        region: tag_value(&role, REGION_TAG).map(str::to_string),
        trust_policy,
        policy,
        extra_policies: extra_policies?,
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// The policies on role `name` that kstream did not put there: inline ones by name, managed
/// ones by ARN (the first page of each, 100 entries, is plenty to raise the alarm).
async fn extra_policies(client: &Client, name: &str) -> Result<Vec<String>> {
    let (inline, attached) = tokio::join!(
        client.list_role_policies().role_name(name).send(),
        client.list_attached_role_policies().role_name(name).send()
    );
    let mut extra: Vec<String> = match inline {
        Ok(out) => out
            .policy_names
            .into_iter()
            .filter(|p| p != ROLE_POLICY_NAME)
            .map(|p| format!("inline `{p}`"))
            .collect(),
        Err(e) if errors::is_not_found(&e) => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("failed to list the policies of role `{name}`"));
        }
    };
    match attached {
        Ok(out) => extra.extend(
            out.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn())
                .map(|arn| format!("managed `{arn}`")),
        ),
        Err(e) if errors::is_not_found(&e) => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("failed to list the managed policies attached to role `{name}`")
            });
        }
    }
    Ok(extra)
}

fn tag_value<'a>(role: &'a Role, key: &str) -> Option<&'a str> {
    role.tags()
        .iter()
        .find(|t| t.key() == key)
        .map(|t| t.value())
}

/// Whose the role is. A role of this deployment tagged for another region serves the pipeline
/// there; one without a region tag (from before kstream tagged regions) counts as this
/// region's, and `apply` adds the tag.
fn owner(role: &Role, deployment: &str, region: &str) -> Owner {
    match Owner::from_tags(deployment, role.tags().iter().map(|t| (t.key(), t.value()))) {
        Owner::This => match tag_value(role, REGION_TAG) {
            Some(other) if other != region => Owner::OtherRegion {
                region: other.to_string(),
            },
            _ => Owner::This,
        },
        owner => owner,
    }
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().context("role tag"))
        .collect()
}

/// Create the role with its trust policy and tags in one call. A role that appeared meanwhile
/// (a concurrent or interrupted run) is read back and refused unless its tags say it is this
/// deployment's, for this region, exactly as `plan` would.
pub async fn create(client: &Client, progress: &Progress, spec: &RoleSpec) -> Result<String> {
    let (name, trust_policy, tags) = (&spec.name, &spec.trust_policy, &spec.tags);
    progress.step(&format!("creating role `{name}`"));
    match client
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy.to_string())
        .description("kstream consumer: reads one Kinesis stream, writes one S3 bucket")
        .set_tags(Some(tag_list(tags)?))
        .send()
        .await
    {
        Ok(out) => out
            .role
            .map(|r| r.arn)
            .context("CreateRole returned no role"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            let out = client
                .get_role()
                .role_name(name)
                .send()
                .await
                .with_context(|| format!("failed to get role `{name}`"))?;
            let role = out.role.context("GetRole returned no role")?;
            super::ensure_ours(
                Resource::Role,
                name,
                owner(&role, &spec.deployment, &spec.region),
            )?;
            Ok(role.arn)
        }
        Err(e) => Err(e).with_context(|| format!("failed to create role `{name}`")),
    }
}

/// Replace the trust policy.
pub async fn set_trust_policy(client: &Client, name: &str, policy: &Value) -> Result<()> {
    client
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(policy.to_string())
        .send()
        .await
        .with_context(|| format!("failed to update the trust policy of role `{name}`"))?;
    Ok(())
}

/// Put kstream's inline policy.
pub async fn put_policy(
    client: &Client,
    progress: &Progress,
    name: &str,
    policy: &Value,
) -> Result<()> {
    progress.step(&format!(
        "putting policy `{ROLE_POLICY_NAME}` on role `{name}`"
    ));
    client
        .put_role_policy()
        .role_name(name)
        .policy_name(ROLE_POLICY_NAME)
        .policy_document(policy.to_string())
        .send()
        .await
        .with_context(|| format!("failed to put the policy of role `{name}`"))?;
    Ok(())
}

/// Add the ownership tag (`--adopt`).
pub async fn tag(client: &Client, name: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    client
        .tag_role()
        .role_name(name)
        .set_tags(Some(tag_list(tags)?))
        .send()
        .await
        .with_context(|| format!("failed to tag role `{name}`"))?;
    Ok(())
}

/// Delete every inline policy, detach every managed policy, then delete the role.
/// A role that is already gone counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    progress.step(&format!("deleting role `{name}`"));
    let inline = match client.list_role_policies().role_name(name).send().await {
        Ok(out) => out.policy_names,
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("failed to list the policies of role `{name}`"));
        }
    };
    for policy in inline {
        match client
            .delete_role_policy()
            .role_name(name)
            .policy_name(&policy)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("failed to delete policy `{policy}` of role `{name}`")
                });
            }
        }
    }
    let attached = match client
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
    {
        Ok(out) => out.attached_policies.unwrap_or_default(),
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("failed to list the managed policies attached to role `{name}`")
            });
        }
    };
    for policy in attached {
        if let Some(arn) = policy.policy_arn() {
            client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .with_context(|| format!("failed to detach policy `{arn}` from role `{name}`"))?;
        }
    }
    match client.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if errors::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("failed to delete role `{name}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_document;

    #[test]
    fn decodes_url_encoded_documents() {
        let v = decode_document("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        let v = decode_document("{\"a\": 1}").unwrap();
        assert_eq!(v["a"], 1);
    }
}
