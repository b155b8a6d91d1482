//! Feedback sequences by table: baton's events in, Kanto's statuses out, as the reference's
//! sequences (IDENTIFYING, IDENTIFIED, RUNNING..., COMPLETED | INCOMPLETE |
//! IDENTIFICATION_FAILED) and Kanto's throttle.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::interface::protocol::Query;

fn key(t: &str, id: &str) -> ComponentKey {
    ComponentKey::new(t, id)
}

fn planned(t: &str, id: &str, order: u8, to: &str) -> PlannedComponent {
    PlannedComponent {
        component: key(t, id),
        order,
        to_artifact: to.into(),
    }
}

fn step(order: u8, s: State, who: &[ComponentKey]) -> [BatonEvent; 2] {
    [
        BatonEvent::StepStarted {
            order,
            call: Call::State(s),
            components: who.to_vec(),
        },
        BatonEvent::StepFinished {
            order,
            call: Call::State(s),
            failed: vec![],
        },
    ]
}

/// Runs events (one second apart) through an admitted tracker; returns every report as
/// `STATUS [component=ACTION ...]`, and the last report.
fn run(interval: Option<u64>, events: &[BatonEvent]) -> (Vec<String>, Report) {
    run_with(interval, BTreeMap::new(), events)
}

fn run_with(
    interval: Option<u64>,
    agents: BTreeMap<String, Vec<Component>>,
    events: &[BatonEvent],
) -> (Vec<String>, Report) {
    let t0 = Instant::now().into_std();
    let (mut t, first) = Tracker::start(interval.map(Duration::from_secs));
    t.admitted(5, agents);
    let mut out = vec![first];
    for (i, e) in events.iter().enumerate() {
        let now = t0 + Duration::from_secs(i as u64 + 1);
        if let Some(r) = t.tick(now) {
            out.push(r);
        }
        out.extend(t.on_event(e, now));
    }
    let last = out.last().cloned().unwrap();
    let lines = out
        .iter()
        .map(|r| {
            let s = serde_json::to_value(r.feedback.status.unwrap()).unwrap();
            let acts: Vec<String> = r
                .feedback
                .actions
                .iter()
                .map(|a| {
                    let st = serde_json::to_value(a.status).unwrap();
                    let p = if a.progress > 0 {
                        format!("@{}", a.progress)
                    } else {
                        String::new()
                    };
                    format!("{}={}{p}", a.component.id, st.as_str().unwrap())
                })
                .collect();
            if acts.is_empty() {
                s.as_str().unwrap().to_string()
            } else {
                format!("{} {}", s.as_str().unwrap(), acts.join(" "))
            }
        })
        .collect();
    (lines, last)
}

fn two_group_success() -> Vec<BatonEvent> {
    let (r, g) = (key("rtos", "mcu-1"), key("gateway", "gw-1"));
    let mut ev = vec![BatonEvent::Started {
        generation: 5,
        components: vec![
            planned("rtos", "mcu-1", 10, "rtos-v2"),
            planned("gateway", "gw-1", 20, "gw-v2"),
        ],
    }];
    ev.extend(step(10, State::Download, std::slice::from_ref(&r)));
    ev.extend(step(20, State::Download, std::slice::from_ref(&g)));
    ev.extend(step(10, State::ArtifactInstall, std::slice::from_ref(&r)));
    ev.extend(step(20, State::ArtifactInstall, std::slice::from_ref(&g)));
    ev.extend(step(10, State::ArtifactCommit, std::slice::from_ref(&r)));
    ev.extend(step(20, State::ArtifactCommit, std::slice::from_ref(&g)));
    ev.extend(step(10, State::Cleanup, std::slice::from_ref(&r)));
    ev.push(BatonEvent::Ended {
        generation: 5,
        end: DeploymentEnd::Success,
    });
    ev
}

#[test]
fn a_two_group_update_without_throttling_reports_every_change() {
    // Interval 1 s with events 1 s apart: every change goes out.
    let (lines, last) = run(Some(1), &two_group_success());
    assert_eq!(
        lines,
        [
            "IDENTIFYING",
            "IDENTIFIED rtos:mcu-1=IDENTIFIED gateway:gw-1=IDENTIFIED",
            "RUNNING rtos:mcu-1=DOWNLOADING gateway:gw-1=IDENTIFIED",
            "RUNNING rtos:mcu-1=DOWNLOAD_SUCCESS@100 gateway:gw-1=IDENTIFIED",
            "RUNNING rtos:mcu-1=DOWNLOAD_SUCCESS@100 gateway:gw-1=DOWNLOADING",
            "RUNNING rtos:mcu-1=DOWNLOAD_SUCCESS@100 gateway:gw-1=DOWNLOAD_SUCCESS@100",
            "RUNNING rtos:mcu-1=UPDATING@100 gateway:gw-1=DOWNLOAD_SUCCESS@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=DOWNLOAD_SUCCESS@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATING@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATE_SUCCESS@100",
            // ACTIVATING and ACTIVATION_SUCCESS as Kanto shows them to the backend.
            "RUNNING rtos:mcu-1=UPDATING@100 gateway:gw-1=UPDATE_SUCCESS@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATE_SUCCESS@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATING@100",
            "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATE_SUCCESS@100",
            "COMPLETED rtos:mcu-1=UPDATE_SUCCESS gateway:gw-1=UPDATE_SUCCESS",
        ]
    );
    assert!(last.last && !last.superseded);
    assert_eq!(last.feedback.actions[0].component.version, "rtos-v2");
}

#[test]
fn running_is_throttled_as_kanto_does() {
    // Interval 4 s, events 1 s apart: the first RUNNING at once, then one at each interval's
    // end if the actions changed, and the next change after that goes out at once again.
    let (lines, _) = run(Some(4), &two_group_success());
    let running: Vec<&String> = lines.iter().filter(|l| l.starts_with("RUNNING")).collect();
    assert_eq!(running.len(), 6, "{lines:#?}");
    assert_eq!(lines.first().unwrap(), "IDENTIFYING");
    assert!(lines.last().unwrap().starts_with("COMPLETED"));
    // Interval 0 (None): no RUNNING at all.
    let (lines, _) = run(None, &two_group_success());
    assert_eq!(
        lines
            .iter()
            .map(|l| l.split(' ').next().unwrap())
            .collect::<Vec<_>>(),
        ["IDENTIFYING", "IDENTIFIED", "COMPLETED"]
    );
}

#[test]
fn progress_comes_from_the_bytes_streamed() {
    let r = key("rtos", "mcu-1");
    let ev = vec![
        BatonEvent::Started {
            generation: 5,
            components: vec![planned("rtos", "mcu-1", 10, "rtos-v2")],
        },
        BatonEvent::StepStarted {
            order: 10,
            call: Call::State(State::Download),
            components: vec![r.clone()],
        },
        BatonEvent::Bytes {
            component: r.clone(),
            bytes: 250,
            total: Some(1000),
        },
        BatonEvent::Bytes {
            component: r.clone(),
            bytes: 1000,
            total: Some(1000),
        },
        BatonEvent::Bytes {
            component: r.clone(),
            bytes: 10,
            total: None,
        },
    ];
    let (lines, _) = run(Some(1), &ev);
    assert_eq!(
        &lines[2..],
        [
            "RUNNING rtos:mcu-1=DOWNLOADING",
            "RUNNING rtos:mcu-1=DOWNLOADING@25",
            "RUNNING rtos:mcu-1=DOWNLOADING@99"
        ]
    );
}

#[test]
fn a_failure_ends_incomplete_naming_the_state_the_cause_and_the_whole_system_rollback() {
    let (r, g) = (key("rtos", "mcu-1"), key("gateway", "gw-1"));
    let mut ev = vec![BatonEvent::Started {
        generation: 5,
        components: vec![
            planned("rtos", "mcu-1", 10, "rtos-v2"),
            planned("gateway", "gw-1", 20, "gw-v2"),
        ],
    }];
    ev.extend(step(10, State::Download, std::slice::from_ref(&r)));
    ev.extend(step(20, State::Download, std::slice::from_ref(&g)));
    ev.extend(step(10, State::ArtifactInstall, std::slice::from_ref(&r)));
    ev.push(BatonEvent::StepStarted {
        order: 20,
        call: Call::State(State::ArtifactInstall),
        components: vec![g.clone()],
    });
    ev.push(BatonEvent::StepFinished {
        order: 20,
        call: Call::State(State::ArtifactInstall),
        failed: vec![(g.clone(), "exit status 1: flash write error".into())],
    });
    ev.extend(step(10, State::ArtifactRollback, std::slice::from_ref(&r)));
    ev.push(BatonEvent::Ended {
        generation: 5,
        end: DeploymentEnd::RolledBack {
            failed_at: "ArtifactInstall".into(),
            reason: "gateway gw-1: exit status 1: flash write error".into(),
        },
    });
    let (lines, last) = run(Some(1), &ev);
    assert_eq!(
        lines.last().unwrap(),
        "INCOMPLETE rtos:mcu-1=UPDATE_FAILURE gateway:gw-1=UPDATE_FAILURE"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "RUNNING rtos:mcu-1=UPDATE_SUCCESS@100 gateway:gw-1=UPDATE_FAILURE@100"),
        "{lines:#?}"
    );
    let fb = &last.feedback;
    assert!(last.last);
    assert!(
        fb.message
            .starts_with("ArtifactInstall failed: gateway gw-1: exit status 1"),
        "{}",
        fb.message
    );
    assert!(
        fb.message.contains("baton rolled the whole System back"),
        "{}",
        fb.message
    );
    assert!(
        fb.actions[0]
            .message
            .starts_with("rolled back to its previous Artifact"),
        "{}",
        fb.actions[0].message
    );
    assert!(
        fb.actions[1]
            .message
            .starts_with("ArtifactInstall failed: exit status 1"),
        "{}",
        fb.actions[1].message
    );
}

#[test]
fn a_component_never_installed_keeps_its_status_and_says_why() {
    let (r, g) = (key("rtos", "mcu-1"), key("gateway", "gw-1"));
    let mut ev = vec![BatonEvent::Started {
        generation: 5,
        components: vec![
            planned("rtos", "mcu-1", 10, "r2"),
            planned("gateway", "gw-1", 20, "g2"),
        ],
    }];
    ev.extend(step(10, State::Download, std::slice::from_ref(&r)));
    ev.push(BatonEvent::StepStarted {
        order: 20,
        call: Call::State(State::Download),
        components: vec![g.clone()],
    });
    ev.push(BatonEvent::StepFinished {
        order: 20,
        call: Call::State(State::Download),
        failed: vec![(g.clone(), "checksum mismatch".into())],
    });
    ev.push(BatonEvent::Ended {
        generation: 5,
        end: DeploymentEnd::RolledBack {
            failed_at: "Download".into(),
            reason: "checksum mismatch".into(),
        },
    });
    let (lines, last) = run(None, &ev);
    assert_eq!(
        lines.last().unwrap(),
        "INCOMPLETE rtos:mcu-1=DOWNLOAD_SUCCESS gateway:gw-1=DOWNLOAD_FAILURE"
    );
    assert!(last.feedback.actions[0]
        .message
        .starts_with("not installed: Download failed"));
}

#[test]
fn activation_failures_and_inconsistent_ends() {
    let r = key("rtos", "mcu-1");
    let mut ev = vec![BatonEvent::Started {
        generation: 5,
        components: vec![planned("rtos", "mcu-1", 10, "r2")],
    }];
    ev.extend(step(10, State::Download, std::slice::from_ref(&r)));
    ev.extend(step(10, State::ArtifactInstall, std::slice::from_ref(&r)));
    ev.push(BatonEvent::StepStarted {
        order: 10,
        call: Call::State(State::ArtifactVerifyReboot),
        components: vec![r.clone()],
    });
    ev.push(BatonEvent::StepFinished {
        order: 10,
        call: Call::State(State::ArtifactVerifyReboot),
        failed: vec![(r.clone(), "did not come back".into())],
    });
    ev.push(BatonEvent::Ended {
        generation: 5,
        end: DeploymentEnd::Inconsistent {
            failed_at: "ArtifactVerifyReboot".into(),
            reason: "did not come back".into(),
            lost: vec![r.clone()],
        },
    });
    let (lines, last) = run(Some(1), &ev);
    // ACTIVATION_FAILURE is sent as UPDATE_FAILURE; INCOMPLETE_INCONSISTENT as INCOMPLETE.
    assert!(
        lines
            .iter()
            .any(|l| l == "RUNNING rtos:mcu-1=UPDATE_FAILURE@100"),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        "INCOMPLETE rtos:mcu-1=UPDATE_FAILURE"
    );
    assert!(
        last.feedback
            .message
            .contains("rtos:mcu-1 could not be brought back"),
        "{}",
        last.feedback.message
    );
}

#[test]
fn in_sync_rejected_and_superseded() {
    let (lines, last) = run(Some(1), &[BatonEvent::InSync { generation: 5 }]);
    assert_eq!(lines, ["IDENTIFYING", "IDENTIFIED", "COMPLETED"]);
    assert!(last.last);
    let (lines, _) = run(
        Some(1),
        &[BatonEvent::Ended {
            generation: 5,
            end: DeploymentEnd::Success,
        }],
    );
    assert_eq!(lines, ["IDENTIFYING", "IDENTIFIED", "COMPLETED"]);
    let (lines, last) = run(
        Some(1),
        &[BatonEvent::Ended {
            generation: 5,
            end: DeploymentEnd::Rejected {
                problems: vec!["rtos: no Artifact named 'nope' in any source".into()],
            },
        }],
    );
    assert_eq!(lines, ["IDENTIFYING", "IDENTIFICATION_FAILED"]);
    assert!(last.feedback.message.contains("no Artifact named 'nope'"));
    for ev in [
        BatonEvent::Superseded {
            generation: 5,
            by: 6,
        },
        BatonEvent::Started {
            generation: 6,
            components: vec![],
        },
        BatonEvent::InSync { generation: 7 },
    ] {
        let (lines, last) = run(Some(1), &[ev]);
        assert_eq!(lines, ["IDENTIFYING", "INCOMPLETE"]);
        assert!(last.superseded && last.last);
    }
}

#[test]
fn events_of_other_deployments_and_after_the_end_are_ignored() {
    let ev = vec![
        // An older generation's deployment still finishing.
        BatonEvent::Ended {
            generation: 4,
            end: DeploymentEnd::Success,
        },
        BatonEvent::StepStarted {
            order: 10,
            call: Call::State(State::Download),
            components: vec![key("rtos", "x")],
        },
        BatonEvent::Started {
            generation: 5,
            components: vec![planned("rtos", "mcu-1", 10, "r2")],
        },
        BatonEvent::StepStarted {
            order: 10,
            call: Call::Query(Query::NeedsArtifactReboot),
            components: vec![key("rtos", "mcu-1")],
        },
        BatonEvent::Ended {
            generation: 5,
            end: DeploymentEnd::Success,
        },
        BatonEvent::InSync { generation: 5 },
        BatonEvent::Started {
            generation: 6,
            components: vec![],
        },
    ];
    let (lines, _) = run(None, &ev);
    assert_eq!(
        lines,
        [
            "IDENTIFYING",
            "IDENTIFIED rtos:mcu-1=IDENTIFIED",
            "COMPLETED rtos:mcu-1=UPDATE_SUCCESS"
        ]
    );
}

#[test]
fn a_kanto_agent_component_reports_the_agents_own_components() {
    let c = key("containers", "containers");
    let agents = BTreeMap::from([(
        "containers".to_string(),
        vec![
            Component::new("containers:web", "1.4.0"),
            Component::new("containers:db", "15"),
        ],
    )]);
    let mut ev = vec![BatonEvent::Started {
        generation: 5,
        components: vec![planned(
            "containers",
            "containers",
            10,
            "kanto-containers-0011",
        )],
    }];
    ev.extend(step(10, State::Download, std::slice::from_ref(&c)));
    ev.push(BatonEvent::Ended {
        generation: 5,
        end: DeploymentEnd::Success,
    });
    let (lines, _) = run_with(None, agents, &ev);
    assert_eq!(
        lines,
        [
            "IDENTIFYING",
            "IDENTIFIED containers:web=IDENTIFIED containers:db=IDENTIFIED",
            "COMPLETED containers:web=UPDATE_SUCCESS containers:db=UPDATE_SUCCESS"
        ]
    );
}

#[test]
fn refusal_before_admission_is_final() {
    let (mut t, first) = Tracker::start(Some(Duration::from_secs(1)));
    assert_eq!(first.feedback.status, Some(Status::Identifying));
    let r = t.refused(&["domain 'x': the Topology has no component type 'x'".into()]);
    assert!(r.last && t.is_done());
    assert_eq!(r.feedback.status, Some(Status::IdentificationFailed));
    assert!(t
        .on_event(
            &BatonEvent::InSync { generation: 1 },
            Instant::now().into_std()
        )
        .is_empty());
}
