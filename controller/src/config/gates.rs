//! The keys that decide *when* and *whether* the System updates (issue 17): maintenance
//! windows, the update policy, update locks, owner consent, the health gate and the disk
//! reserve.
//!
//! Pure data, as written in the configuration file. What the values mean, and the checks a
//! schema cannot express (a cron expression, a time zone, a regular expression, the pinned
//! name that `pinned` needs), live in `gates::settings`, which turns these into typed
//! values and names the key of every problem.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One maintenance window: it opens at every minute the cron `Schedule` matches (in
/// `TimeZone`) and stays open for `DurationSeconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Five cron fields: minute, hour, day of month, month, day of week.
    pub schedule: String,
    pub duration_seconds: u64,
    /// `UTC` or a fixed offset such as `+02:00`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// Which offered Manifests are installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdatePolicy {
    pub mode: PolicyMode,
    /// `pinned`: the only Manifest name accepted.
    pub pinned: Option<String>,
    /// `latest`: a regular expression with one capture group that takes the version out of
    /// a Manifest name; default: the trailing dotted number.
    pub version_pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Every Manifest (what baton always did).
    Any,
    /// Only a Manifest newer than the deployed one.
    Latest,
    /// Only the Manifest named `Pinned`.
    Pinned,
}

impl PolicyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Any => "any",
            PolicyMode::Latest => "latest",
            PolicyMode::Pinned => "pinned",
        }
    }
}

/// Files applications hold with `flock` to hold updates back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateLocks {
    /// Default `{RuntimeDir}/locks`.
    pub dir: PathBuf,
    /// 0: wait as long as a lock is held; else end the deployment (reason `UpdateLocked`)
    /// after waiting this long.
    pub timeout_seconds: u64,
}

/// The phases the owner is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConsentPhase {
    Download,
    Install,
    Activate,
}

impl ConsentPhase {
    pub const ALL: [ConsentPhase; 3] = [
        ConsentPhase::Download,
        ConsentPhase::Install,
        ConsentPhase::Activate,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentPhase::Download => "Download",
            ConsentPhase::Install => "Install",
            ConsentPhase::Activate => "Activate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    Deny,
    Approve,
}

/// The owner's consent before phases of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OwnerConsent {
    /// Empty: nobody is asked.
    pub before: Vec<ConsentPhase>,
    /// 0: wait for an answer as long as it takes.
    pub timeout_seconds: u64,
    pub on_timeout: OnTimeout,
}

/// Health checks that must pass for a soak before the first ArtifactCommit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HealthGate {
    /// How long the checks keep passing before the commit.
    pub soak_seconds: u64,
    /// Seconds between two runs of the checks.
    pub interval_seconds: u64,
    /// Each run of each check must end within this.
    pub timeout_seconds: u64,
    /// argv of each check; empty: no health gate.
    pub checks: Vec<Vec<String>>,
}
