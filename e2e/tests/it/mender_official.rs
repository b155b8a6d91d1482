//! The official `mender-orchestrator-manifest` Update Module (mendersoftware/
//! mender-orchestrator-support, `modules/mender-orchestrator-manifest/module/v3/`) driving
//! baton as `mender-orchestrator`, through the same scenarios as baton's own module.
//!
//! The module is not packaged in Debian and is not vendored here, so the test needs its path
//! in `BATON_OFFICIAL_MODULE`; without it, each test prints a SKIP line and passes.

use std::path::PathBuf;

use e2e::mender::Module;

pub(crate) fn official() -> Option<Module> {
    match std::env::var_os("BATON_OFFICIAL_MODULE") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "BATON_OFFICIAL_MODULE={} is not a file",
                p.display()
            );
            Some(Module::Other(p))
        }
        _ => {
            eprintln!(
                "\n*** SKIPPING the official Update Module test: set BATON_OFFICIAL_MODULE to a \
                 copy of mender-orchestrator-support's modules/mender-orchestrator-manifest/\
                 module/v3/mender-orchestrator-manifest (it is not packaged in Debian and is \
                 not vendored in this repository) ***\n"
            );
            None
        }
    }
}

#[test]
fn official_module_installs_manifest_v1_then_v2() {
    if let Some(m) = official() {
        crate::mender_common::v1_then_v2(m);
    }
}

#[test]
fn official_module_a_failed_commit_rolls_every_component_back() {
    if let Some(m) = official() {
        crate::mender_common::commit_failure_rolls_back(m);
    }
}

#[test]
fn official_module_a_host_reboot_then_commit() {
    if let Some(m) = official() {
        crate::mender_common::reboot_then_commit(m);
    }
}

#[test]
fn official_module_signed_artifacts() {
    if let Some(m) = official() {
        crate::mender_common::signatures(m);
    }
}
