//! An oracle for the constraints checker, written from the deployment ordering rather than
//! from the checker: it *simulates* every run a deployment can take (each order group's
//! install in every partial state, a failure in every group with every subset of the group
//! started, the rollback group by group with every partial state, types that cannot roll
//! back staying new) and collects the combinations, then matches them with its own glob.
//! It shares nothing with the checker but the input types. Tests only.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{CombinationPattern, ComponentType, Constraints};

use super::Proposal;

type Done = BTreeSet<ComponentType>;

/// Every subset of `set`.
fn subsets(set: &Done) -> Vec<Done> {
    let items: Vec<&ComponentType> = set.iter().collect();
    (0..1u32 << items.len())
        .map(|bits| {
            items
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, t)| (*t).clone())
                .collect()
        })
        .collect()
}

/// The changing types by order group, lowest order first.
pub fn groups(p: &Proposal) -> Vec<Done> {
    let mut by_order: BTreeMap<u8, Done> = BTreeMap::new();
    for (t, target) in &p.target {
        let now = p.current.0.get(t).cloned().unwrap_or_default();
        let changes = !(now.0.len() == 1 && now.0.contains(&target.artifact));
        if changes {
            by_order
                .entry(target.order.get())
                .or_default()
                .insert(t.clone());
        }
    }
    by_order.into_values().collect()
}

/// Every set of changed types a deployment can pass through.
pub fn reachable(p: &Proposal) -> BTreeSet<Done> {
    let groups = groups(p);
    let mut out = BTreeSet::new();
    let mut below = Done::new();
    for (k, group) in groups.iter().enumerate() {
        for started in subsets(group) {
            // Forward: part of group k has installed.
            let mut state: Done = below.union(&started).cloned().collect();
            out.insert(state.clone());
            // A failure now: roll back from group k down to the lowest, one group at a time.
            for j in (0..=k).rev() {
                let rolls: Done = state
                    .intersection(&groups[j])
                    .filter(|t| !p.no_rollback.contains(*t))
                    .cloned()
                    .collect();
                for partial in subsets(&rolls) {
                    out.insert(state.difference(&partial).cloned().collect());
                }
                state = state.difference(&rolls).cloned().collect();
            }
        }
        below.extend(group.iter().cloned());
    }
    out.insert(below);
    out
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => glob(rest, s) || (!s.is_empty() && glob(p, &s[1..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// What each type runs once the types in `done` have changed.
pub fn names(p: &Proposal, done: &Done) -> BTreeMap<ComponentType, BTreeSet<String>> {
    let mut out: BTreeMap<ComponentType, BTreeSet<String>> = p
        .current
        .0
        .iter()
        .map(|(t, r)| (t.clone(), r.0.clone()))
        .collect();
    for (t, target) in &p.target {
        let now = out.get(t).cloned().unwrap_or_default();
        let changes = !(now.len() == 1 && now.contains(&target.artifact));
        if done.contains(t) || !changes {
            out.insert(t.clone(), BTreeSet::from([target.artifact.clone()]));
        } else {
            out.insert(t.clone(), now);
        }
    }
    out
}

fn fits(entry: &CombinationPattern, c: &BTreeMap<ComponentType, BTreeSet<String>>) -> bool {
    entry.0.iter().all(|(t, pattern)| {
        let text = pattern.as_str();
        if text.bytes().all(|b| b == b'*') {
            return true;
        }
        let empty = BTreeSet::new();
        let running = c.get(t).unwrap_or(&empty);
        !running.is_empty() && running.iter().all(|n| glob(text.as_bytes(), n.as_bytes()))
    })
}

/// Whether the deployment satisfies the constraints.
pub fn accepts(c: &Constraints, p: &Proposal) -> bool {
    if c.is_empty() {
        return true;
    }
    let all: Done = groups(p).into_iter().flatten().collect();
    let end = names(p, &all);
    if !c.end_states.is_empty() && !c.end_states.iter().any(|e| fits(&e.artifacts, &end)) {
        return false;
    }
    bad_points(c, p).is_empty()
}

/// The combinations passed through that are neither the start, the end, an end state nor a
/// transition.
pub fn bad_points(c: &Constraints, p: &Proposal) -> Vec<BTreeMap<ComponentType, BTreeSet<String>>> {
    let all: Done = groups(p).into_iter().flatten().collect();
    reachable(p)
        .into_iter()
        .filter(|d| !d.is_empty() && *d != all)
        .map(|d| names(p, &d))
        .filter(|n| {
            !c.end_states.iter().any(|e| fits(&e.artifacts, n))
                && !c.transitions.iter().any(|t| fits(&t.artifacts, n))
        })
        .collect()
}
