//! The deployment state machine: the documented ordering of Interface states across order
//! groups, as a pure function of what has happened so far.
//!
//! No IO, no async, no clock. The driver asks [`Deployment::next_step`] what to do, records
//! that it starts it ([`Deployment::start`], persisted as intent), runs it, and reports the
//! result ([`Deployment::finish`], persisted as outcome). Everything the driver needs to resume
//! after a crash or a reboot is in this value, which is what the journal stores.
//!
//! The ordering follows Mender Orchestrator's Interface protocol documentation:
//! - forward, lowest order group first: Download, ArtifactInstall, (NeedsArtifactReboot),
//!   ArtifactReboot for `Yes`, one host reboot for `Automatic`, ArtifactVerifyReboot; each state
//!   runs for every component of the group before the next state starts (a barrier);
//! - then ArtifactCommit over all groups, lowest first; then Cleanup likewise;
//! - on a failure, from the highest group that ran any state down to the lowest:
//!   ArtifactRollback, ArtifactRollbackReboot, ArtifactVerifyRollbackReboot (retried a bounded
//!   number of times), ArtifactFailure; then Cleanup over all groups, lowest first.

use serde::{Deserialize, Serialize};

use super::states::{Query, RebootAnswer, State};
use crate::model::Reason;

mod results;

/// How many times ArtifactRollbackReboot + ArtifactVerifyRollbackReboot are tried for one
/// component before it is declared inconsistent.
pub const MAX_ROLLBACK_REBOOT_ATTEMPTS: u32 = 3;

/// How many times a step that is safe to repeat is started before a crash inside it counts
/// as its failure. Bounds the work after a component that kills baton in every state.
pub const MAX_STEP_ATTEMPTS: u32 = 3;

/// Index of a component in [`Deployment::members`].
pub type MemberId = usize;

/// A point between phases where `--stop-before` may pause a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Boundary {
    /// Before the commit decision and the first ArtifactCommit.
    ArtifactCommit,
    /// Before the rollback ordering starts.
    ArtifactRollback,
    /// Before the first Cleanup.
    Cleanup,
}

/// One unit of work for the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Call `state` on every listed component of order group `group`, in parallel.
    Call {
        group: usize,
        state: State,
        members: Vec<MemberId>,
    },
    /// Ask every listed component of `group` the query, in parallel.
    Query {
        group: usize,
        query: Query,
        members: Vec<MemberId>,
    },
    /// Reboot the host once for the group (an `Automatic` answer).
    HostReboot { group: usize, rollback: bool },
    /// The deployment reached a phase boundary; cross it with [`Deployment::cross`].
    Boundary(Boundary),
    /// Nothing is left to do.
    Done(Outcome),
}

/// What one component answered or how its call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallResult {
    Ok,
    Failed(String),
}

/// The result of a query for one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryResult {
    SupportsRollback(bool),
    NeedsReboot(RebootAnswer),
    Failed(String),
}

/// The result of a whole step, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepResult {
    Calls(Vec<(MemberId, CallResult)>),
    Queries(Vec<(MemberId, QueryResult)>),
    HostReboot(CallResult),
}

/// Where a deployment stands in the documented ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cursor {
    Forward { group: usize, stage: ForwardStage },
    Boundary(Boundary),
    Commit { group: usize },
    Rollback { group: usize, stage: RollbackStage },
    Cleanup { group: usize },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardStage {
    Download,
    Install,
    AskReboot,
    Reboot,
    HostReboot,
    VerifyReboot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RollbackStage {
    AskRollback,
    Rollback,
    RollbackReboot,
    HostRollbackReboot,
    VerifyRollbackReboot,
    Failure,
}

/// The first failure of a deployment: what sent it into the rollback ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub member: Option<MemberId>,
    /// The state or query that failed (`ArtifactInstall`, `NeedsArtifactReboot`, `reboot`),
    /// `rollback` for a requested rollback, or the gate point that refused.
    pub at: String,
    /// Why, in words.
    pub reason: String,
    /// The reason when it is not the failed state's (a gate's refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Reason>,
}

impl Failure {
    /// The failure's [`Reason`]: its own code, else the one of the state that failed.
    pub fn reason(&self) -> Reason {
        self.code.unwrap_or_else(|| failure_reason(&self.at))
    }
}

/// The [`Reason`] of a failure at `at` (a [`Failure`]'s `at`: a state or query word,
/// `reboot` for the host's reboot, `rollback` for a requested rollback).
pub fn failure_reason(at: &str) -> Reason {
    match (at.parse::<State>(), at) {
        (Ok(State::Download | State::DownloadWithFileSizes), _) => Reason::DownloadFailed,
        (Ok(State::ArtifactInstall), _) => Reason::InstallFailed,
        (Ok(State::ArtifactReboot | State::ArtifactVerifyReboot), _) | (_, "reboot") => {
            Reason::RebootFailed
        }
        (Ok(State::ArtifactCommit), _) => Reason::CommitFailed,
        (
            Ok(
                State::ArtifactRollback
                | State::ArtifactRollbackReboot
                | State::ArtifactVerifyRollbackReboot
                | State::ArtifactFailure
                | State::Cleanup,
            ),
            _,
        ) => Reason::RollbackFailed,
        (_, "rollback") => Reason::RollbackRequested,
        (Err(_), at) if at.parse::<Query>().is_ok() => Reason::QueryFailed,
        (Err(_), _) => Reason::EngineError,
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Every component committed the new Artifact.
    Success,
    /// The deployment failed and every touched component was rolled back (or never changed).
    RolledBack { failure: Failure },
    /// The deployment failed and some components could not be brought back.
    Inconsistent {
        failure: Failure,
        components: Vec<MemberId>,
    },
}

/// What is known about one component during a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Some state ran (Download at least): Cleanup is owed.
    pub touched: bool,
    /// ArtifactInstall started: rollback is owed.
    pub install_started: bool,
    pub reboot: Option<RebootAnswer>,
    /// ArtifactReboot ran, or the host was rebooted for this component.
    pub rebooted: bool,
    pub supports_rollback: Option<bool>,
    pub committed: bool,
    /// ArtifactRollback was called.
    pub rollback_called: bool,
    /// ArtifactRollback was called and succeeded.
    pub rollback_ok: bool,
    /// ArtifactRollbackReboot (or the host reboot) was done and awaits verification.
    pub rollback_reboot_pending: bool,
    pub rollback_reboot_attempts: u32,
    /// ArtifactVerifyRollbackReboot succeeded.
    pub rollback_verified: bool,
    /// The component could not be brought back to its old software.
    pub inconsistent: bool,
    /// Why, for status and history.
    pub notes: Vec<String>,
}

/// One component taking part in the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Index of the order group, 0 = lowest `order`.
    pub group: usize,
    pub facts: Facts,
}

/// A deployment in progress: the plan's shape plus everything that has happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub members: Vec<Member>,
    pub groups: usize,
    pub cursor: Cursor,
    pub failure: Option<Failure>,
    /// Set when the commit boundary is crossed: after a crash the deployment rolls forward.
    pub commit_decided: bool,
    /// The step that was started and has no recorded result yet.
    pub in_flight: Option<Step>,
    /// How many times `in_flight` has been started (crash recovery re-runs some steps).
    pub attempts: u32,
    /// How many times the deployment was found interrupted and recovered.
    pub recoveries: u32,
}

/// Why a deployment is being picked up with a step still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// The host's boot id differs from the one recorded when the step started.
    pub boot_changed: bool,
    /// A person or the Update Module asked to resume (after `--exit-on-reboot`, the caller
    /// vouches that the host reboot happened).
    pub explicit_resume: bool,
}

/// What recovery decided about the interrupted step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing was in flight.
    Clean,
    /// The step is safe to repeat and will run again.
    Rerun(Step),
    /// The step counts as done (a host reboot that happened).
    Completed(Step),
    /// The step counts as failed (a crash or reboot inside a state that changes the system).
    Failed(Step),
}

/// A request the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} is not allowed while the deployment is {state}")]
pub struct NotAllowed {
    pub action: &'static str,
    pub state: String,
}

impl Deployment {
    /// A new deployment over `groups` order groups; `member_groups[i]` is member i's group index.
    pub fn new(groups: usize, member_groups: &[usize]) -> Self {
        let members = member_groups
            .iter()
            .map(|&group| {
                assert!(group < groups, "member group {group} out of range");
                Member {
                    group,
                    facts: Facts::default(),
                }
            })
            .collect();
        let cursor = if groups == 0 {
            Cursor::Done
        } else {
            Cursor::Forward {
                group: 0,
                stage: ForwardStage::Download,
            }
        };
        Self {
            members,
            groups,
            cursor,
            failure: None,
            commit_decided: false,
            in_flight: None,
            attempts: 0,
            recoveries: 0,
        }
    }

    fn in_group(&self, group: usize) -> impl Iterator<Item = (MemberId, &Member)> {
        self.members
            .iter()
            .enumerate()
            .filter(move |(_, m)| m.group == group)
    }

    fn select(&self, group: usize, pred: impl Fn(&Facts) -> bool) -> Vec<MemberId> {
        self.in_group(group)
            .filter(|(_, m)| pred(&m.facts))
            .map(|(i, _)| i)
            .collect()
    }

    /// The highest group in which any state ran.
    fn highest_touched_group(&self) -> Option<usize> {
        self.members
            .iter()
            .filter(|m| m.facts.touched)
            .map(|m| m.group)
            .max()
    }

    /// What to do next. Empty steps are skipped; a boundary is returned as such so the
    /// driver can pause there.
    pub fn next_step(&mut self) -> Step {
        loop {
            if let Some(step) = self.step_at_cursor() {
                return step;
            }
            self.cursor = self.after(self.cursor);
        }
    }

    /// The step the cursor denotes, or `None` when it has nothing to do there.
    fn step_at_cursor(&self) -> Option<Step> {
        let call = |group, state, members: Vec<MemberId>| {
            (!members.is_empty()).then_some(Step::Call {
                group,
                state,
                members,
            })
        };
        let query = |group, query, members: Vec<MemberId>| {
            (!members.is_empty()).then_some(Step::Query {
                group,
                query,
                members,
            })
        };
        match self.cursor {
            Cursor::Forward { group, stage } => match stage {
                ForwardStage::Download => {
                    call(group, State::Download, self.select(group, |_| true))
                }
                ForwardStage::Install => {
                    call(group, State::ArtifactInstall, self.select(group, |_| true))
                }
                ForwardStage::AskReboot => query(
                    group,
                    Query::NeedsArtifactReboot,
                    self.select(group, |f| f.reboot.is_none()),
                ),
                ForwardStage::Reboot => call(
                    group,
                    State::ArtifactReboot,
                    self.select(group, |f| f.reboot == Some(RebootAnswer::Yes)),
                ),
                ForwardStage::HostReboot => {
                    let any = self.in_group(group).any(|(_, m)| {
                        m.facts.reboot == Some(RebootAnswer::Automatic) && !m.facts.rebooted
                    });
                    any.then_some(Step::HostReboot {
                        group,
                        rollback: false,
                    })
                }
                ForwardStage::VerifyReboot => call(
                    group,
                    State::ArtifactVerifyReboot,
                    self.select(group, |f| {
                        matches!(f.reboot, Some(RebootAnswer::Yes | RebootAnswer::Automatic))
                    }),
                ),
            },
            Cursor::Boundary(b) => Some(Step::Boundary(b)),
            Cursor::Commit { group } => call(
                group,
                State::ArtifactCommit,
                self.select(group, |f| !f.committed),
            ),
            Cursor::Rollback { group, stage } => match stage {
                RollbackStage::AskRollback => query(
                    group,
                    Query::SupportsRollback,
                    self.select(group, |f| {
                        f.install_started && f.supports_rollback.is_none()
                    }),
                ),
                RollbackStage::Rollback => call(
                    group,
                    State::ArtifactRollback,
                    self.select(group, |f| {
                        f.install_started && f.supports_rollback == Some(true) && !f.rollback_called
                    }),
                ),
                RollbackStage::RollbackReboot => call(
                    group,
                    State::ArtifactRollbackReboot,
                    self.select(group, |f| needs_rollback_reboot(f, RebootAnswer::Yes)),
                ),
                RollbackStage::HostRollbackReboot => {
                    let any = self
                        .in_group(group)
                        .any(|(_, m)| needs_rollback_reboot(&m.facts, RebootAnswer::Automatic));
                    any.then_some(Step::HostReboot {
                        group,
                        rollback: true,
                    })
                }
                RollbackStage::VerifyRollbackReboot => call(
                    group,
                    State::ArtifactVerifyRollbackReboot,
                    self.select(group, |f| f.rollback_reboot_pending),
                ),
                RollbackStage::Failure => call(
                    group,
                    State::ArtifactFailure,
                    self.select(group, |f| f.install_started),
                ),
            },
            Cursor::Cleanup { group } => {
                call(group, State::Cleanup, self.select(group, |f| f.touched))
            }
            Cursor::Done => Some(Step::Done(self.outcome())),
        }
    }

    /// The cursor position after `c` when `c` is finished (or had nothing to do).
    fn after(&self, c: Cursor) -> Cursor {
        let last = self.groups.saturating_sub(1);
        match c {
            Cursor::Forward { group, stage } => {
                let next = match stage {
                    ForwardStage::Download => Some(ForwardStage::Install),
                    ForwardStage::Install => Some(ForwardStage::AskReboot),
                    ForwardStage::AskReboot => Some(ForwardStage::Reboot),
                    ForwardStage::Reboot => Some(ForwardStage::HostReboot),
                    ForwardStage::HostReboot => Some(ForwardStage::VerifyReboot),
                    ForwardStage::VerifyReboot => None,
                };
                match next {
                    Some(stage) => Cursor::Forward { group, stage },
                    None if group < last => Cursor::Forward {
                        group: group + 1,
                        stage: ForwardStage::Download,
                    },
                    None => Cursor::Boundary(Boundary::ArtifactCommit),
                }
            }
            // Crossing a boundary is the driver's decision; `after` is only asked once crossed.
            Cursor::Boundary(Boundary::ArtifactCommit) => Cursor::Commit { group: 0 },
            Cursor::Boundary(Boundary::ArtifactRollback) => match self.highest_touched_group() {
                Some(group) => Cursor::Rollback {
                    group,
                    stage: RollbackStage::AskRollback,
                },
                None => Cursor::Boundary(Boundary::Cleanup),
            },
            Cursor::Boundary(Boundary::Cleanup) => Cursor::Cleanup { group: 0 },
            Cursor::Commit { group } if group < last => Cursor::Commit { group: group + 1 },
            Cursor::Commit { .. } => Cursor::Boundary(Boundary::Cleanup),
            Cursor::Rollback { group, stage } => {
                let next = match stage {
                    RollbackStage::AskRollback => Some(RollbackStage::Rollback),
                    RollbackStage::Rollback => Some(RollbackStage::RollbackReboot),
                    RollbackStage::RollbackReboot => Some(RollbackStage::HostRollbackReboot),
                    RollbackStage::HostRollbackReboot => Some(RollbackStage::VerifyRollbackReboot),
                    RollbackStage::VerifyRollbackReboot => {
                        // A failed verification sends the component back to its reboot.
                        let retry = self.in_group(group).any(|(_, m)| {
                            needs_rollback_reboot(&m.facts, RebootAnswer::Yes)
                                || needs_rollback_reboot(&m.facts, RebootAnswer::Automatic)
                        });
                        Some(if retry {
                            RollbackStage::RollbackReboot
                        } else {
                            RollbackStage::Failure
                        })
                    }
                    RollbackStage::Failure => None,
                };
                match next {
                    Some(stage) => Cursor::Rollback { group, stage },
                    None if group > 0 => Cursor::Rollback {
                        group: group - 1,
                        stage: RollbackStage::AskRollback,
                    },
                    None => Cursor::Boundary(Boundary::Cleanup),
                }
            }
            Cursor::Cleanup { group } if group < last => Cursor::Cleanup { group: group + 1 },
            Cursor::Cleanup { .. } | Cursor::Done => Cursor::Done,
        }
    }

    /// Cross the boundary the cursor is at. Crossing the commit boundary is the commit decision.
    pub fn cross(&mut self, b: Boundary) {
        assert_eq!(
            self.cursor,
            Cursor::Boundary(b),
            "crossing a boundary we are not at"
        );
        if b == Boundary::ArtifactCommit {
            self.commit_decided = true;
        }
        self.cursor = self.after(self.cursor);
    }
}

/// Whether a component still owes an ArtifactRollbackReboot (or a host reboot) of `kind`.
fn needs_rollback_reboot(f: &Facts, kind: RebootAnswer) -> bool {
    let owed = match kind {
        // `Yes`: ArtifactRollbackReboot follows any ArtifactRollback.
        RebootAnswer::Yes => f.reboot == Some(RebootAnswer::Yes),
        // `Automatic`: the host is rebooted again only if it was rebooted for this update.
        RebootAnswer::Automatic => f.reboot == Some(RebootAnswer::Automatic) && f.rebooted,
        RebootAnswer::No => false,
    };
    owed && f.rollback_called
        && !f.rollback_verified
        && !f.rollback_reboot_pending
        && !f.inconsistent
        && f.rollback_reboot_attempts < MAX_ROLLBACK_REBOOT_ATTEMPTS
}

/// A component that was changed and could not be brought back.
fn is_lost(f: &Facts) -> bool {
    if f.inconsistent {
        return true;
    }
    // Installed and not rolled back: either no rollback support, or never asked.
    f.install_started && !f.rollback_ok
}

fn describe(c: Cursor) -> String {
    match c {
        Cursor::Forward { group, stage } => {
            format!("installing order group {} ({stage:?})", group + 1)
        }
        Cursor::Boundary(b) => format!("paused before {b:?}"),
        Cursor::Commit { group } => format!("committing order group {}", group + 1),
        Cursor::Rollback { group, stage } => {
            format!("rolling back order group {} ({stage:?})", group + 1)
        }
        Cursor::Cleanup { group } => format!("cleaning up order group {}", group + 1),
        Cursor::Done => "finished".into(),
    }
}

impl Deployment {
    /// A short human description of where the deployment stands.
    pub fn describe(&self) -> String {
        describe(self.cursor)
    }
}
