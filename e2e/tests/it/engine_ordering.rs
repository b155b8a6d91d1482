//! Random Systems deployed by the real binary through real mock Interfaces: the calls every
//! component saw are the ones the oracle (written from the documented ordering) expects, and
//! the System ends all-new or all-old, or the report names the components it could not
//! bring back.
//!
//! The exhaustive version of this property (up to 50 components, 5 groups, thousands of
//! cases) runs against the pure state machine in the library; this one checks, with fewer
//! and smaller cases, that the live engine, the journal and real processes behave the same.

use std::collections::BTreeMap;

use baton::engine::api::oracle::{expected_steps, Ev, QueryKind, Sim};
use baton::interface::protocol::{RebootAnswer, State};
use e2e::fixture::{killed, Component, System};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    comps: Vec<(usize, bool, RebootAnswer)>,
    failure: Option<(usize, Ev)>,
}

fn failure_points() -> Vec<Ev> {
    vec![
        Ev::Call(State::Download),
        Ev::Call(State::ArtifactInstall),
        Ev::Call(State::ArtifactReboot),
        Ev::Call(State::ArtifactVerifyReboot),
        Ev::Call(State::ArtifactCommit),
        Ev::Call(State::ArtifactRollback),
        Ev::Call(State::ArtifactVerifyRollbackReboot),
        Ev::Call(State::Cleanup),
        Ev::Ask(QueryKind::NeedsArtifactReboot),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let reboot = prop_oneof![
        Just(RebootAnswer::No),
        Just(RebootAnswer::Yes),
        Just(RebootAnswer::Automatic)
    ];
    (
        prop::collection::vec((0usize..3, any::<bool>(), reboot), 1..=6),
        prop::option::of((0usize..6, prop::sample::select(failure_points()))),
    )
        .prop_map(|(mut comps, failure)| {
            // Dense group numbers, as the planner makes them.
            let mut used: Vec<usize> = comps.iter().map(|c| c.0).collect();
            used.sort();
            used.dedup();
            for c in &mut comps {
                c.0 = used.iter().position(|&g| g == c.0).unwrap();
            }
            let n = comps.len();
            Case {
                comps,
                failure: failure.map(|(m, ev)| (m % n, ev)),
            }
        })
}

fn marker(ev: &Ev) -> String {
    match ev {
        Ev::Call(s) => format!("{s}.FAIL"),
        Ev::Ask(QueryKind::NeedsArtifactReboot) => "NeedsArtifactReboot.FAIL".into(),
        Ev::Ask(QueryKind::SupportsRollback) => "SupportsRollback.FAIL".into(),
        Ev::HostReboot { .. } => unreachable!(),
    }
}

fn word(ev: &Ev) -> String {
    match ev {
        Ev::Call(s) => s.to_string(),
        Ev::Ask(QueryKind::NeedsArtifactReboot) => "NeedsArtifactReboot".into(),
        Ev::Ask(QueryKind::SupportsRollback) => "SupportsRollback".into(),
        Ev::HostReboot { .. } => unreachable!(),
    }
}

fn answer(r: RebootAnswer) -> &'static str {
    match r {
        RebootAnswer::No => "No",
        RebootAnswer::Yes => "Yes",
        RebootAnswer::Automatic => "Automatic",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn live_calls_match_the_documented_ordering(c in case()) {
        let groups = c.comps.iter().map(|x| x.0).max().unwrap() + 1;
        // One component type per component keeps every Artifact distinct.
        let comps: Vec<Component> = c
            .comps
            .iter()
            .enumerate()
            .map(|(i, (g, rollback, reboot))| {
                let comp = Component::new(&format!("c{i}"), &format!("t{i}"), 10 * (*g as u8 + 1)).reboot(answer(*reboot));
                if *rollback { comp } else { comp.no_rollback() }
            })
            .collect();
        let s = System::new(comps);
        let mut sims: Vec<Sim> = c
            .comps
            .iter()
            .map(|(g, rollback, reboot)| Sim { group: *g, supports_rollback: *rollback, reboot: *reboot, fails: BTreeMap::new() })
            .collect();
        if let Some((m, ev)) = &c.failure {
            s.mark(&format!("c{m}"), &marker(ev));
            sims[*m].fails.insert(ev.clone(), u32::MAX);
        }

        let manifest = s.release("v2");
        let mut out = s.run(&["install", "-o", "json", manifest.to_str().unwrap()]);
        let mut restarts = 0;
        while killed(out.status) {
            restarts += 1;
            prop_assert!(restarts <= 20);
            out = s.run(&["resume", "-o", "json"]);
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

        // The calls each component saw, against the oracle's.
        let trace = expected_steps(&sims, groups);
        for m in 0..sims.len() {
            let expected: Vec<String> = trace
                .iter()
                .filter(|(_, _, members)| members.contains(&m))
                .map(|(_, ev, _)| word(ev))
                .collect();
            prop_assert_eq!(s.protocol_calls(&format!("c{m}")), expected, "component c{} of {:?}", m, c);
        }

        // All new, all old, or the report names what it could not bring back.
        let versions = s.versions();
        let new: Vec<bool> = versions.iter().map(|v| v.ends_with("-v2")).collect();
        match report["end"]["result"].as_str().unwrap() {
            "success" => prop_assert!(new.iter().all(|&n| n), "{:?}", versions),
            "rolledBack" => prop_assert!(new.iter().all(|&n| !n), "{:?}", versions),
            "inconsistent" => {
                let named: Vec<String> = report["end"]["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_string())
                    .collect();
                for (i, n) in new.iter().enumerate() {
                    if *n {
                        prop_assert!(named.contains(&format!("c{i}")), "c{} is new but not named: {:?}", i, report);
                    }
                }
            }
            other => prop_assert!(false, "unexpected end {other}: {report}"),
        }
    }
}
