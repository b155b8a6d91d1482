//! The process environment, behind a trait so tests inject values instead of mutating the
//! real (process-global) environment.

use std::collections::BTreeMap;

/// Read-only access to environment variables.
pub trait Env {
    /// The variable's value; None when unset. An empty value counts as unset, as in Mender.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real environment of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

impl Env for [(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    }
}

/// Mender Orchestrator's variables, with Mender's meanings (mender-docs, Orchestrate updates >
/// Configuration > Environment variables).
pub mod vars {
    /// Directory of `mender-orchestrator.conf` (default `/etc/mender-orchestrator`).
    pub const CONF_DIR: &str = "MENDER_ORCHESTRATOR_CONF_DIR";
    /// Data directory: Interfaces and static files (default `/usr/share/mender-orchestrator`).
    pub const DATA_DIR: &str = "MENDER_ORCHESTRATOR_DATA_DIR";
    /// Persistent datastore (default `/var/lib/mender-orchestrator`).
    pub const DATASTORE_DIR: &str = "MENDER_ORCHESTRATOR_DATASTORE_DIR";
    /// Directory of `topology.yaml` (default: the datastore).
    pub const TOPOLOGY_DIR: &str = "MENDER_ORCHESTRATOR_TOPOLOGY_DIR";
    /// The separate Topology components file (default: none).
    pub const TOPOLOGY_COMPONENTS_FILE: &str = "MENDER_ORCHESTRATOR_TOPOLOGY_COMPONENTS_FILE";
    /// Manifest store (default `{datastore}/manifests`).
    pub const MANIFEST_STORE_DIR: &str = "MENDER_ORCHESTRATOR_MANIFEST_STORE_DIR";
    /// Artifacts cache (default `{datastore}/artifacts`).
    pub const ARTIFACTS_CACHE_DIR: &str = "MENDER_ORCHESTRATOR_ARTIFACTS_CACHE_DIR";
}
