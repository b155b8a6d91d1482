//! baton's Update Module (`deploy/mender/mender-orchestrator-manifest`) driven by Debian's
//! Mender client 3.4 in a private mount namespace (root, `unshare -m` and the Mender tools:
//! `e2e::mender::sandbox`).

use e2e::mender::Module;

#[test]
fn installs_manifest_v1_then_v2() {
    crate::mender_common::v1_then_v2(Module::Baton);
}

#[test]
fn a_failed_commit_rolls_every_component_back() {
    crate::mender_common::commit_failure_rolls_back(Module::Baton);
}

#[test]
fn a_host_reboot_exits_with_the_reboot_code_then_commit_completes() {
    crate::mender_common::reboot_then_commit(Module::Baton);
}

#[test]
fn signed_artifacts_install_and_an_unsigned_component_is_refused() {
    crate::mender_common::signatures(Module::Baton);
}
