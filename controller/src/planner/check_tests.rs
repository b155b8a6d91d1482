//! The constraints checker and the search: the design's own example, tables, and properties
//! against the simulating oracle.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::oracle;
use super::*;
use crate::model::{CombinationPattern, EndState, NamePattern, Reason, Running, Transition};

pub(crate) fn ct(s: &str) -> ComponentType {
    ComponentType::new(s).unwrap()
}

fn pattern(pairs: &[(&str, &str)]) -> CombinationPattern {
    CombinationPattern(
        pairs
            .iter()
            .map(|(t, p)| (ct(t), NamePattern::new(*p).unwrap()))
            .collect(),
    )
}

/// The tables of the original Orchestrator design, as issue 18 writes them.
pub(crate) fn design() -> Constraints {
    Constraints {
        end_states: vec![
            EndState {
                name: "v.1".into(),
                artifacts: pattern(&[("gateway", "gateway-v1"), ("rtos", "rtos-v1")]),
            },
            EndState {
                name: "v.2".into(),
                artifacts: pattern(&[("gateway", "gateway-v2"), ("rtos", "rtos-v3")]),
            },
        ],
        transitions: vec![Transition {
            artifacts: pattern(&[("gateway", "gateway-v2"), ("rtos", "rtos-v1")]),
        }],
    }
}

fn proposal(current: &[(&str, &str)], target: &[(&str, &str, i64)]) -> Proposal {
    Proposal {
        current: Combination(
            current
                .iter()
                .map(|(t, a)| (ct(t), Running::one(*a)))
                .collect(),
        ),
        target: target
            .iter()
            .map(|(t, a, o)| {
                (
                    ct(t),
                    Target {
                        artifact: a.to_string(),
                        order: Order::new(*o).unwrap(),
                    },
                )
            })
            .collect(),
        no_rollback: BTreeSet::new(),
    }
}

fn v1() -> [(&'static str, &'static str); 2] {
    [("gateway", "gateway-v1"), ("rtos", "rtos-v1")]
}

fn refusal(v: Verdict) -> (Vec<String>, Suggestion) {
    match v {
        Verdict::Refused {
            violations,
            suggestion,
        } => (
            violations.iter().map(ToString::to_string).collect(),
            suggestion,
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_design_example_gateway_first_is_accepted() {
    let p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v3", 20)],
    );
    assert_eq!(check(&design(), &p), Verdict::Accepted);
}

#[test]
fn the_design_example_rtos_first_is_refused_naming_gateway_v1_with_rtos_v3() {
    let p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 20), ("rtos", "rtos-v3", 10)],
    );
    let v = check(&design(), &p);
    assert_eq!(v.reason(), Some(Reason::ConstraintViolated));
    let (lines, suggestion) = refusal(v.clone());
    assert_eq!(
        lines,
        vec![
            "after order group 10 installs, the System would run gateway=gateway-v1, \
             rtos=rtos-v3, which is neither an end state nor a transition"
        ]
    );
    assert_eq!(
        suggestion.to_string(),
        "orders that satisfy the constraints: gateway 10, rtos 20"
    );
    let Suggestion::Orders { orders } = suggestion else {
        panic!("{suggestion:?}")
    };
    assert_eq!(check(&design(), &p.with_orders(&orders)), Verdict::Accepted);
}

#[test]
fn the_design_example_one_group_is_refused_for_the_order_inside_it() {
    let p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v3", 10)],
    );
    let (lines, suggestion) = refusal(check(&design(), &p));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("while order group 10 installs, with rtos done and gateway not yet"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("gateway=gateway-v1, rtos=rtos-v3"),
        "{lines:?}"
    );
    assert!(matches!(suggestion, Suggestion::Orders { .. }));
}

#[test]
fn the_design_example_an_end_state_outside_the_table_is_refused_naming_it() {
    let p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)],
    );
    let (lines, suggestion) = refusal(check(&design(), &p));
    assert_eq!(
        lines[0],
        "the Manifest's end state (gateway=gateway-v2, rtos=rtos-v2) is not one of the end \
         states (v.1, v.2)"
    );
    assert_eq!(suggestion, Suggestion::EndStateRefused);
}

#[test]
fn a_type_that_cannot_roll_back_makes_the_rollback_pass_through_a_forbidden_combination() {
    // Gateway first is fine forward; but if the RTOS cannot roll back and anything fails
    // after its install started, the gateway rolls back to v1 under an RTOS still on v3.
    let mut p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v3", 20)],
    );
    p.no_rollback.insert(ct("rtos"));
    let (lines, suggestion) = refusal(check(&design(), &p));
    assert_eq!(
        lines,
        vec![
            "while order group 10 rolls back after a failure in order group 20, with rtos \
             still on the new Artifact (no rollback), the System would run \
             gateway=gateway-v1, rtos=rtos-v3, which is neither an end state nor a transition"
        ]
    );
    assert!(
        matches!(
            suggestion,
            Suggestion::NoneFound {
                exhaustive: true,
                ..
            }
        ),
        "{suggestion:?}"
    );
    // A gateway that cannot roll back is harmless: it only ever rolls back last.
    let mut p = proposal(
        &v1(),
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v3", 20)],
    );
    p.no_rollback.insert(ct("gateway"));
    assert_eq!(check(&design(), &p), Verdict::Accepted);
}

#[test]
fn up_to_date_types_and_unconstrained_tables() {
    // Already in v.2: nothing changes, the end state is v.2.
    let p = proposal(
        &[("gateway", "gateway-v2"), ("rtos", "rtos-v3")],
        &[("gateway", "gateway-v2", 20), ("rtos", "rtos-v3", 10)],
    );
    assert_eq!(check(&design(), &p), Verdict::Accepted);
    assert_eq!(check(&Constraints::default(), &p), Verdict::Unconstrained);
    // Only the RTOS is behind (gateway already v2): the only step is the end state.
    let p = proposal(
        &[("gateway", "gateway-v2"), ("rtos", "rtos-v1")],
        &[("gateway", "gateway-v2", 20), ("rtos", "rtos-v3", 10)],
    );
    assert_eq!(check(&design(), &p), Verdict::Accepted);
}

#[test]
fn patterns_and_omitted_types_widen_the_tables() {
    let c = Constraints {
        end_states: vec![EndState {
            name: "v.3".into(),
            artifacts: pattern(&[("gateway", "gateway-v3*"), ("rtos", "rtos-v3")]),
        }],
        transitions: vec![Transition {
            artifacts: pattern(&[("gateway", "gateway-v3*")]),
        }],
    };
    let p = proposal(
        &[
            ("gateway", "gateway-v2"),
            ("rtos", "rtos-v1"),
            ("cam", "cam-1"),
        ],
        &[
            ("gateway", "gateway-v3.1", 10),
            ("rtos", "rtos-v3", 20),
            ("cam", "cam-2", 30),
        ],
    );
    // After the gateway, anything goes for the other types; the end state ignores the camera.
    assert_eq!(check(&c, &p), Verdict::Accepted);
    let late = p.with_orders(&BTreeMap::from([(ct("gateway"), Order::new(40).unwrap())]));
    let (lines, suggestion) = refusal(check(&c, &late));
    assert!(
        lines[0].contains("gateway=gateway-v2, rtos=rtos-v3"),
        "{lines:?}"
    );
    let Suggestion::Orders { orders } = suggestion else {
        panic!("{suggestion:?}")
    };
    assert_eq!(check(&c, &late.with_orders(&orders)), Verdict::Accepted);
    // Everything after the gateway may go together.
    assert_eq!(orders[&ct("rtos")], orders[&ct("cam")], "{orders:?}");
}

/// Artifact names and the patterns the tables may use.
const NAMES: [&str; 3] = ["v1", "v2", "v2.1"];
const PATTERNS: [&str; 5] = ["v1", "v2", "v2.1", "v2*", "*"];

/// A random deployment of up to 5 types and tables correlated with it, so that both
/// verdicts are common.
#[derive(Debug, Clone)]
struct Case {
    constraints: Constraints,
    proposal: Proposal,
}

fn case() -> impl Strategy<Value = Case> {
    let types = 1usize..=5;
    types
        .prop_flat_map(|n| {
            let per_type = (
                0usize..3,
                0usize..3,
                1i64..=3,
                any::<bool>(),
                prop::bool::weighted(0.1),
            );
            // An entry: per type, 0 = omitted, 1 = old name, 2 = new name, 3 = a pattern.
            let entry = prop::collection::vec((0u8..4, 0usize..PATTERNS.len()), n);
            (
                prop::collection::vec(per_type, n),
                prop::collection::vec(entry.clone(), 0..3),
                prop::collection::vec(entry, 0..6),
            )
        })
        .prop_map(|(types, ends, transitions)| {
            let name = |i: usize| ct(&format!("t{i}"));
            let mut current = BTreeMap::new();
            let mut target = BTreeMap::new();
            let mut no_rollback = BTreeSet::new();
            for (i, (now, then, order, no_rb, mixed)) in types.iter().enumerate() {
                let mut running = Running::one(NAMES[*now]);
                if *mixed {
                    running.0.insert(NAMES[(*now + 1) % 3].to_string());
                }
                current.insert(name(i), running);
                target.insert(
                    name(i),
                    Target {
                        artifact: NAMES[*then].into(),
                        order: Order::new(*order).unwrap(),
                    },
                );
                if *no_rb {
                    no_rollback.insert(name(i));
                }
            }
            let to_pattern = |entry: &Vec<(u8, usize)>| {
                CombinationPattern(
                    entry
                        .iter()
                        .enumerate()
                        .filter_map(|(i, (how, pat))| {
                            let old = current[&name(i)].0.first().cloned().unwrap();
                            let text = match how {
                                0 => return None,
                                1 => old,
                                2 => target[&name(i)].artifact.clone(),
                                _ => PATTERNS[*pat].to_string(),
                            };
                            Some((name(i), NamePattern::new(text).unwrap()))
                        })
                        .collect(),
                )
            };
            Case {
                constraints: Constraints {
                    end_states: ends
                        .iter()
                        .enumerate()
                        .map(|(i, e)| EndState {
                            name: format!("e{i}"),
                            artifacts: to_pattern(e),
                        })
                        .collect(),
                    transitions: transitions
                        .iter()
                        .map(|e| Transition {
                            artifacts: to_pattern(e),
                        })
                        .collect(),
                },
                proposal: Proposal {
                    current: Combination(current),
                    target,
                    no_rollback,
                },
            }
        })
}

/// Every sequence of the changing types, one per group: does the oracle accept any?
fn some_sequence_accepted(c: &Constraints, p: &Proposal) -> bool {
    let types: Vec<ComponentType> = oracle::groups(p).into_iter().flatten().collect();
    fn permute(
        rest: &mut Vec<ComponentType>,
        acc: &mut Vec<ComponentType>,
        f: &mut dyn FnMut(&[ComponentType]) -> bool,
    ) -> bool {
        if rest.is_empty() {
            return f(acc);
        }
        for i in 0..rest.len() {
            let t = rest.remove(i);
            acc.push(t.clone());
            let found = permute(rest, acc, f);
            acc.pop();
            rest.insert(i, t);
            if found {
                return true;
            }
        }
        false
    }
    let mut rest = types;
    permute(&mut rest, &mut Vec::new(), &mut |seq| {
        let orders: BTreeMap<ComponentType, Order> = seq
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), Order::new(i as i64 + 1).unwrap()))
            .collect();
        oracle::accepts(c, &p.with_orders(&orders))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The checker accepts exactly the deployments whose every run, forward and back, passes
    /// only through allowed combinations; a named combination is one a run passes through.
    #[test]
    fn the_checker_agrees_with_the_simulating_oracle(case in case()) {
        let Case { constraints, proposal } = case;
        let verdict = check(&constraints, &proposal);
        let oracle_accepts = oracle::accepts(&constraints, &proposal);
        prop_assert_eq!(!verdict.is_refused(), oracle_accepts, "{:?}", verdict);
        if let Verdict::Refused { violations, .. } = &verdict {
            let bad = oracle::bad_points(&constraints, &proposal);
            for v in violations {
                if let Violation::Passage { combination, .. } = v {
                    let as_sets: BTreeMap<_, _> =
                        combination.0.iter().map(|(t, r)| (t.clone(), r.0.clone())).collect();
                    prop_assert!(bad.contains(&as_sets), "{} is not a bad point", combination);
                }
            }
        }
    }

    /// A suggestion is accepted by the checker and by the oracle; when any ordering would be
    /// accepted, the search finds one.
    #[test]
    fn suggestions_are_accepted_and_found_whenever_they_exist(case in case()) {
        let Case { constraints, proposal } = case;
        prop_assume!(!constraints.is_empty());
        match suggest(&constraints, &proposal) {
            Suggestion::Orders { orders } => {
                let fixed = proposal.with_orders(&orders);
                prop_assert_eq!(check(&constraints, &fixed), Verdict::Accepted);
                prop_assert!(oracle::accepts(&constraints, &fixed));
            }
            Suggestion::EndStateRefused => {
                let end = proposal.end_state();
                prop_assert!(!constraints.end_states.iter().any(|e| e.artifacts.matches(&end)));
            }
            Suggestion::NoneFound { exhaustive, .. } => {
                prop_assert!(exhaustive);
                prop_assert!(!some_sequence_accepted(&constraints, &proposal));
            }
        }
    }
}
