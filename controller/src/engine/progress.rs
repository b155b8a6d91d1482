//! How a deployment reports itself while it runs: the words status and metrics show for
//! it, typed here where the engine knows them.

use super::states::{Query, State};
use crate::metrics::DeploymentWord;

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
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Vocabulary;

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
    }
}
