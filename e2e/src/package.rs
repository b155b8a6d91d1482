//! The Debian package for tests: built by cargo-deb from `[package.metadata.deb]` in
//! controller/Cargo.toml, or taken ready-made from `$BATON_DEB`.
//!
//! cargo-deb packages the binary e2e/run already built (`--profile dev --no-build`): the
//! tests check the packaging (files, modes, conffiles, maintainer scripts, dependencies),
//! not the optimiser, and a release build would double the suite's build time. A release
//! package (`cargo deb -p baton`) can be tested the same way through `BATON_DEB`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::need::{Check, Missing};
use crate::ok;

/// The cargo-deb executable: `$CARGO_DEB`, else on PATH, else in `$CARGO_HOME/bin`.
pub fn cargo_deb() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CARGO_DEB") {
        return Some(PathBuf::from(p));
    }
    crate::need::find("cargo-deb").or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        let p = home.join("bin/cargo-deb");
        p.is_file().then_some(p)
    })
}

/// The .deb to test: `$BATON_DEB`, else built once per test process from the debug binary
/// into `<target>/e2e-deb/`; a check for [`crate::need`] (cargo-deb may be missing).
pub fn deb() -> Check<PathBuf> {
    // Once: the tests of one binary run in parallel, and cargo-deb strips into one shared
    // file, `<target>/baton/baton.stripped-0.tmp`; two builds at once read each other's
    // half-written copy, and the package's /usr/bin/baton is then not an executable.
    static BUILT: std::sync::OnceLock<Check<PathBuf>> = std::sync::OnceLock::new();
    BUILT.get_or_init(build).clone()
}

fn build() -> Check<PathBuf> {
    if let Some(p) = std::env::var_os("BATON_DEB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "BATON_DEB={} is not a file", p.display());
        return Ok(p);
    }
    let tool = cargo_deb().ok_or_else(|| {
        Missing::new(
            "cargo-deb is not installed (it builds the package under test)",
            crate::need::install("cargo-deb"),
        )
    })?;
    let bin = crate::baton_bin();
    let target_dir = bin
        .parent()
        .and_then(Path::parent)
        .expect("<target>/debug/baton");
    let out_dir = target_dir.join("e2e-deb");
    // A package left by an earlier run must not be taken for this one.
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    ok(Command::new(tool)
        .current_dir(crate::repo_root())
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "-p",
            "baton",
            "--profile",
            "dev",
            "--no-build",
            "--fast",
            "-q",
            "-o",
        ])
        .arg(&out_dir));
    let deb = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo-deb wrote a .deb");
    Ok(deb)
}

/// One entry of a package's data archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path on the installed system, e.g. `/usr/bin/baton`.
    pub path: String,
    /// The mode string `dpkg-deb -c` shows, e.g. `-rwxr-xr-x`, `lrwxrwxrwx`, `drwxr-xr-x`.
    pub mode: String,
    /// A symlink's target.
    pub link: Option<String>,
}

/// Every entry of the package (`dpkg-deb -c`), directories included.
pub fn contents(deb: &Path) -> Vec<Entry> {
    let out = ok(Command::new("dpkg-deb").arg("-c").arg(deb));
    crate::stdout(&out)
        .lines()
        .map(|line| {
            // drwxr-xr-x 0/0 0 2026-01-01 00:00 ./usr/bin/[ -> target]
            let fields: Vec<&str> = line.splitn(6, char::is_whitespace).collect();
            let mode = fields[0].to_string();
            let rest = line.split(" ./").nth(1).expect("a ./path");
            let (path, link) = match rest.split_once(" -> ") {
                Some((p, l)) => (p, Some(l.to_string())),
                None => (rest, None),
            };
            Entry {
                path: format!("/{}", path.trim_end_matches('/')),
                mode,
                link,
            }
        })
        .collect()
}

/// `dpkg-deb -f <deb> <field>`.
pub fn field(deb: &Path, name: &str) -> String {
    let out = ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name));
    crate::stdout(&out).trim().to_string()
}
