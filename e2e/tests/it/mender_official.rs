//! The official `mender-orchestrator-manifest` Update Module (mendersoftware/
//! mender-orchestrator-support, `modules/mender-orchestrator-manifest/module/v3/`) driving
//! baton as `mender-orchestrator`, through the same scenarios as baton's own module.
//!
//! The module is neither packaged in Debian nor vendored here: the tests need its path in
//! `BATON_OFFICIAL_MODULE` (`.ci/run` sets it), see `e2e::need::official_module`.

use e2e::mender::Module;
use e2e::need;

pub(crate) fn official() -> Option<Module> {
    need::require(need::official_module()).map(Module::Other)
}

#[test]
fn official_module_installs_manifest_v1_then_v2() {
    if let Some(m) = official() {
        crate::mender_module::v1_then_v2(m);
    }
}

#[test]
fn official_module_a_failed_commit_rolls_every_component_back() {
    if let Some(m) = official() {
        crate::mender_module::commit_failure_rolls_back(m);
    }
}

#[test]
fn official_module_a_host_reboot_then_commit() {
    if let Some(m) = official() {
        crate::mender_module::reboot_then_commit(m);
    }
}

#[test]
fn official_module_signed_artifacts() {
    if let Some(m) = official() {
        crate::mender_module::signatures(m);
    }
}
