//! The few places the daemon reads the engine's answers: how a report ended, why, and the
//! options a deployment runs with.
//!
//! The engine's [`End`] still names the failed state in words (`ArtifactCommit gateway
//! GW-B`) and its refusals as sentences; this file is the one place that turns those into a
//! [`Reason`], so when the engine's answers carry typed reasons themselves only these
//! functions change. Pure.

use super::reconciler::decide::Previewed;
use crate::engine::api::{ComponentRef, End, EngineError, Preview};
use crate::engine::driver::RunOptions;
use crate::interface::protocol::{Query, State};
use crate::model::{Origin, Reason};

/// Whether a report ends the deployment (a pause or a pending reboot does not).
pub fn is_final(end: &End) -> bool {
    !matches!(end, End::Paused { .. } | End::AwaitingReboot)
}

/// Why a deployment did not succeed; `None` for a success.
pub fn end_reason(end: &End) -> Option<Reason> {
    match end {
        End::Success => None,
        End::RolledBack { failed_at, reason } => Some(
            failed_at
                .starts_with("gate ")
                .then(|| gate_reason(reason))
                .flatten()
                .unwrap_or_else(|| failed_reason(failed_at)),
        ),
        End::Inconsistent { .. } => Some(Reason::Inconsistent),
        End::Rejected { problems } => Some(rejection_reason(problems)),
        End::Paused { .. } => Some(Reason::Paused),
        End::AwaitingReboot => Some(Reason::RebootFailed),
    }
}

/// Why a deployment did not succeed and what to tell, for the status conditions; `None` for
/// a success.
pub fn end_failure(end: &End) -> Option<(Reason, String)> {
    let reason = end_reason(end)?;
    let message = match end {
        End::Success => return None,
        End::RolledBack { failed_at, reason } => format!("{failed_at}: {reason}; rolled back"),
        End::Inconsistent {
            failed_at,
            reason,
            components,
        } => inconsistent(failed_at, reason, components),
        End::Rejected { problems } => problems.join("; "),
        End::Paused { before, .. } => format!("the engine paused before {before:?}"),
        End::AwaitingReboot => "the host was not rebooted".into(),
    };
    Some((reason, message))
}

/// The words for a deployment that could not bring every component back.
pub fn inconsistent(failed_at: &str, reason: &str, components: &[ComponentRef]) -> String {
    let names: Vec<String> = components
        .iter()
        .map(|c| format!("{} {}", c.component_type, c.id))
        .collect();
    format!(
        "{failed_at}: {reason}; could not bring back: {}",
        names.join(", ")
    )
}

/// What an answer of the engine's preview means for [`super::reconciler::decide`].
pub fn previewed(p: &Result<Preview, EngineError>) -> Previewed {
    match p {
        Err(e) => Previewed::Failed {
            message: e.to_string(),
        },
        Ok(Preview::Rejected { problems }) => Previewed::Rejected {
            reason: rejection_reason(problems),
            message: problems.join("; "),
        },
        Ok(Preview::InSync) => Previewed::InSync,
        Ok(Preview::Changes { components }) => Previewed::Changes {
            listed: components
                .iter()
                .map(|c| {
                    format!(
                        "{} {} -> {}",
                        c.component.component_type, c.component.id, c.to_artifact
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        },
    }
}

/// The reason for a failed state or query: the engine's `failed_at` starts with it
/// (`ArtifactCommit gateway GW-B`; `reboot` for the host's reboot). Bounded: the component is
/// in the message, never in the reason.
pub fn failed_reason(failed_at: &str) -> Reason {
    let word = failed_at.split_whitespace().next().unwrap_or("");
    let state = State::ALL
        .iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(word));
    if let Some(s) = state {
        return match s {
            State::Download | State::DownloadWithFileSizes => Reason::DownloadFailed,
            State::ArtifactInstall => Reason::InstallFailed,
            State::ArtifactReboot | State::ArtifactVerifyReboot => Reason::RebootFailed,
            State::ArtifactCommit => Reason::CommitFailed,
            State::ArtifactRollback
            | State::ArtifactRollbackReboot
            | State::ArtifactVerifyRollbackReboot
            | State::ArtifactFailure => Reason::RollbackFailed,
            // Cleanup never fails a deployment; were it named, it is the engine's problem.
            State::Cleanup => Reason::EngineError,
        };
    }
    if Query::ALL
        .iter()
        .any(|q| q.as_str().eq_ignore_ascii_case(word))
    {
        return Reason::QueryFailed;
    }
    if word.eq_ignore_ascii_case("reboot") {
        return Reason::RebootFailed;
    }
    Reason::EngineError
}

/// The reason for a refused Manifest. The engine's refusals are sentences today, so every
/// refusal is `InvalidManifest` here, but a gate's (worded `<Reason>: message`, see
/// [`gate_reason`]); the problems themselves are in the message.
// When the engine's refusals carry a Reason (typed problems), take the first one's.
pub fn rejection_reason(problems: &[String]) -> Reason {
    problems
        .first()
        .and_then(|p| gate_reason(p))
        .unwrap_or(Reason::InvalidManifest)
}

/// The reasons a gate ends a deployment with.
pub const GATE_REFUSALS: [Reason; 5] = [
    Reason::Superseded,
    Reason::InsufficientSpace,
    Reason::UpdateLocked,
    Reason::ConsentDenied,
    Reason::HealthCheckFailed,
];

/// A gate's refusal as the engine words it until its answers are typed: the reason's word,
/// a colon, the gate's message (`ConsentDenied: consent to Install ... denied by api`); after
/// the first state its `failed_at` is `gate <point>`.
pub fn gate_reason(text: &str) -> Option<Reason> {
    let (word, _) = text.split_once(": ")?;
    GATE_REFUSALS.into_iter().find(|r| r.as_str() == word)
}

/// The options a deployment of a desired state runs with: DowngradeProtection lets only the
/// rollback action through (the System's own way back), never a request.
pub fn run_options(origin: &Origin) -> RunOptions {
    RunOptions {
        allow_downgrade: origin.allows_downgrade(),
        ..RunOptions::default()
    }
}

/// The options of the controller's own resume of a deployment a crash left in the journal:
/// no pause, no hand-back of a reboot, nothing DowngradeProtection would refuse.
pub fn recovery_options() -> RunOptions {
    RunOptions::default()
}

/// A reason as a controller file written before reasons were typed spelled it
/// (`ArtifactInstallFailed`, `Rejected`, `PreviewFailed`, ...): so a restart after an upgrade
/// keeps the history and the failure count. An unknown word is `EngineError`, never an error.
pub fn legacy_reason(word: &str) -> Reason {
    if let Ok(r) = word.parse::<Reason>() {
        return r;
    }
    match word {
        "Rejected" => Reason::InvalidManifest,
        "Unfinished" => Reason::Paused,
        _ => match word.strip_suffix("Failed") {
            Some(state) => failed_reason(state),
            None => Reason::EngineError,
        },
    }
}

/// Serde for a stored `(Reason, message)` pair that also reads the words of before
/// ([`legacy_reason`]).
pub fn legacy_reason_and_message<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<(Reason, String)>, D::Error> {
    use serde::Deserialize;
    let w: Option<(String, String)> = Option::deserialize(d)?;
    Ok(w.map(|(r, m)| (legacy_reason(&r), m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_state_gives_its_reason() {
        for (at, want) in [
            ("ArtifactInstall", Reason::InstallFailed),
            ("ArtifactCommit gateway GW-B", Reason::CommitFailed),
            ("download of rtos", Reason::DownloadFailed),
            ("DownloadWithFileSizes rtos R1", Reason::DownloadFailed),
            ("ArtifactVerifyReboot rtos R1", Reason::RebootFailed),
            (
                "ArtifactVerifyRollbackReboot rtos R1",
                Reason::RollbackFailed,
            ),
            ("NeedsArtifactReboot rtos R1", Reason::QueryFailed),
            ("reboot", Reason::RebootFailed),
            ("", Reason::EngineError),
            ("somewhere else", Reason::EngineError),
        ] {
            assert_eq!(failed_reason(at), want, "{at:?}");
        }
    }

    #[test]
    fn a_gates_refusal_keeps_its_reason() {
        let rejected = End::Rejected {
            problems: vec!["InsufficientSpace: not enough space: ...".into()],
        };
        assert_eq!(end_reason(&rejected), Some(Reason::InsufficientSpace));
        let rolled = End::RolledBack {
            failed_at: "gate BeforeCommit".into(),
            reason: "HealthCheckFailed: health check `/c` exited with 1".into(),
        };
        assert_eq!(end_reason(&rolled), Some(Reason::HealthCheckFailed));
        // Only a gate's words: an Interface's output that happens to look alike does not.
        let plain = End::RolledBack {
            failed_at: "ArtifactInstall rtos A".into(),
            reason: "ConsentDenied: exit 1".into(),
        };
        assert_eq!(end_reason(&plain), Some(Reason::InstallFailed));
        assert_eq!(
            end_reason(&End::Rejected {
                problems: vec!["rtos: no Artifact".into()]
            }),
            Some(Reason::InvalidManifest)
        );
    }

    #[test]
    fn the_words_of_before_read_as_their_reasons() {
        for (word, want) in [
            ("ArtifactInstallFailed", Reason::InstallFailed),
            ("ArtifactCommitFailed", Reason::CommitFailed),
            ("DownloadFailed", Reason::DownloadFailed),
            ("ArtifactRollbackFailed", Reason::RollbackFailed),
            ("IdentityFailed", Reason::QueryFailed),
            ("RebootFailed", Reason::RebootFailed),
            ("Inconsistent", Reason::Inconsistent),
            ("Rejected", Reason::InvalidManifest),
            ("Paused", Reason::Paused),
            ("Unfinished", Reason::Paused),
            ("JournalUnreadable", Reason::JournalUnreadable),
            ("PreviewFailed", Reason::EngineError),
            ("ResumeFailed", Reason::EngineError),
            ("DeploymentFailed", Reason::EngineError),
            ("EngineError", Reason::EngineError),
            ("Whatever", Reason::EngineError),
        ] {
            assert_eq!(legacy_reason(word), want, "{word}");
        }
    }

    #[test]
    fn only_the_rollback_action_runs_with_downgrades_allowed() {
        assert!(run_options(&Origin::RollbackAction).allow_downgrade);
        for o in [Origin::Api, Origin::UpdateModule, Origin::Cli] {
            let opts = run_options(&o);
            assert!(!opts.allow_downgrade && !opts.exit_on_reboot && opts.stop_before.is_empty());
        }
    }
}
