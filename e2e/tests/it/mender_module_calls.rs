//! baton's Update Module driven directly, state by state, in the order the C++ Mender client
//! (mender-update 4.x/5.x, not packaged in Debian) calls it: `NeedsArtifactReboot` and
//! `SupportsRollback` after `ArtifactInstall`, `ArtifactVerifyReboot` after the reboot. Also
//! the module's own rules: which payloads it accepts, its query answers, and that later
//! states leave alone a deployment this update did not start. Needs no root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::fixture::System;
use e2e::need;
use e2e::run;

/// One Update Module file tree (`<datastore>/modules/v3/payloads/0000/tree`).
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// A tree whose files/ holds `payloads` (name, content), as the client leaves it when
    /// the module did not read the streams in Download.
    fn new(payloads: &[(&str, &str)]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["files", "tmp", "header"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("version"), "3\n").unwrap();
        for (name, content) in payloads {
            fs::write(dir.path().join("files").join(name), content).unwrap();
        }
        Tree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Calls the module in `state`, with the System's environment, from the tree.
    fn call(&self, system: &System, state: &str) -> Output {
        run(Command::new(module())
            .arg(state)
            .arg(self.path())
            .current_dir(self.path())
            .envs(system.env()))
    }

    /// Calls `state`; it must exit 0. Returns stdout, trimmed.
    fn ok(&self, system: &System, state: &str) -> String {
        let out = self.call(system, state);
        assert!(
            out.status.success(),
            "{state} failed:\n{}",
            e2e::stderr(&out)
        );
        e2e::stdout(&out).trim().to_string()
    }
}

fn module() -> PathBuf {
    e2e::repo_root().join("deploy/mender/mender-orchestrator-manifest")
}

const V1: &[(&str, &str, u8)] = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v1", 20)];

fn system_with_v1_artifacts() -> System {
    let system = System::under_mender("sys-core", &[("gateway", "GW1"), ("rtos", "RT1")]);
    system.mender_artifact("gateway", "gateway-v1", None);
    system.mender_artifact("rtos", "rtos-v1", None);
    system
}

fn manifest_tree(system: &System, name: &str) -> Tree {
    let manifest = fs::read_to_string(system.manifest(name, V1)).unwrap();
    Tree::new(&[(&format!("{name}.yaml"), &manifest)])
}

/// baton's `resume` exit code: 2 when no deployment is in progress.
fn resume_code(system: &System, args: &[&str]) -> Option<i32> {
    run(system.baton_from_env().arg("resume").args(args))
        .status
        .code()
}

#[test]
fn cpp_client_order_with_an_automatic_reboot() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let system = system_with_v1_artifacts();
    system.set("GW1", "NeedsArtifactReboot", "Automatic\n");
    let tree = manifest_tree(&system, "sys-v1");

    assert_eq!(tree.ok(&system, "ProvidePayloadFileSizes"), "No");
    assert_eq!(tree.ok(&system, "Download"), "");
    assert_eq!(
        tree.ok(&system, "ArtifactInstall"),
        "",
        "query answers only on stdout"
    );
    // Asked only now by the 4.x/5.x client.
    assert_eq!(tree.ok(&system, "NeedsArtifactReboot"), "Automatic");
    assert_eq!(tree.ok(&system, "SupportsRollback"), "Yes");
    assert_eq!(system.version("GW1"), "gateway-v0");

    // The client reboots the host (Automatic), then verifies and commits.
    system.reboot();
    assert_eq!(tree.ok(&system, "ArtifactVerifyReboot"), "");
    tree.ok(&system, "ArtifactCommit");
    assert_eq!(system.version("GW1"), "gateway-v1");
    assert_eq!(system.version("RT1"), "rtos-v1");
    // Repeated after a crash of the client: still a success, baton not asked again.
    tree.ok(&system, "ArtifactCommit");
    tree.ok(&system, "Cleanup");
    assert_eq!(resume_code(&system, &[]), Some(2), "Cleanup finished it");
    assert!(!system.reboot_log().exists());
}

#[test]
fn without_a_reboot_the_answer_is_no() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let system = system_with_v1_artifacts();
    let tree = manifest_tree(&system, "sys-v1");
    tree.ok(&system, "ArtifactInstall");
    assert_eq!(tree.ok(&system, "NeedsArtifactReboot"), "No");
}

#[test]
fn a_refused_manifest_fails_install_and_rolls_back_cleanly() {
    // No component Artifacts at all: baton refuses the Manifest before touching anything.
    let system = System::under_mender("sys-core", &[("gateway", "GW1"), ("rtos", "RT1")]);
    let tree = manifest_tree(&system, "sys-v1");
    let out = tree.call(&system, "ArtifactInstall");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        e2e::stderr(&out).contains("not found"),
        "{}",
        e2e::stderr(&out)
    );
    assert_eq!(tree.ok(&system, "SupportsRollback"), "Yes");
    tree.ok(&system, "ArtifactRollback");
    tree.ok(&system, "ArtifactFailure");
    tree.ok(&system, "Cleanup");
    assert!(system.calls_of("GW1", "ArtifactInstall").is_empty());
    assert_eq!(system.version("GW1"), "gateway-v0");
}

#[test]
fn later_states_leave_alone_a_deployment_this_update_did_not_start() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let system = system_with_v1_artifacts();
    // Someone else's deployment, paused before its commit.
    let manifest = system.manifest("other", V1);
    let out = run(system
        .baton()
        .args(["install", "--stop-before", "ArtifactCommit"])
        .arg(&manifest));
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));

    // This update's Download failed: the client calls only Cleanup. Or the module refused
    // the payload: ArtifactRollback, ArtifactFailure, Cleanup.
    let tree = Tree::new(&[("a.yaml", "x"), ("b.yaml", "y")]);
    let out = tree.call(&system, "ArtifactInstall");
    assert_eq!(out.status.code(), Some(1));
    assert!(e2e::stderr(&out).contains("exactly one payload file"));
    for state in ["ArtifactRollback", "ArtifactFailure", "Cleanup"] {
        tree.ok(&system, state);
    }
    assert!(system.calls_of("GW1", "ArtifactRollback").is_empty());
    assert!(system.calls_of("GW1", "ArtifactCommit").is_empty());
    // Still paused where its owner left it.
    assert_eq!(
        resume_code(&system, &["--stop-before", "ArtifactCommit"]),
        Some(0)
    );
}

#[test]
fn the_payload_must_be_one_yaml_file() {
    let system = System::under_mender("sys-core", &[("gateway", "GW1")]);
    for (payloads, why) in [
        (vec![], "found 0"),
        (vec![("manifest.json", "{}")], "is not a Manifest"),
        (vec![("m.yaml", "x"), ("n.yml", "y")], "found 2"),
    ] {
        let tree = Tree::new(&payloads);
        let out = tree.call(&system, "ArtifactInstall");
        assert_eq!(out.status.code(), Some(1), "{payloads:?}");
        assert!(e2e::stderr(&out).contains(why), "{}", e2e::stderr(&out));
        assert!(!tree.path().join("tmp/baton-started").exists());
    }
}

#[test]
fn queries_and_unknown_states() {
    let system = System::under_mender("sys-core", &[("gateway", "GW1")]);
    let tree = Tree::new(&[]);
    // Nothing recorded: a reboot is the safe answer.
    assert_eq!(tree.ok(&system, "NeedsArtifactReboot"), "Automatic");
    assert_eq!(tree.ok(&system, "SupportsRollback"), "Yes");
    for state in [
        "ArtifactReboot",
        "ArtifactRollbackReboot",
        "ArtifactVerifyRollbackReboot",
        "SupportsAugmentedArtifacts",
        "NoSuchState",
    ] {
        assert_eq!(tree.ok(&system, state), "", "{state}");
    }
}
