//! `kstream package` through both build paths, checked independently of kstream's own ELF
//! check (with binutils' `readelf`): cargo-lambda (what every GitHub runner and every host
//! with a glibc newer than 2.34 takes), installed at the workflows' pinned versions by
//! `scripts/cargo-lambda`, for x86_64 and arm64; and plain `cargo build` when cargo-lambda is
//! not on PATH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{command, repo, stderr};

/// What `readelf` says about a `bootstrap`.
#[derive(Debug)]
struct Elf {
    machine: String,
    /// The highest `GLIBC_x.y[.z]` symbol version the binary needs, as numbers.
    max_glibc: Vec<u32>,
    /// Whether it needs `GLIBC_ABI_DT_RELR` (glibc 2.36).
    dt_relr: bool,
}

fn readelf(binary: &Path, flag: &str) -> String {
    let out = Command::new("readelf")
        .args([flag, "--wide"])
        .arg(binary)
        .output()
        .expect("run readelf (binutils)");
    assert!(out.status.success(), "readelf {flag}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inspect(zip_path: &Path) -> Elf {
    let file = std::fs::File::open(zip_path).expect("open zip");
    let mut archive = zip::ZipArchive::new(file).expect("a zip");
    assert_eq!(
        archive.len(),
        1,
        "one entry: {:?}",
        archive.file_names().collect::<Vec<_>>()
    );
    let mut entry = archive.by_name("bootstrap").expect("a `bootstrap` entry");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = dir.path().join("bootstrap");
    let mut out = std::fs::File::create(&binary).expect("create");
    std::io::copy(&mut entry, &mut out).expect("unzip");
    drop(out);

    let header = readelf(&binary, "--file-header");
    let machine = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .expect("Machine: line")
        .trim()
        .to_owned();
    let versions = readelf(&binary, "--version-info");
    let max_glibc = versions
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            v.split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .max()
        .unwrap_or_default();
    Elf {
        machine,
        max_glibc,
        dt_relr: versions.contains("GLIBC_ABI_DT_RELR"),
    }
}

/// A config for `arch` in a temporary directory (the workspace is found from the cwd).
fn config(dir: &Path, arch: &str) -> PathBuf {
    let path = dir.join(format!("package-{arch}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"package-{arch}\"\n[stream]\nname = \"unused\"\n[bucket]\nname = \"unused-bucket\"\n[consumer]\narchitecture = \"{arch}\"\n"
        ),
    )
    .expect("write config");
    path
}

fn package(path_var: &OsString, config: &Path) -> Output {
    command(repo(), &["--config"])
        .arg(config)
        .args(["--json", "package"])
        .env("PATH", path_var)
        .output()
        .expect("run kstream package")
}

fn zip_path(out: &Output) -> PathBuf {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("package --json");
    PathBuf::from(v["path"].as_str().expect("path"))
}

/// PATH without any directory that holds a `cargo-lambda`.
fn path_without_cargo_lambda() -> OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(
        std::env::split_paths(&path).filter(|dir| !dir.join("cargo-lambda").exists()),
    )
    .expect("PATH")
}

fn assert_runs_on_al2023(elf: &Elf, machine: &str) {
    assert_eq!(elf.machine, machine, "{elf:?}");
    assert!(
        !elf.max_glibc.is_empty(),
        "no GLIBC_ version found: {elf:?}"
    );
    assert!(
        elf.max_glibc <= vec![2, 34],
        "needs a glibc newer than provided.al2023's 2.34: {elf:?}"
    );
    assert!(
        !elf.dt_relr,
        "needs GLIBC_ABI_DT_RELR (glibc 2.36): {elf:?}"
    );
}

#[test]
fn cargo_lambda_packages_the_consumer_for_x86_64_and_arm64() {
    let out = Command::new(repo().join("scripts/cargo-lambda"))
        .arg("path")
        .output()
        .expect("run scripts/cargo-lambda path");
    assert!(
        out.status.success(),
        "scripts/cargo-lambda path: {}",
        stderr(&out)
    );
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(bin.join("cargo-lambda").is_file(), "{}", bin.display());
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path_without_cargo_lambda()));
    let path_var = std::env::join_paths(dirs).expect("PATH");

    let dir = tempfile::tempdir().expect("tempdir");
    for (arch, machine) in [
        ("x86_64", "Advanced Micro Devices X86-64"),
        ("arm64", "AArch64"),
    ] {
        let out = package(&path_var, &config(dir.path(), arch));
        let err = stderr(&out);
        assert!(out.status.success(), "kstream package ({arch}):\n{err}");
        assert!(
            err.contains(&format!("building consumer for {arch} with cargo-lambda")),
            "built without cargo-lambda:\n{err}"
        );
        let zip = zip_path(&out);
        assert!(
            zip.ends_with(format!("target/kstream/{arch}/bootstrap.zip")),
            "{}",
            zip.display()
        );
        assert_runs_on_al2023(&inspect(&zip), machine);
    }

    // Three runs at once (three terminals, or this suite's parallel tests) take turns on the
    // workspace's lock: cargo-lambda moves the binary it built out of the shared target
    // directory, so without it one run finds the binary gone.
    let config = config(dir.path(), "x86_64");
    let runs: Vec<_> = (0..3)
        .map(|_| {
            command(repo(), &["--config"])
                .arg(&config)
                .args(["--json", "package"])
                .env("PATH", &path_var)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn kstream package")
        })
        .collect();
    // Each output is drained by its own thread, so no run blocks on a full pipe.
    let (sent, outputs) = std::sync::mpsc::channel();
    for child in runs {
        let sent = sent.clone();
        std::thread::spawn(move || sent.send(child.wait_with_output().expect("kstream output")));
    }
    let zips: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            let out = outputs
                .recv_timeout(std::time::Duration::from_secs(900))
                .expect("three concurrent packages finish within 15 minutes");
            let out = crate::support::assert_succeeded(out, &["package"]);
            std::fs::read(zip_path(&out)).expect("read zip")
        })
        .collect();
    assert!(
        zips.windows(2).all(|w| w[0] == w[1]),
        "concurrent runs package the same zip"
    );
}

/// Without cargo-lambda, kstream builds with plain cargo for the host's architecture. On a
/// host whose glibc headers are newer than AL2023's, the result may need newer symbols: then
/// kstream must refuse it with an error that names the symbol and suggests cargo-lambda.
#[test]
fn plain_cargo_packages_the_consumer_or_refuses_a_too_new_glibc() {
    let (arch, machine) = match std::env::consts::ARCH {
        "x86_64" => ("x86_64", "Advanced Micro Devices X86-64"),
        "aarch64" => ("arm64", "AArch64"),
        other => panic!("no Lambda architecture for {other}"),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = package(&path_without_cargo_lambda(), &config(dir.path(), arch));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("building consumer for {arch} with cargo (target")),
        "not built with plain cargo:\n{err}"
    );
    if out.status.success() {
        assert_runs_on_al2023(&inspect(&zip_path(&out)), machine);
    } else {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("requires `GLIBC_2."), "{err}");
        assert!(err.contains("cargo-lambda"), "{err}");
    }
}
