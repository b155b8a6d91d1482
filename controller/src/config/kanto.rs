//! The `Kanto` key: Eclipse Kanto's Update Manager settings as written in the configuration
//! file (PascalCase, whole seconds, Kanto's defaults). Checked into `kanto::KantoSettings` by the
//! room that uses them, when `baton run` starts. Pure data.

use serde::{Deserialize, Serialize};

/// The `Kanto` key as written in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct KantoConfig {
    /// `tcp://host:port` (or `mqtt://`); the port defaults to 1883.
    pub broker: String,
    /// Names the Update Manager's topics by Kanto's prefix rule (`device` -> `deviceupdate/...`).
    pub domain: String,
    /// Kanto's default: talk to the backend through the `UpdateManager` Ditto feature. Off:
    /// the plain `deviceupdate/...` topics.
    pub things_enabled: bool,
    /// Phases that need the owner's consent: `DOWNLOAD`, `UPDATE`, `ACTIVATE` (any case).
    pub owner_consent_commands: Vec<String>,
    pub owner_consent_timeout_seconds: u64,
    /// How long one phase of a Kanto update agent may take before it counts as failed.
    pub phase_timeout_seconds: u64,
    /// At most one RUNNING feedback per interval; 0 sends none (as Kanto).
    pub report_feedback_interval_seconds: u64,
    pub username: String,
    pub password: String,
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
    /// MQTT keep-alive; 0 turns it off.
    pub keep_alive_seconds: u64,
}

impl Default for KantoConfig {
    fn default() -> Self {
        Self {
            broker: "tcp://localhost:1883".into(),
            domain: "device".into(),
            things_enabled: true,
            owner_consent_commands: Vec::new(),
            owner_consent_timeout_seconds: 30 * 60,
            phase_timeout_seconds: 10 * 60,
            report_feedback_interval_seconds: 60,
            username: String::new(),
            password: String::new(),
            ca_cert: String::new(),
            cert: String::new(),
            key: String::new(),
            keep_alive_seconds: 20,
        }
    }
}
