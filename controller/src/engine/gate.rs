//! The gates between plan and execute: the engine asks, at fixed points of a deployment,
//! whether it may go on (a maintenance window, an update lock, the owner's consent, a
//! health soak, enough disk). Implementations live in `gates/`; [`Open`] always proceeds.
//!
//! The points, in the order a deployment meets them: [`GatePoint::BeforeFirstState`]
//! (after planning and verifying, before the deployment is journaled: a refusal there
//! touches nothing), [`GatePhase::Download`] (same moment, after it), then at the first
//! ArtifactInstall [`GatePhase::Install`] and [`GatePoint::BeforeDisruptive`], before the
//! first reboot (or, with none, at the commit boundary) [`GatePhase::Activate`], and at the
//! commit boundary [`GatePoint::BeforeCommit`]. Each is asked once per deployment; a
//! resumed deployment is asked again at the points it has not passed.
//!
//! `Wait`: the engine reports it ([`super::progress::Progress::Waiting`]) and asks again
//! (at `until` at the latest, and at least every [`RECHECK`]). `Refuse`: the deployment
//! ends, with nothing touched before the first state, rolled back after it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use super::problem::Problem;
use super::progress::{Progress, ProgressSink};
use super::report::PlannedChange;
use crate::model::Reason;

/// A boxed future, so the engine's seams can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A phase a person may have to consent to (Kanto's download, update, activate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatePhase {
    Download,
    Install,
    Activate,
}

/// Where in a deployment a gate is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatePoint {
    BeforeFirstState,
    BeforeDisruptive,
    BeforePhase(GatePhase),
    BeforeCommit,
}

impl GatePoint {
    /// The point's name (logs, status, a refused deployment's `failed_at`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GatePoint::BeforeFirstState => "BeforeFirstState",
            GatePoint::BeforeDisruptive => "BeforeDisruptive",
            GatePoint::BeforePhase(GatePhase::Download) => "BeforeDownload",
            GatePoint::BeforePhase(GatePhase::Install) => "BeforeInstall",
            GatePoint::BeforePhase(GatePhase::Activate) => "BeforeActivate",
            GatePoint::BeforeCommit => "BeforeCommit",
        }
    }
}

impl std::fmt::Display for GatePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a gate is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateContext {
    pub point: GatePoint,
    /// The deployment's id; `None` before it is journaled (`BeforeFirstState`, `Download`).
    pub deployment: Option<String>,
    pub manifest: String,
    /// What the deployment changes.
    pub components: Vec<PlannedChange>,
    /// How long the engine has waited at this point so far.
    pub waited: Duration,
}

/// A gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Not yet: ask again later (at `until` at the latest, when given).
    Wait {
        reason: Reason,
        until: Option<SystemTime>,
        message: String,
    },
    /// No: the deployment ends.
    Refuse {
        reason: Reason,
        message: String,
    },
}

/// A check between plan and execute.
pub trait Gate: Send + Sync {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict>;
}

/// The gate that always proceeds (the only one until `gates/` has others).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn check<'a>(&'a self, _: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async { Verdict::Proceed })
    }
}

/// The longest wait before a waiting gate is asked again.
pub const RECHECK: Duration = Duration::from_secs(30);
/// The shortest: a gate answering `Wait` with a time already past is not asked in a loop.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Asks `gate` at `ctx.point` until it proceeds or refuses, reporting every wait through
/// `progress`; `Err` with the refusal.
///
/// This is the engine's safe point: between two steps, with the journal up to date. A
/// cancellation ("supersede at the next safe point") belongs here too, as one more check
/// before the gate is asked.
pub(crate) async fn pass(
    gate: &dyn Gate,
    mut ctx: GateContext,
    progress: &dyn ProgressSink,
) -> Result<(), Problem> {
    let started = tokio::time::Instant::now();
    loop {
        ctx.waited = started.elapsed();
        match gate.check(&ctx).await {
            Verdict::Proceed => return Ok(()),
            Verdict::Refuse { reason, message } => {
                tracing::warn!(point = %ctx.point, %reason, %message, "a gate refused the deployment");
                return Err(Problem::new(reason, format!("{}: {message}", ctx.point)));
            }
            Verdict::Wait {
                reason,
                until,
                message,
            } => {
                let wait = until
                    .and_then(|u| u.duration_since(SystemTime::now()).ok())
                    .unwrap_or(RECHECK)
                    .clamp(MIN_WAIT, RECHECK);
                tracing::info!(point = %ctx.point, %reason, %message, ?wait, "a gate holds the deployment");
                progress.emit(Progress::Waiting {
                    point: ctx.point,
                    reason,
                    until,
                    message,
                });
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers from a script, then proceeds; remembers what it was asked.
    struct Scripted {
        answers: Mutex<Vec<Verdict>>,
        asked: Mutex<Vec<(GatePoint, Duration)>>,
    }

    impl Gate for Scripted {
        fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
            self.asked.lock().unwrap().push((ctx.point, ctx.waited));
            let next = self.answers.lock().unwrap().pop();
            Box::pin(async move { next.unwrap_or(Verdict::Proceed) })
        }
    }

    struct Seen(Mutex<Vec<Progress>>);
    impl ProgressSink for Seen {
        fn emit(&self, e: Progress) {
            self.0.lock().unwrap().push(e);
        }
    }

    fn ctx(point: GatePoint) -> GateContext {
        GateContext {
            point,
            deployment: None,
            manifest: "m".into(),
            components: vec![],
            waited: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_is_reported_and_the_gate_asked_again_until_it_proceeds() {
        let wait = || Verdict::Wait {
            reason: Reason::WaitingForMaintenanceWindow,
            until: None,
            message: "outside the window".into(),
        };
        let gate = Scripted {
            answers: Mutex::new(vec![wait(), wait()]),
            asked: Mutex::new(vec![]),
        };
        let seen = Seen(Mutex::new(vec![]));
        let point = GatePoint::BeforePhase(GatePhase::Install);
        pass(&gate, ctx(point), &seen).await.unwrap();
        let asked = gate.asked.lock().unwrap().clone();
        assert_eq!(
            asked,
            vec![
                (point, Duration::ZERO),
                (point, RECHECK),
                (point, RECHECK * 2)
            ]
        );
        let seen = seen.0.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(matches!(
            &seen[0],
            Progress::Waiting { point: p, reason: Reason::WaitingForMaintenanceWindow, .. } if *p == point
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_a_problem_with_the_gates_reason() {
        let gate = Scripted {
            answers: Mutex::new(vec![Verdict::Refuse {
                reason: Reason::ConsentDenied,
                message: "the owner said no".into(),
            }]),
            asked: Mutex::new(vec![]),
        };
        let p = pass(
            &gate,
            ctx(GatePoint::BeforeCommit),
            &super::super::progress::NoProgress,
        )
        .await
        .unwrap_err();
        assert_eq!(p.reason, Reason::ConsentDenied);
        assert_eq!(p.message, "BeforeCommit: the owner said no");
        assert!(pass(
            &Open,
            ctx(GatePoint::BeforeCommit),
            &super::super::progress::NoProgress
        )
        .await
        .is_ok());
    }
}
