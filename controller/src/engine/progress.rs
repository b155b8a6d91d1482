//! How a deployment reports itself while it runs: [`Progress`] events with typed states,
//! for status, the CLI's progress view and metrics, and the words status and metrics show
//! for them.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::gate::GatePoint;
use super::report::{ComponentRef, PlannedChange};
use super::states::{Call, Query, State};
use crate::metrics::DeploymentWord;
use crate::model::Reason;

/// Live progress of a deployment. Its JSON form is what the status event stream carries
/// (`{"event": "stepStarted", "state": "ArtifactInstall", ...}`): a step is named by its
/// protocol word.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "event")]
pub enum Progress {
    Started {
        deployment: String,
        manifest: String,
        components: Vec<PlannedChange>,
    },
    /// A state or query starts for these components of an order group.
    StepStarted {
        order: u8,
        #[serde(rename = "state")]
        call: Call,
        components: Vec<ComponentRef>,
    },
    StepFinished {
        order: u8,
        #[serde(rename = "state")]
        call: Call,
        failed: Vec<(ComponentRef, String)>,
        seconds: f64,
    },
    /// Payload bytes handed to a component's Interface so far.
    Bytes {
        component: ComponentRef,
        bytes: u64,
        total: Option<u64>,
    },
    /// How far a component driven by an external Interface (a Kanto update agent) is in its
    /// current state, in percent, as it reports it (it streams no payload bytes).
    Percent {
        component: ComponentRef,
        percent: u8,
    },
    /// The host is about to be rebooted (or the caller must reboot it).
    Rebooting,
    /// A gate asked the deployment to wait before `point`; the engine asks again later
    /// (at `until` at the latest, when given).
    Waiting {
        #[serde(serialize_with = "point_word")]
        point: GatePoint,
        reason: Reason,
        /// Seconds since the epoch.
        #[serde(serialize_with = "epoch_seconds")]
        until: Option<SystemTime>,
        message: String,
    },
}

fn point_word<S: Serializer>(p: &GatePoint, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

fn epoch_seconds<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    t.map(|t| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
    .serialize(s)
}

/// The word status shows while a gate holds the deployment.
pub const WAITING: &str = "Waiting";

/// Whether running `call` means the deployment is rolling back.
pub const fn rolls_back(call: Call) -> bool {
    matches!(
        call,
        Call::State(
            State::ArtifactRollback
                | State::ArtifactRollbackReboot
                | State::ArtifactVerifyRollbackReboot
                | State::ArtifactFailure
        )
    )
}

/// Receives progress events. Must not block.
pub trait ProgressSink: Send + Sync {
    fn emit(&self, event: Progress);
}

/// Drops every event.
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn emit(&self, _: Progress) {}
}

/// Where a deployment stands, coarser than its state (`baton_deployment_phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentPhase {
    /// No deployment.
    Idle,
    Install,
    Reboot,
    Commit,
    Rollback,
    Cleanup,
}

impl DeploymentPhase {
    /// Every phase, the one without a deployment first.
    pub const ALL: [DeploymentPhase; 6] = [
        DeploymentPhase::Idle,
        DeploymentPhase::Install,
        DeploymentPhase::Reboot,
        DeploymentPhase::Commit,
        DeploymentPhase::Rollback,
        DeploymentPhase::Cleanup,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            DeploymentPhase::Idle => "idle",
            DeploymentPhase::Install => "install",
            DeploymentPhase::Reboot => "reboot",
            DeploymentPhase::Commit => "commit",
            DeploymentPhase::Rollback => "rollback",
            DeploymentPhase::Cleanup => "cleanup",
        }
    }

    /// The phase of a state.
    pub const fn of_state(s: State) -> Self {
        match s {
            State::ArtifactCommit => DeploymentPhase::Commit,
            State::Cleanup => DeploymentPhase::Cleanup,
            State::ArtifactRollback
            | State::ArtifactRollbackReboot
            | State::ArtifactVerifyRollbackReboot
            | State::ArtifactFailure => DeploymentPhase::Rollback,
            _ => DeploymentPhase::Install,
        }
    }

    /// The phase of a query: `SupportsRollback` is asked only to start the rollback
    /// ordering; the others belong to whichever direction the deployment is going.
    pub const fn of_query(q: Query, rolling_back: bool) -> Self {
        match q {
            Query::SupportsRollback => DeploymentPhase::Rollback,
            _ if rolling_back => DeploymentPhase::Rollback,
            _ => DeploymentPhase::Install,
        }
    }
}

/// baton's own words for a host reboot, as status shows them.
pub const REBOOT_WORDS: [&str; 3] = ["Rebooting", "HostReboot", "HostRollbackReboot"];

/// Every word the status may show as the deployment's state, with its phase going forward
/// and rolling back (for the metrics' [`crate::metrics::Vocabulary`]). The empty word is a
/// deployment planned, before its first state.
pub fn status_words() -> Vec<DeploymentWord> {
    let word = |word, forward: DeploymentPhase, back: DeploymentPhase| DeploymentWord {
        word,
        forward: forward.label(),
        rolling_back: back.label(),
    };
    let mut words = vec![word(
        "",
        DeploymentPhase::Install,
        DeploymentPhase::Rollback,
    )];
    for &s in State::ALL {
        let p = DeploymentPhase::of_state(s);
        words.push(word(s.as_str(), p, p));
    }
    for &q in Query::ALL {
        words.push(word(
            q.as_str(),
            DeploymentPhase::of_query(q, false),
            DeploymentPhase::of_query(q, true),
        ));
    }
    for w in REBOOT_WORDS {
        words.push(word(w, DeploymentPhase::Reboot, DeploymentPhase::Reboot));
    }
    // Gates hold a deployment only on its way forward.
    words.push(word(
        WAITING,
        DeploymentPhase::Install,
        DeploymentPhase::Install,
    ));
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Vocabulary;

    #[test]
    fn progress_serializes_with_protocol_words() {
        let step = Progress::StepStarted {
            order: 2,
            call: Call::State(State::ArtifactInstall),
            components: vec![],
        };
        let v = serde_json::to_value(&step).unwrap();
        assert_eq!(v["event"], "stepStarted");
        assert_eq!(v["state"], "ArtifactInstall");
        assert_eq!(v["order"], 2);
        let waiting = Progress::Waiting {
            point: GatePoint::BeforeCommit,
            reason: Reason::HealthSoak,
            until: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(90)),
            message: "soaking".into(),
        };
        let v = serde_json::to_value(&waiting).unwrap();
        assert_eq!(v["event"], "waiting");
        assert_eq!(v["point"], "BeforeCommit");
        assert_eq!(v["reason"], "HealthSoak");
        assert_eq!(v["until"], 90);
    }

    #[test]
    fn every_state_and_query_has_a_deployment_phase() {
        let v = Vocabulary {
            deployment_phases: DeploymentPhase::ALL.map(DeploymentPhase::label).to_vec(),
            deployment_words: status_words(),
            ..Vocabulary::default()
        };
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
            ("Waiting", false, "install"),
        ];
        for (state, rolling_back, want) in table {
            assert_eq!(
                v.deployment_phase(Some((state, rolling_back))),
                want,
                "{state} {rolling_back}"
            );
            assert!(v.deployment_phases.contains(&want));
        }
        assert_eq!(v.deployment_phase(None), "idle");
        for &s in State::ALL {
            let rolling = rolls_back(Call::State(s));
            assert_eq!(
                rolling,
                DeploymentPhase::of_state(s) == DeploymentPhase::Rollback,
                "{s}"
            );
        }
    }
}
