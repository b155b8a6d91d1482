//! What one look of the reconciler does, decided from facts alone (pure).
//!
//! [`decide`] is the controller's whole policy as one table: the journal first, then the
//! desired state, suspension, the retry rules, drift, and what the engine's preview said.
//! The loop ([`super::act`]) gathers the [`Facts`], acts on the [`Decision`], and, when the
//! decision is [`Decision::Preview`], asks the engine and decides again with the answer. So
//! the rules are tested here without a clock, a file or an engine, and a new rule (a gate, a
//! policy) is a new fact and a new row, not another branch in the loop.

use std::time::Duration;

use crate::config::DriftPolicy;
use crate::daemon::backoff::RetryPolicy;
use crate::daemon::status::conditions::Phase;
use crate::model::Reason;

/// What the journal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journal {
    Empty,
    /// A deployment the Update Module drives (paused at a boundary, or handed to it).
    HandedOff {
        manifest: String,
        position: String,
    },
    /// A deployment nobody drives any more: a crash left it (ours or an in-process CLI's).
    Orphaned,
    /// The journal cannot be read.
    Unreadable {
        message: String,
    },
}

/// How a failed desired state is tried again, from its origin and the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retried after a backoff in the background (every door but Kanto, whose backend
    /// decides).
    pub in_background: bool,
    /// The retry policy allows no further attempt after the failures so far.
    pub exhausted: bool,
}

/// What the engine's preview of the desired Manifest said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previewed {
    /// The engine could not answer.
    Failed {
        message: String,
    },
    /// The Manifest cannot be deployed as it is.
    Rejected {
        reason: Reason,
        message: String,
    },
    InSync,
    /// These components would change (`rtos A -> v2, ...`).
    Changes {
        listed: String,
    },
}

/// Everything one look knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub journal: Journal,
    /// The desired generation (`None`: nothing was ever applied).
    pub desired: Option<u64>,
    pub suspended: bool,
    /// Failed attempts at the desired generation since its last success.
    pub failures: u32,
    /// Why the last attempt failed.
    pub last_error: Option<(Reason, String)>,
    pub retry: Retry,
    /// A backoff of the desired generation still runs for this long.
    pub backoff_left: Option<Duration>,
    /// The desired generation was deployed (or found in sync) before.
    pub synced: bool,
    pub drift: DriftPolicy,
    /// The resync timer woke the loop: the components are observed again.
    pub resync: bool,
    /// The preview, once asked ([`Decision::Preview`]).
    pub preview: Option<Previewed>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Settle the deployment in the journal, then look again.
    Recover,
    /// Say where things stand and do nothing else; `observe`: refresh the components first.
    Report { phase: Phase, observe: bool },
    /// Ask the engine what deploying the desired Manifest would do, then decide again.
    Preview,
    /// An attempt failed: count it and back off (or stall).
    Fail { reason: Reason, message: String },
    /// Every component runs its desired Artifact: record the success.
    Succeed,
    /// Components drifted and the policy says report only.
    ReportDrift { listed: String },
    /// Deploy the desired generation; `drift`: it was in sync before (drift correction).
    Deploy { drift: bool, listed: String },
}

/// The table.
pub fn decide(f: &Facts) -> Decision {
    match &f.journal {
        Journal::Unreadable { message } => {
            return Decision::Fail {
                reason: Reason::JournalUnreadable,
                message: message.clone(),
            }
        }
        Journal::HandedOff { manifest, position } => {
            return Decision::Report {
                phase: Phase::HandedOff {
                    message: format!("'{manifest}' {position}: waiting for the Update Module"),
                },
                observe: false,
            }
        }
        Journal::Orphaned => return Decision::Recover,
        Journal::Empty => {}
    }
    let report = |phase, observe| Decision::Report { phase, observe };
    if f.desired.is_none() {
        return report(Phase::NoDesiredState, f.resync);
    }
    if f.suspended {
        return report(Phase::Suspended, false);
    }
    if f.failures > 0 && (!f.retry.in_background || f.retry.exhausted) {
        return report(stalled(f.failures, f.last_error.as_ref(), f.retry), false);
    }
    if let Some(left) = f.backoff_left {
        // Level, not edge: after a restart the status must say so too.
        let (reason, message) = f
            .last_error
            .clone()
            .unwrap_or((Reason::EngineError, String::new()));
        return report(
            Phase::Failed {
                reason,
                message: format!(
                    "{message} (attempt {}; next in {}s)",
                    f.failures,
                    left.as_secs()
                ),
            },
            false,
        );
    }
    if f.synced && f.drift == DriftPolicy::Disabled {
        return report(Phase::InSync, f.resync);
    }
    match &f.preview {
        None => Decision::Preview,
        Some(Previewed::Failed { message }) => Decision::Fail {
            reason: Reason::EngineError,
            message: message.clone(),
        },
        Some(Previewed::Rejected { reason, message }) => Decision::Fail {
            reason: *reason,
            message: message.clone(),
        },
        Some(Previewed::InSync) => Decision::Succeed,
        Some(Previewed::Changes { listed }) if f.synced && f.drift == DriftPolicy::Warn => {
            Decision::ReportDrift {
                listed: listed.clone(),
            }
        }
        Some(Previewed::Changes { listed }) => Decision::Deploy {
            drift: f.synced,
            listed: listed.clone(),
        },
    }
}

/// After the `failures`-th failed attempt: wait this long and try again, or `None`: stall.
pub fn next_attempt(policy: &RetryPolicy, in_background: bool, failures: u32) -> Option<Duration> {
    if in_background {
        policy.delay(failures)
    } else {
        None
    }
}

/// The phase of a desired state that is no longer retried.
pub fn stalled(failures: u32, last: Option<&(Reason, String)>, retry: Retry) -> Phase {
    let (reason, message) = last
        .cloned()
        .unwrap_or((Reason::EngineError, String::new()));
    let why = if retry.in_background {
        format!("gave up after {failures} failed attempts")
    } else {
        "not retried in the background: its sender decides whether to send it again".into()
    };
    Phase::Stalled {
        reason: Reason::RetryLimitReached,
        message: format!(
            "{why} (last: {reason}: {message}); apply a new Manifest or POST /v1/actions/retry"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A desired generation, never failed, not in sync yet, nothing in the journal.
    fn base() -> Facts {
        Facts {
            journal: Journal::Empty,
            desired: Some(3),
            suspended: false,
            failures: 0,
            last_error: None,
            retry: Retry {
                in_background: true,
                exhausted: false,
            },
            backoff_left: None,
            synced: false,
            drift: DriftPolicy::Warn,
            resync: false,
            preview: None,
        }
    }

    fn failed(n: u32) -> Facts {
        Facts {
            failures: n,
            last_error: Some((Reason::InstallFailed, "rtos A: exit 1".into())),
            ..base()
        }
    }

    fn changes() -> Option<Previewed> {
        Some(Previewed::Changes {
            listed: "rtos A -> v2".into(),
        })
    }

    fn phase(d: &Decision) -> Option<&Phase> {
        match d {
            Decision::Report { phase, .. } => Some(phase),
            _ => None,
        }
    }

    #[test]
    fn the_table() {
        use Decision::*;
        let listed = || "rtos A -> v2".to_string();
        let rows: Vec<(&str, Facts, Decision)> = vec![
            (
                "an unreadable journal is a failed attempt, before anything else",
                Facts {
                    journal: Journal::Unreadable {
                        message: "crc".into(),
                    },
                    suspended: true,
                    ..base()
                },
                Fail {
                    reason: Reason::JournalUnreadable,
                    message: "crc".into(),
                },
            ),
            (
                "a deployment handed to the Update Module is left to it, even when suspended",
                Facts {
                    journal: Journal::HandedOff {
                        manifest: "m1".into(),
                        position: "paused before ArtifactCommit".into(),
                    },
                    suspended: true,
                    preview: changes(),
                    ..base()
                },
                Report {
                    phase: Phase::HandedOff {
                        message: "'m1' paused before ArtifactCommit: waiting for the Update Module"
                            .into(),
                    },
                    observe: false,
                },
            ),
            (
                "a deployment a crash left is settled first",
                Facts {
                    journal: Journal::Orphaned,
                    desired: None,
                    ..base()
                },
                Recover,
            ),
            (
                "nothing desired: say so",
                Facts {
                    desired: None,
                    ..base()
                },
                Report {
                    phase: Phase::NoDesiredState,
                    observe: false,
                },
            ),
            (
                "nothing desired at a resync: the components are still observed",
                Facts {
                    desired: None,
                    resync: true,
                    ..base()
                },
                Report {
                    phase: Phase::NoDesiredState,
                    observe: true,
                },
            ),
            (
                "suspended beats a due retry",
                Facts {
                    suspended: true,
                    ..failed(1)
                },
                Report {
                    phase: Phase::Suspended,
                    observe: false,
                },
            ),
            (
                "backing off: report the last failure and when the next attempt is",
                Facts {
                    backoff_left: Some(Duration::from_secs(7)),
                    ..failed(2)
                },
                Report {
                    phase: Phase::Failed {
                        reason: Reason::InstallFailed,
                        message: "rtos A: exit 1 (attempt 2; next in 7s)".into(),
                    },
                    observe: false,
                },
            ),
            ("the backoff is over: look again", failed(2), Preview),
            (
                "in sync before and drift not looked for: in sync, without asking the engine",
                Facts {
                    synced: true,
                    drift: DriftPolicy::Disabled,
                    resync: true,
                    ..base()
                },
                Report {
                    phase: Phase::InSync,
                    observe: true,
                },
            ),
            (
                "in sync before, drift looked for: preview",
                Facts {
                    synced: true,
                    drift: DriftPolicy::Enabled,
                    ..base()
                },
                Preview,
            ),
            (
                "the engine could not preview: a failed attempt",
                Facts {
                    preview: Some(Previewed::Failed {
                        message: "topology: no such file".into(),
                    }),
                    ..base()
                },
                Fail {
                    reason: Reason::EngineError,
                    message: "topology: no such file".into(),
                },
            ),
            (
                "the engine refuses the Manifest: a failed attempt with the engine's reason",
                Facts {
                    preview: Some(Previewed::Rejected {
                        reason: Reason::ArtifactNotFound,
                        message: "rtos: no Artifact named v9".into(),
                    }),
                    ..base()
                },
                Fail {
                    reason: Reason::ArtifactNotFound,
                    message: "rtos: no Artifact named v9".into(),
                },
            ),
            (
                "nothing to change: a success",
                Facts {
                    preview: Some(Previewed::InSync),
                    ..base()
                },
                Succeed,
            ),
            (
                "a new generation with changes: deploy",
                Facts {
                    preview: changes(),
                    ..base()
                },
                Deploy {
                    drift: false,
                    listed: listed(),
                },
            ),
            (
                "a failed generation whose backoff ended: deploy again",
                Facts {
                    preview: changes(),
                    ..failed(1)
                },
                Deploy {
                    drift: false,
                    listed: listed(),
                },
            ),
            (
                "drift, policy warn: report only",
                Facts {
                    synced: true,
                    preview: changes(),
                    ..base()
                },
                ReportDrift { listed: listed() },
            ),
            (
                "drift, policy enabled: correct it",
                Facts {
                    synced: true,
                    drift: DriftPolicy::Enabled,
                    preview: changes(),
                    ..base()
                },
                Deploy {
                    drift: true,
                    listed: listed(),
                },
            ),
        ];
        for (what, facts, want) in rows {
            assert_eq!(decide(&facts), want, "{what}");
        }
    }

    #[test]
    fn stalled_when_retries_are_spent_or_the_origin_is_not_retried() {
        let spent = Facts {
            retry: Retry {
                in_background: true,
                exhausted: true,
            },
            preview: changes(),
            ..failed(5)
        };
        let p = phase(&decide(&spent)).cloned().unwrap();
        assert!(
            matches!(
                &p,
                Phase::Stalled { reason: Reason::RetryLimitReached, message }
                    if message.starts_with("gave up after 5 failed attempts (last: InstallFailed: rtos A: exit 1)")
            ),
            "{p:?}"
        );

        // Kanto: one failure is final for that desired state; the backend decides.
        let kanto = Facts {
            retry: Retry {
                in_background: false,
                exhausted: false,
            },
            preview: changes(),
            ..failed(1)
        };
        let p = phase(&decide(&kanto)).cloned().unwrap();
        assert!(
            matches!(
                &p,
                Phase::Stalled { reason: Reason::RetryLimitReached, message }
                    if message.contains("not retried in the background")
            ),
            "{p:?}"
        );
        // Before any failure it deploys like any other; drift is still corrected.
        let fresh = Facts {
            failures: 0,
            last_error: None,
            ..kanto.clone()
        };
        assert!(matches!(
            decide(&fresh),
            Decision::Deploy { drift: false, .. }
        ));
        let drifted = Facts {
            synced: true,
            drift: DriftPolicy::Enabled,
            ..fresh
        };
        assert!(matches!(
            decide(&drifted),
            Decision::Deploy { drift: true, .. }
        ));
    }

    #[test]
    fn the_next_attempt_follows_the_policy_unless_the_origin_is_not_retried() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            limit: 2,
            seed: 1,
        };
        assert!(next_attempt(&p, true, 1).is_some());
        assert!(next_attempt(&p, true, 2).is_some());
        assert_eq!(next_attempt(&p, true, 3), None);
        assert_eq!(next_attempt(&p, false, 1), None);
    }

    #[test]
    fn a_decision_never_previews_twice() {
        // Whatever the facts, once the preview is known the answer is not Preview again.
        for preview in [
            Previewed::InSync,
            Previewed::Failed {
                message: String::new(),
            },
            Previewed::Rejected {
                reason: Reason::Downgrade,
                message: String::new(),
            },
            Previewed::Changes {
                listed: String::new(),
            },
        ] {
            for synced in [false, true] {
                for drift in [
                    DriftPolicy::Enabled,
                    DriftPolicy::Warn,
                    DriftPolicy::Disabled,
                ] {
                    let f = Facts {
                        synced,
                        drift,
                        preview: Some(preview.clone()),
                        ..base()
                    };
                    assert_ne!(decide(&f), Decision::Preview, "{f:?}");
                }
            }
        }
    }
}
