//! The consumer Lambda function: observe, create from the packaged zip (retrying IAM
//! propagation), update code only when its SHA-256 differs and configuration only where it
//! differs, wait for `Active`/`Successful`, delete.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture as LambdaArch, Environment, FunctionCode, Runtime};

use super::conditions::{Condition, function_ready};
use super::{Wait, errors, poll, retry};
use crate::config::Architecture;
use crate::model::{DEPLOYMENT_TAG, HANDLER, ObservedFunction, Owner, RUNTIME};
use crate::package::Artifact;
use crate::plan::Resource;
use crate::ui::Progress;

fn to_lambda(arch: Architecture) -> LambdaArch {
    LambdaArch::from(arch.as_str())
}

/// The function as it is, or `None` when it does not exist.
pub async fn observe(
    client: &Client,
    name: &str,
    deployment: &str,
) -> Result<Option<ObservedFunction>> {
    let out = match client.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(e) if errors::is_not_found(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("failed to get function `{name}`")),
    };
    let Some(c) = out.configuration() else {
        return Ok(None);
    };
    let owner = Owner::from_tags(
        deployment,
        out.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    // Lambda's default architecture stands in for one kstream does not know.
    let architecture = c
        .architectures()
        .first()
        .map(|a| Architecture::from_aws(a.as_str()).unwrap_or(Architecture::X86_64));
    let env = c
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let tags = out
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Some(ObservedFunction {
        tags,
        arn: c.function_arn().unwrap_or_default().to_string(),
        owner,
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        code_size: c.code_size(),
        memory_mb: c.memory_size().unwrap_or(128).max(0) as u32,
        timeout_s: c.timeout().unwrap_or(3).max(0) as u32,
        architecture,
        runtime: c
            .runtime()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        handler: c.handler().unwrap_or_default().to_string(),
        role_arn: c.role().unwrap_or_default().to_string(),
        env,
        state: c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        last_update_status: c
            .last_update_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        last_modified: c.last_modified().unwrap_or_default().to_string(),
    }))
}

/// Everything CreateFunction needs.
pub struct FunctionSpec<'a> {
    /// Function name.
    pub name: &'a str,
    /// Execution role ARN.
    pub role_arn: &'a str,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Instruction set.
    pub architecture: Architecture,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// How long to retry a role Lambda cannot assume yet: `Wait::IAM` for a role created or
    /// changed in this run, else `Wait::NONE`.
    pub iam_wait: Wait,
}

impl FunctionSpec<'_> {
    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.env.clone().into_iter().collect()))
            .build()
    }
}

const IAM_HINT: &str = "IAM changes can take a minute to propagate; run `kstream apply` again, and check that the role's trust policy allows `lambda.amazonaws.com`";

/// Create the function from the zip and wait until it is `Active`.
pub async fn create(
    client: &Client,
    progress: &Progress,
    spec: &FunctionSpec<'_>,
    artifact: &Artifact,
) -> Result<()> {
    progress.step(&format!("creating function `{}`", spec.name));
    let zip = artifact.read_verified()?;
    let created = retry(
        progress,
        &format!("create function `{}`", spec.name),
        spec.iam_wait,
        errors::iam_not_propagated,
        IAM_HINT,
        || async {
            match client
                .create_function()
                .function_name(spec.name)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .role(spec.role_arn)
                .architectures(to_lambda(spec.architecture))
                .memory_size(spec.memory_mb as i32)
                .timeout(spec.timeout_s as i32)
                .environment(spec.environment())
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(zip.clone()))
                        .build(),
                )
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .description("kstream consumer: Kinesis records to S3 objects")
                .send()
                .await
            {
                Ok(out) => Ok(Some(out.code_sha256)),
                // Created by an interrupted or concurrent run: converge by updating instead.
                Err(e) if errors::is_conflict(&e) => Ok(None),
                Err(e) => Err(aws_sdk_lambda::Error::from(e)),
            }
        },
    )
    .await?;
    if let Some(code_sha256) = &created {
        artifact.check_deployed(spec.name, code_sha256.as_deref())?;
    } else {
        // Another run created it first: go on only if it is this deployment's.
        let found = observe(
            client,
            spec.name,
            spec.tags.get(DEPLOYMENT_TAG).map_or("", String::as_str),
        )
        .await?;
        if let Some(found) = found {
            super::ensure_ours(Resource::Function, spec.name, found.owner)?;
        }
        progress.note(&format!(
            "function `{}` appeared meanwhile; the next apply converges its settings",
            spec.name
        ));
    }
    wait_ready(client, progress, spec.name).await
}

/// Deploy new code (and architecture), then wait for the update to finish.
pub async fn update_code(
    client: &Client,
    progress: &Progress,
    name: &str,
    artifact: &Artifact,
    arch: Architecture,
) -> Result<()> {
    wait_ready(client, progress, name).await?;
    progress.step(&format!("updating code of function `{name}`"));
    let zip = artifact.read_verified()?;
    let out = client
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(zip))
        .architectures(to_lambda(arch))
        .send()
        .await
        .with_context(|| format!("failed to update the code of function `{name}`"))?;
    artifact.check_deployed(name, out.code_sha256())?;
    wait_ready(client, progress, name).await
}

/// Set the configuration fields kstream manages, then wait for the update to finish.
pub async fn update_configuration(
    client: &Client,
    progress: &Progress,
    spec: &FunctionSpec<'_>,
) -> Result<()> {
    wait_ready(client, progress, spec.name).await?;
    progress.step(&format!(
        "updating configuration of function `{}`",
        spec.name
    ));
    retry(
        progress,
        &format!("update configuration of function `{}`", spec.name),
        spec.iam_wait,
        errors::iam_not_propagated,
        IAM_HINT,
        || async {
            client
                .update_function_configuration()
                .function_name(spec.name)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .role(spec.role_arn)
                .memory_size(spec.memory_mb as i32)
                .timeout(spec.timeout_s as i32)
                .environment(spec.environment())
                .send()
                .await
                .map_err(aws_sdk_lambda::Error::from)
        },
    )
    .await?;
    wait_ready(client, progress, spec.name).await
}

/// Add tags (`--adopt`).
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    client
        .tag_resource()
        .resource(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
        .with_context(|| format!("failed to tag function `{arn}`"))?;
    Ok(())
}

/// Wait until the function is `Active` and no update is in progress; fail on `Failed`.
pub async fn wait_ready(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    poll(
        progress,
        &format!("function `{name}` to be ready"),
        Wait::STATE,
        || async {
            let c = client
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .with_context(|| format!("failed to get function `{name}`"))?;
            match function_ready(
                c.state().map(|s| s.as_str()),
                c.last_update_status().map(|s| s.as_str()),
                c.last_update_status_reason().or(c.state_reason()),
            ) {
                Condition::Ready => Ok(Some(())),
                Condition::Wait => Ok(None),
                Condition::Failed(reason) => bail!("function `{name}` failed: {reason}"),
            }
        },
    )
    .await
}

/// Delete the function and wait until it is gone; a missing function counts as deleted.
pub async fn delete(client: &Client, progress: &Progress, name: &str) -> Result<()> {
    progress.step(&format!("deleting function `{name}`"));
    match client.delete_function().function_name(name).send().await {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => {
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("failed to delete function `{name}`")),
    }
    poll(
        progress,
        &format!("function `{name}` to be deleted"),
        Wait::STATE,
        || async {
            match client.get_function().function_name(name).send().await {
                Err(e) if errors::is_not_found(&e) => Ok(Some(())),
                Err(e) => Err(e).with_context(|| format!("failed to get function `{name}`")),
                Ok(_) => Ok(None),
            }
        },
    )
    .await
}
