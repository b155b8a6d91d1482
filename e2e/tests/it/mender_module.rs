//! baton's Update Module (`deploy/mender/mender-orchestrator-manifest`) driven by Debian's
//! Mender client 3.4 in a private mount namespace (root, `unshare -m` and the Mender tools:
//! `e2e::mender::sandbox`).
//!
//! The scenarios are shared with the official module's tests (`mender_official`), which
//! run them with `Module::Other`.

use e2e::fixture::{keys, MenderRig};
use e2e::mender::{transcript, Module, REBOOT_EXIT};
use e2e::need;

pub(crate) type Entries = [(&'static str, &'static str, u8)];

pub(crate) const V1: &Entries = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v1", 20)];
/// The gateway stays on v1: a desired state, so it must not be touched.
const V2: &Entries = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v2", 20)];
/// Both component types change.
const V2_BOTH: &Entries = &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)];

#[test]
fn installs_manifest_v1_then_v2() {
    v1_then_v2(Module::Baton);
}

#[test]
fn a_failed_commit_rolls_every_component_back() {
    commit_failure_rolls_back(Module::Baton);
}

#[test]
fn a_host_reboot_exits_with_the_reboot_code_then_commit_completes() {
    reboot_then_commit(Module::Baton);
}

#[test]
fn signed_artifacts_install_and_an_unsigned_component_is_refused() {
    signatures(Module::Baton);
}

/// Manifest v1 then v2 over a System at v0: each installs and commits through the client;
/// the gateway, already on v1, is not touched by v2.
pub(crate) fn v1_then_v2(module: Module) {
    let Some(rig) = MenderRig::new(module, None) else {
        return;
    };
    rig.artifacts(
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
pub(crate) fn commit_failure_rolls_back(module: Module) {
    let Some(rig) = MenderRig::new(module, None) else {
        return;
    };
    rig.artifacts(
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
        rig.system.call_log("GW1")
    );
    for id in ["GW1", "RT1", "RT2"] {
        assert!(
            rig.system
                .calls_of(id, "ArtifactRollback")
                .iter()
                .any(|l| l.ends_with("-v2 ok")),
            "{id} was not rolled back: {:?}",
            rig.system.call_log(id)
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
pub(crate) fn reboot_then_commit(module: Module) {
    let Some(rig) = MenderRig::new(module, None) else {
        return;
    };
    rig.artifacts(&[("gateway", "gateway-v1"), ("rtos", "rtos-v1")], None);
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
pub(crate) fn signatures(module: Module) {
    if !need::have(need::tool("openssl")) {
        return;
    }
    let keys_dir = tempfile::tempdir().unwrap();
    let (private, public) = keys::ec(keys_dir.path(), "ec");
    let Some(rig) = MenderRig::new(module, Some(&public)) else {
        return;
    };
    let key = Some(private.as_path());
    rig.artifacts(
        &[
            ("gateway", "gateway-v1"),
            ("rtos", "rtos-v1"),
            ("gateway", "gateway-v2"),
        ],
        key,
    );
    rig.artifacts(&[("rtos", "rtos-v2")], None);

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
            .call_log(id)
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
