//! Label values: each one taken from a typed value, so every label has a bounded set of
//! values (pure).
//!
//! Nothing here ever copies free text into a label: no error message, no path, no Manifest
//! name. The only user data in labels are the Topology's names (Interface names, component
//! types, component IDs and their Artifact names), bounded by the Topology's size.

use crate::artifact::ArtifactError;
use crate::daemon::conditions::Phase;
use crate::interface::protocol::{Query, State};
use crate::interface::runner::{CallReport, InterfaceError};
use crate::model::{ConditionStatus, ConditionType, DeploymentStatus, Outcome};

/// How one reconcile ended, as controller-runtime counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    Success,
    Error,
    Requeue,
    RequeueAfter,
}

impl ReconcileResult {
    pub const ALL: [ReconcileResult; 4] = [
        ReconcileResult::Success,
        ReconcileResult::Error,
        ReconcileResult::Requeue,
        ReconcileResult::RequeueAfter,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Requeue => "requeue",
            ReconcileResult::RequeueAfter => "requeue_after",
        }
    }
}

/// The controller's phases, as `baton_controller_phase{phase}` names them.
pub const CONTROLLER_PHASES: [&str; 11] = [
    "no_desired_state",
    "recovering",
    "progressing",
    "handed_off",
    "in_sync",
    "waiting",
    "up_to_date",
    "suspended",
    "drifted",
    "backoff",
    "stalled",
];

pub fn controller_phase(p: &Phase) -> &'static str {
    match p {
        Phase::NoDesiredState => "no_desired_state",
        Phase::Recovering => "recovering",
        Phase::Progressing { .. } => "progressing",
        Phase::HandedOff { .. } => "handed_off",
        Phase::InSync => "in_sync",
        Phase::Waiting { .. } => "waiting",
        Phase::UpToDate { .. } => "up_to_date",
        Phase::Suspended => "suspended",
        Phase::Drifted { .. } => "drifted",
        // A failed attempt with another one scheduled: the System waits out a backoff.
        Phase::Failed { .. } => "backoff",
        Phase::Stalled { .. } => "stalled",
    }
}

pub const CONDITION_TYPES: [ConditionType; 4] = [
    ConditionType::Ready,
    ConditionType::Progressing,
    ConditionType::Degraded,
    ConditionType::Stalled,
];

pub const CONDITION_STATUSES: [ConditionStatus; 3] = [
    ConditionStatus::True,
    ConditionStatus::False,
    ConditionStatus::Unknown,
];

pub fn condition_type(t: ConditionType) -> &'static str {
    match t {
        ConditionType::Ready => "Ready",
        ConditionType::Progressing => "Progressing",
        ConditionType::Degraded => "Degraded",
        ConditionType::Stalled => "Stalled",
    }
}

pub fn condition_status(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

/// Where the deployment in flight stands, coarser than its state.
pub const DEPLOYMENT_PHASES: [&str; 6] =
    ["idle", "install", "reboot", "commit", "rollback", "cleanup"];

/// The phase of the deployment in flight, from the state it runs.
pub fn deployment_phase(d: Option<&DeploymentStatus>) -> &'static str {
    let Some(d) = d else { return "idle" };
    match d.state.parse::<State>() {
        Ok(State::ArtifactCommit) => "commit",
        Ok(State::Cleanup) => "cleanup",
        Ok(
            State::ArtifactRollback
            | State::ArtifactRollbackReboot
            | State::ArtifactVerifyRollbackReboot
            | State::ArtifactFailure,
        ) => "rollback",
        Ok(_) => "install",
        // Queries: SupportsRollback is asked only to start the rollback ordering; the others
        // belong to whichever direction the deployment is going. "Rebooting", "HostReboot"...
        // are baton's own words for a host reboot.
        Err(_) => match d.state.parse::<Query>() {
            Ok(Query::SupportsRollback) => "rollback",
            Ok(_) if d.rolling_back => "rollback",
            Ok(_) => "install",
            Err(_) if d.state.contains("Reboot") => "reboot",
            Err(_) if d.rolling_back => "rollback",
            // Planned, before the first state.
            Err(_) => "install",
        },
    }
}

/// Every protocol word (states, then queries): the values of the `state` label.
pub fn protocol_words() -> impl Iterator<Item = &'static str> {
    State::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(Query::ALL.iter().map(|q| q.as_str()))
}

/// The protocol word `s` is, if it is one.
pub fn protocol_word(s: &str) -> Option<&'static str> {
    protocol_words().find(|w| *w == s)
}

/// Interface call results created at start for every Interface and word (see
/// [`interface_result`] for the others).
pub const INTERFACE_RESULTS: [&str; 3] = ["success", "failed", "timeout"];

/// How an Interface call ended: `success`, or what went wrong, from the typed error.
pub fn interface_result(r: &Result<CallReport, InterfaceError>) -> &'static str {
    match r {
        Ok(_) => "success",
        Err(InterfaceError::Failed { .. }) => "failed",
        Err(InterfaceError::Timeout { .. }) => "timeout",
        Err(InterfaceError::Killed { .. }) => "killed",
        Err(InterfaceError::Cancelled { .. }) => "cancelled",
        Err(InterfaceError::BadAnswer { .. }) => "bad_answer",
        // The Interface never ran.
        Err(
            InterfaceError::NotFound { .. }
            | InterfaceError::NotExecutable { .. }
            | InterfaceError::WorkDir { .. }
            | InterfaceError::Spawn { .. },
        ) => "not_run",
    }
}

/// Deployment results, from the history's outcomes.
pub const DEPLOYMENT_RESULTS: [&str; 5] = [
    "succeeded",
    "up_to_date",
    "rolled_back",
    "failed",
    "rejected",
];

pub fn deployment_result(o: Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "succeeded",
        Outcome::UpToDate => "up_to_date",
        Outcome::RolledBack => "rolled_back",
        Outcome::Failed => "failed",
        Outcome::Rejected => "rejected",
    }
}

/// Who drove a deployment (the history's words).
pub const DRIVERS: [&str; 2] = ["controller", "update-module"];

pub fn driver(s: &str) -> &'static str {
    DRIVERS
        .iter()
        .find(|d| **d == s)
        .copied()
        .unwrap_or("other")
}

/// What the controller did about drift.
pub const DRIFT_ACTIONS: [&str; 2] = ["corrected", "reported"];

/// Artifact cache lookups.
pub const CACHE_RESULTS: [&str; 2] = ["hit", "miss"];

/// The reasons an Artifact is most often refused for, created at start; any other
/// [`ArtifactError::reason`] is counted too when it happens.
pub const VERIFICATION_REASONS: [&str; 8] = [
    "checksum_mismatch",
    "signature_invalid",
    "unsigned",
    "format",
    "truncated",
    "size_mismatch",
    "missing_files",
    "unsupported",
];

/// The verification failure an Artifact error stands for; `None` when the Artifact is not
/// to blame (its consumer, the Interface, stopped reading).
pub fn verification_reason(e: &ArtifactError) -> Option<&'static str> {
    match e {
        ArtifactError::Sink { .. } => None,
        other => Some(other.reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploying(state: &str, rolling_back: bool) -> DeploymentStatus {
        let mut d = crate::daemon::progress::starting(1);
        d.state = state.into();
        d.rolling_back = rolling_back;
        d
    }

    #[test]
    fn every_state_and_query_has_a_deployment_phase() {
        let table = [
            ("", false, "install"),
            ("Download", false, "install"),
            ("DownloadWithFileSizes", false, "install"),
            ("ArtifactInstall", false, "install"),
            ("NeedsArtifactReboot", false, "install"),
            ("ArtifactReboot", false, "install"),
            ("ArtifactVerifyReboot", false, "install"),
            ("Rebooting", false, "reboot"),
            ("HostReboot", false, "reboot"),
            ("HostRollbackReboot", true, "reboot"),
            ("ArtifactCommit", false, "commit"),
            ("SupportsRollback", false, "rollback"),
            ("ArtifactRollback", true, "rollback"),
            ("ArtifactRollbackReboot", true, "rollback"),
            ("ArtifactVerifyRollbackReboot", true, "rollback"),
            ("ArtifactFailure", true, "rollback"),
            ("NeedsArtifactReboot", true, "rollback"),
            ("Cleanup", false, "cleanup"),
            ("Cleanup", true, "cleanup"),
        ];
        for (state, rolling_back, want) in table {
            let d = deploying(state, rolling_back);
            assert_eq!(deployment_phase(Some(&d)), want, "{state} {rolling_back}");
            assert!(DEPLOYMENT_PHASES.contains(&want));
        }
        assert_eq!(deployment_phase(None), "idle");
    }

    #[test]
    fn every_controller_phase_is_listed() {
        let s = String::new;
        let phases = [
            Phase::NoDesiredState,
            Phase::Recovering,
            Phase::Progressing {
                reason: crate::model::Reason::Deploying,
                message: s(),
            },
            Phase::HandedOff { message: s() },
            Phase::InSync,
            Phase::Waiting {
                reason: crate::model::Reason::UpdateLocked,
                message: s(),
            },
            Phase::UpToDate {
                reason: crate::model::Reason::NotNewer,
                message: s(),
            },
            Phase::Suspended,
            Phase::Drifted { message: s() },
            Phase::Failed {
                reason: crate::model::Reason::InstallFailed,
                message: s(),
            },
            Phase::Stalled {
                reason: crate::model::Reason::RetryLimitReached,
                message: s(),
            },
        ];
        let labels: Vec<&str> = phases.iter().map(controller_phase).collect();
        assert_eq!(labels, CONTROLLER_PHASES);
    }

    #[test]
    fn protocol_words_are_bounded_to_the_protocol() {
        assert_eq!(
            protocol_words().count(),
            State::ALL.len() + Query::ALL.len()
        );
        assert_eq!(protocol_word("ArtifactCommit"), Some("ArtifactCommit"));
        assert_eq!(protocol_word("Provides"), Some("Provides"));
        assert_eq!(protocol_word("Rebooting"), None);
        assert_eq!(protocol_word("artifactcommit"), None);
    }

    #[test]
    fn unknown_drivers_do_not_become_labels() {
        assert_eq!(driver("controller"), "controller");
        assert_eq!(driver("update-module"), "update-module");
        assert_eq!(driver("someone else entirely"), "other");
    }

    #[test]
    fn a_failing_consumer_is_not_the_artifacts_fault() {
        let sink = ArtifactError::Sink {
            name: "rootfs".into(),
            source: std::io::Error::other("broken pipe"),
        };
        assert_eq!(verification_reason(&sink), None);
        assert_eq!(
            verification_reason(&ArtifactError::Unsigned),
            Some("unsigned")
        );
        assert_eq!(
            verification_reason(&ArtifactError::SignatureInvalid { keys: 1 }),
            Some("signature_invalid")
        );
    }
}
