//! The driver: runs the state machine's steps through an [`Executor`], persisting intent
//! before each step and outcome after it.
//!
//! The driver owns the ordering of persistence and side effects; the executor owns how a step
//! is carried out (Interfaces, Artifacts, the reboot command). Tests drive it with an
//! in-memory executor; baton drives it with [`super::exec`].

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::journal::{Journal, JournalError};
use super::machine::{
    Boundary, CallResult, Deployment, Interruption, Outcome, Recovery, Step, StepResult,
};
use super::plan::Plan;
use super::store::StoredMeta;
use crate::durable::fault;
use crate::model::ComponentType;

/// Everything the journal holds about the deployment in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Unique per deployment (seconds since the epoch and a counter).
    pub id: String,
    pub manifest: StoredMeta,
    pub plan: Plan,
    /// The local file each component type's Artifact was resolved to at planning time.
    pub artifacts: Vec<(ComponentType, PathBuf)>,
    pub machine: Deployment,
    /// The host's boot id when the last host reboot started.
    pub boot_id_at_reboot: Option<String>,
    /// The last host reboot was left to the caller (`--exit-on-reboot`), who vouches for it
    /// by resuming. Only then does an explicit `resume` count as proof of a reboot.
    #[serde(default)]
    pub reboot_delegated: bool,
    /// Set while the deployment waits at a `--stop-before` boundary.
    pub paused: Option<Boundary>,
    /// Seconds since the epoch.
    pub started_at: u64,
}

impl DeploymentRecord {
    pub fn artifact_path(&self, t: &ComponentType) -> Option<&PathBuf> {
        self.artifacts
            .iter()
            .find(|(ct, _)| ct == t)
            .map(|(_, p)| p)
    }
}

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
}

/// How an invocation of the driver ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Finished(Outcome),
    Paused(Boundary),
    /// The host must be rebooted (`--exit-on-reboot`); `resume` continues afterwards.
    AwaitingReboot,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What the driver reports as it goes (status, metrics, logs).
pub trait Observer {
    fn step_started(&mut self, _record: &DeploymentRecord, _step: &Step) {}
    fn step_finished(&mut self, _record: &DeploymentRecord, _step: &Step, _result: &StepResult) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Recover a record found with a step in flight. `explicit_resume` is true when a person or
/// the Update Module asked to continue (`resume`), false when baton restarted by itself.
pub fn recover(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    current_boot_id: Option<String>,
    explicit_resume: bool,
) -> Result<Recovery, DriveError> {
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

/// Run the deployment until it finishes, pauses, or needs the host rebooted.
pub async fn drive<E: Executor, O: Observer>(
    journal: &mut Journal,
    record: &mut DeploymentRecord,
    exec: &E,
    opts: &RunOptions,
    observer: &mut O,
) -> Result<RunEnd, DriveError> {
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
        match step {
            Step::Done(outcome) => return Ok(RunEnd::Finished(outcome)),
            Step::Boundary(b) => {
                if opts.stop_before.contains(&b) && resuming_at != Some(b) {
                    record.paused = Some(b);
                    journal.write(Some(&*record))?;
                    return Ok(RunEnd::Paused(b));
                }
                resuming_at = None;
                record.machine.cross(b);
                fault::point(format_args!("boundary.before:{b:?}"));
                // Crossing the commit boundary is the commit decision: it must be durable
                // before the first ArtifactCommit.
                journal.write(Some(&*record))?;
                fault::point(format_args!("boundary.after:{b:?}"));
            }
            Step::HostReboot { .. } => {
                record.machine.start(&step);
                record.boot_id_at_reboot = exec.boot_id();
                record.reboot_delegated = opts.exit_on_reboot;
                journal.write(Some(&*record))?;
                observer.step_started(record, &step);
                if opts.exit_on_reboot {
                    return Ok(RunEnd::AwaitingReboot);
                }
                fault::point("reboot.before");
                let result = exec.reboot().instrument(step_span(record, &step)).await;
                // Still alive: the reboot did not happen.
                let result = StepResult::HostReboot(result);
                record.machine.finish(&step, result.clone());
                journal.write(Some(&*record))?;
                observer.step_finished(record, &step, &result);
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
) -> Result<(), DriveError> {
    let name = step_name(step);
    record.machine.start(step);
    fault::point(format_args!("intent.before:{name}"));
    journal.write(Some(&*record))?;
    fault::point(format_args!("intent.after:{name}"));
    observer.step_started(record, step);
    let result = exec
        .run(record, step)
        .instrument(step_span(record, step))
        .await;
    fault::point(format_args!("outcome.before:{name}"));
    record.machine.finish(step, result.clone());
    journal.write(Some(&*record))?;
    fault::point(format_args!("outcome.after:{name}"));
    observer.step_finished(record, step, &result);
    Ok(())
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
