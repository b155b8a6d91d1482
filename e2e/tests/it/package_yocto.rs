//! The Yocto recipe `deploy/yocto/baton_git.bb`, checked as far as possible without bitbake
//! (nothing here builds it): oelint-adv lints it with the generated crates file, every file
//! it installs exists in the repository, it installs the same files with the same modes as
//! the Debian package, and deploy/yocto/gen-crates-inc covers Cargo.lock exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Command;

use e2e::need;
use e2e::ok;

fn recipe() -> String {
    fs::read_to_string(e2e::repo_root().join("deploy/yocto/baton_git.bb")).unwrap()
}

fn crates_inc() -> String {
    let out = ok(&mut Command::new(
        e2e::repo_root().join("deploy/yocto/gen-crates-inc"),
    ));
    e2e::stdout(&out)
}

/// The body of `do_install:append() { ... }`.
fn do_install(recipe: &str) -> Vec<String> {
    let start = recipe
        .lines()
        .position(|l| l.trim() == "do_install:append() {")
        .expect("a do_install:append");
    recipe
        .lines()
        .skip(start + 1)
        .take_while(|l| l.trim() != "}")
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Expands the bitbake directory variables the recipe uses (poky's defaults with usrmerge;
/// `systemd_system_unitdir` is /usr/lib/systemd/system there, as in Debian 12).
fn expand(path: &str) -> String {
    let mut p = path.to_string();
    for (var, value) in [
        ("${D}", ""),
        ("${bindir}", "/usr/bin"),
        ("${datadir}", "/usr/share"),
        ("${sysconfdir}", "/etc"),
        ("${systemd_system_unitdir}", "/usr/lib/systemd/system"),
        ("${nonarch_libdir}", "/usr/lib"),
    ] {
        p = p.replace(var, value);
    }
    assert!(!p.contains("${"), "unknown variable in {path}");
    p
}

/// What the recipe installs: destination -> (mode, source relative to the repository), for
/// files; destination -> ("link", target) for links. The cargo class installs the binary.
fn installed_by_recipe() -> BTreeMap<String, (String, String)> {
    let mut map = BTreeMap::new();
    map.insert(
        "/usr/bin/baton".to_string(),
        ("0755".to_string(), "cargo".to_string()),
    );
    for line in do_install(&recipe()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["install", "-d", _dir] => {}
            ["install", "-m", mode, src, dest] => {
                let src = src
                    .strip_prefix("${S}/")
                    .unwrap_or_else(|| panic!("not from the source tree: {line}"));
                map.insert(expand(dest), (mode.to_string(), src.to_string()));
            }
            ["ln", "-sf", target, dest] => {
                map.insert(expand(dest), ("link".to_string(), target.to_string()));
            }
            _ => panic!("a do_install line this check does not understand: {line}"),
        }
    }
    map
}

#[test]
fn every_file_the_recipe_installs_exists_in_the_repository() {
    let installed = installed_by_recipe();
    assert!(installed.len() >= 8, "{installed:#?}");
    for (dest, (mode, src)) in &installed {
        if mode == "link" || src == "cargo" {
            continue;
        }
        let path = e2e::repo_root().join(src);
        assert!(path.is_file(), "{dest}: {} is missing", path.display());
        let exec = {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0
        };
        assert_eq!(exec, mode == "0755", "{src} is installed {mode}");
    }
    let text = recipe();
    for needed in [
        "SYSTEMD_SERVICE:${PN} = \"baton.service\"",
        "CONFFILES:${PN} = \"${sysconfdir}/mender-orchestrator/mender-orchestrator.conf\"",
        "include ${BPN}-crates.inc",
        "CARGO_SRC_DIR = \"controller\"",
    ] {
        assert!(text.contains(needed), "the recipe lacks {needed}");
    }
}

#[test]
fn the_recipe_installs_what_the_debian_package_installs() {
    if !need::have(need::tool("dpkg-deb")) {
        return;
    }
    let Some(deb) = need::require(e2e::package::deb()) else {
        return;
    };
    let deb: BTreeMap<String, String> = e2e::package::contents(&deb)
        .into_iter()
        .filter(|e| !e.mode.starts_with('d') && !e.path.starts_with("/usr/share/doc/"))
        .map(|e| {
            let mode = match (e.mode.as_str(), &e.link) {
                (_, Some(target)) => format!("link {target}"),
                ("-rwxr-xr-x", None) => "0755".to_string(),
                ("-rw-r--r--", None) => "0644".to_string(),
                (other, None) => other.to_string(),
            };
            (e.path, mode)
        })
        .collect();
    let yocto: BTreeMap<String, String> = installed_by_recipe()
        .into_iter()
        .map(|(dest, (mode, src))| {
            let mode = if mode == "link" {
                format!("link {src}")
            } else {
                mode
            };
            (dest, mode)
        })
        .collect();
    assert_eq!(yocto, deb);
}

/// `(name, version, checksum)` of every crates.io package in Cargo.lock.
fn locked_crates() -> BTreeSet<(String, String, String)> {
    let lock = fs::read_to_string(e2e::repo_root().join("Cargo.lock")).unwrap();
    let value = |block: &str, key: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .map(|v| v.trim_end_matches('"').to_string())
    };
    lock.split("[[package]]")
        .filter(|b| {
            value(b, "source").is_some_and(|s| {
                s.starts_with("registry+https://github.com/rust-lang/crates.io-index")
            })
        })
        .map(|b| {
            (
                value(b, "name").unwrap(),
                value(b, "version").unwrap(),
                value(b, "checksum").expect("a checksum"),
            )
        })
        .collect()
}

#[test]
fn the_crates_file_lists_every_locked_crate_with_its_checksum() {
    let inc = crates_inc();
    let uris: BTreeSet<String> = inc
        .lines()
        .filter_map(|l| l.split("crate://crates.io/").nth(1))
        .map(|rest| rest.trim_end_matches(['\\', ' ']).to_string())
        .collect();
    let sums: BTreeMap<String, String> = inc
        .lines()
        .filter_map(|l| l.strip_prefix("SRC_URI["))
        .map(|l| {
            let (key, value) = l.split_once("] = \"").expect("SRC_URI[...] = \"...\"");
            (
                key.trim_end_matches(".sha256sum").to_string(),
                value.trim_end_matches('"').to_string(),
            )
        })
        .collect();
    let locked = locked_crates();
    assert!(locked.len() > 100, "{}", locked.len());
    assert_eq!(uris.len(), locked.len());
    assert_eq!(sums.len(), locked.len());
    for (name, version, checksum) in &locked {
        assert!(
            uris.contains(&format!("{name}/{version}")),
            "{name} {version}"
        );
        assert_eq!(sums.get(&format!("{name}-{version}")), Some(checksum));
    }
}

#[test]
fn the_recipe_passes_oelint_adv() {
    let Some(oelint) = need::require(need::oelint_adv()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        e2e::repo_root().join("deploy/yocto/baton_git.bb"),
        dir.path().join("baton_git.bb"),
    )
    .unwrap();
    fs::write(dir.path().join("baton-crates.inc"), crates_inc()).unwrap();
    let out = Command::new(&oelint)
        .current_dir(dir.path())
        .args([
            "--quiet",
            "--release",
            "whinlatter",
            "--mode",
            "all",
            "--exit-zero",
        ])
        .arg("baton_git.bb")
        .output()
        .unwrap();
    let findings = format!("{}{}", e2e::stdout(&out), e2e::stderr(&out));
    let serious: Vec<&str> = findings
        .lines()
        .filter(|l| l.contains(":error:") || l.contains(":warning:"))
        .collect();
    assert!(serious.is_empty(), "oelint-adv:\n{}", serious.join("\n"));
    // It does read the recipe: a broken copy is reported.
    fs::write(
        dir.path().join("baton_git.bb"),
        recipe().replace("SECTION = \"admin\"", "SECTION = \"admin"),
    )
    .unwrap();
    let out = Command::new(&oelint)
        .current_dir(dir.path())
        .args(["--quiet", "--release", "whinlatter", "--exit-zero"])
        .arg("baton_git.bb")
        .output()
        .unwrap();
    assert!(
        format!("{}{}", e2e::stdout(&out), e2e::stderr(&out)).contains(":error:"),
        "oelint-adv did not notice an unbalanced quote"
    );
}
