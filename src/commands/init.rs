//! `kstream init`: a starter config with a deployment name of its own (unless `--name`) and a
//! bucket name that is the deployment name plus a random suffix, validated before it is
//! written; an existing file is kept unless `--force`.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::Output;
use crate::cli::InitArgs;
use crate::config;

pub(super) fn run(path: &Path, output: Output, args: &InitArgs) -> Result<()> {
    if path.exists() && !args.force {
        bail!(
            "`{}` already exists\n  hint: pass `--force` to overwrite it, or `--config` to write another file",
            path.display()
        );
    }
    // A deployment is identified by its name: a default name would be everybody's.
    let name = match &args.name {
        Some(name) => name.clone(),
        None => format!("kstream-{:06x}", rand::random::<u32>() & 0x00ff_ffff),
    };
    let suffix: u32 = rand::random();
    let base: String = name.to_lowercase().replace('_', "-");
    let base = base.trim_matches('-');
    let base = &base[..base.len().min(40)];
    let bucket = format!("{base}-{suffix:08x}");
    let text = config::starter(&name, &bucket);
    // Same validation as every other command: a bad `--name` is a config error (exit 2).
    config::parse(&text, path)?;
    std::fs::write(path, &text).with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!(
        "kstream: wrote `{}` (deployment `{}`, bucket `{bucket}`); next: `kstream plan`",
        path.display(),
        name
    );
    output.print(
        &json!({ "path": path, "name": name, "bucket": bucket }),
        String::new,
    )
}
