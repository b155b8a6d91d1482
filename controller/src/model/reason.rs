//! Why the System is where it is: one closed set of reasons.
//!
//! Every condition `reason` in the status document, every history entry's `reason`, every
//! typed refusal and every metric `reason` label is a [`Reason`]. The set is closed so that a
//! dashboard, an alert rule, a Kanto backend or an EMF-style fleet view can match on it; the
//! words are CamelCase as Kubernetes condition reasons are. `crds/status.schema.json` lists the
//! same words as an enum (a test keeps the two in agreement).
//!
//! The words say what happened, never to whom: the component, the file and the cause are in
//! the message next to the reason, never in the reason itself (labels stay bounded).

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident ),+ $(,)?) => {
        /// One reason; see the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Reason {
            $( $(#[$doc])* $name, )+
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[ $( Reason::$name, )+ ];

            /// The word itself (also the metric label and the JSON form).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Reason::$name => stringify!($name), )+
                }
            }
        }
    };
}

reasons! {
    // Where the controller stands (condition reasons while nothing failed).
    /// No Manifest has been applied yet.
    NoDesiredState,
    /// The journal is being replayed after a start.
    Recovering,
    /// Nothing to do.
    Idle,
    /// A deployment of the desired generation runs.
    Deploying,
    /// A deployment that reinstalls drifted components runs.
    CorrectingDrift,
    /// The Mender Update Module drives a deployment; baton waits for its next call.
    UpdateModuleInControl,
    /// Every component runs its desired Artifact.
    InSync,
    /// Every component already ran the desired Artifacts: nothing was installed.
    UpToDate,
    /// The operator suspended reconciliation.
    Suspended,
    /// A component no longer runs its desired Artifact (DriftPolicy `warn`).
    DriftDetected,
    /// A failed attempt will be retried after a backoff.
    RetryScheduled,
    /// Retries are spent: waiting for a new generation or a retry action.
    RetryLimitReached,

    // Gates between plan and execute: the deployment waits.
    /// Outside every maintenance window.
    WaitingForMaintenanceWindow,
    /// An application holds an update lock.
    UpdateLocked,
    /// The owner has been asked and has not answered yet.
    AwaitingConsent,
    /// Health checks run before the commit.
    HealthSoak,

    // A deployment failed in a state, and the System was rolled back.
    /// Download (or fetching the Artifact) failed.
    DownloadFailed,
    /// An Artifact did not verify (checksum, truncation, format).
    VerificationFailed,
    /// ArtifactInstall failed.
    InstallFailed,
    /// A reboot (peripheral or host), or its verification, failed.
    RebootFailed,
    /// ArtifactCommit failed.
    CommitFailed,
    /// A rollback state failed: the System may be inconsistent.
    RollbackFailed,
    /// A health check failed during the soak before the commit.
    HealthCheckFailed,
    /// An Interface query (Identity, Provides, ...) failed or answered outside the protocol.
    QueryFailed,
    /// Some components could not be brought back.
    Inconsistent,

    // Refused before anything was touched.
    /// The Manifest (or the Topology) is invalid, or does not fit the Topology.
    InvalidManifest,
    /// A signature is missing or does not verify.
    SignatureInvalid,
    /// An Artifact does not fit its component (device type, depends, system type).
    Incompatible,
    /// An Artifact could not be found by any source.
    ArtifactNotFound,
    /// DowngradeProtection: older than what this System accepted before.
    Downgrade,
    /// UpdatePolicy `latest`: not newer than what runs.
    NotNewer,
    /// UpdatePolicy `pinned`: not the pinned Manifest.
    NotPinned,
    /// The end state or a step on the way breaks the System's constraints.
    ConstraintViolated,
    /// Not enough free space for what the deployment would write.
    InsufficientSpace,
    /// The reviewed plan (`--plan-hash`) is no longer the plan.
    PlanChanged,

    // Ended by someone's decision.
    /// The owner denied consent (or did not answer and the policy says deny).
    ConsentDenied,
    /// A newer generation replaced this deployment before anything was installed.
    Superseded,
    /// The deployment paused at a boundary the caller asked for.
    Paused,
    /// The caller asked for the rollback (`baton rollback`, the Update Module's
    /// ArtifactRollback) before the deployment ended.
    RollbackRequested,

    // baton itself could not act.
    /// The journal cannot be read or written.
    JournalUnreadable,
    /// Anything else that kept the engine from acting (a setup error, a lock).
    EngineError,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown reason `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.as_str()), "{r} twice");
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), *r);
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert!(r.as_str().chars().next().unwrap().is_ascii_uppercase());
        }
        assert!("Nope".parse::<Reason>().is_err());
    }

    #[test]
    fn the_status_schema_lists_exactly_these_reasons_in_this_order() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../crds/status.schema.json")).unwrap();
        let listed: Vec<&str> = schema["$defs"]["reason"]["enum"]
            .as_array()
            .expect("$defs.reason.enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(listed, ours);
        // Both places a reason appears use the list.
        let defs = &schema["$defs"];
        assert_eq!(
            defs["condition"]["properties"]["reason"]["$ref"],
            "#/$defs/reason"
        );
        assert_eq!(
            defs["historyEntry"]["properties"]["reason"]["anyOf"][1]["$ref"],
            "#/$defs/reason"
        );
    }
}
