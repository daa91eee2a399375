//! Packaging the consumer: build (or take) the `bootstrap` binary, check that it runs on
//! Lambda's `provided.al2023` runtime, and zip it deterministically.
//!
//! The zip is a pure function of the binary (one entry `bootstrap`, mode 0755, deflate, a
//! fixed 1980-01-01 timestamp), so the same binary always has the same `CodeSha256` and an
//! unchanged consumer never causes a code update.

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead as _, BufReader, Cursor, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use object::elf;
use object::read::elf::{ElfFile64, FileHeader as _};
use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::config::Architecture;

/// The highest glibc version Lambda's `provided.al2023` runtime provides.
pub const MAX_GLIBC: GlibcVersion = GlibcVersion([2, 34, 0]);

/// Name of the entry Lambda's custom runtimes execute.
const BOOTSTRAP: &str = "bootstrap";

/// A consumer zip ready to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The zip file.
    pub path: PathBuf,
    /// Base64 of the zip's SHA-256, as Lambda reports it in `CodeSha256`.
    pub sha256_base64: String,
    /// Size of the zip in bytes.
    pub size: u64,
}

/// Where the consumer zip comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A zip built elsewhere (`consumer.zip`); used as is.
    Prebuilt(PathBuf),
    /// Build the `consumer` package of the kstream workspace at `root`.
    Workspace {
        /// Directory of the workspace's `Cargo.toml`.
        root: PathBuf,
    },
}

/// Produces the consumer zip for `arch`: reads a prebuilt one, or builds, checks and zips the
/// workspace's consumer into `<root>/target/kstream/<arch>/bootstrap.zip`.
pub fn package(source: &Source, arch: Architecture) -> Result<Artifact> {
    match source {
        Source::Prebuilt(path) => prebuilt(path, arch),
        Source::Workspace { root } => workspace(root, arch),
    }
}

impl Artifact {
    /// The zip's bytes, checked against the digest the plan compared: what is uploaded is
    /// exactly what was hashed, or nothing is.
    pub fn read_verified(&self) -> Result<Vec<u8>> {
        let zip = std::fs::read(&self.path)
            .with_context(|| format!("failed to read `{}`", self.path.display()))?;
        let digest = artifact_digest(&zip);
        if digest != self.sha256_base64 {
            bail!(
                "`{}` changed after it was packaged (sha256 {} then, {digest} now)\n  hint: something rebuilt or replaced it meanwhile; run `kstream apply` again",
                self.path.display(),
                self.sha256_base64
            );
        }
        Ok(zip)
    }

    /// Fail unless Lambda reports the code it stored as this zip's.
    pub fn check_deployed(&self, function: &str, code_sha256: Option<&str>) -> Result<()> {
        match code_sha256 {
            Some(deployed) if deployed == self.sha256_base64 => Ok(()),
            other => bail!(
                "function `{function}` reports code sha256 {} after the upload, not {}\n  hint: the upload was altered or another deployer updated the function at the same time; run `kstream apply` again",
                other.unwrap_or("(none)"),
                self.sha256_base64
            ),
        }
    }
}

/// Base64 of the SHA-256 of a zip: Lambda's `CodeSha256`.
pub fn artifact_digest(zip_bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip_bytes))
}

/// The kstream workspace containing `start` (the nearest ancestor whose `Cargo.toml` lists a
/// `consumer` member), else the workspace kstream itself was built from, if it still exists.
pub fn find_workspace(start: &Path) -> Option<PathBuf> {
    let start = start
        .canonicalize()
        .or_else(|_| std::path::absolute(start))
        .ok()?;
    start
        .ancestors()
        .find(|dir| is_kstream_workspace(dir))
        .map(Path::to_path_buf)
        .or_else(|| {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
            is_kstream_workspace(built_from).then(|| built_from.to_path_buf())
        })
}

fn is_kstream_workspace(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
    let Ok(manifest) = toml::from_str::<toml::Table>(&text) else {
        return false;
    };
    let has_member = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("members"))
        .and_then(toml::Value::as_array)
        .is_some_and(|members| {
            members
                .iter()
                .filter_map(toml::Value::as_str)
                .any(|member| member.trim_start_matches("./").trim_end_matches('/') == "consumer")
        });
    has_member && dir.join("consumer").join("Cargo.toml").is_file()
}

fn prebuilt(path: &Path, arch: Architecture) -> Result<Artifact> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("failed to read the consumer zip `{}`", path.display()))?;
    let binary = read_bootstrap(&bytes)
        .with_context(|| format!("`{}` is not a usable consumer zip", path.display()))?;
    // A `bootstrap` may be a script that starts the real binary; only an ELF can be checked.
    if binary.starts_with(b"\x7fELF") {
        check_binary(&binary, arch).with_context(|| {
            format!(
                "the `bootstrap` in `{}` cannot run on Lambda",
                path.display()
            )
        })?;
    }
    Ok(Artifact {
        path: path.to_path_buf(),
        sha256_base64: artifact_digest(&bytes),
        size: bytes.len() as u64,
    })
}

/// The `bootstrap` entry of a zip, checked to be an executable file.
fn read_bootstrap(zip_bytes: &[u8]) -> Result<Vec<u8>> {
    let mut archive = ZipArchive::new(Cursor::new(zip_bytes)).context("not a zip archive")?;
    let mut entry = match archive.by_name(BOOTSTRAP) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => bail!(
            "it has no `bootstrap` entry at its root\n  hint: Lambda's `provided.al2023` runtime runs the file named `bootstrap`; zip the consumer binary under that name"
        ),
        Err(err) => return Err(err).context("failed to read its `bootstrap` entry"),
    };
    if !entry.is_file() {
        bail!("its `bootstrap` entry is not a file");
    }
    if let Some(mode) = entry.unix_mode()
        && mode & 0o111 == 0
    {
        bail!(
            "its `bootstrap` entry is not executable (mode {:o})\n  hint: `chmod 755 bootstrap` before zipping it",
            mode & 0o7777
        );
    }
    let mut binary = Vec::new();
    entry
        .read_to_end(&mut binary)
        .context("failed to read its `bootstrap` entry")?;
    Ok(binary)
}

/// Where packaging the workspace at `root` writes the consumer zip for `arch`.
pub fn packaged_zip(root: &Path, arch: Architecture) -> PathBuf {
    root.join("target")
        .join("kstream")
        .join(arch.as_str())
        .join("bootstrap.zip")
}

/// The zip the last packaging of the workspace at `root` wrote, checked like a prebuilt one;
/// `None` when there is none. Builds nothing.
pub fn last_packaged(root: &Path, arch: Architecture) -> Result<Option<Artifact>> {
    let path = packaged_zip(root, arch);
    if !path.is_file() {
        return Ok(None);
    }
    prebuilt(&path, arch).map(Some)
}

fn workspace(root: &Path, arch: Architecture) -> Result<Artifact> {
    // Held until the zip is written: the build's output directory is shared by every run.
    let _lock = lock_workspace(root, arch)?;
    let binary_path = build(root, arch)?;
    let binary = std::fs::read(&binary_path).with_context(|| {
        format!(
            "failed to read the built consumer `{}`",
            binary_path.display()
        )
    })?;
    check_binary(&binary, arch)
        .with_context(|| format!("`{}` cannot run on Lambda", binary_path.display()))?;
    let zip = zip_bootstrap(&binary)?;

    let path = packaged_zip(root, arch);
    write_atomically(&path, &zip)?;
    let artifact = Artifact {
        path,
        sha256_base64: artifact_digest(&zip),
        size: zip.len() as u64,
    };
    eprintln!(
        "packaged consumer: {} ({:.2} MiB, sha256 {})",
        artifact.path.display(),
        artifact.size as f64 / (1024.0 * 1024.0),
        artifact.sha256_base64.get(..12).unwrap_or_default()
    );
    Ok(artifact)
}

/// Take this workspace's packaging lock for `arch`, waiting (and saying so on stderr) while
/// another `kstream` builds and packages the same consumer: cargo-lambda replaces its output
/// directory on every build, so two runs at once (two terminals, or parallel tests) would
/// otherwise move binaries out from under each other. The operating system releases the lock
/// when its process ends, however it ends, so a killed run never leaves it behind.
fn lock_workspace(root: &Path, arch: Architecture) -> Result<std::fs::File> {
    let dir = root.join("target").join("kstream").join(arch.as_str());
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let path = dir.join("package.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open the lock file `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => eprintln!(
            "waiting for another kstream run that is packaging the consumer for {} in this workspace (lock `{}`)",
            arch.as_str(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock `{}`", path.display()));
        }
    }
    file.lock()
        .with_context(|| format!("failed to lock `{}`", path.display()))?;
    Ok(file)
}

/// A zip with the single entry `bootstrap` (mode 0755), identical for identical binaries.
pub fn zip_bootstrap(binary: &[u8]) -> Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .system(zip::System::Unix)
        .unix_permissions(0o755)
        .large_file(false);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(BOOTSTRAP, options)
        .context("failed to start the zip entry `bootstrap`")?;
    writer
        .write_all(binary)
        .context("failed to compress `bootstrap`")?;
    let zip = writer.finish().context("failed to finish the zip")?;
    Ok(zip.into_inner())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("zip path has no parent directory")?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    // Unique per process: two `kstream package` runs may write the same zip at once.
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes)
        .with_context(|| format!("failed to write `{}`", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("failed to move the zip to `{}`", path.display()))
}

fn elf_machine(arch: Architecture) -> u16 {
    match arch {
        Architecture::X86_64 => elf::EM_X86_64.0,
        Architecture::Arm64 => elf::EM_AARCH64.0,
    }
}

/// Builds the consumer for `arch` and returns the path of the `bootstrap` binary.
fn build(root: &Path, arch: Architecture) -> Result<PathBuf> {
    let triple = arch.target_triple();
    if find_on_path("cargo-lambda").is_some() {
        build_with_cargo_lambda(root, arch)
    } else if target_installed(triple) {
        build_with_cargo(root, arch)
    } else {
        bail!(
            "cannot build the consumer for `{arch}`: `cargo-lambda` is not installed and the Rust target `{triple}` is not either\n  hint: put cargo-lambda on PATH (in the kstream checkout: `eval \"$(scripts/cargo-lambda env)\"`), which cross-compiles for any architecture, or add the target with `rustup target add {triple}`; or set `consumer.zip` to a prebuilt zip",
            arch = arch.as_str()
        )
    }
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn build_with_cargo_lambda(root: &Path, arch: Architecture) -> Result<PathBuf> {
    let lambda_dir = root
        .join("target")
        .join("kstream")
        .join(arch.as_str())
        .join("cargo-lambda");
    // Not `--{arch}`: cargo-lambda spells x86_64 with a hyphen (`--x86-64`).
    let arch_flag = match arch {
        Architecture::X86_64 => "--x86-64",
        Architecture::Arm64 => "--arm64",
    };
    eprintln!("building consumer for {} with cargo-lambda", arch.as_str());
    let status = Command::new(cargo())
        .args(["lambda", "build", "--profile", "lambda", arch_flag])
        .args(["--package", "consumer", "--bin", BOOTSTRAP, "--lambda-dir"])
        .arg(&lambda_dir)
        .current_dir(root)
        .stdin(Stdio::null())
        // stdout is kstream's data channel: the build's output is progress, so stderr.
        .stdout(std::io::stderr())
        .status()
        .context("failed to run `cargo lambda build`")?;
    if !status.success() {
        bail!("`cargo lambda build` failed ({status})");
    }
    let binary = lambda_dir.join(BOOTSTRAP).join(BOOTSTRAP);
    if !binary.is_file() {
        bail!(
            "`cargo lambda build` succeeded but `{}` does not exist",
            binary.display()
        );
    }
    Ok(binary)
}

fn build_with_cargo(root: &Path, arch: Architecture) -> Result<PathBuf> {
    let triple = arch.target_triple();
    eprintln!(
        "building consumer for {} with cargo (target `{triple}`)",
        arch.as_str()
    );
    let mut child = Command::new(cargo())
        .args(["build", "--profile", "lambda", "--package", "consumer"])
        .args(["--bin", BOOTSTRAP, "--target", triple])
        // Diagnostics are rendered on stderr; stdout carries the JSON that names the binary.
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to run `cargo build`")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo's stdout was not captured")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("failed to read cargo's output")?;
        if let Some(path) = bootstrap_executable(&line) {
            executable = Some(path);
        }
    }
    let status = child.wait().context("failed to wait for `cargo build`")?;
    if !status.success() {
        let hint = if host_triple().as_deref() == Some(triple) {
            String::new()
        } else {
            format!(
                "\n  hint: cross-compiling to `{triple}` needs a linker for it; cargo-lambda (`eval \"$(scripts/cargo-lambda env)\"` in the kstream checkout) brings one"
            )
        };
        bail!("`cargo build` of the consumer failed ({status}){hint}");
    }
    executable.context("`cargo build` succeeded but did not report the `bootstrap` executable")
}

/// The `bootstrap` executable named by one line of cargo's JSON messages, if it names it.
fn bootstrap_executable(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["target"]["name"] != BOOTSTRAP {
        return None;
    }
    message["executable"].as_str().map(PathBuf::from)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file() || path.with_extension("exe").is_file()
}

fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
}

/// Whether `cargo build --target <triple>` can work: the host's own target, or one rustup
/// installed.
fn target_installed(triple: &str) -> bool {
    if host_triple().as_deref() == Some(triple) {
        return true;
    }
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .is_some_and(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .any(|line| line.trim() == triple)
        })
}

/// A glibc version such as `2.34` or `2.2.5`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub [u32; 3]);

impl GlibcVersion {
    /// The glibc version a symbol version requirement such as `GLIBC_2.34` stands for;
    /// `None` for names that are not glibc releases (`GLIBC_PRIVATE`, other libraries).
    pub fn from_requirement(name: &str) -> Option<Self> {
        // Marker the linker adds for packed relative relocations, which glibc 2.36 introduced.
        if name == "GLIBC_ABI_DT_RELR" {
            return Some(Self([2, 36, 0]));
        }
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let mut version = [0; 3];
        for slot in &mut version {
            match parts.next() {
                Some(part) => *slot = part.parse().ok()?,
                None => break,
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Self(version))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch] = self.0;
        write!(f, "{major}.{minor}")?;
        if patch != 0 {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// The highest glibc release among symbol version requirements, with its name.
pub fn highest_glibc<'a>(
    requirements: impl IntoIterator<Item = &'a str>,
) -> Option<(GlibcVersion, &'a str)> {
    requirements
        .into_iter()
        .filter_map(|name| GlibcVersion::from_requirement(name).map(|version| (version, name)))
        .max_by_key(|(version, _)| *version)
}

/// What a binary needs from the system that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfNeeds {
    /// `e_machine` of the ELF header.
    pub machine: u16,
    /// Symbol version requirements (`.gnu.version_r`), e.g. `GLIBC_2.34`.
    pub versions: Vec<String>,
}

/// Reads the machine and the symbol version requirements of a 64-bit ELF.
pub fn elf_needs(binary: &[u8]) -> Result<ElfNeeds> {
    let file =
        ElfFile64::<object::Endianness>::parse(binary).context("not a 64-bit ELF executable")?;
    let endian = file.endian();
    let machine = file.elf_header().e_machine(endian).0;
    let sections = file.elf_section_table();
    let mut versions = Vec::new();
    if let Some((mut needs, link)) = sections
        .gnu_verneed(endian, binary)
        .context("invalid `.gnu.version_r` section")?
    {
        let strings = sections
            .strings(endian, binary, link)
            .context("invalid string table of `.gnu.version_r`")?;
        while let Some((_, mut aux)) = needs.next().context("invalid version need")? {
            while let Some(aux) = aux.next().context("invalid version need entry")? {
                let name = aux.name(endian, strings).context("invalid version name")?;
                versions.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    versions.sort();
    versions.dedup();
    Ok(ElfNeeds { machine, versions })
}

/// Checks that a binary is built for `arch` and needs no glibc newer than [`MAX_GLIBC`].
pub fn check_binary(binary: &[u8], arch: Architecture) -> Result<()> {
    let needs = elf_needs(binary)?;
    if needs.machine != elf_machine(arch) {
        let found = Architecture::ALL
            .into_iter()
            .find(|arch| elf_machine(*arch) == needs.machine)
            .map_or_else(
                || format!("ELF machine {}", needs.machine),
                |arch| arch.as_str().to_owned(),
            );
        bail!(
            "it is built for `{found}`, but the function's architecture is `{want}`\n  hint: set `consumer.architecture = \"{want}\"` only with a binary built for it, or build for `{want}`",
            want = arch.as_str()
        );
    }
    check_glibc(needs.versions.iter().map(String::as_str))
}

/// Checks that no symbol version requirement asks for a glibc newer than [`MAX_GLIBC`].
fn check_glibc<'a>(requirements: impl IntoIterator<Item = &'a str>) -> Result<()> {
    if let Some((version, name)) = highest_glibc(requirements)
        && version > MAX_GLIBC
    {
        bail!(
            "it requires `{name}`, but Lambda's `provided.al2023` runtime has glibc {MAX_GLIBC}\n  hint: put cargo-lambda on PATH (in the kstream checkout: `eval \"$(scripts/cargo-lambda env)\"` installs the pinned cargo-lambda and zig): kstream then builds with it and links against an older glibc; or build on a system with glibc {MAX_GLIBC} or older"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip with one stored (uncompressed, so fast) entry.
    fn zip_with(name: &str, mode: u32, contents: &[u8]) -> Vec<u8> {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .unix_permissions(mode);
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file(name, options).unwrap();
        writer.write_all(contents).unwrap();
        writer.finish().unwrap().into_inner()
    }

    fn current_exe() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn digest_is_base64_of_sha256() {
        assert_eq!(
            artifact_digest(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn zip_is_deterministic() {
        let binary: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let one = zip_bootstrap(&binary).unwrap();
        let two = zip_bootstrap(&binary).unwrap();
        assert_eq!(one, two);
        assert_eq!(artifact_digest(&one), artifact_digest(&two));
        assert_ne!(
            artifact_digest(&one),
            artifact_digest(&zip_bootstrap(b"other").unwrap())
        );
    }

    #[test]
    fn zip_has_one_executable_bootstrap_entry() {
        let binary = b"\x7fELF pretend binary".repeat(100);
        let zip = zip_bootstrap(&binary).unwrap();
        let mut archive = ZipArchive::new(Cursor::new(&zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let modified = entry.last_modified().unwrap();
        assert_eq!(
            (modified.year(), modified.month(), modified.day()),
            (1980, 1, 1)
        );
        assert_eq!(
            (modified.hour(), modified.minute(), modified.second()),
            (0, 0, 0)
        );
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        assert_eq!(contents, binary);
        drop(entry);
        assert_eq!(read_bootstrap(&zip).unwrap(), binary);
    }

    #[test]
    fn glibc_versions_compare_numerically() {
        let parse = |name| GlibcVersion::from_requirement(name);
        assert_eq!(parse("GLIBC_2.34"), Some(GlibcVersion([2, 34, 0])));
        assert_eq!(parse("GLIBC_2.2.5"), Some(GlibcVersion([2, 2, 5])));
        assert_eq!(parse("GLIBC_PRIVATE"), None);
        assert_eq!(parse("GCC_3.0"), None);
        assert_eq!(parse("GLIBC_2.3.4.5"), None);
        assert!(parse("GLIBC_2.10") > parse("GLIBC_2.9"));
        assert!(parse("GLIBC_2.3.4") > parse("GLIBC_2.3"));
        assert!(parse("GLIBC_ABI_DT_RELR").unwrap() > MAX_GLIBC);

        let needs = [
            "GLIBC_2.2.5",
            "GLIBC_2.3.4",
            "GLIBC_2.34",
            "GLIBC_2.17",
            "GLIBC_2.9",
            "GLIBC_PRIVATE",
            "GCC_4.2.0",
        ];
        assert_eq!(
            highest_glibc(needs),
            Some((GlibcVersion([2, 34, 0]), "GLIBC_2.34"))
        );
        assert_eq!(
            highest_glibc(["GLIBC_2.9", "GLIBC_2.10"]).unwrap().1,
            "GLIBC_2.10"
        );
        assert_eq!(highest_glibc(["GCC_3.0"]), None);
        assert_eq!(GlibcVersion([2, 34, 0]).to_string(), "2.34");
        assert_eq!(GlibcVersion([2, 2, 5]).to_string(), "2.2.5");
    }

    #[test]
    fn glibc_newer_than_al2023_is_reported_with_the_highest_version() {
        assert!(check_glibc(["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE"]).is_ok());
        assert!(check_glibc([]).is_ok());
        let err = check_glibc(["GLIBC_2.17", "GLIBC_2.38", "GLIBC_2.35"]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "it requires `GLIBC_2.38`, but Lambda's `provided.al2023` runtime has glibc 2.34\n  hint: put cargo-lambda on PATH (in the kstream checkout: `eval \"$(scripts/cargo-lambda env)\"` installs the pinned cargo-lambda and zig): kstream then builds with it and links against an older glibc; or build on a system with glibc 2.34 or older"
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn reads_machine_and_glibc_needs_of_this_test_binary() {
        let needs = elf_needs(&current_exe()).unwrap();
        assert_eq!(needs.machine, elf::EM_X86_64.0);
        assert!(
            needs.versions.iter().any(|v| v.starts_with("GLIBC_2.")),
            "{:?}",
            needs.versions
        );
        assert!(highest_glibc(needs.versions.iter().map(String::as_str)).is_some());
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn arch_mismatch_is_reported() {
        let err = check_binary(&current_exe(), Architecture::Arm64).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "it is built for `x86_64`, but the function's architecture is `arm64`\n  hint: set `consumer.architecture = \"arm64\"` only with a binary built for it, or build for `arm64`"
        );
    }

    /// A second run waits for the first one's lock and gets it once the first is done.
    #[test]
    fn packaging_runs_of_one_workspace_take_turns() {
        let root = tempfile::tempdir().expect("tempdir");
        let first = lock_workspace(root.path(), Architecture::X86_64).expect("first lock");
        // Another architecture has its own lock.
        drop(lock_workspace(root.path(), Architecture::Arm64).expect("arm64 lock"));
        let (done, finished) = std::sync::mpsc::channel();
        let dir = root.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let lock = lock_workspace(&dir, Architecture::X86_64);
            done.send(()).expect("send");
            lock.map(drop)
        });
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "the second run waits while the first holds the lock"
        );
        drop(first);
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second run gets the lock once the first lets go");
        second.join().expect("thread").expect("second lock");
    }

    #[test]
    fn non_elf_is_rejected() {
        let err = check_binary(b"#!/bin/sh\nexec ./consumer\n", Architecture::X86_64).unwrap_err();
        assert_eq!(format!("{err}"), "not a 64-bit ELF executable");
    }

    #[test]
    fn prebuilt_without_bootstrap_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.zip");
        std::fs::write(&path, zip_with("consumer", 0o755, b"binary")).unwrap();
        let err = package(&Source::Prebuilt(path.clone()), Architecture::X86_64).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "`{}` is not a usable consumer zip: it has no `bootstrap` entry at its root\n  hint: Lambda's `provided.al2023` runtime runs the file named `bootstrap`; zip the consumer binary under that name",
                path.display()
            )
        );
    }

    #[test]
    fn prebuilt_with_non_executable_bootstrap_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.zip");
        std::fs::write(&path, zip_with("bootstrap", 0o644, b"binary")).unwrap();
        let err = package(&Source::Prebuilt(path), Architecture::X86_64).unwrap_err();
        assert!(
            format!("{err:#}").contains("its `bootstrap` entry is not executable (mode 644)"),
            "{err:#}"
        );
    }

    #[test]
    fn prebuilt_that_is_not_a_zip_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.zip");
        std::fs::write(&path, b"not a zip").unwrap();
        let err = package(&Source::Prebuilt(path.clone()), Architecture::X86_64).unwrap_err();
        let want = format!(
            "`{}` is not a usable consumer zip: not a zip archive: ",
            path.display()
        );
        assert!(format!("{err:#}").starts_with(&want), "{err:#}");
    }

    #[test]
    fn prebuilt_zip_is_used_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.zip");
        let zip = zip_with("bootstrap", 0o755, b"#!/bin/sh\nexec ./consumer\n");
        std::fs::write(&path, &zip).unwrap();
        let artifact = package(&Source::Prebuilt(path.clone()), Architecture::Arm64).unwrap();
        assert_eq!(
            artifact,
            Artifact {
                path,
                sha256_base64: artifact_digest(&zip),
                size: zip.len() as u64,
            }
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn prebuilt_elf_for_the_wrong_arch_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.zip");
        std::fs::write(&path, zip_with("bootstrap", 0o755, &current_exe())).unwrap();
        let err = package(&Source::Prebuilt(path.clone()), Architecture::Arm64).unwrap_err();
        assert!(
            format!("{err:#}").starts_with(&format!(
                "the `bootstrap` in `{}` cannot run on Lambda: it is built for `x86_64`",
                path.display()
            )),
            "{err:#}"
        );
    }

    #[test]
    fn finds_the_workspace_from_a_nested_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\".\", \"consumer\"]\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("consumer/src")).unwrap();
        std::fs::write(root.join("consumer/Cargo.toml"), "[package]\n").unwrap();
        assert_eq!(
            find_workspace(&root.join("consumer/src")),
            Some(root.clone())
        );
        assert_eq!(find_workspace(&root), Some(root));
    }

    #[test]
    fn falls_back_to_the_workspace_kstream_was_built_from() {
        let dir = tempfile::tempdir().unwrap();
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
        // Always the case in the kstream repository.
        let want = built_from
            .join("consumer/Cargo.toml")
            .is_file()
            .then(|| built_from.to_path_buf());
        assert_eq!(find_workspace(dir.path()), want);
    }

    #[test]
    fn reads_the_executable_from_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"bootstrap","kind":["bin"]},"executable":"/w/target/x86_64-unknown-linux-gnu/lambda/bootstrap","fresh":true}"#;
        assert_eq!(
            bootstrap_executable(line),
            Some(PathBuf::from(
                "/w/target/x86_64-unknown-linux-gnu/lambda/bootstrap"
            ))
        );
        let lib =
            r#"{"reason":"compiler-artifact","target":{"name":"consumer"},"executable":null}"#;
        assert_eq!(bootstrap_executable(lib), None);
        assert_eq!(bootstrap_executable("Compiling consumer"), None);
    }

    /// Builds the real consumer (several minutes the first time):
    /// `cargo test --lib package -- --ignored --nocapture`.
    #[test]
    #[ignore = "builds the consumer in the `lambda` profile"]
    fn packages_the_real_consumer() {
        let root = find_workspace(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let source = Source::Workspace { root };
        let first = package(&source, Architecture::X86_64).unwrap();
        let second = package(&source, Architecture::X86_64).unwrap();
        assert_eq!(first, second);
        let zip = std::fs::read(&first.path).unwrap();
        assert_eq!(artifact_digest(&zip), first.sha256_base64);
        let binary = read_bootstrap(&zip).unwrap();
        let needs = elf_needs(&binary).unwrap();
        let highest = highest_glibc(needs.versions.iter().map(String::as_str));
        eprintln!(
            "zip {} bytes, digest {}, highest glibc requirement {:?}",
            first.size, first.sha256_base64, highest
        );
        assert!(highest.is_some_and(|(version, _)| version <= MAX_GLIBC));
    }

    #[test]
    fn the_upload_is_exactly_what_was_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bootstrap.zip");
        std::fs::write(&path, b"first").expect("write");
        let artifact = Artifact {
            path: path.clone(),
            sha256_base64: artifact_digest(b"first"),
            size: 5,
        };
        assert_eq!(artifact.read_verified().expect("same bytes"), b"first");
        artifact
            .check_deployed("f", Some(&artifact_digest(b"first")))
            .expect("Lambda stored it");

        std::fs::write(&path, b"second").expect("rewrite");
        let err = format!("{:#}", artifact.read_verified().expect_err("changed"));
        assert!(err.contains("changed after it was packaged"), "{err}");
        let err = format!(
            "{:#}",
            artifact
                .check_deployed("f", Some("other"))
                .expect_err("differs")
        );
        assert!(
            err.contains("reports code sha256 other after the upload"),
            "{err}"
        );
    }
}
