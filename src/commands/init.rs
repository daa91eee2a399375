//! `kstream init`: a starter config whose bucket name is the deployment name plus a random
//! suffix, validated before it is written; an existing file is kept unless `--force`.

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
    let suffix: u32 = rand::random();
    let base: String = args.name.to_lowercase().replace('_', "-");
    let base = base.trim_matches('-');
    let base = &base[..base.len().min(40)];
    let bucket = format!("{base}-{suffix:08x}");
    let text = config::starter(&args.name, &bucket);
    // Same validation as every other command: a bad `--name` is a config error (exit 2).
    config::parse(&text, path)?;
    std::fs::write(path, &text).with_context(|| format!("failed to write `{}`", path.display()))?;
    eprintln!(
        "kstream: wrote `{}` (deployment `{}`, bucket `{bucket}`); next: `kstream plan`",
        path.display(),
        args.name
    );
    output.print(
        &json!({ "path": path, "name": args.name, "bucket": bucket }),
        String::new,
    )
}
