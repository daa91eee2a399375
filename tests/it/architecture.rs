//! The code map's invariants (ARCHITECTURE.md), checked on the source tree so that they do not
//! erode as issues add code. Without LocalStack.
//!
//! - SDK names (`aws_sdk_*`, `aws_smithy_*`) appear in the library only under `src/aws`.
//! - No production file passes 600 lines: a file's inline `#[cfg(test)] mod … { … }` and the
//!   files of `#[cfg(test)] mod …;` declarations are tests, not production.
//! - The library's top-level modules import each other without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

/// The most lines a production file may have.
const MAX_PRODUCTION_LINES: usize = 600;

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines before a file's inline test module (`#[cfg(test)]` followed by `mod name {`).
fn production_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| {
            w[0].trim() == "#[cfg(test)]"
                && w[1].trim_start().starts_with("mod ")
                && w[1].trim_end().ends_with('{')
        })
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// The files a `#[cfg(test)] mod name;` in `path` declares: `name.rs` beside a `mod.rs`,
/// `lib.rs` or `main.rs`, and under a folder named after the file otherwise.
fn test_module_files(path: &Path, text: &str) -> Vec<PathBuf> {
    let lines: Vec<&str> = text.lines().collect();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("file stem");
    let dir = path.parent().expect("parent");
    let base = if ["mod", "lib", "main"].contains(&stem) {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    lines
        .windows(2)
        .filter(|w| w[0].trim() == "#[cfg(test)]")
        .filter_map(|w| {
            let name = w[1].trim().strip_prefix("mod ")?.strip_suffix(';')?;
            Some(base.join(format!("{name}.rs")))
        })
        .collect()
}

/// Production files of the shipped code: the library and binary, the consumer and the
/// contract crate.
fn production_files() -> Vec<PathBuf> {
    let roots = ["src", "consumer/src", "crates/contract/src"];
    let all: Vec<PathBuf> = roots
        .iter()
        .flat_map(|root| rust_files(&repo().join(root)))
        .collect();
    let tests: BTreeSet<PathBuf> = all
        .iter()
        .flat_map(|path| test_module_files(path, &read(path)))
        .collect();
    all.into_iter().filter(|p| !tests.contains(p)).collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether a line is a comment (doc or plain).
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

#[test]
fn the_sdk_is_named_only_under_src_aws() {
    let aws = repo().join("src/aws");
    let mut found = Vec::new();
    for path in production_files() {
        if path.starts_with(&aws) || !path.starts_with(repo().join("src")) {
            continue;
        }
        let text = read(&path);
        for (n, line) in production_lines(&text).iter().enumerate() {
            if !is_comment(line) && (line.contains("aws_sdk_") || line.contains("aws_smithy_")) {
                found.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SDK types stay inside src/aws:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_production_file_passes_600_lines() {
    let files = production_files();
    assert!(
        files.len() > 50,
        "the walk found the source tree: {}",
        files.len()
    );
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let n = production_lines(&read(path)).len();
            (n > MAX_PRODUCTION_LINES).then(|| format!("{}: {n} lines", relative(path)))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concern (ARCHITECTURE.md):\n{}",
        long.join("\n")
    );
}

/// The top-level module a file of `src/` belongs to (`src/aws/stream.rs` → `aws`).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(repo().join("src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!["lib", "main"].contains(&name)).then(|| name.to_string())
}

/// The top-level modules a file's production code names as `crate::<module>`, including those
/// inside `use crate::{a, b::c}` groups.
fn crate_references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = production_lines(text)
        .into_iter()
        .filter(|l| !is_comment(l))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                found.insert(ident(item.trim()));
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

#[test]
fn top_level_modules_import_each_other_without_a_circle() {
    let files: Vec<(String, PathBuf)> = production_files()
        .into_iter()
        .filter_map(|p| Some((top_module(&p)?, p)))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    assert!(
        modules.contains("aws") && modules.contains("plan"),
        "{modules:?}"
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        let mut refs = crate_references(&read(path), &modules);
        refs.remove(module);
        edges.entry(module.clone()).or_default().extend(refs);
    }
    assert!(
        edges.get("commands").is_some_and(|e| e.contains("aws")),
        "the scan sees imports: {edges:?}"
    );
    if let Some(circle) = find_circle(&edges) {
        panic!("import circle: {}", circle.join(" → "));
    }
}

/// A circle in the graph `edges`, by depth-first search for a back edge.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|module| visit(module, edges, &mut Vec::new(), &mut done))
}

/// The scanners themselves: a test module ends production code, grouped imports count, and
/// a circle is found.
#[test]
fn the_scanners_see_what_they_check() {
    let text = "use crate::{aws, plan::Plan};\nfn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::ui;\n}\n";
    assert_eq!(production_lines(text).len(), 2);
    let modules: BTreeSet<String> = ["aws", "plan", "ui"].map(String::from).into();
    assert_eq!(
        crate_references(text, &modules),
        ["aws", "plan"].map(String::from).into()
    );
    let path = repo().join("src/aws/execute.rs");
    assert_eq!(
        test_module_files(&path, "#[cfg(test)]\nmod tests;\n"),
        [repo().join("src/aws/execute/tests.rs")]
    );
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            edges
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        edges
    };
    assert_eq!(
        find_circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_circle(&graph(&[("a", "b"), ("b", "c"), ("c", "b")])),
        Some(["b", "c", "b"].map(String::from).to_vec())
    );
}
