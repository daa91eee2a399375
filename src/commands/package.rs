//! `kstream package`: build (or take) the consumer zip and print where it is.

use anyhow::{Context as _, Result};
use serde_json::json;

use super::Context;
use crate::config::Config;
use crate::package::{self, Artifact, Source};

pub(super) fn run(ctx: &Context) -> Result<()> {
    let artifact = package_consumer(&ctx.config)?;
    ctx.output.print(
        &json!({ "path": artifact.path, "size": artifact.size, "sha256": artifact.sha256_base64 }),
        || {
            format!(
                "{}\t{}\t{}\n",
                artifact.path.display(),
                artifact.size,
                artifact.sha256_base64
            )
        },
    )
}

/// Build (or read the prebuilt) consumer zip for the config.
pub(super) fn package_consumer(config: &Config) -> Result<Artifact> {
    package::package(&source(config)?, config.consumer.architecture)
}

/// The consumer zip without building anything (`plan --no-build`): the prebuilt
/// `consumer.zip`, else the zip the workspace was last packaged into; `None` when there is
/// none (or no workspace to look in).
pub(super) fn last_consumer(config: &Config) -> Result<Option<Artifact>> {
    let arch = config.consumer.architecture;
    match source(config) {
        Ok(Source::Prebuilt(zip)) => package::package(&Source::Prebuilt(zip), arch).map(Some),
        Ok(Source::Workspace { root }) => package::last_packaged(&root, arch),
        Err(_) => Ok(None),
    }
}

/// Where the consumer zip comes from: `consumer.zip`, else the workspace around the config
/// (or the one kstream was built from).
fn source(config: &Config) -> Result<Source> {
    if let Some(zip) = &config.consumer.zip {
        return Ok(Source::Prebuilt(zip.clone()));
    }
    let start = config
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let root = package::find_workspace(&start).context(
        "cannot find the kstream workspace to build the consumer from\n  hint: run kstream inside its source checkout, or set `consumer.zip` to a prebuilt `bootstrap` zip",
    )?;
    Ok(Source::Workspace { root })
}
