//! `kstream objects`: list the bucket's objects (key, size, last modified), or write one
//! object's bytes to stdout exactly (`--cat`).

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use super::Context;
use crate::aws::objects::{self, ObjectInfo};
use crate::cli::ObjectsArgs;

/// Run `kstream objects`.
pub(crate) async fn run(ctx: &Context, args: &ObjectsArgs) -> Result<()> {
    let (config, clients) = (&ctx.config, ctx.clients().await?);
    let bucket = &config.bucket.name;
    if let Some(key) = &args.cat {
        let mut out = std::io::stdout();
        objects::cat(&clients, bucket, key, &mut out).await?;
        return Ok(());
    }
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| config.consumer.key_prefix.clone());
    let limit = (args.limit > 0).then_some(args.limit);
    let (list, more) = objects::list(&clients, bucket, &prefix, limit).await?;
    if more {
        eprintln!(
            "kstream: showing the first {} objects{}; `--limit 0` lists all",
            list.len(),
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" under `{prefix}`")
            }
        );
    }
    ctx.output.print(
        &json!({ "bucket": bucket, "prefix": prefix, "objects": list, "truncated": more }),
        || render(&list),
    )
}

/// One line per object: last modified, size in bytes (right-aligned), key.
pub fn render(objects: &[ObjectInfo]) -> String {
    let width = objects
        .iter()
        .map(|o| o.size.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for o in objects {
        let _ = writeln!(out, "{}  {:>width$}  {}", o.last_modified, o.size, o.key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_aligns_sizes() {
        let objects = [
            ObjectInfo {
                key: "a-2024-03-09-070504-1.txt".into(),
                size: 5,
                last_modified: "2024-03-09T07:05:05Z".into(),
            },
            ObjectInfo {
                key: "b-2024-03-09-070504-2.txt".into(),
                size: 12345,
                last_modified: "2024-03-09T07:05:06Z".into(),
            },
        ];
        assert_eq!(
            render(&objects),
            "2024-03-09T07:05:05Z      5  a-2024-03-09-070504-1.txt\n\
             2024-03-09T07:05:06Z  12345  b-2024-03-09-070504-2.txt\n"
        );
        assert_eq!(render(&[]), "");
    }
}
