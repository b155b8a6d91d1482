//! The Mender client scenarios, shared by baton's own Update Module (`mender_module.rs`) and
//! the official one (`mender_official.rs`): the Debian Mender client 3.4 installs manifest
//! Artifacts made by Debian's mender-artifact over a System of mock components whose
//! Artifacts come from a local directory source.

use std::path::{Path, PathBuf};

use e2e::mender::{self, transcript, HostDirs, Mender, Module, REBOOT_EXIT};
use e2e::system::System;

/// The Topology's system_type, and the Mender client's device type. They differ on purpose:
/// the Go 3.4 client knows no system tier and checks a manifest Artifact against its device
/// type.
pub const SYSTEM_TYPE: &str = "sys-core";
pub const DEVICE_TYPE: &str = "gateway-board";

pub type Entries = [(&'static str, &'static str, u8)];

pub const V1: &Entries = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v1", 20)];
/// The gateway stays on v1: a desired state, so it must not be touched.
pub const V2: &Entries = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v2", 20)];
/// Both component types change.
pub const V2_BOTH: &Entries = &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)];

/// A System (a gateway and two rtos boards), a sandboxed Mender client with `module`, and a
/// snapshot of the host's Mender directories.
pub struct Rig {
    pub system: System,
    pub mender: Mender,
    pub module: Module,
    host: HostDirs,
}

impl Rig {
    /// None when the sandbox cannot run here (see `e2e::need`: a failure in strict mode).
    pub fn new(module: Module, verify_key: Option<&Path>) -> Option<Rig> {
        if !e2e::need::have(mender::sandbox()) {
            return None;
        }
        let host = HostDirs::snapshot();
        let system = System::new(
            SYSTEM_TYPE,
            &[("gateway", "GW1"), ("rtos", "RT1"), ("rtos", "RT2")],
        );
        if let Some(k) = verify_key {
            system.configure(serde_json::json!({ "ArtifactVerifyKey": k }));
        }
        let mender = Mender::new(DEVICE_TYPE, &module, system.env(), verify_key);
        Some(Rig {
            system,
            mender,
            module,
            host,
        })
    }

    /// The manifest Artifact for `entries`, named like the Manifest.
    pub fn manifest_artifact(&self, name: &str, entries: &Entries, key: Option<&Path>) -> PathBuf {
        let manifest = self.system.manifest(name, entries);
        mender::manifest_artifact(&manifest, name, DEVICE_TYPE, key)
    }

    /// `mender install` then `mender commit`, both succeeding; then checks that Mender and
    /// baton agree with the Manifest.
    pub fn deploy(&self, name: &str, entries: &Entries, key: Option<&Path>) {
        let artifact = self.manifest_artifact(name, entries, key);
        let out = self.mender.install(&artifact);
        assert_eq!(
            out.status.code(),
            Some(0),
            "mender install {name}:\n{}",
            transcript(&out)
        );
        assert!(
            e2e::stdout(&out).contains("Use 'commit' to update"),
            "the module supports rollback, so the client waits for a commit:\n{}",
            transcript(&out)
        );
        let out = self.mender.run(&["commit"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "mender commit {name}:\n{}",
            transcript(&out)
        );
        self.assert_deployed(name, entries);
    }

    /// Mender's provides name the manifest Artifact; baton's name each component's Artifact.
    pub fn assert_deployed(&self, name: &str, entries: &Entries) {
        let mender = self.mender.provides();
        assert_eq!(mender.get("artifact_name").map(String::as_str), Some(name));
        assert_eq!(
            mender
                .get("data-partition.mender-orchestrator-manifest.version")
                .map(String::as_str),
            Some(name),
            "{mender:?}"
        );
        assert_eq!(
            self.system.baton_provides(),
            self.system.expected_provides(entries)
        );
        self.assert_nothing_in_progress();
    }

    /// No deployment is left in baton's journal: `resume` has nothing to do.
    pub fn assert_nothing_in_progress(&self) {
        let out = e2e::system::run(self.system.baton().arg("resume"));
        assert_eq!(
            out.status.code(),
            Some(2),
            "a deployment is still in progress:\n{}",
            transcript(&out)
        );
    }

    pub fn versions(&self, gw: &str, rt: &str) -> Vec<(String, String)> {
        vec![
            ("GW1".into(), gw.into()),
            ("RT1".into(), rt.into()),
            ("RT2".into(), rt.into()),
        ]
    }

    pub fn assert_versions(&self, gw: &str, rt: &str) {
        assert_eq!(
            self.system.versions().into_iter().collect::<Vec<_>>(),
            self.versions(gw, rt)
        );
    }

    /// The host's Mender directories are as the test found them.
    pub fn finish(self) {
        self.host.assert_unchanged();
    }
}

/// Component Artifacts for the mock Interface, in the directory source.
fn artifacts(rig: &Rig, names: &[(&str, &str)], key: Option<&Path>) {
    for (ctype, name) in names {
        rig.system.component_artifact(ctype, name, key);
    }
}

/// Manifest v1 then v2 over a System at v0: each installs and commits through the client;
/// the gateway, already on v1, is not touched by v2.
pub fn v1_then_v2(module: Module) {
    let Some(rig) = Rig::new(module, None) else {
        return;
    };
    artifacts(
        &rig,
        &[
            ("gateway", "gateway-v1"),
            ("rtos", "rtos-v1"),
            ("rtos", "rtos-v2"),
        ],
        None,
    );
    rig.assert_versions("gateway-v0", "rtos-v0");

    rig.deploy("sys-v1", V1, None);
    rig.assert_versions("gateway-v1", "rtos-v1");

    rig.deploy("sys-v2", V2, None);
    rig.assert_versions("gateway-v1", "rtos-v2");
    assert_eq!(
        rig.system.calls_of("GW1", "ArtifactInstall"),
        vec!["ArtifactInstall gateway gateway-v1 ok"],
        "the gateway already ran gateway-v1: v2 must not touch it"
    );
    assert!(!rig.system.reboot_log().exists(), "baton tried to reboot");
    rig.finish();
}

/// One rtos board fails ArtifactCommit: the client reports failure and every component is
/// back on v1, including the gateway whose own commit had succeeded.
pub fn commit_failure_rolls_back(module: Module) {
    let Some(rig) = Rig::new(module, None) else {
        return;
    };
    artifacts(
        &rig,
        &[
            ("gateway", "gateway-v1"),
            ("rtos", "rtos-v1"),
            ("gateway", "gateway-v2"),
            ("rtos", "rtos-v2"),
        ],
        None,
    );
    rig.deploy("sys-v1", V1, None);

    rig.system.set("RT2", "ArtifactCommit.FAIL", "");
    let artifact = rig.manifest_artifact("sys-v2", V2_BOTH, None);
    let out = rig.mender.install(&artifact);
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    let out = rig.mender.run(&["commit"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the client must report the failed commit:\n{}",
        transcript(&out)
    );

    rig.assert_versions("gateway-v1", "rtos-v1");
    assert!(
        rig.system
            .calls_of("GW1", "ArtifactCommit")
            .contains(&"ArtifactCommit gateway gateway-v2 ok".to_string()),
        "the gateway committed before the rtos board failed: {:?}",
        rig.system.calls("GW1")
    );
    for id in ["GW1", "RT1", "RT2"] {
        assert!(
            rig.system
                .calls_of(id, "ArtifactRollback")
                .iter()
                .any(|l| l.ends_with("-v2 ok")),
            "{id} was not rolled back: {:?}",
            rig.system.calls(id)
        );
    }
    assert_eq!(rig.mender.artifact_name(), "sys-v1");
    rig.system.unset("RT2", "ArtifactCommit.FAIL");
    assert_eq!(
        rig.system.baton_provides(),
        rig.system.expected_provides(V1)
    );
    rig.assert_nothing_in_progress();
    rig.finish();
}

/// The gateway needs the host rebooted (`Automatic`): the client exits with the reboot code
/// before any rtos board is touched; after the reboot, `commit` completes the deployment.
pub fn reboot_then_commit(module: Module) {
    let Some(rig) = Rig::new(module, None) else {
        return;
    };
    artifacts(
        &rig,
        &[("gateway", "gateway-v1"), ("rtos", "rtos-v1")],
        None,
    );
    rig.system.set("GW1", "NeedsArtifactReboot", "Automatic\n");

    let artifact = rig.manifest_artifact("sys-v1", V1, None);
    let out = rig.mender.install(&artifact);
    assert_eq!(
        out.status.code(),
        Some(REBOOT_EXIT),
        "the client must ask for a reboot:\n{}",
        transcript(&out)
    );
    // The gateway is installed, not committed; the rtos order group waits for the reboot.
    rig.assert_versions("gateway-v0", "rtos-v0");
    assert_eq!(rig.system.calls_of("GW1", "ArtifactInstall").len(), 1);
    assert!(rig.system.calls_of("RT1", "Download").is_empty());

    rig.system.reboot();
    let out = rig.mender.run(&["commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    rig.assert_versions("gateway-v1", "rtos-v1");
    assert_eq!(
        rig.system.calls_of("GW1", "ArtifactVerifyReboot"),
        vec!["ArtifactVerifyReboot gateway gateway-v1 ok"]
    );
    assert!(
        !rig.system.reboot_log().exists(),
        "baton rebooted the host itself instead of leaving it to the Mender client"
    );
    rig.assert_deployed("sys-v1", V1);
    rig.finish();
}

/// With `ArtifactVerifyKey` set (in the client and in baton): an unsigned manifest Artifact
/// is refused by the client; a signed one with signed component Artifacts installs; a signed
/// one naming an unsigned component Artifact is refused before any component changes.
pub fn signatures(module: Module) {
    if !e2e::need::have(e2e::need::tool("openssl")) {
        return;
    }
    let keys_dir = tempfile::tempdir().unwrap();
    let (private, public) = mender::ec_keys(keys_dir.path());
    let Some(rig) = Rig::new(module, Some(&public)) else {
        return;
    };
    let key = Some(private.as_path());
    artifacts(
        &rig,
        &[
            ("gateway", "gateway-v1"),
            ("rtos", "rtos-v1"),
            ("gateway", "gateway-v2"),
        ],
        key,
    );
    artifacts(&rig, &[("rtos", "rtos-v2")], None);

    let unsigned = rig.manifest_artifact("sys-v1-unsigned", V1, None);
    let out = rig.mender.install(&unsigned);
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    assert!(
        transcript(&out).contains("expecting signed artifact"),
        "{}",
        transcript(&out)
    );
    assert!(rig.system.calls_of("GW1", "Download").is_empty());

    rig.deploy("sys-v1", V1, key);
    rig.assert_versions("gateway-v1", "rtos-v1");

    let artifact = rig.manifest_artifact("sys-v2", V2_BOTH, key);
    let out = rig.mender.install(&artifact);
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("rtos-v2.mender") && text.contains("unsigned"),
        "the refusal must name the unsigned Artifact:\n{text}"
    );
    rig.assert_versions("gateway-v1", "rtos-v1");
    for id in ["GW1", "RT1", "RT2"] {
        let touched: Vec<String> = rig
            .system
            .calls(id)
            .into_iter()
            .filter(|l| l.contains("-v2 "))
            .collect();
        assert!(touched.is_empty(), "{id} was touched: {touched:?}");
    }
    if rig.module.is_baton() {
        // Nothing was changed, so nothing is inconsistent.
        assert_eq!(rig.mender.artifact_name(), "sys-v1");
    } else {
        eprintln!(
            "the client reports after the refused install: {}",
            rig.mender.artifact_name()
        );
    }
    rig.assert_nothing_in_progress();
    rig.finish();
}
