//! Finding orders that satisfy the constraints.
//!
//! Splitting an order group never adds a combination (every combination of the finer
//! ordering is one the coarser ordering can pass through, forward and back), so when any
//! orders satisfy the constraints, some *sequence* of the changing types, one per group, does.
//! The search is therefore a depth-first walk over sequences: add one type at a time, keep
//! only steps whose new combinations are allowed (the new prefix, and, when the type cannot
//! roll back, every earlier prefix rolled back with it kept new), and remember the sets of
//! types from which no sequence finishes. Then neighbouring groups are merged while the
//! checker still accepts, so the suggestion keeps as much parallelism as the constraints
//! allow.
//!
//! Cost: with every type able to roll back, at most 2^n sets of n changing types are visited
//! (the memo is exact); types that cannot roll back make the history matter and switch the
//! memo off until they are placed. [`SEARCH_BUDGET`] bounds the steps either way; the answer
//! says whether the search was exhaustive. Pure.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::check::violations;
use super::space::{bit, Mask, Space};
use super::Proposal;
use crate::model::{ComponentType, Constraints, Order};

/// The most steps (a type added to a sequence) one search takes.
pub const SEARCH_BUDGET: u64 = 600_000;

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Suggestion {
    /// These orders satisfy the constraints: every component type of the Manifest (types
    /// already up to date keep theirs).
    Orders {
        orders: BTreeMap<ComponentType, Order>,
    },
    /// The end state itself is refused: no orders can help.
    EndStateRefused,
    /// No orders were found: none exist when `exhaustive`, else the budget ran out.
    NoneFound { explored: u64, exhaustive: bool },
}

impl std::fmt::Display for Suggestion {
    /// `suggested orders: gateway 10, rtos 20`, for refusal messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Suggestion::Orders { orders } => {
                let list: Vec<String> = orders.iter().map(|(t, o)| format!("{t} {o}")).collect();
                write!(
                    f,
                    "orders that satisfy the constraints: {}",
                    list.join(", ")
                )
            }
            Suggestion::EndStateRefused => {
                f.write_str("no orders can help: the end state itself is not allowed")
            }
            Suggestion::NoneFound {
                exhaustive: true, ..
            } => f.write_str("no orders satisfy the constraints"),
            Suggestion::NoneFound { explored, .. } => write!(
                f,
                "no orders that satisfy the constraints were found in {explored} search steps"
            ),
        }
    }
}

/// Orders for `proposal`'s component types that `constraints` accept, if the search finds any.
pub fn suggest(constraints: &Constraints, proposal: &Proposal) -> Suggestion {
    match Space::new(constraints, proposal) {
        Ok(space) => suggest_in(&space, proposal, constraints),
        Err(_) => Suggestion::NoneFound {
            explored: 0,
            exhaustive: false,
        },
    }
}

pub(crate) fn suggest_in(
    space: &Space,
    proposal: &Proposal,
    constraints: &Constraints,
) -> Suggestion {
    if !space.end_state_ok() {
        return Suggestion::EndStateRefused;
    }
    let mut candidates: Vec<usize> = (0..space.types.len()).collect();
    candidates.sort_by_key(|i| (space.orders[*i], space.types[*i].clone()));
    let mut search = Search {
        space,
        candidates,
        explored: 0,
        gave_up: false,
        dead: HashSet::new(),
        prefixes: vec![0],
        sequence: Vec::new(),
    };
    if !search.walk(0) {
        return Suggestion::NoneFound {
            explored: search.explored,
            exhaustive: !search.gave_up,
        };
    }
    match merge(&search.sequence, space, proposal, constraints) {
        Some(orders) => Suggestion::Orders { orders },
        // More than 100 groups cannot be numbered with orders.
        None => Suggestion::NoneFound {
            explored: search.explored,
            exhaustive: false,
        },
    }
}

struct Search<'a> {
    space: &'a Space,
    /// Changing types in the order they are tried: the Manifest's order first.
    candidates: Vec<usize>,
    explored: u64,
    gave_up: bool,
    /// Sets of done types from which no sequence finishes (recorded only when exact).
    dead: HashSet<Mask>,
    /// P_0 = {}, P_1, ... P_k: the sets done after each step of the sequence so far.
    prefixes: Vec<Mask>,
    sequence: Vec<usize>,
}

impl Search<'_> {
    fn walk(&mut self, done: Mask) -> bool {
        if done == self.space.all {
            return true;
        }
        // The future depends on the past only through rollbacks that keep a type new; once
        // every such type is placed, the set done is all that matters.
        let exact = self.space.no_rollback & !done == 0;
        if exact && self.dead.contains(&done) {
            return false;
        }
        for c in 0..self.candidates.len() {
            let t = self.candidates[c];
            if done & bit(t) != 0 {
                continue;
            }
            self.explored += 1;
            if self.explored > SEARCH_BUDGET {
                self.gave_up = true;
                return false;
            }
            let next = done | bit(t);
            if !self.step_allowed(next, t) {
                continue;
            }
            self.prefixes.push(next);
            self.sequence.push(t);
            if self.walk(next) {
                return true;
            }
            self.prefixes.pop();
            self.sequence.pop();
            if self.gave_up {
                return false;
            }
        }
        if exact {
            self.dead.insert(done);
        }
        false
    }

    /// The combinations adding `t` creates: the new prefix; and when `t` cannot roll back,
    /// every earlier prefix with the no-rollback types done so far kept new.
    fn step_allowed(&self, next: Mask, t: usize) -> bool {
        if !self.space.passable(next) {
            return false;
        }
        let n = self.space.no_rollback;
        if n & bit(t) == 0 {
            return true;
        }
        let kept = n & next;
        self.prefixes.iter().all(|p| self.space.passable(p | kept))
    }
}

/// Turns a sequence into groups, merging neighbours while the checker accepts, and numbers
/// them (10, 20, ... when they fit, else 1, 2, ...). The result is checked once more: the
/// suggestion is only ever orders the checker accepts.
fn merge(
    sequence: &[usize],
    space: &Space,
    proposal: &Proposal,
    constraints: &Constraints,
) -> Option<BTreeMap<ComponentType, Order>> {
    let mut groups: Vec<Vec<usize>> = sequence.iter().map(|t| vec![*t]).collect();
    let mut i = 1;
    while i < groups.len() {
        let mut merged = groups.clone();
        let moved = merged.remove(i);
        merged[i - 1].extend(moved);
        if accepted(&merged, space, proposal, constraints) {
            groups = merged;
        } else {
            i += 1;
        }
    }
    accepted(&groups, space, proposal, constraints)
        .then(|| orders_for(&groups, space, proposal))
        .flatten()
}

fn accepted(
    groups: &[Vec<usize>],
    space: &Space,
    proposal: &Proposal,
    constraints: &Constraints,
) -> bool {
    let Some(orders) = orders_for(groups, space, proposal) else {
        return false;
    };
    Space::new(constraints, &proposal.with_orders(&orders))
        .map(|s| violations(&s, constraints).is_empty())
        .unwrap_or(false)
}

/// Orders for every target type: the groups numbered, the other types as they were. `None`
/// when there are more groups than orders (more than 100).
fn orders_for(
    groups: &[Vec<usize>],
    space: &Space,
    proposal: &Proposal,
) -> Option<BTreeMap<ComponentType, Order>> {
    let step = if groups.len() <= 10 { 10 } else { 1 };
    let mut out: BTreeMap<ComponentType, Order> = proposal
        .target
        .iter()
        .map(|(t, target)| (t.clone(), target.order))
        .collect();
    for (g, members) in groups.iter().enumerate() {
        let order = Order::new((g as i64 + 1) * step).ok()?;
        for m in members {
            out.insert(space.types[*m].clone(), order);
        }
    }
    Some(out)
}
