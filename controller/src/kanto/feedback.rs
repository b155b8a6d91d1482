//! baton's progress as Kanto feedback, for one activity: pure, no IO, time passed in.
//!
//! The backend sees what Kanto's Update Manager would send: IDENTIFYING on arrival;
//! IDENTIFICATION_FAILED when the desired state cannot be mapped, admitted or planned;
//! IDENTIFIED with one action per component that will change; RUNNING while states run
//! (throttled like Kanto's `desiredStateFeedbackNotifier`: the first at once, then at most one
//! more when the interval ends if the actions changed; none when the interval is 0); then
//! COMPLETED or INCOMPLETE.
//!
//! Actions, per component (`<component type>:<ID>`, version = the Artifact name; a Kanto agent
//! component lists the agent's own components instead):
//!
//! | baton | action status (as sent: Kanto shows the backend no ACTIVATION_* statuses) |
//! |---|---|
//! | Download starts / bytes stream / ends | DOWNLOADING (progress from bytes) / DOWNLOAD_SUCCESS (100) or DOWNLOAD_FAILURE |
//! | ArtifactInstall | UPDATING / UPDATE_SUCCESS or UPDATE_FAILURE |
//! | ArtifactReboot, ArtifactVerifyReboot, ArtifactCommit | ACTIVATING (sent UPDATING) / after ArtifactCommit ACTIVATION_SUCCESS (sent UPDATE_SUCCESS), or ACTIVATION_FAILURE (sent UPDATE_FAILURE) |
//! | rollback states | the status stays, the message says it is being rolled back |
//! | deployment rolled back | INCOMPLETE; a component that was installed and brought back: UPDATE_FAILURE "rolled back ..."; one never installed keeps its status, "not installed ..." |
//!
//! baton keeps its stronger guarantee: one failure rolls the whole System back, and the final
//! message says so.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::edge::{BatonEvent, ComponentKey, DeploymentEnd, PlannedComponent};
use super::wire::{Action, ActionStatus, Component, DesiredStateFeedback, Status};
use crate::interface::protocol::{Call, State};

/// One feedback message for the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub feedback: DesiredStateFeedback,
    /// The activity's final status: nothing follows.
    pub last: bool,
    /// A newer desired state replaced this one before it was deployed.
    pub superseded: bool,
}

impl Report {
    fn now(feedback: DesiredStateFeedback) -> Self {
        Self {
            feedback,
            last: false,
            superseded: false,
        }
    }
    fn last(feedback: DesiredStateFeedback) -> Self {
        Self {
            feedback,
            last: true,
            superseded: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    key: ComponentKey,
    /// The names the backend knows it by.
    kanto: Vec<Component>,
    status: ActionStatus,
    progress: u8,
    message: String,
    installed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the admission.
    Identifying,
    /// Admitted as this generation; waiting for the reconciler.
    Admitted(u64),
    /// Its deployment runs.
    Deploying(u64),
    Done,
}

/// Kanto's RUNNING throttle.
#[derive(Debug, Clone)]
struct Throttle {
    interval: Option<Duration>,
    /// When the pending interval ends.
    due: Option<Instant>,
    reported: Vec<Action>,
}

/// The feedback of one activity.
#[derive(Debug, Clone)]
pub struct Tracker {
    stage: Stage,
    actions: Vec<Tracked>,
    /// Kanto agent component types -> the agent's components (domain-prefixed ids).
    agents: BTreeMap<String, Vec<Component>>,
    /// The members of each running step, to know who succeeded when it finishes.
    steps: HashMap<(u8, Call), Vec<ComponentKey>>,
    throttle: Throttle,
}

const ROLLED_BACK: &str =
    "baton rolled the whole System back: every component runs the Artifact it ran before";

impl Tracker {
    /// A desired state arrived: IDENTIFYING. `report_interval`: Kanto's
    /// `reportFeedbackInterval` (`None`: no RUNNING feedback).
    pub fn start(report_interval: Option<Duration>) -> (Self, Report) {
        let t = Tracker {
            stage: Stage::Identifying,
            actions: Vec::new(),
            agents: BTreeMap::new(),
            steps: HashMap::new(),
            throttle: Throttle {
                interval: report_interval,
                due: None,
                reported: Vec::new(),
            },
        };
        (
            t,
            Report::now(DesiredStateFeedback::new(Status::Identifying, "", vec![])),
        )
    }

    /// It cannot be mapped or admitted: IDENTIFICATION_FAILED, final.
    pub fn refused(&mut self, problems: &[String]) -> Report {
        self.stage = Stage::Done;
        Report::last(DesiredStateFeedback::new(
            Status::IdentificationFailed,
            problems.join("; "),
            vec![],
        ))
    }

    /// Its Manifest became `generation`. `agents`: for each Kanto agent component type, the
    /// agent's components with their domain-prefixed ids (from the mapping).
    pub fn admitted(&mut self, generation: u64, agents: BTreeMap<String, Vec<Component>>) {
        self.stage = Stage::Admitted(generation);
        self.agents = agents;
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// When [`Tracker::tick`] should be called next.
    pub fn due(&self) -> Option<Instant> {
        self.throttle.due
    }

    /// The throttle's interval ended: RUNNING again if the actions changed since the last one.
    pub fn tick(&mut self, now: Instant) -> Option<Report> {
        match self.throttle.due {
            Some(due) if due <= now && self.stage != Stage::Done => {}
            _ => return None,
        }
        self.throttle.due = None;
        let actions = self.backend_actions();
        if actions == self.throttle.reported {
            return None;
        }
        self.throttle.reported = actions.clone();
        Some(Report::now(DesiredStateFeedback::new(
            Status::Running,
            "",
            actions,
        )))
    }

    /// One event of baton's stream; returns what to send now.
    pub fn on_event(&mut self, event: &BatonEvent, now: Instant) -> Vec<Report> {
        let ours = match self.stage {
            Stage::Admitted(g) | Stage::Deploying(g) => g,
            Stage::Identifying | Stage::Done => return Vec::new(),
        };
        let deploying = matches!(self.stage, Stage::Deploying(_));
        match event {
            BatonEvent::InSync { generation } if *generation == ours && !deploying => {
                self.in_sync()
            }
            BatonEvent::Started {
                generation,
                components,
            } if *generation == ours && !deploying => {
                self.stage = Stage::Deploying(ours);
                self.actions = components.iter().map(|p| self.tracked(p)).collect();
                vec![Report::now(DesiredStateFeedback::new(
                    Status::Identified,
                    "",
                    self.backend_actions(),
                ))]
            }
            BatonEvent::Ended { generation, end } if *generation == ours => {
                if deploying {
                    vec![self.ended(end)]
                } else {
                    match end {
                        DeploymentEnd::Success => self.in_sync(),
                        DeploymentEnd::Rejected { problems } => vec![self.refused(problems)],
                        // Ended without a start: the adapter lost it; say what is known.
                        other => vec![self.ended(other)],
                    }
                }
            }
            BatonEvent::Superseded { generation, by } if *generation == ours && !deploying => {
                vec![self.superseded(*by)]
            }
            // A newer generation deploys before ours did: ours was replaced.
            BatonEvent::Started { generation, .. } | BatonEvent::InSync { generation }
                if *generation > ours && !deploying =>
            {
                vec![self.superseded(*generation)]
            }
            BatonEvent::StepStarted {
                order,
                call,
                components,
            } if deploying => {
                let before = self.backend_actions();
                self.steps.insert((*order, *call), components.clone());
                if let Call::State(s) = call {
                    for k in components {
                        self.step_started(k, *s);
                    }
                }
                self.running_if_changed(before, now)
            }
            BatonEvent::StepFinished {
                order,
                call,
                failed,
            } if deploying => {
                let before = self.backend_actions();
                let members = self.steps.remove(&(*order, *call)).unwrap_or_default();
                if let Call::State(s) = call {
                    for k in &members {
                        match failed.iter().find(|(f, _)| f == k) {
                            Some((_, why)) => self.step_failed(k, *s, why),
                            None => self.step_succeeded(k, *s),
                        }
                    }
                }
                self.running_if_changed(before, now)
            }
            BatonEvent::Bytes {
                component,
                bytes,
                total: Some(total),
            } if deploying && *total > 0 => {
                let before = self.backend_actions();
                if let Some(t) = self.find(component) {
                    if t.status == ActionStatus::Downloading {
                        t.progress = (bytes.saturating_mul(100) / total).min(99) as u8;
                    }
                }
                self.running_if_changed(before, now)
            }
            _ => Vec::new(),
        }
    }

    fn tracked(&self, p: &PlannedComponent) -> Tracked {
        let kanto = match self.agents.get(&p.component.component_type) {
            Some(cs) => cs.clone(),
            None => vec![Component::new(
                format!("{}:{}", p.component.component_type, p.component.id),
                p.to_artifact.clone(),
            )],
        };
        Tracked {
            key: p.component.clone(),
            kanto,
            status: ActionStatus::Identified,
            progress: 0,
            message: String::new(),
            installed: false,
        }
    }

    fn find(&mut self, k: &ComponentKey) -> Option<&mut Tracked> {
        self.actions.iter_mut().find(|t| &t.key == k)
    }

    fn step_started(&mut self, k: &ComponentKey, s: State) {
        let Some(t) = self.find(k) else { return };
        match s {
            State::Download | State::DownloadWithFileSizes => {
                t.status = ActionStatus::Downloading;
                t.progress = 0;
            }
            State::ArtifactInstall => {
                t.status = ActionStatus::Updating;
                t.installed = true;
            }
            State::ArtifactReboot | State::ArtifactVerifyReboot | State::ArtifactCommit => {
                if !t.status.is_failure() {
                    t.status = ActionStatus::Activating;
                }
            }
            State::ArtifactRollback
            | State::ArtifactRollbackReboot
            | State::ArtifactVerifyRollbackReboot
            | State::ArtifactFailure => {
                t.message = format!("rolling back ({s})");
            }
            State::Cleanup => {}
        }
    }

    fn step_succeeded(&mut self, k: &ComponentKey, s: State) {
        let Some(t) = self.find(k) else { return };
        match s {
            State::Download | State::DownloadWithFileSizes => {
                t.status = ActionStatus::DownloadSuccess;
                t.progress = 100;
            }
            State::ArtifactInstall => t.status = ActionStatus::UpdateSuccess,
            State::ArtifactCommit => t.status = ActionStatus::ActivationSuccess,
            _ => {}
        }
    }

    fn step_failed(&mut self, k: &ComponentKey, s: State, why: &str) {
        let Some(t) = self.find(k) else { return };
        let status = match s {
            State::Download | State::DownloadWithFileSizes => Some(ActionStatus::DownloadFailure),
            State::ArtifactInstall => Some(ActionStatus::UpdateFailure),
            State::ArtifactReboot | State::ArtifactVerifyReboot | State::ArtifactCommit => {
                Some(ActionStatus::ActivationFailure)
            }
            _ => None,
        };
        match status {
            Some(st) => {
                t.status = st;
                t.message = format!("{s} failed: {why}");
            }
            None if t.message.is_empty() || t.message.starts_with("rolling back") => {
                t.message = format!("{s} failed: {why}");
            }
            None => t.message = format!("{}; {s} failed: {why}", t.message),
        }
    }

    fn ended(&mut self, end: &DeploymentEnd) -> Report {
        self.stage = Stage::Done;
        self.throttle.due = None;
        let feedback = match end {
            DeploymentEnd::Success => {
                for t in &mut self.actions {
                    if !t.status.is_failure() {
                        t.status = ActionStatus::ActivationSuccess;
                        t.progress = 0;
                        t.message.clear();
                    }
                }
                DesiredStateFeedback::new(Status::Completed, "", self.backend_actions())
            }
            DeploymentEnd::RolledBack { failed_at, reason } => {
                let cause = format!("{failed_at} failed: {reason}");
                self.settle_after_rollback(&cause, &[]);
                DesiredStateFeedback::new(
                    Status::Incomplete,
                    format!("{cause}; {ROLLED_BACK}"),
                    self.backend_actions(),
                )
            }
            DeploymentEnd::Inconsistent {
                failed_at,
                reason,
                lost,
            } => {
                let cause = format!("{failed_at} failed: {reason}");
                self.settle_after_rollback(&cause, lost);
                let names: Vec<String> = lost
                    .iter()
                    .map(|k| format!("{}:{}", k.component_type, k.id))
                    .collect();
                DesiredStateFeedback::new(
                    Status::Incomplete,
                    format!(
                        "{cause}; baton rolled the whole System back, but {} could not be brought back (inconsistent)",
                        names.join(", ")
                    ),
                    self.backend_actions(),
                )
            }
            DeploymentEnd::Rejected { problems } => {
                DesiredStateFeedback::new(Status::IdentificationFailed, problems.join("; "), vec![])
            }
        };
        Report::last(feedback)
    }

    /// The final action of each component after a rollback.
    fn settle_after_rollback(&mut self, cause: &str, lost: &[ComponentKey]) {
        for t in &mut self.actions {
            if lost.contains(&t.key) {
                t.status = ActionStatus::UpdateFailure;
                t.message = format!("could not be rolled back after: {cause}");
            } else if t.status.is_failure() {
                t.message = format!("{}; {ROLLED_BACK}", t.message);
            } else if t.installed {
                t.status = ActionStatus::UpdateFailure;
                t.message = format!("rolled back to its previous Artifact: {cause}");
            } else {
                t.message = format!("not installed: {cause}; {ROLLED_BACK}");
            }
            t.progress = 0;
        }
    }

    fn in_sync(&mut self) -> Vec<Report> {
        self.stage = Stage::Done;
        vec![
            Report::now(DesiredStateFeedback::new(Status::Identified, "", vec![])),
            Report::last(DesiredStateFeedback::new(
                Status::Completed,
                "every component already runs its Artifact; nothing was changed",
                vec![],
            )),
        ]
    }

    fn superseded(&mut self, by: u64) -> Report {
        self.stage = Stage::Done;
        let mut r = Report::last(DesiredStateFeedback::new(
            Status::Incomplete,
            format!("replaced by a newer desired state (generation {by}) before it was deployed; nothing was changed for this activity"),
            vec![],
        ));
        r.superseded = true;
        r
    }

    /// RUNNING through the throttle, when what the backend would see changed (Kanto's agents
    /// report in-progress statuses only when something happened).
    fn running_if_changed(&mut self, before: Vec<Action>, now: Instant) -> Vec<Report> {
        if self.backend_actions() == before {
            return Vec::new();
        }
        self.running(now)
    }

    fn running(&mut self, now: Instant) -> Vec<Report> {
        let Some(interval) = self.throttle.interval else {
            return Vec::new();
        };
        if self.throttle.due.is_some() {
            return Vec::new(); // the tick sends it if it still differs then
        }
        let actions = self.backend_actions();
        self.throttle.due = Some(now + interval);
        self.throttle.reported = actions.clone();
        vec![Report::now(DesiredStateFeedback::new(
            Status::Running,
            "",
            actions,
        ))]
    }

    /// The actions as the backend sees them (activation statuses rewritten).
    fn backend_actions(&self) -> Vec<Action> {
        self.actions
            .iter()
            .flat_map(|t| {
                t.kanto.iter().map(move |c| Action {
                    component: c.clone(),
                    status: t.status.for_backend(),
                    progress: t.progress,
                    message: t.message.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "feedback_tests.rs"]
mod tests;
