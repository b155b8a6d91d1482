//! Where the controller stands, as Kubernetes-style conditions.
//!
//! The reconciler says what [`Phase`] it is in; [`conditions_for`] turns that into the four
//! conditions (Ready is the summary; Progressing, Degraded and Stalled explain it) and
//! [`merge`] keeps `lastTransitionTime` unless a condition's status actually changed. Pure:
//! the time is passed in.

use crate::model::{Condition, ConditionStatus, ConditionType, Reason};

/// What the reconciler is doing about the desired generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Nothing was ever applied.
    NoDesiredState,
    /// The journal is being replayed (before the first reconcile).
    Recovering,
    /// A deployment runs (or is being planned): `Deploying` or `CorrectingDrift`.
    Progressing { reason: Reason, message: String },
    /// The Update Module drives a deployment; baton waits for its next call.
    HandedOff { message: String },
    /// Every component runs the desired Artifacts.
    InSync,
    /// New reconciles are suspended by the operator.
    Suspended,
    /// A component no longer runs its desired Artifact; the drift policy says report only.
    Drifted { message: String },
    /// The last attempt failed; another one is scheduled.
    Failed { reason: Reason, message: String },
    /// Retries are spent (or the Manifest cannot be deployed as is): waiting for a new
    /// generation or a retry action.
    Stalled { reason: Reason, message: String },
}

impl Phase {
    /// Every [`Phase::label`], in declaration order (`baton_controller_phase` creates them
    /// all at 0).
    pub const LABELS: [&'static str; 9] = [
        "no_desired_state",
        "recovering",
        "progressing",
        "handed_off",
        "in_sync",
        "suspended",
        "drifted",
        "backoff",
        "stalled",
    ];

    /// The phase as `baton_controller_phase{phase}` names it.
    pub const fn label(&self) -> &'static str {
        match self {
            Phase::NoDesiredState => "no_desired_state",
            Phase::Recovering => "recovering",
            Phase::Progressing { .. } => "progressing",
            Phase::HandedOff { .. } => "handed_off",
            Phase::InSync => "in_sync",
            Phase::Suspended => "suspended",
            Phase::Drifted { .. } => "drifted",
            // A failed attempt with another one scheduled: the System waits out a backoff.
            Phase::Failed { .. } => "backoff",
            Phase::Stalled { .. } => "stalled",
        }
    }
}

type Row = (ConditionType, ConditionStatus, Reason, String);

/// The four conditions for a phase, in a fixed order.
pub fn conditions_for(phase: &Phase) -> [Row; 4] {
    use ConditionStatus::{False, True, Unknown};
    use ConditionType::*;
    use Reason::{
        DriftDetected, Idle, InSync, NoDesiredState, Recovering, RetryScheduled, Suspended,
        UpdateModuleInControl,
    };
    let row = |t, s, r: Reason, m: &str| (t, s, r, m.to_string());
    match phase {
        Phase::NoDesiredState => [
            row(
                Ready,
                Unknown,
                NoDesiredState,
                "no Manifest has been applied",
            ),
            row(Progressing, False, Idle, ""),
            row(Degraded, False, NoDesiredState, ""),
            row(Stalled, False, NoDesiredState, ""),
        ],
        Phase::Recovering => [
            row(Ready, Unknown, Recovering, "replaying the journal"),
            row(Progressing, True, Recovering, "replaying the journal"),
            row(Degraded, Unknown, Recovering, ""),
            row(Stalled, False, Recovering, ""),
        ],
        Phase::Progressing { reason, message } => [
            row(Ready, False, *reason, message),
            row(Progressing, True, *reason, message),
            row(Degraded, False, *reason, ""),
            row(Stalled, False, *reason, ""),
        ],
        Phase::HandedOff { message } => [
            row(Ready, False, UpdateModuleInControl, message),
            row(Progressing, True, UpdateModuleInControl, message),
            row(Degraded, False, UpdateModuleInControl, ""),
            row(Stalled, False, UpdateModuleInControl, ""),
        ],
        Phase::InSync => [
            row(
                Ready,
                True,
                InSync,
                "every component runs its desired Artifact",
            ),
            row(Progressing, False, InSync, ""),
            row(Degraded, False, InSync, ""),
            row(Stalled, False, InSync, ""),
        ],
        Phase::Suspended => [
            row(Ready, Unknown, Suspended, "reconciliation is suspended"),
            row(Progressing, False, Suspended, ""),
            row(Degraded, False, Suspended, ""),
            row(Stalled, False, Suspended, ""),
        ],
        Phase::Drifted { message } => [
            row(Ready, False, DriftDetected, message),
            row(Progressing, False, DriftDetected, ""),
            row(Degraded, True, DriftDetected, message),
            row(Stalled, False, DriftDetected, ""),
        ],
        Phase::Failed { reason, message } => [
            row(Ready, False, *reason, message),
            row(Progressing, False, RetryScheduled, message),
            row(Degraded, True, *reason, message),
            row(Stalled, False, RetryScheduled, ""),
        ],
        Phase::Stalled { reason, message } => [
            row(Ready, False, *reason, message),
            row(Progressing, False, *reason, ""),
            row(Degraded, True, *reason, message),
            row(Stalled, True, *reason, message),
        ],
    }
}

/// The conditions after entering `phase`: `lastTransitionTime` moves only for a condition
/// whose status changed.
pub fn merge(old: &[Condition], phase: &Phase, generation: u64, now: &str) -> Vec<Condition> {
    conditions_for(phase)
        .into_iter()
        .map(|(type_, status, reason, message)| {
            let since = old
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_string());
            Condition {
                type_,
                status,
                reason,
                message,
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_controller_phase_is_listed() {
        let s = String::new;
        let r = Reason::EngineError;
        let phases = [
            Phase::NoDesiredState,
            Phase::Recovering,
            Phase::Progressing {
                reason: Reason::Deploying,
                message: s(),
            },
            Phase::HandedOff { message: s() },
            Phase::InSync,
            Phase::Suspended,
            Phase::Drifted { message: s() },
            Phase::Failed {
                reason: r,
                message: s(),
            },
            Phase::Stalled {
                reason: r,
                message: s(),
            },
        ];
        let labels: Vec<&str> = phases.iter().map(Phase::label).collect();
        assert_eq!(labels, Phase::LABELS);
    }
    use ConditionStatus::*;

    fn phases() -> Vec<Phase> {
        let s = |x: &str| x.to_string();
        vec![
            Phase::NoDesiredState,
            Phase::Recovering,
            Phase::Progressing {
                reason: Reason::Deploying,
                message: s("m"),
            },
            Phase::HandedOff { message: s("m") },
            Phase::InSync,
            Phase::Suspended,
            Phase::Drifted { message: s("m") },
            Phase::Failed {
                reason: Reason::InstallFailed,
                message: s("m"),
            },
            Phase::Stalled {
                reason: Reason::RetryLimitReached,
                message: s("m"),
            },
        ]
    }

    #[test]
    fn ready_is_true_only_in_sync_and_stalled_only_when_stalled() {
        for p in phases() {
            let rows = conditions_for(&p);
            let status = |t| rows.iter().find(|r| r.0 == t).unwrap().1;
            assert_eq!(
                status(ConditionType::Ready) == True,
                p == Phase::InSync,
                "{p:?}"
            );
            assert_eq!(
                status(ConditionType::Stalled) == True,
                matches!(p, Phase::Stalled { .. }),
                "{p:?}"
            );
            // Ready and Degraded are never both true; Progressing and Stalled neither.
            assert!(
                !(status(ConditionType::Ready) == True && status(ConditionType::Degraded) == True)
            );
            assert!(
                !(status(ConditionType::Progressing) == True
                    && status(ConditionType::Stalled) == True)
            );
            for r in &rows {
                let w = r.2.as_str();
                assert!(
                    w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && w.chars().all(|c| c.is_ascii_alphanumeric()),
                    "reason {w:?} of {p:?} is not CamelCase",
                );
            }
        }
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let first = merge(
            &[],
            &Phase::Failed {
                reason: Reason::DownloadFailed,
                message: "x".into(),
            },
            1,
            "t1",
        );
        assert!(first.iter().all(|c| c.last_transition_time == "t1"));
        // Failing again with another reason: nothing changed status.
        let again = merge(
            &first,
            &Phase::Failed {
                reason: Reason::InstallFailed,
                message: "y".into(),
            },
            2,
            "t2",
        );
        assert!(
            again.iter().all(|c| c.last_transition_time == "t1"),
            "{again:?}"
        );
        assert!(again.iter().all(|c| c.observed_generation == 2));
        let ok = merge(&again, &Phase::InSync, 2, "t3");
        let at = |cs: &[Condition], t| {
            cs.iter()
                .find(|c| c.type_ == t)
                .unwrap()
                .last_transition_time
                .clone()
        };
        assert_eq!(at(&ok, ConditionType::Ready), "t3");
        assert_eq!(at(&ok, ConditionType::Degraded), "t3");
        // Progressing and Stalled were False and stay False.
        assert_eq!(at(&ok, ConditionType::Progressing), "t1");
        assert_eq!(at(&ok, ConditionType::Stalled), "t1");
    }
}
