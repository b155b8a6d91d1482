//! How large a System the checker and the search handle quickly. Figures, not assertions on
//! time (machines are shared): run with
//! `cargo test -p baton --lib planner::scale_tests -- --ignored --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::*;
use crate::model::{CombinationPattern, EndState, NamePattern, Running, Transition};

fn name(i: usize) -> ComponentType {
    ComponentType::new(format!("c{i:02}")).unwrap()
}

/// n types from v1 to v2, all in order group 10.
fn proposal(n: usize) -> Proposal {
    Proposal {
        current: Combination((0..n).map(|i| (name(i), Running::one("v1"))).collect()),
        target: (0..n)
            .map(|i| {
                (
                    name(i),
                    Target {
                        artifact: "v2".into(),
                        order: Order::new(10).unwrap(),
                    },
                )
            })
            .collect(),
        no_rollback: BTreeSet::new(),
    }
}

/// Only one sequence passes: the types in reverse name order (the search tries name order
/// first), each step a transition naming every type.
fn chain(n: usize) -> Constraints {
    let point = |k: usize| {
        CombinationPattern(
            (0..n)
                .map(|i| {
                    let new = i >= n - k;
                    (
                        name(i),
                        NamePattern::new(if new { "v2" } else { "v1" }).unwrap(),
                    )
                })
                .collect(),
        )
    };
    Constraints {
        end_states: vec![EndState {
            name: "v.2".into(),
            artifacts: point(n),
        }],
        transitions: (1..n)
            .map(|k| Transition {
                artifacts: point(k),
            })
            .collect(),
    }
}

/// No sequence passes: any combination with at most n-2 types changed is allowed, none with
/// n-1. The search must see every set of at most n-2 types before it can say so.
fn wall(n: usize) -> Constraints {
    // "c_i on v1 and c_j on v1" for every pair: at least two types still old.
    let mut transitions = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            transitions.push(Transition {
                artifacts: CombinationPattern(BTreeMap::from([
                    (name(i), NamePattern::new("v1").unwrap()),
                    (name(j), NamePattern::new("v1").unwrap()),
                ])),
            });
        }
    }
    Constraints {
        end_states: vec![],
        transitions,
    }
}

#[allow(clippy::disallowed_methods)] // figures by the wall clock, printed, never asserted
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "prints figures; run by hand"]
fn figures() {
    eprintln!("check, one order group of n types, chain table (refused: the group's order):");
    for n in [4, 8, 16, 32, 64, 128] {
        let (v, ms) = timed(|| check(&chain(n), &proposal(n)));
        let Verdict::Refused { suggestion, .. } = &v else {
            panic!("{v:?}")
        };
        // More than 100 groups cannot be numbered with orders 1..=100.
        assert_eq!(
            matches!(suggestion, Suggestion::Orders { .. }),
            n <= 100,
            "{n}"
        );
        eprintln!("  n={n:3}: check + suggestion (a sequence of {n} groups) {ms:9.2} ms");
    }
    eprintln!("search with no answer, 'at least two types old' (every set of <= n-2 visited):");
    for n in [8, 12, 14, 16, 18, 20] {
        let (s, ms) = timed(|| suggest(&wall(n), &proposal(n)));
        eprintln!("  n={n:3}: {ms:9.2} ms  {s:?}");
    }
}
