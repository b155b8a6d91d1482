//! The few places the daemon reads the engine's answers: how a report ended, why, and the
//! options a deployment runs with. Pure.
//!
//! The engine's answers carry typed reasons ([`End::reason`], [`Problem::reason`]); what is
//! left here is the words for status, and reading the words older controller files stored
//! before reasons were typed ([`legacy_reason`]).

use super::reconciler::decide::Previewed;
use crate::engine::api::{
    failure_reason, ComponentRef, End, EngineError, Preview, Problem, RunOptions,
};
use crate::model::{Origin, Reason};

/// Why a deployment did not succeed and what to tell, for the status conditions; `None` for
/// a success.
pub fn end_failure(end: &End) -> Option<(Reason, String)> {
    let reason = end.reason()?;
    let message = match end {
        End::Success => return None,
        End::RolledBack {
            failed_at, message, ..
        } => format!("{failed_at}: {message}; rolled back"),
        End::Inconsistent {
            failed_at,
            message,
            components,
            ..
        } => inconsistent(failed_at, message, components),
        End::Rejected { problems } => Problem::join(problems, "; "),
        End::Paused { before, .. } => format!("the engine paused before {before:?}"),
        End::AwaitingReboot => "the host was not rebooted".into(),
    };
    Some((reason, message))
}

/// The words for a deployment that could not bring every component back.
pub fn inconsistent(failed_at: &str, message: &str, components: &[ComponentRef]) -> String {
    let names: Vec<String> = components
        .iter()
        .map(|c| format!("{} {}", c.component_type, c.id))
        .collect();
    format!(
        "{failed_at}: {message}; could not bring back: {}",
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
            message: Problem::join(problems, "; "),
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

/// The reason for a refused Manifest: the engine's, of its first problem (every problem
/// is in the message).
pub fn rejection_reason(problems: &[Problem]) -> Reason {
    problems
        .first()
        .map_or(Reason::InvalidManifest, |p| p.reason)
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
        // `<state>Failed`: the reason the engine gives a failure in that state.
        _ => match word.strip_suffix("Failed") {
            Some(state) => failure_reason(state),
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
    fn a_refusal_carries_the_engines_reason() {
        let problems = vec![
            Problem::new(Reason::Downgrade, "rtos: R2 is older than R3"),
            Problem::new(Reason::ArtifactNotFound, "gateway: no Artifact"),
        ];
        assert_eq!(rejection_reason(&problems), Reason::Downgrade);
        assert_eq!(rejection_reason(&[]), Reason::InvalidManifest);
        let end = End::Rejected { problems };
        assert_eq!(
            end_failure(&end),
            Some((
                Reason::Downgrade,
                "rtos: R2 is older than R3; gateway: no Artifact".to_string()
            ))
        );
        match previewed(&Ok(Preview::Rejected {
            problems: vec![Problem::new(Reason::Incompatible, "x")],
        })) {
            Previewed::Rejected { reason, .. } => assert_eq!(reason, Reason::Incompatible),
            other => panic!("{other:?}"),
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
