//! Checking a deployment against the constraints: its end state, and every combination it
//! can pass through, forward and back.
//!
//! What a deployment passes through, at the granularity of component types (the tables have
//! one column per type; the components of one type are in one order group and change
//! together):
//! - **forward**, order group by order group, lowest first: while group k installs, its types
//!   change in parallel and in no promised order, so any subset of them may be done while
//!   the rest are not (this includes "after group k installs");
//! - **back**, when anything fails in group k (or at the commit): the engine rolls the whole
//!   System back from group k down to the lowest, one group at a time, in parallel inside a
//!   group (`engine::machine`). A type whose Interface cannot roll back stays on its new
//!   Artifact while every group below rolls back; the combinations that creates are checked
//!   too. A rollback that itself fails leaves the System inconsistent whatever the tables say,
//!   and is not modelled.
//!
//! Every combination passed through must be an end state or a transition, except the one the
//! System is in now (it is already there; a rollback only returns it there) and the end state,
//! which must be one of the end states when any are given. Pure.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::space::{Mask, Space};
use super::suggest::{suggest_in, Suggestion};
use super::{Proposal, MAX_CHANGING_TYPES};
use crate::model::{Combination, ComponentType, Constraints, Order, Reason};

/// Where in a deployment a combination is passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "phase")]
pub enum Step {
    /// While (or, when `pending` is empty, after) order group `order` installs.
    Install {
        order: Order,
        done: Vec<ComponentType>,
        pending: Vec<ComponentType>,
    },
    /// While order group `order` rolls back after a failure in order group `failed_in`;
    /// `kept` cannot roll back and still run their new Artifact.
    Rollback {
        order: Order,
        failed_in: Order,
        kept: Vec<ComponentType>,
    },
}

/// One reason the constraints refuse a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Violation {
    /// The Manifest's end state is not one of the end states.
    EndState {
        combination: Combination,
        end_states: Vec<String>,
    },
    /// The System would pass through a combination that is neither an end state nor a
    /// transition.
    Passage {
        step: Step,
        combination: Combination,
    },
    /// More component types change than the checker handles.
    TooManyTypes { changing: usize, limit: usize },
}

/// The constraints' verdict on a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum Verdict {
    /// The constraints have no entry: nothing to check.
    Unconstrained,
    Accepted,
    /// Every violation found (one per step), and orders that would satisfy the constraints.
    Refused {
        violations: Vec<Violation>,
        suggestion: Suggestion,
    },
}

impl Verdict {
    pub fn is_refused(&self) -> bool {
        matches!(self, Verdict::Refused { .. })
    }

    /// The reason a refusal carries in conditions, history and metrics.
    pub fn reason(&self) -> Option<Reason> {
        self.is_refused().then_some(Reason::ConstraintViolated)
    }
}

/// Checks `proposal` against `constraints`; a refusal lists every violation and a suggestion.
pub fn check(constraints: &Constraints, proposal: &Proposal) -> Verdict {
    if constraints.is_empty() {
        return Verdict::Unconstrained;
    }
    let space = match Space::new(constraints, proposal) {
        Ok(s) => s,
        Err(changing) => {
            return Verdict::Refused {
                violations: vec![Violation::TooManyTypes {
                    changing,
                    limit: MAX_CHANGING_TYPES,
                }],
                suggestion: Suggestion::NoneFound {
                    explored: 0,
                    exhaustive: false,
                },
            }
        }
    };
    let violations = violations(&space, constraints);
    if violations.is_empty() {
        return Verdict::Accepted;
    }
    Verdict::Refused {
        violations,
        suggestion: suggest_in(&space, proposal, constraints),
    }
}

/// Every violation of the deployment `space` describes, the end state first.
pub(crate) fn violations(space: &Space, constraints: &Constraints) -> Vec<Violation> {
    let mut out = Vec::new();
    if !space.end_state_ok() {
        out.push(Violation::EndState {
            combination: space.combination(space.all),
            end_states: constraints
                .end_states
                .iter()
                .map(|e| e.name.clone())
                .collect(),
        });
    }
    let mut seen: Vec<Mask> = Vec::new();
    let mut found = |p: Mask, step: Step, out: &mut Vec<Violation>| {
        if !seen.contains(&p) {
            seen.push(p);
            out.push(Violation::Passage {
                step,
                combination: space.combination(p),
            });
        }
    };
    let groups = space.groups();
    let below = |k: usize| groups[..k].iter().fold(0, |m, (_, g)| m | g);
    for (k, (order, group)) in groups.iter().enumerate() {
        if let Some(p) = space.first_uncovered(below(k), *group) {
            let step = Step::Install {
                order: *order,
                done: space.names(p & group),
                pending: space.names(!p & group),
            };
            found(p, step, &mut out);
        }
    }
    // Rolling back group j after a failure in group k > j: groups below j still run their
    // target, group j rolls back in parallel (its types that cannot roll back stay), and the
    // types of groups j+1..=k that cannot roll back stay on their target (those of group k
    // only if their install had started). Without such types this is the forward cube of j.
    let n = space.no_rollback;
    for (k, (failed_in, group_k)) in groups.iter().enumerate() {
        for (j, (order, group_j)) in groups.iter().enumerate().take(k) {
            let between = below(k) & !below(j + 1);
            if n & (between | group_k) == 0 {
                continue;
            }
            let fixed_new = below(j) | (group_j & n) | (between & n);
            let free = (group_j & !n) | (group_k & n);
            if let Some(p) = space.first_uncovered(fixed_new, free) {
                let step = Step::Rollback {
                    order: *order,
                    failed_in: *failed_in,
                    kept: space.names(p & n & (between | group_k)),
                };
                found(p, step, &mut out);
            }
        }
    }
    out
}

fn list(types: &[ComponentType]) -> String {
    types
        .iter()
        .map(ComponentType::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Install { order, pending, .. } if pending.is_empty() => {
                write!(f, "after order group {order} installs")
            }
            Step::Install {
                order,
                done,
                pending,
            } => write!(
                f,
                "while order group {order} installs, with {} done and {} not yet (a group's \
                 components change in parallel, in any order)",
                list(done),
                list(pending)
            ),
            Step::Rollback {
                order,
                failed_in,
                kept,
            } => write!(
                f,
                "while order group {order} rolls back after a failure in order group \
                 {failed_in}, with {} still on the new Artifact (no rollback)",
                list(kept)
            ),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::EndState {
                combination,
                end_states,
            } => write!(
                f,
                "the Manifest's end state ({combination}) is not one of the end states ({})",
                end_states.join(", ")
            ),
            Violation::Passage { step, combination } => write!(
                f,
                "{step}, the System would run {combination}, which is neither an end state \
                 nor a transition"
            ),
            Violation::TooManyTypes { changing, limit } => write!(
                f,
                "{changing} component types would change; the constraints can be checked for \
                 at most {limit}"
            ),
        }
    }
}
