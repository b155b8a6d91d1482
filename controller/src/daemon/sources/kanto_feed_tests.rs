use std::sync::Arc;

use super::*;
use crate::engine::api::{Call, PlannedChange, Problem, State};
use crate::model::{DeploymentStatus, HistoryEntry};

fn summary(generation: u64) -> Change {
    Change::Summary {
        generation,
        observed_generation: 0,
        desired_manifest: None,
        suspended: false,
        failures: 0,
        next_attempt_at: None,
        system_version: None,
        conditions: vec![],
    }
}

fn deployment(generation: Option<u64>) -> Change {
    Change::Deployment {
        deployment: generation.map(|g| {
            let mut d = crate::daemon::status::progress::starting(g);
            d.manifest = "m".into();
            d
        }),
    }
}

fn rtos() -> ComponentRef {
    ComponentRef {
        component_type: "rtos".into(),
        id: "A".into(),
    }
}

fn started() -> Change {
    Change::Progress {
        progress: Progress::Started {
            deployment: "d".into(),
            manifest: "m".into(),
            components: vec![PlannedChange {
                component: rtos(),
                order: 10,
                to_artifact: "rtos-v2".into(),
            }],
        },
    }
}

fn settled(generation: u64, settled: Settled) -> Change {
    Change::Settled {
        generation,
        settled,
    }
}

#[test]
fn a_deployment_reads_as_started_steps_and_its_end() {
    let mut t = Translate::default();
    assert_eq!(t.change(&summary(3)), vec![]);
    assert_eq!(t.change(&deployment(Some(3))), vec![]);
    // A newer generation while 3 deploys does not supersede 3.
    assert_eq!(t.change(&summary(4)), vec![]);
    assert_eq!(
        t.change(&started()),
        vec![BatonEvent::Started {
            generation: 3,
            components: vec![PlannedComponent {
                component: ComponentKey::new("rtos", "A"),
                order: 10,
                to_artifact: "rtos-v2".into(),
            }],
        }]
    );
    let step = Change::Progress {
        progress: Progress::StepFinished {
            order: 10,
            call: Call::State(State::ArtifactInstall),
            failed: vec![(rtos(), "exit 2".into())],
            seconds: 1.0,
        },
    };
    assert_eq!(
        t.change(&step),
        vec![BatonEvent::StepFinished {
            order: 10,
            call: Call::State(State::ArtifactInstall),
            failed: vec![(ComponentKey::new("rtos", "A"), "exit 2".into())],
        }]
    );
    assert_eq!(
        t.change(&Change::Progress {
            progress: Progress::Rebooting
        }),
        vec![]
    );
    assert_eq!(t.change(&deployment(None)), vec![]);
    let end = End::RolledBack {
        reason: Reason::InstallFailed,
        failed_at: "ArtifactInstall rtos A".into(),
        message: "exit 2".into(),
    };
    assert_eq!(
        t.change(&settled(3, Settled::Deployed { end })),
        vec![BatonEvent::Ended {
            generation: 3,
            end: DeploymentEnd::RolledBack {
                failed_at: "ArtifactInstall rtos A".into(),
                reason: "exit 2".into()
            }
        }]
    );
    // Paused is no end.
    let paused = End::Paused {
        before: crate::engine::api::Boundary::ArtifactCommit,
        failing: false,
        lost: vec![],
    };
    assert_eq!(
        t.change(&settled(3, Settled::Deployed { end: paused })),
        vec![]
    );
}

#[test]
fn in_sync_refused_and_superseded() {
    let mut t = Translate::default();
    t.change(&summary(5));
    assert_eq!(
        t.change(&settled(5, Settled::InSync)),
        vec![BatonEvent::InSync { generation: 5 }]
    );
    // 5 was settled: a newer one does not supersede it.
    assert_eq!(t.change(&summary(6)), vec![]);
    // 6 never started: 8 replaces it.
    assert_eq!(
        t.change(&summary(8)),
        vec![BatonEvent::Superseded {
            generation: 6,
            by: 8
        }]
    );
    assert_eq!(
        t.change(&settled(
            8,
            Settled::Refused {
                reason: Reason::ArtifactNotFound,
                message: "rtos: no Artifact 'x'".into()
            }
        )),
        vec![BatonEvent::Ended {
            generation: 8,
            end: DeploymentEnd::Rejected {
                problems: vec!["rtos: no Artifact 'x'".into()]
            }
        }]
    );
    let rejected = End::Rejected {
        problems: vec![Problem {
            reason: Reason::ArtifactNotFound,
            message: "no x".into(),
        }],
    };
    assert_eq!(
        deployment_end(&rejected),
        Some(DeploymentEnd::Rejected {
            problems: vec!["no x".into()]
        })
    );
    let denied = End::Rejected {
        problems: vec![Problem {
            reason: Reason::ConsentDenied,
            message: "consent to Download 'm' denied by kanto".into(),
        }],
    };
    assert_eq!(
        deployment_end(&denied),
        Some(DeploymentEnd::RolledBack {
            failed_at: "owner consent".into(),
            reason: "consent to Download 'm' denied by kanto".into()
        })
    );
}

fn question(id: u64, phase: &str) -> ConsentQuestion {
    ConsentQuestion {
        id,
        deployment: "d".into(),
        manifest: "m".into(),
        phase: phase.into(),
        asked_at: "now".into(),
        deadline: None,
    }
}

#[test]
fn consent_questions_are_asked_and_settled_once() {
    use crate::kanto::wire::ConsentCommand;
    let mut t = Translate::default();
    assert_eq!(t.consent(None), vec![]);
    assert_eq!(
        t.consent(Some(&question(1, "Install"))),
        vec![BatonEvent::ConsentRequested {
            question: 1,
            command: ConsentCommand::Update
        }]
    );
    assert_eq!(t.consent(Some(&question(1, "Install"))), vec![]);
    assert_eq!(
        t.consent(Some(&question(2, "Activate"))),
        vec![
            BatonEvent::ConsentSettled { question: 1 },
            BatonEvent::ConsentRequested {
                question: 2,
                command: ConsentCommand::Activate
            }
        ]
    );
    assert_eq!(
        t.consent(None),
        vec![BatonEvent::ConsentSettled { question: 2 }]
    );
}

fn entry(generation: u64, outcome: Outcome) -> HistoryEntry {
    HistoryEntry {
        id: "d".into(),
        manifest: "m".into(),
        manifest_sha256: String::new(),
        generation,
        driver: "controller".into(),
        started_at: String::new(),
        finished_at: String::new(),
        duration_seconds: 0,
        outcome,
        reason: None,
        message: Some("ArtifactInstall failed".into()),
        components: vec![],
        policy: None,
        waited_seconds: 0,
    }
}

#[test]
fn after_a_gap_the_status_says_how_the_followed_generations_ended() {
    let mut t = Translate::default();
    t.change(&summary(2));
    t.change(&deployment(Some(2)));
    let mut s = crate::daemon::status::Board::new().get();
    s.history = vec![entry(2, Outcome::RolledBack)];
    assert_eq!(
        t.after_gap(&s),
        vec![BatonEvent::Ended {
            generation: 2,
            end: DeploymentEnd::RolledBack {
                failed_at: "the deployment".into(),
                reason: "ArtifactInstall failed".into()
            }
        }]
    );
    // A generation observed in sync without a history entry.
    t.change(&summary(3));
    s.observed_generation = 3;
    assert_eq!(t.after_gap(&s), vec![BatonEvent::InSync { generation: 3 }]);
    // Still deploying: nothing yet.
    t.change(&summary(4));
    t.change(&deployment(Some(4)));
    s.deployment = Some(DeploymentStatus {
        generation: 4,
        ..crate::daemon::status::progress::starting(4)
    });
    assert_eq!(t.after_gap(&s), vec![]);
}

#[tokio::test]
async fn the_queue_keeps_what_ends_things_and_caps_progress() {
    let q = Arc::new(Queue::default());
    let bytes = |n| BatonEvent::Bytes {
        component: ComponentKey::new("rtos", "A"),
        bytes: n,
        total: Some(10),
    };
    q.push(bytes(1));
    q.push(bytes(2));
    for _ in 0..PROGRESS_CAP + 10 {
        q.push(BatonEvent::StepStarted {
            order: 1,
            call: Call::State(State::Download),
            components: vec![],
        });
    }
    q.push(BatonEvent::InSync { generation: 1 });
    q.close();
    let mut feed = Feed(q);
    let mut all = Vec::new();
    while let Some(e) = feed.next().await {
        all.push(e);
    }
    assert_eq!(all.len(), PROGRESS_CAP + 1, "capped, and the end kept");
    assert_eq!(all[0], bytes(2), "bytes coalesced per component");
    assert_eq!(all.last(), Some(&BatonEvent::InSync { generation: 1 }));
}
