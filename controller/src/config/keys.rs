//! The typed configuration: every key, its type and its default.
//!
//! Field names are the JSON keys (Mender's PascalCase). Mender's keys keep Mender's meanings;
//! the rest are baton's own. `crds/config.schema.json` describes the same keys for editors and
//! for the loader's checks; a test keeps the two in agreement. Pure data, no IO.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::gates::{
    ConsentPhase, HealthGate, MaintenanceWindow, OnTimeout, OwnerConsent, PolicyMode, UpdateLocks,
    UpdatePolicy,
};

/// The effective configuration. Every field has a value (a default when nothing set it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// Mender: one public key; Artifacts must be signed when set.
    pub artifact_verify_key: Option<PathBuf>,
    /// Mender: several public keys, tried in order (key rotation). Exclusive with the above.
    pub artifact_verify_keys: Option<Vec<PathBuf>>,
    pub artifacts_cache: ArtifactsCache,
    pub https_client: HttpsClient,
    /// Mender: seconds before a running Interface is considered hung and killed.
    pub interface_timeout_seconds: u64,
    pub log_level: LogLevel,
    /// Mender: where Manifests are stored.
    pub manifest_store: PathBuf,
    pub server_certificate: Option<PathBuf>,
    /// Mender: the separate Topology components file, if the Topology is split.
    pub topology_components: Option<PathBuf>,
    /// Where an Artifact named by `artifact_name` is looked for, in order. Without the key,
    /// the Mender Server (as Mender Orchestrator); a list replaces that default.
    pub artifact_sources: Vec<ArtifactSource>,
    /// baton: seconds an Interface query may take (Mender's 4 h suits installs, not queries).
    pub query_timeout_seconds: u64,
    /// baton: argv that reboots the System device.
    pub reboot_command: Vec<String>,
    /// baton: a file whose content changes at every boot.
    pub boot_id_path: PathBuf,
    pub api: Api,
    /// baton: directory watched for Manifest files.
    pub watch_dir: PathBuf,
    pub retry: Retry,
    pub resync_interval_seconds: u64,
    pub drift_policy: DriftPolicy,
    /// baton: refuse a Manifest older than what this System accepted before.
    pub downgrade_protection: bool,
    /// baton: Manifests from the watched directory or the API must carry a detached
    /// signature by one of the `ArtifactVerifyKey(s)`.
    pub require_signed_manifests: bool,
    pub runtime_dir: PathBuf,
    /// baton: when installing may start (empty: always).
    pub maintenance_windows: Vec<MaintenanceWindow>,
    /// baton: which offered Manifests are installed.
    pub update_policy: UpdatePolicy,
    /// baton: files applications `flock` to hold the disruptive states back.
    pub update_locks: UpdateLocks,
    /// baton: phases the owner must approve.
    pub owner_consent: OwnerConsent,
    /// baton: checks that must pass for a soak before the first ArtifactCommit.
    pub health_gate: HealthGate,
    /// baton: free bytes kept on every filesystem a deployment writes to.
    pub min_free_bytes: u64,
    /// baton: the constraints file (end states and transitions); without the key,
    /// `constraints.yaml` next to the Topology, if there is one.
    pub constraints: Option<PathBuf>,
    /// baton: speak Eclipse Kanto's Update Manager API over MQTT (absent: off).
    pub kanto: Option<super::KantoConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ArtifactsCache {
    pub enabled: bool,
    pub path: PathBuf,
    /// 0 = no limit.
    pub max_size_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HttpsClient {
    pub certificate: Option<PathBuf>,
    /// A file path or a PKCS#11 URI.
    pub key: Option<String>,
    #[serde(rename = "SSLEngine")]
    pub ssl_engine: Option<String>,
}

/// Mender's log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl LogLevel {
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Fatal,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown log level `{s}` (expected trace, debug, info, warning, error or fatal)"))
    }
}

/// Where Artifacts named by `artifact_name` come from (`{"Type": "directory", "Path": DIR}`,
/// `{"Type": "url", "Template": "https://.../{artifact_name}.mender"}` or
/// `{"Type": "mender-server"}`): the Artifact room's own type, so the configuration and the
/// resolver cannot disagree.
pub use crate::artifact::source::SourceSpec as ArtifactSource;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Api {
    pub socket: PathBuf,
    /// Octal permissions, e.g. `0660`.
    pub socket_mode: String,
    /// Optional TCP listener, e.g. `127.0.0.1:7373`.
    pub tcp: Option<String>,
    /// The bearer token of write scope over TCP (apply, actions; reads too).
    pub token_file: Option<PathBuf>,
    /// The bearer token of read scope over TCP (status, history, components, the Manifest,
    /// metrics): what a Prometheus agent gets.
    pub read_token_file: Option<PathBuf>,
}

/// Backoff after a failed reconcile: `base * 2^n`, capped, at most `limit` tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retry {
    pub base_seconds: u64,
    pub cap_seconds: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Reinstall the desired Artifact on a Component that drifted.
    Enabled,
    /// Report drift, change nothing.
    Warn,
    /// Do not look for drift.
    Disabled,
}

/// Mender Orchestrator's default directories.
pub const DEFAULT_CONF_DIR: &str = "/etc/mender-orchestrator";
pub const DEFAULT_DATA_DIR: &str = "/usr/share/mender-orchestrator";
pub const DEFAULT_DATASTORE_DIR: &str = "/var/lib/mender-orchestrator";
/// The configuration file's name, in the conf dir (main) and in the datastore (fallback).
pub const CONFIG_FILE_NAME: &str = "mender-orchestrator.conf";
pub const TOPOLOGY_FILE_NAME: &str = "topology.yaml";

impl Config {
    /// The defaults, with the paths Mender derives from the datastore.
    pub fn defaults(datastore: &Path) -> Self {
        let runtime_dir = PathBuf::from("/run/baton");
        Config {
            artifact_verify_key: None,
            artifact_verify_keys: None,
            artifacts_cache: ArtifactsCache {
                enabled: false,
                path: datastore.join("artifacts"),
                max_size_bytes: 0,
            },
            https_client: HttpsClient::default(),
            interface_timeout_seconds: 14_400,
            log_level: LogLevel::Info,
            manifest_store: datastore.join("manifests"),
            server_certificate: None,
            topology_components: None,
            artifact_sources: ArtifactSource::default_list(),
            query_timeout_seconds: 60,
            reboot_command: vec!["reboot".into()],
            boot_id_path: PathBuf::from("/proc/sys/kernel/random/boot_id"),
            api: Api {
                socket: runtime_dir.join("baton.sock"),
                socket_mode: "0660".into(),
                tcp: None,
                token_file: None,
                read_token_file: None,
            },
            watch_dir: datastore.join("watch"),
            retry: Retry {
                base_seconds: 1,
                cap_seconds: 300,
                limit: 8,
            },
            resync_interval_seconds: 600,
            // Reporting is the safe first step on a vehicle: reinstalling behind the
            // operator's back is opt-in.
            drift_policy: DriftPolicy::Warn,
            downgrade_protection: false,
            require_signed_manifests: false,
            update_locks: UpdateLocks {
                dir: runtime_dir.join("locks"),
                timeout_seconds: 0,
            },
            runtime_dir,
            maintenance_windows: Vec::new(),
            update_policy: UpdatePolicy {
                mode: PolicyMode::Any,
                pinned: None,
                version_pattern: None,
            },
            owner_consent: OwnerConsent {
                before: Vec::new(),
                // Kanto's default (ownerConsentTimeout: 30m), and its answer to no answer.
                timeout_seconds: 1800,
                on_timeout: OnTimeout::Deny,
            },
            health_gate: HealthGate {
                soak_seconds: 0,
                interval_seconds: 10,
                timeout_seconds: 30,
                checks: Vec::new(),
            },
            // Room for the journal and the Manifest store after the payloads landed.
            min_free_bytes: 16 * 1024 * 1024,
            constraints: None,
            kanto: None,
        }
    }

    /// The verify keys, whichever of the two keys set them.
    pub fn verify_keys(&self) -> Vec<PathBuf> {
        match (&self.artifact_verify_key, &self.artifact_verify_keys) {
            (Some(k), _) => vec![k.clone()],
            (None, Some(ks)) => ks.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// The socket mode as a number.
    pub fn socket_mode(&self) -> u32 {
        u32::from_str_radix(&self.api.socket_mode, 8).unwrap_or(0o660)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults(Path::new(DEFAULT_DATASTORE_DIR))
    }
}
