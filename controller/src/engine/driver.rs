//! The driver: runs the state machine's steps through an [`Executor`], persisting intent
//! before each step and outcome after it.
//!
//! The driver owns the ordering of persistence and side effects; the executor owns how a step
//! is carried out (Interfaces, Artifacts, the reboot command). Tests drive it with an
//! in-memory executor; baton drives it with [`super::exec`].

use std::collections::BTreeSet;
use std::future::Future;

use tracing::Instrument;

use std::time::{Duration, SystemTime};

use super::ending;
use super::gate::{Gate, GateContext, GatePhase, GatePoint, Verdict};
use super::journal::{Journal, JournalError};
use super::machine::{Boundary, CallResult, Interruption, Recovery, Step, StepResult};
use super::problem::Problem;
use super::progress::{Progress, ProgressSink};
use super::record::DeploymentRecord;
use super::report::End;
use super::states::State;
use crate::durable::fault;
use crate::model::Reason;

/// How one step is carried out.
pub trait Executor {
    /// Run a Call or Query step for every listed component, in parallel.
    fn run(&self, record: &DeploymentRecord, step: &Step) -> impl Future<Output = StepResult>;
    /// Reboot the host. Returns only if the reboot did not happen (an error, or a command
    /// that returned and the host is still up after the grace period).
    fn reboot(&self) -> impl Future<Output = CallResult>;
    /// The host's current boot id.
    fn boot_id(&self) -> Option<String>;
}

/// What the invocation asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--stop-before`: pause at these boundaries.
    pub stop_before: BTreeSet<Boundary>,
    /// `--exit-on-reboot`: instead of rebooting the host, stop and let the caller reboot.
    pub exit_on_reboot: bool,
    /// Install even a Manifest `DowngradeProtection` would refuse: the System's own return
    /// to its last good Manifest (see [`super::downgrade`]).
    pub allow_downgrade: bool,
    /// `--plan-hash`: run only if the plan is still this reviewed one (`baton plan`);
    /// otherwise the deployment is refused, touching nothing, with what changed.
    pub plan_hash: Option<String>,
}

/// The longest wait before a waiting gate is asked again.
pub const RECHECK: Duration = Duration::from_secs(30);
/// The shortest: a gate answering `Wait` with a time already past is not asked in a loop.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Asks `gate` at `ctx.point` until it proceeds or refuses, reporting each wait through
/// `progress` (once, and again when its reason or words change: a gate may ask to be asked
/// every second); `Err` with the refusal.
///
/// This is the engine's safe point: between two steps, with the journal up to date. A newer
/// desired state superseding the deployment is one more gate here (`gates::supersede`).
pub(super) async fn pass(
    gate: &dyn Gate,
    mut ctx: GateContext,
    progress: &dyn ProgressSink,
) -> Result<(), Problem> {
    let started = tokio::time::Instant::now();
    let mut told: Option<(Reason, String)> = None;
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
                // A gate's `until` is a wall-clock instant (a maintenance window's end); the
                // wait itself is tokio's.
                #[allow(clippy::disallowed_methods)]
                let wait = until
                    .and_then(|u| u.duration_since(SystemTime::now()).ok())
                    .unwrap_or(RECHECK)
                    .clamp(MIN_WAIT, RECHECK);
                if told.as_ref() != Some(&(reason, message.clone())) {
                    tracing::info!(point = %ctx.point, %reason, %message, ?wait, "a gate holds the deployment");
                    progress.emit(Progress::Waiting {
                        point: ctx.point,
                        reason,
                        until,
                        message: message.clone(),
                    });
                    told = Some((reason, message));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The gates the deployment passes (see [`super::gate`]) and where their waits are told.
pub struct SafePoints<'a> {
    pub gate: &'a dyn Gate,
    pub progress: &'a dyn ProgressSink,
}

impl SafePoints<'_> {
    /// Asks the gate at `point` for `record`'s deployment; `Err` with its refusal.
    async fn pass(&self, point: GatePoint, record: &DeploymentRecord) -> Result<(), Problem> {
        let ctx = GateContext {
            point,
            deployment: Some(record.id.clone()),
            manifest: record.manifest.name.clone(),
            components: ending::changes(&record.plan),
            artifacts: artifact_files(&record.artifacts),
            waited: Default::default(),
        };
        pass(self.gate, ctx, self.progress).await
    }
}

/// The Artifact files of a deployment, as a gate is told them.
pub(super) fn artifact_files(
    artifacts: &[(crate::model::ComponentType, std::path::PathBuf)],
) -> Vec<(String, std::path::PathBuf)> {
    artifacts
        .iter()
        .map(|(t, p)| (t.to_string(), p.clone()))
        .collect()
}

/// What the driver reports as it goes (status, metrics, logs), each time right after the
/// journal write of `generation`. A step whose outcome rides on the next step's intent
/// (see `rides_on_next`) has no `step_finished`: the next `step_started` tells.
pub trait Observer {
    fn step_started(&mut self, _generation: u64, _record: &DeploymentRecord, _step: &Step) {}
    fn step_finished(
        &mut self,
        _generation: u64,
        _record: &DeploymentRecord,
        _step: &Step,
        _result: &StepResult,
    ) {
    }
}

/// An observer that ignores everything.
#[cfg(test)]
pub struct Quiet;
#[cfg(test)]
impl Observer for Quiet {}

/// Recover a record found with a step in flight. `explicit_resume` is true when a person or
/// the Update Module asked to continue (`resume`), false when baton restarted by itself.
pub fn recover(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    current_boot_id: Option<String>,
    explicit_resume: bool,
) -> Result<Recovery, JournalError> {
    let boot_changed = match (&record.boot_id_at_reboot, &current_boot_id) {
        (Some(then), Some(now)) => then != now,
        _ => false,
    };
    // A resume vouches for a reboot only if baton asked its caller for one: after baton's
    // own reboot command, an unchanged boot id means baton died before the host went down.
    let recovery = record.machine.recover(Interruption {
        boot_changed,
        explicit_resume: explicit_resume && record.reboot_delegated,
    });
    if recovery != Recovery::Clean {
        tracing::warn!(deployment = %record.id, ?recovery, boot_changed, "recovered an interrupted deployment");
        journal.write(Some(&*record))?;
    }
    Ok(recovery)
}

/// The gate points `step` is the first of, in the order they are asked (see
/// [`super::gate`]); none once the deployment is failing.
fn gate_points(record: &DeploymentRecord, step: &Step) -> Vec<GatePoint> {
    let m = &record.machine;
    if m.failure.is_some() {
        return vec![];
    }
    let none = |f: fn(&super::machine::Facts) -> bool| !m.members.iter().any(|x| f(&x.facts));
    let activate = GatePoint::BeforePhase(GatePhase::Activate);
    match step {
        Step::Call {
            state: State::ArtifactInstall,
            ..
        } if none(|f| f.install_started) => vec![
            GatePoint::BeforePhase(GatePhase::Install),
            GatePoint::BeforeDisruptive,
        ],
        Step::Call {
            state: State::ArtifactReboot,
            ..
        }
        | Step::HostReboot {
            rollback: false, ..
        } if none(|f| f.rebooted) => vec![activate],
        Step::Boundary(Boundary::ArtifactCommit) if none(|f| f.rebooted) => {
            vec![activate, GatePoint::BeforeCommit]
        }
        Step::Boundary(Boundary::ArtifactCommit) => vec![GatePoint::BeforeCommit],
        _ => vec![],
    }
}

/// Passes every gate point `step` is the first of; `false` when one refused (the
/// deployment then rolls back, and the refusal is in the journal).
async fn gates_pass(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    step: &Step,
    safe: &SafePoints<'_>,
) -> Result<bool, JournalError> {
    for point in gate_points(record, step) {
        if let Err(p) = safe.pass(point, record).await {
            match record.machine.refuse(point.as_str(), p.reason, &p.message) {
                Ok(()) => {
                    journal.write(Some(&*record))?;
                    return Ok(false);
                }
                // Gates are asked only where a rollback may start; should that ever not
                // hold, the refusal is logged and the step runs.
                Err(e) => {
                    tracing::error!(error = %e, %point, "a gate's refusal cannot stop the deployment here")
                }
            }
        }
    }
    Ok(true)
}

/// Run the deployment until it finishes, pauses, or needs the host rebooted.
pub async fn drive<E: Executor, O: Observer>(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    exec: &E,
    opts: &RunOptions,
    safe: &SafePoints<'_>,
    observer: &mut O,
) -> Result<End, JournalError> {
    // A boundary we were paused at is crossed by this very invocation (that is what resume
    // and rollback mean), whatever its own `--stop-before` list says.
    let mut resuming_at = record.paused.take();
    if let Some(step) = record.machine.in_flight.clone() {
        // A repeatable step left in flight by recovery runs again first.
        assert!(
            matches!(step, Step::Call { .. } | Step::Query { .. }),
            "drive() called on a record that was not recovered: {step:?}"
        );
        run_step(journal, record, exec, &step, observer).await?;
    }
    loop {
        let step = record.machine.next_step();
        if matches!(step, Step::Call { .. } | Step::HostReboot { .. })
            && !gates_pass(journal, record, &step, safe).await?
        {
            continue;
        }
        match step {
            Step::Done(outcome) => return Ok(ending::finished(record, &outcome)),
            Step::Boundary(b) => {
                // The gates come before a pause: with `--stop-before ArtifactCommit` (the
                // Update Module) the health soak runs before the install call returns, and
                // the resume that crosses the boundary has passed them already.
                let resumed_here = resuming_at == Some(b);
                resuming_at = None;
                if !resumed_here && !gates_pass(journal, record, &step, safe).await? {
                    continue;
                }
                if opts.stop_before.contains(&b) && !resumed_here {
                    record.paused = Some(b);
                    journal.write(Some(&*record))?;
                    return Ok(ending::paused(record, b));
                }
                record.machine.cross(b);
                fault::point(format_args!("boundary.before:{b:?}"));
                // Crossing the commit boundary is the commit decision: it must be durable
                // before the first ArtifactCommit (the first ArtifactCommit's intent carries
                // it when nothing comes between).
                if !rides_on_next(record) {
                    journal.write(Some(&*record))?;
                }
                fault::point(format_args!("boundary.after:{b:?}"));
            }
            Step::HostReboot { .. } => {
                record.machine.start(&step);
                record.boot_id_at_reboot = exec.boot_id();
                record.reboot_delegated = opts.exit_on_reboot;
                journal.write(Some(&*record))?;
                observer.step_started(journal.generation(), record, &step);
                if opts.exit_on_reboot {
                    return Ok(End::AwaitingReboot);
                }
                fault::point("reboot.before");
                let result = exec.reboot().instrument(step_span(record, &step)).await;
                // Still alive: the reboot did not happen.
                let result = StepResult::HostReboot(result);
                record.machine.finish(&step, result.clone());
                journal.write(Some(&*record))?;
                observer.step_finished(journal.generation(), record, &step, &result);
            }
            Step::Call { .. } | Step::Query { .. } => {
                run_step(journal, record, exec, &step, observer).await?;
            }
        }
    }
}

async fn run_step<E: Executor, O: Observer>(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    exec: &E,
    step: &Step,
    observer: &mut O,
) -> Result<(), JournalError> {
    let name = step_name(step);
    record.machine.start(step);
    fault::point(format_args!("intent.before:{name}"));
    journal.write(Some(&*record))?;
    fault::point(format_args!("intent.after:{name}"));
    observer.step_started(journal.generation(), record, step);
    let result = exec
        .run(record, step)
        .instrument(step_span(record, step))
        .await;
    fault::point(format_args!("outcome.before:{name}"));
    record.machine.finish(step, result.clone());
    if rides_on_next(record) {
        // The next step's intent, written before any of its calls, records this outcome.
        fault::point(format_args!("outcome.after:{name}"));
        return Ok(());
    }
    journal.write(Some(&*record))?;
    fault::point(format_args!("outcome.after:{name}"));
    observer.step_finished(journal.generation(), record, step, &result);
    Ok(())
}

/// Whether what `record` holds now may be journaled with the next step's intent instead of
/// on its own: one journal write (two fsyncs) less. Only when the next step starts at once
/// (no gate is asked before it, so no wait can come between) and baton stopping with that
/// step in flight recovers as it would from this record alone: recovery runs it again or
/// asks again (`Deployment::runs_again_if_interrupted`), which is what continuing from the
/// cursor does. A crash before that intent is durable finds the finished step still in
/// flight, as a crash during its own outcome write would.
fn rides_on_next(record: &mut DeploymentRecord) -> bool {
    let next = record.machine.next_step();
    super::machine::Deployment::runs_again_if_interrupted(&next)
        && gate_points(record, &next).is_empty()
}

/// The span of `step`: its order group and its name.
fn step_span(record: &DeploymentRecord, step: &Step) -> tracing::Span {
    let group = match step {
        Step::Call { group, .. } | Step::Query { group, .. } | Step::HostReboot { group, .. } => {
            Some(*group)
        }
        Step::Boundary(_) | Step::Done(_) => None,
    };
    let order = group
        .and_then(|g| record.plan.orders.get(g))
        .map(|o| o.get());
    super::spans::step(order, &step_name(step))
}

/// A stable name for fault points and logs: the state or query.
pub fn step_name(step: &Step) -> String {
    match step {
        Step::Call { state, .. } => state.to_string(),
        Step::Query { query, .. } => query.to_string(),
        Step::HostReboot {
            rollback: false, ..
        } => "HostReboot".into(),
        Step::HostReboot { rollback: true, .. } => "HostRollbackReboot".into(),
        Step::Boundary(b) => format!("{b:?}"),
        Step::Done(_) => "Done".into(),
    }
}
