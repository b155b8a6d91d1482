//! The Debian package: what it holds, and a real install, remove and purge with dpkg on a
//! clean system.
//!
//! The clean system is this machine's Debian seen through an overlay: in a private mount
//! namespace, `/` is the lower layer of an overlayfs whose upper layer is a fresh tmpfs, and
//! dpkg runs chrooted into it. So the install resolves dependencies against a real Debian
//! with baton absent, runs the real maintainer scripts, and every byte it writes lands in the
//! upper layer, which is then the exact record of what the package left behind; the host is
//! never touched. (A debootstrap root would need a mirror and minutes; this takes seconds.)
//! Needs root, a private mount namespace with overlayfs, dpkg-deb and cargo-deb (see
//! `e2e::need`).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use e2e::need::{self, Missing};
use e2e::package::{self, Entry};
use e2e::{ok, run};

/// Runs in the new mount namespace: `$1` holds pkg/baton.deb, w/ (the overlay) and out/.
/// Each step writes <step>.log and <step>.rc; each listing, the upper layer as
/// `<type> <path> <link target>` lines. Exit 77: the overlay cannot be set up here.
const SCRIPT: &str = r#"
set -u
T=$1
OUT=$T/out
W=$T/w
mount -t tmpfs tmpfs "$W" || exit 77
mkdir "$W/up" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/up,workdir=$W/work" "$W/root" || exit 77
mount --rbind /dev "$W/root/dev" || exit 77
mount -t proc proc "$W/root/proc" || exit 77
mkdir -p "$W/root/baton-pkg" && mount --bind "$T/pkg" "$W/root/baton-pkg" || exit 77
in_root() { chroot "$W/root" "$@"; }
step() { name=$1; shift; "$@" >"$OUT/$name.log" 2>&1; echo $? >"$OUT/$name.rc"; }
listing() { (cd "$W/up" && find . -mindepth 1 -printf '%y %P %l\n' | sort) >"$OUT/$1.list"; }
step before in_root sh -c 'command -v baton'
step install in_root dpkg -i /baton-pkg/baton.deb
step version in_root baton --version
step alias in_root mender-orchestrator --version
step verify in_root systemd-analyze verify /usr/lib/systemd/system/baton.service
listing installed
step remove in_root dpkg -r baton
listing removed
step purge in_root dpkg --purge baton
listing purged
"#;

struct Run {
    out: std::path::PathBuf,
}

impl Run {
    fn rc(&self, step: &str) -> i32 {
        fs::read_to_string(self.out.join(format!("{step}.rc")))
            .unwrap_or_else(|e| panic!("step {step} did not run: {e}"))
            .trim()
            .parse()
            .unwrap()
    }

    fn log(&self, step: &str) -> String {
        fs::read_to_string(self.out.join(format!("{step}.log"))).unwrap_or_default()
    }

    fn expect_ok(&self, step: &str) -> String {
        let log = self.log(step);
        assert_eq!(self.rc(step), 0, "{step} failed:\n{log}");
        log
    }

    /// `(type, path, link target)` of everything in the overlay's upper layer.
    fn listing(&self, name: &str) -> Vec<(char, String, String)> {
        fs::read_to_string(self.out.join(format!("{name}.list")))
            .unwrap()
            .lines()
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                let t = it.next().unwrap().chars().next().unwrap();
                let p = it.next().unwrap().to_string();
                let target = it.next().unwrap_or("").to_string();
                (t, format!("/{p}"), target)
            })
            .collect()
    }

    fn files(&self, name: &str) -> BTreeSet<String> {
        self.listing(name)
            .into_iter()
            .filter(|(t, _, _)| *t != 'd')
            .map(|(_, p, _)| p)
            .collect()
    }
}

/// What dpkg and this test's own commands write outside the package: its database and log,
/// and /run (a tmpfs on a real system).
fn bookkeeping(path: &str) -> bool {
    path.starts_with("/var/lib/dpkg/")
        || path == "/var/log/dpkg.log"
        || path.starts_with("/run/")
        || path == "/run"
        || path == "/baton-pkg"
}

#[test]
fn the_package_holds_the_binary_the_unit_the_mender_pieces_and_the_reference_interfaces() {
    if !need::have(need::tool("dpkg-deb")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(deb) = need::require(package::deb()) else {
        return;
    };
    let entries = package::contents(&deb);
    let find = |p: &str| -> &Entry {
        entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} is not in the package: {entries:#?}"))
    };
    for (path, mode) in [
        ("/usr/bin/baton", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/baton.service", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/baton.conf", "-rw-r--r--"),
        (
            "/etc/mender-orchestrator/mender-orchestrator.conf",
            "-rw-r--r--",
        ),
        (
            "/usr/share/mender-orchestrator/interfaces/v1/directory",
            "-rwxr-xr-x",
        ),
        (
            "/usr/share/mender-orchestrator/interfaces/v1/update-module",
            "-rwxr-xr-x",
        ),
        (
            "/usr/share/mender/modules/v3/mender-orchestrator-manifest",
            "-rwxr-xr-x",
        ),
        (
            "/usr/share/mender/inventory/mender-inventory-baton",
            "-rwxr-xr-x",
        ),
        ("/usr/share/doc/baton/copyright", "-rw-r--r--"),
    ] {
        assert_eq!(find(path).mode, mode, "{path}");
    }
    assert_eq!(
        find("/usr/bin/mender-orchestrator").link.as_deref(),
        Some("baton")
    );
    // The mock Interface is a test double (fault markers, no real install): never shipped.
    assert!(
        !entries
            .iter()
            .any(|e| e.path.ends_with("/interfaces/v1/mock")),
        "the mock Interface must not be packaged"
    );
    // The packaged files are the repository's, byte for byte.
    let extracted = dir.path().join("x");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));
    for (packaged, source) in [
        (
            "usr/share/mender/modules/v3/mender-orchestrator-manifest",
            "deploy/mender/mender-orchestrator-manifest",
        ),
        (
            "usr/share/mender/inventory/mender-inventory-baton",
            "deploy/mender/mender-inventory-baton",
        ),
        (
            "usr/lib/systemd/system/baton.service",
            "deploy/systemd/baton.service",
        ),
        (
            "usr/lib/tmpfiles.d/baton.conf",
            "deploy/systemd/baton.tmpfile",
        ),
        (
            "etc/mender-orchestrator/mender-orchestrator.conf",
            "deploy/config/mender-orchestrator.conf",
        ),
        (
            "usr/share/mender-orchestrator/interfaces/v1/directory",
            "interfaces/directory",
        ),
        (
            "usr/share/mender-orchestrator/interfaces/v1/update-module",
            "interfaces/update-module",
        ),
    ] {
        assert_eq!(
            fs::read(extracted.join(packaged)).unwrap(),
            fs::read(e2e::repo_root().join(source)).unwrap(),
            "{packaged}"
        );
    }

    assert!(package::field(&deb, "Depends").contains("libc6"));
    let conflicts = package::field(&deb, "Conflicts");
    assert!(
        conflicts.contains("mender-orchestrator-core"),
        "{conflicts}"
    );
    let control = dir.path().join("control");
    ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    assert_eq!(
        fs::read_to_string(control.join("conffiles"))
            .unwrap()
            .trim(),
        "/etc/mender-orchestrator/mender-orchestrator.conf"
    );
    // Upgrades never stop or restart the service (an Interface of baton may be running
    // the upgrade); removal stops it.
    let prerm = fs::read_to_string(control.join("prerm")).unwrap();
    assert!(prerm.contains(r#""$1" = remove"#), "{prerm}");
    let postinst = fs::read_to_string(control.join("postinst")).unwrap();
    assert!(!postinst.contains("restart"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper enable baton.service"));
}

#[test]
fn installs_on_a_clean_system_runs_and_removes_cleanly() {
    // systemd-analyze verifies the installed unit inside the overlay.
    let needs = need::all([
        need::tools(&["dpkg-deb", "systemd-analyze"]),
        need::mount_namespace(),
    ]);
    if !need::have(needs) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    for d in ["pkg", "w", "out"] {
        fs::create_dir(t.join(d)).unwrap();
    }
    let Some(deb) = need::require(package::deb()) else {
        return;
    };
    fs::copy(&deb, t.join("pkg/baton.deb")).unwrap();
    fs::write(t.join("run.sh"), SCRIPT).unwrap();
    let status = run(Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh"])
        .arg(t.join("run.sh"))
        .arg(t));
    if status.status.code() == Some(77) {
        let why = Missing::new(
            format!("no overlay of / here: {}", e2e::stderr(&status).trim()),
            "run as root where tmpfs and overlayfs mounts are allowed (a VM, or a \
             privileged container)",
        );
        if !need::have(Err::<(), _>(why)) {
            return;
        }
    }
    assert!(status.status.success(), "{}", e2e::stderr(&status));
    let r = Run { out: t.join("out") };

    assert_ne!(
        r.rc("before"),
        0,
        "baton is already installed: not a clean system"
    );
    r.expect_ok("install");
    let version = format!("baton {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(r.expect_ok("version").trim(), version);
    assert_eq!(r.expect_ok("alias").trim(), version, "mender-orchestrator");
    let log = r.expect_ok("verify");
    assert!(log.trim().is_empty(), "systemd-analyze verify: {log}");

    let shipped: BTreeSet<String> = package::contents(&deb)
        .into_iter()
        .filter(|e| !e.mode.starts_with('d'))
        .map(|e| e.path)
        .collect();
    let installed = r.files("installed");
    let missing: Vec<_> = shipped.difference(&installed).collect();
    assert!(missing.is_empty(), "not installed: {missing:?}");
    assert!(
        installed.contains("/etc/systemd/system/multi-user.target.wants/baton.service"),
        "the unit is not enabled: {installed:#?}"
    );

    // Removed: only the conffile stays (Debian policy), and systemd's masking of the unit.
    r.expect_ok("remove");
    let removed = r.files("removed");
    let conffile = "/etc/mender-orchestrator/mender-orchestrator.conf";
    assert!(removed.contains(conffile));
    let still: Vec<_> = shipped
        .iter()
        .filter(|p| *p != conffile && removed.contains(*p))
        .collect();
    assert!(still.is_empty(), "left after dpkg -r: {still:?}");

    // Purged: nothing of the package is left; directories it created are gone.
    r.expect_ok("purge");
    let leftovers: Vec<String> = r
        .listing("purged")
        .into_iter()
        .filter(|(_, p, _)| !bookkeeping(p))
        // A directory that also exists on the host was only copied up (its mtime changed).
        .filter(|(t, p, _)| !(*t == 'd' && Path::new(p).is_dir()))
        .map(|(t, p, l)| format!("{t} {p} {l}"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left after dpkg --purge:\n{}",
        leftovers.join("\n")
    );
}
