//! How a deployment's record becomes what callers are told: its [`End`] (built by the
//! driver when it stops), its [`DeploymentReport`], what the journal says is in flight.

use std::time::{SystemTime, UNIX_EPOCH};

use super::machine::{Boundary, Failure, Outcome};
use super::plan::Plan;
use super::problem::Problem;
use super::record::DeploymentRecord;
use super::report::{
    ComponentOutcome, ComponentRef, ComponentResult, DeploymentReport, End, InFlight, PlannedChange,
};

/// Seconds since the epoch.
#[allow(clippy::disallowed_methods)] // wall-clock stamps of journal records and reports; never a wait
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn in_flight_of(r: &DeploymentRecord) -> InFlight {
    InFlight {
        deployment: r.id.clone(),
        manifest: r.manifest.name.clone(),
        position: r.machine.describe(),
        paused: r.paused,
        failing: r.machine.failure.is_some(),
    }
}

/// What a plan changes, as callers name it.
pub(crate) fn changes(plan: &Plan) -> Vec<PlannedChange> {
    plan.components
        .iter()
        .map(|c| PlannedChange {
            component: ComponentRef {
                component_type: c.component_type.to_string(),
                id: c.id.to_string(),
            },
            order: c.order.get(),
            to_artifact: c.artifact_name.clone(),
        })
        .collect()
}

fn component_ref(record: &DeploymentRecord, m: usize) -> ComponentRef {
    match record.plan.components.get(m) {
        Some(c) => ComponentRef {
            component_type: c.component_type.to_string(),
            id: c.id.to_string(),
        },
        // A record always plans its members; a test's may not.
        None => ComponentRef {
            component_type: String::new(),
            id: format!("#{m}"),
        },
    }
}

/// `(failed_at, message)`: the state and the component that failed, and why.
fn failure_text(record: &DeploymentRecord, f: &Failure) -> (String, String) {
    let at = match f.member {
        Some(m) => {
            let c = component_ref(record, m);
            format!("{} {} {}", f.at, c.component_type, c.id)
        }
        None => f.at.clone(),
    };
    (at, f.reason.clone())
}

/// The end of a deployment the machine finished with `outcome`.
pub(crate) fn finished(record: &DeploymentRecord, outcome: &Outcome) -> End {
    match outcome {
        Outcome::Success => End::Success,
        Outcome::RolledBack { failure } => {
            let (failed_at, message) = failure_text(record, failure);
            End::RolledBack {
                reason: failure.reason(),
                failed_at,
                message,
            }
        }
        Outcome::Inconsistent {
            failure,
            components,
        } => {
            let (failed_at, message) = failure_text(record, failure);
            End::Inconsistent {
                reason: failure.reason(),
                failed_at,
                message,
                components: components
                    .iter()
                    .map(|&m| component_ref(record, m))
                    .collect(),
            }
        }
    }
}

/// The end of a deployment paused at `before`.
pub(crate) fn paused(record: &DeploymentRecord, before: Boundary) -> End {
    End::Paused {
        before,
        failing: record.machine.failure.is_some(),
        lost: match record.machine.outcome() {
            Outcome::Inconsistent { components, .. } => components
                .iter()
                .map(|&m| component_ref(record, m))
                .collect(),
            _ => vec![],
        },
    }
}

/// A Manifest refused before anything was touched.
pub(crate) fn rejected(
    manifest: &str,
    started_at: u64,
    problems: Vec<Problem>,
) -> DeploymentReport {
    DeploymentReport {
        deployment: String::new(),
        manifest: manifest.to_string(),
        started_at,
        ended_at: now(),
        end: End::Rejected { problems },
        was_failing: false,
        components: vec![],
    }
}

/// The account of a deployment from its record and how this invocation ended.
pub(crate) fn report(record: &DeploymentRecord, end: End, was_failing: bool) -> DeploymentReport {
    let finished = end.is_final();
    let success = end == End::Success;
    let lost: Vec<usize> = match &record.machine.outcome() {
        Outcome::Inconsistent { components, .. } => components.clone(),
        _ => vec![],
    };
    let mut components: Vec<ComponentOutcome> = record
        .machine
        .members
        .iter()
        .enumerate()
        .map(|(m, member)| {
            let f = &member.facts;
            let result = if !finished {
                ComponentResult::InProgress
            } else if success {
                ComponentResult::Updated
            } else if lost.contains(&m) {
                ComponentResult::Inconsistent
            } else if f.install_started {
                ComponentResult::RolledBack
            } else {
                ComponentResult::Untouched
            };
            ComponentOutcome {
                component: component_ref(record, m),
                to_artifact: record
                    .plan
                    .components
                    .get(m)
                    .map(|c| c.artifact_name.clone())
                    .unwrap_or_default(),
                result,
                notes: f.notes.clone(),
            }
        })
        .collect();
    components.extend(record.plan.skipped.iter().map(|s| ComponentOutcome {
        component: ComponentRef {
            component_type: s.component_type.to_string(),
            id: s.id.to_string(),
        },
        to_artifact: s.artifact_name.clone(),
        result: ComponentResult::Skipped,
        notes: vec![],
    }));
    DeploymentReport {
        deployment: record.id.clone(),
        manifest: record.manifest.name.clone(),
        started_at: record.started_at,
        ended_at: now(),
        end,
        was_failing,
        components,
    }
}
