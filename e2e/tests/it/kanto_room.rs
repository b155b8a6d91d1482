//! The `kanto` room against a real broker (Debian's mosquitto on a free loopback port): the
//! Update Manager task with fake edges (admission, system view, events, consent desk) driven
//! by a simulated Kanto backend, and the agent client against a simulated Kanto update agent.
//! `baton run` with a `Kanto` configuration is tested once the daemon's seams land.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::interface::protocol::{Call, State};
use baton::kanto::agent::{AgentComponent, AgentError, Identified, KantoAgent};
use baton::kanto::edge::{
    BatonEvent, BoxFuture, ComponentKey, ConsentAnswer, ConsentDesk, DeploymentEnd, DesiredDoor,
    KantoOrigin, ObservedComponent, PlannedComponent, Problems, SystemSnapshot, SystemView,
};
use baton::kanto::link::Link;
use baton::kanto::manager::{Edges, KantoUpdateManager};
use baton::kanto::wire::{Command, ConsentCommand, DesiredState, Status};
use baton::kanto::{KantoConfig, KantoSettings};
use e2e::kanto::agent::{AgentSim, Behaviour};
use e2e::kanto::backend::{BackendSim, Mode};
use e2e::kanto::broker::Mosquitto;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// What the fake reconciler does with an admitted generation.
#[derive(Clone)]
enum Script {
    /// Deploys every component of the System that changes: Download, Install, Commit, Cleanup.
    Succeed,
    /// Fails ArtifactInstall of the gateway; rolls back.
    FailGatewayInstall,
    /// Asks consent for Download first; deploys when approved, ends rolled back when denied.
    AskConsent,
    /// The engine refuses the Manifest at planning.
    Reject(String),
}

/// The fake desired-state door: records what was admitted and restored; plays the
/// reconciler by sending the scripted events for each admitted generation.
struct FakeDoor {
    script: Mutex<Script>,
    admitted: Mutex<Vec<(KantoOrigin, String)>>,
    restored: Mutex<Vec<u64>>,
    generation: AtomicU64,
    events: mpsc::Sender<BatonEvent>,
    desk: Arc<FakeDesk>,
}

#[derive(Default)]
struct FakeDesk {
    answers: Mutex<Vec<(u64, ConsentAnswer)>>,
    notify: tokio::sync::Notify,
}

impl ConsentDesk for FakeDesk {
    fn answer(&self, question: u64, answer: ConsentAnswer) {
        self.answers.lock().unwrap().push((question, answer));
        self.notify.notify_waiters();
    }
}

impl FakeDesk {
    async fn wait(&self, question: u64) -> ConsentAnswer {
        let until = std::time::Instant::now() + WAIT;
        loop {
            assert!(
                std::time::Instant::now() < until,
                "no answer to consent question {question}"
            );
            let n = self.notify.notified();
            if let Some((_, a)) = self
                .answers
                .lock()
                .unwrap()
                .iter()
                .find(|(q, _)| *q == question)
            {
                return a.clone();
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), n).await;
        }
    }
}

fn planned() -> Vec<PlannedComponent> {
    vec![
        PlannedComponent {
            component: ComponentKey::new("rtos", "mcu-1"),
            order: 10,
            to_artifact: "rtos-v2".into(),
        },
        PlannedComponent {
            component: ComponentKey::new("gateway", "gw-1"),
            order: 20,
            to_artifact: "gw-v2".into(),
        },
    ]
}

async fn deploy(
    tx: mpsc::Sender<BatonEvent>,
    generation: u64,
    script: Script,
    desk: Arc<FakeDesk>,
) {
    let send = |e: BatonEvent| {
        let tx = tx.clone();
        async move {
            tx.send(e).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if let Script::Reject(why) = &script {
        send(BatonEvent::Ended {
            generation,
            end: DeploymentEnd::Rejected {
                problems: vec![why.clone()],
            },
        })
        .await;
        return;
    }
    send(BatonEvent::Started {
        generation,
        components: planned(),
    })
    .await;
    if let Script::AskConsent = script {
        send(BatonEvent::ConsentRequested {
            question: generation * 100,
            command: ConsentCommand::Download,
        })
        .await;
        if let ConsentAnswer::Denied { reason } = desk.wait(generation * 100).await {
            send(BatonEvent::Ended {
                generation,
                end: DeploymentEnd::RolledBack {
                    failed_at: "consent before Download".into(),
                    reason,
                },
            })
            .await;
            return;
        }
    }
    let steps = |s: State| {
        planned()
            .into_iter()
            .map(move |p| (p.order, s, p.component))
            .collect::<Vec<_>>()
    };
    let mut plan = steps(State::Download);
    plan.extend(steps(State::ArtifactInstall));
    plan.extend(steps(State::ArtifactCommit));
    for (order, state, who) in plan {
        let fail = matches!(script, Script::FailGatewayInstall)
            && state == State::ArtifactInstall
            && who.component_type == "gateway";
        send(BatonEvent::StepStarted {
            order,
            call: Call::State(state),
            components: vec![who.clone()],
        })
        .await;
        if state == State::Download {
            send(BatonEvent::Bytes {
                component: who.clone(),
                bytes: 512,
                total: Some(1024),
            })
            .await;
            // Longer than the 1 s feedback interval: the throttled RUNNING carries it.
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        send(BatonEvent::StepFinished {
            order,
            call: Call::State(state),
            failed: if fail {
                vec![(who.clone(), "exit status 2: flash write error".into())]
            } else {
                vec![]
            },
        })
        .await;
        if fail {
            send(BatonEvent::Ended {
                generation,
                end: DeploymentEnd::RolledBack {
                    failed_at: "ArtifactInstall".into(),
                    reason: "gateway gw-1: exit status 2: flash write error".into(),
                },
            })
            .await;
            return;
        }
    }
    send(BatonEvent::Ended {
        generation,
        end: DeploymentEnd::Success,
    })
    .await;
}

impl DesiredDoor for FakeDoor {
    fn admit(
        &self,
        manifest_yaml: Vec<u8>,
        origin: KantoOrigin,
    ) -> BoxFuture<'_, Result<u64, Problems>> {
        Box::pin(async move {
            // What the real admission does first: the Manifest must parse.
            let text = String::from_utf8(manifest_yaml.clone()).unwrap();
            baton::resource::parse_manifest("kanto", &manifest_yaml)
                .map_err(|d| Problems(vec![d.to_string()]))?;
            self.admitted.lock().unwrap().push((origin, text));
            let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            let script = self.script.lock().unwrap().clone();
            tokio::spawn(deploy(self.events.clone(), g, script, self.desk.clone()));
            Ok(g)
        })
    }

    fn restore_previous(&self, generation: u64) -> BoxFuture<'_, Result<(), String>> {
        self.restored.lock().unwrap().push(generation);
        Box::pin(async { Ok(()) })
    }
}

struct FakeView;

impl SystemView for FakeView {
    fn snapshot(&self) -> BoxFuture<'_, Result<SystemSnapshot, String>> {
        let comp = |t: &str, id: &str, a: &str| ObservedComponent {
            component_type: t.into(),
            interface: t.into(),
            id: Some(id.into()),
            provides: [("artifact_name".to_string(), a.to_string())]
                .into_iter()
                .collect(),
            inventory: BTreeMap::from([("hardware.id".to_string(), vec![format!("board-{id}")])]),
            error: None,
        };
        let components = vec![
            comp("rtos", "mcu-1", "rtos-v1"),
            comp("gateway", "gw-1", "gw-v1"),
        ];
        Box::pin(async move {
            SystemSnapshot::of_components("0.1.0", "car", components).map_err(|e| e.to_string())
        })
    }
}

struct Harness {
    broker: Mosquitto,
    backend: BackendSim,
    door: Arc<FakeDoor>,
    desk: Arc<FakeDesk>,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn settings(broker: &Mosquitto, things: bool, f: impl FnOnce(&mut KantoConfig)) -> KantoSettings {
    let mut c = KantoConfig {
        broker: broker.url(),
        things_enabled: things,
        report_feedback_interval_seconds: 1,
        ..KantoConfig::default()
    };
    f(&mut c);
    c.settings().unwrap()
}

/// A broker, a running Update Manager with fake edges, a backend simulator; `None` when
/// mosquitto is missing (skipped loudly, or failed under BATON_TEST_STRICT=1).
async fn harness(
    mode: Mode,
    script: Script,
    cfg: impl FnOnce(&mut KantoConfig),
) -> Option<Harness> {
    let broker = Mosquitto::start()?;
    let backend = BackendSim::start(broker.port, "device", mode.clone()).await;
    let s = settings(&broker, mode != Mode::Plain, cfg);
    let (tx, rx) = mpsc::channel(1024);
    let desk = Arc::new(FakeDesk::default());
    let door = Arc::new(FakeDoor {
        script: Mutex::new(script),
        admitted: Mutex::default(),
        restored: Mutex::default(),
        generation: AtomicU64::new(40),
        events: tx,
        desk: desk.clone(),
    });
    let shutdown = CancellationToken::new();
    let link = Link::connect(&s, "um", shutdown.clone());
    let edges = Edges {
        door: door.clone(),
        view: Arc::new(FakeView),
        consent: desk.clone(),
        events: Box::new(rx),
    };
    tokio::spawn(KantoUpdateManager::new(s, link, edges).run(shutdown.clone()));
    // The first current state comes after the subscriptions: the manager now serves.
    backend
        .wait_current_state("the initial current state", |a| {
            a.starts_with("initial-current-state-")
        })
        .await;
    Some(Harness {
        broker,
        backend,
        door,
        desk,
        shutdown,
    })
}

fn two_domains() -> Value {
    json!({"domains":[
        {"id":"rtos","components":[{"id":"rtos","version":"rtos-v2"}]},
        {"id":"gateway","components":[{"id":"gw-1","version":"gw-v2"}]}]})
}

fn statuses(fb: &[Value]) -> Vec<String> {
    fb.iter()
        .map(|f| f["status"].as_str().unwrap().to_string())
        .collect()
}

fn check_sequence(fb: &[Value], last: &str) {
    let s = statuses(fb);
    assert_eq!(&s[..2], ["IDENTIFYING", "IDENTIFIED"], "{s:?}");
    assert!(s.iter().any(|x| x == "RUNNING"), "{s:?}");
    assert_eq!(s.last().unwrap(), last, "{s:?}");
    let finals = s
        .iter()
        .filter(|x| ["COMPLETED", "INCOMPLETE", "IDENTIFICATION_FAILED"].contains(&x.as_str()))
        .count();
    assert_eq!(finals, 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_a_two_domain_update_completes_and_a_replay_is_answered_not_rerun() {
    let Some(h) = harness(Mode::Plain, Script::Succeed, |_| {}).await else {
        return;
    };
    h.backend.desired_state("a1", two_domains()).await;
    let fb = h.backend.wait_final("a1", WAIT).await;
    check_sequence(&fb, "COMPLETED");
    let done = fb.last().unwrap();
    assert_eq!(
        done["actions"],
        json!([{"component":{"id":"rtos:mcu-1","version":"rtos-v2"},"status":"UPDATE_SUCCESS"},
               {"component":{"id":"gateway:gw-1","version":"gw-v2"},"status":"UPDATE_SUCCESS"}])
    );
    // Download progress reached the backend.
    assert!(
        fb.iter().any(|f| f["actions"][0]["progress"] == 50),
        "{fb:#?}"
    );
    // One Manifest, as the mapping says: rtos in group 10, gateway in 20, named by activity.
    let admitted = h.door.admitted.lock().unwrap().clone();
    assert_eq!(admitted.len(), 1);
    assert_eq!(admitted[0].0.activity_id, "a1");
    let m = baton::resource::parse_manifest("kanto", admitted[0].1.as_bytes())
        .unwrap()
        .manifest;
    assert_eq!(m.name, "kanto-a1");
    assert_eq!(m.component_types["rtos"].order.get(), 10);
    assert_eq!(
        m.component_types["gateway"].artifact_name.as_deref(),
        Some("gw-v2")
    );
    // The current state follows the activity, retained, with the hardware nodes.
    let inv = h
        .backend
        .wait_current_state("the current state after a1", |a| a == "a1")
        .await;
    assert_eq!(inv["softwareNodes"][0]["id"], "device-update-manager");
    assert_eq!(inv["hardwareNodes"][0]["id"], "board-mcu-1");
    // Retained: a client that subscribes later still gets it, flagged retained.
    let late = e2e::kanto::mqtt::TestClient::connect(h.broker.port, "late").await;
    late.subscribe("deviceupdate/currentstate").await;
    let got = late
        .wait_for("the retained current state", WAIT, |rs| rs.first().cloned())
        .await;
    assert!(got.retained);
    assert_eq!(got.json().unwrap()["activityId"], "a1");
    // The same activity again: answered with its final status, never admitted again.
    h.backend.desired_state("a1", two_domains()).await;
    let fb = h.backend.wait_finals("a1", 2, WAIT).await;
    assert_eq!(statuses(&fb).last().unwrap(), "COMPLETED");
    assert_eq!(h.door.admitted.lock().unwrap().len(), 1);
    // currentstate/get answers with the asker's activityId.
    h.backend.get_current_state("get-1").await;
    h.backend
        .wait_current_state("the current state for get-1", |a| a == "get-1")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_ends_incomplete_with_the_rollback_said_and_the_previous_desired_state_restored()
{
    let Some(h) = harness(Mode::Plain, Script::FailGatewayInstall, |_| {}).await else {
        return;
    };
    h.backend.desired_state("f1", two_domains()).await;
    let fb = h.backend.wait_final("f1", WAIT).await;
    check_sequence(&fb, "INCOMPLETE");
    let last = fb.last().unwrap();
    let msg = last["message"].as_str().unwrap();
    assert!(
        msg.contains("ArtifactInstall failed") && msg.contains("rolled the whole System back"),
        "{msg}"
    );
    assert_eq!(last["actions"][1]["status"], "UPDATE_FAILURE");
    assert!(last["actions"][1]["message"]
        .as_str()
        .unwrap()
        .contains("flash write error"));
    assert_eq!(*h.door.restored.lock().unwrap(), vec![41]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmappable_or_rejected_desired_states_are_identification_failed() {
    let Some(h) = harness(
        Mode::Plain,
        Script::Reject("rtos: no Artifact named 'rtos-v9'".into()),
        |_| {},
    )
    .await
    else {
        return;
    };
    h.backend
        .desired_state(
            "u1",
            json!({"domains":[{"id":"ecu","components":[{"id":"ecu","version":"1"}]}]}),
        )
        .await;
    let fb = h.backend.wait_final("u1", WAIT).await;
    assert_eq!(statuses(&fb), ["IDENTIFYING", "IDENTIFICATION_FAILED"]);
    assert!(fb[1]["message"]
        .as_str()
        .unwrap()
        .contains("domain 'ecu': the Topology has no component type 'ecu'"));
    assert!(
        h.door.admitted.lock().unwrap().is_empty(),
        "nothing admitted"
    );
    // Admitted, then refused by the engine's planning: nothing ran, the previous comes back.
    h.backend.desired_state("u2", two_domains()).await;
    let fb = h.backend.wait_final("u2", WAIT).await;
    assert_eq!(statuses(&fb), ["IDENTIFYING", "IDENTIFICATION_FAILED"]);
    assert!(fb[1]["message"]
        .as_str()
        .unwrap()
        .contains("no Artifact named 'rtos-v9'"));
    assert_eq!(*h.door.restored.lock().unwrap(), vec![41]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_asked_with_the_activity_and_answered_denied_approved_or_timed_out() {
    for (mode, answer) in [
        (Mode::Plain, Some("DENIED")),
        (Mode::Plain, Some("APPROVED")),
        (Mode::Plain, None),
        (Mode::Things("org.acme:car-1".into()), Some("APPROVED")),
    ] {
        let Some(h) = harness(mode.clone(), Script::AskConsent, |c| {
            c.owner_consent_commands = vec!["DOWNLOAD".into()];
            c.owner_consent_timeout_seconds = 1;
        })
        .await
        else {
            return;
        };
        h.backend.desired_state("c1", two_domains()).await;
        let (command, cid) = h.backend.wait_consent("c1").await;
        assert_eq!(command, "DOWNLOAD");
        // An answer for another activity is not an answer.
        h.backend.answer_consent("other", "APPROVED", "nope").await;
        if let Some(a) = answer {
            h.backend.answer_consent("c1", a, &cid).await;
        }
        let got = h.desk.wait(4100).await;
        let fb = h.backend.wait_final("c1", WAIT).await;
        match answer {
            Some("APPROVED") => {
                assert_eq!(got, ConsentAnswer::Approved);
                assert_eq!(statuses(&fb).last().unwrap(), "COMPLETED");
            }
            Some(_) => {
                assert!(
                    matches!(&got, ConsentAnswer::Denied { reason } if reason.contains("denied DOWNLOAD")),
                    "{got:?}"
                );
                assert_eq!(statuses(&fb).last().unwrap(), "INCOMPLETE");
            }
            None => {
                assert!(
                    matches!(&got, ConsentAnswer::Denied { reason } if reason.contains("no answer")),
                    "{got:?}"
                );
                assert_eq!(statuses(&fb).last().unwrap(), "INCOMPLETE");
            }
        }
        assert_eq!(
            h.desk.answers.lock().unwrap().len(),
            1,
            "{mode:?}: one answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_subscribed_topic_leaves_it_serving() {
    let Some(h) = harness(Mode::Plain, Script::Succeed, |_| {}).await else {
        return;
    };
    let p = h.backend.prefix.clone();
    let huge = vec![b'{'; 2 * 1024 * 1024];
    for topic in [
        "desiredstate",
        "desiredstate/command",
        "currentstate/get",
        "ownerconsentfeedback",
    ] {
        let t = format!("{p}/{topic}");
        for bad in [
            b"not json".to_vec(),
            b"[]".to_vec(),
            br#"{"activityId":7}"#.to_vec(),
            br#"{"activityId":"g","payload":{"domains":"x"}}"#.to_vec(),
            br#"{"activityId":"g","payload":{"command":"REBOOT","status":"MAYBE"}}"#.to_vec(),
            huge.clone(),
            Vec::new(),
        ] {
            h.backend.raw(&t, bad).await;
        }
    }
    h.backend.desired_state("ok-1", two_domains()).await;
    let fb = h.backend.wait_final("ok-1", WAIT).await;
    check_sequence(&fb, "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn things_mode_serves_the_update_manager_feature() {
    let Some(h) = harness(
        Mode::Things("org.acme:car-7".into()),
        Script::Succeed,
        |_| {},
    )
    .await
    else {
        return;
    };
    // The feature was created on the twin.
    let feature = h
        .backend
        .client
        .received()
        .into_iter()
        .filter_map(|r| {
            r.json()
                .filter(|v| r.topic == "e" && v["path"] == "/features/UpdateManager")
        })
        .next()
        .expect("the feature is created");
    assert_eq!(
        feature["topic"],
        "org.acme/car-7/things/twin/commands/modify"
    );
    assert_eq!(
        feature["value"]["definition"][0],
        "com.bosch.iot.suite.edge.update:UpdateManager:1.0.0"
    );
    h.backend.desired_state("t1", two_domains()).await;
    let fb = h.backend.wait_final("t1", WAIT).await;
    check_sequence(&fb, "COMPLETED");
    // apply without desiredState: 400, and the manager keeps serving.
    let bad = h
        .backend
        .inbox("apply", json!({"activityId":"t2"}), "c-bad")
        .await;
    h.backend.get_current_state("r1").await;
    h.backend
        .wait_current_state("the properties for refresh r1", |a| a == "r1")
        .await;
    let replies = h.backend.replies();
    assert!(replies.contains(&(bad, 400)), "{replies:?}");
    assert!(
        replies.iter().filter(|(_, s)| *s == 204).count() >= 2,
        "{replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_reconnects_and_resubscribes_after_the_broker_restarts() {
    let Some(mut h) = harness(Mode::Plain, Script::Succeed, |_| {}).await else {
        return;
    };
    h.broker.restart();
    // A new connection publishes a new initial current state.
    let backend = BackendSim::start(h.broker.port, "device", Mode::Plain).await;
    backend
        .wait_current_state("a current state after the restart", |a| {
            a.starts_with("initial-current-state-")
        })
        .await;
    backend.desired_state("after-restart", two_domains()).await;
    let fb = backend.wait_final("after-restart", WAIT).await;
    check_sequence(&fb, "COMPLETED");
}

// ---- The agent client against the simulated Kanto update agent.

fn agent_settings(broker: &Mosquitto) -> KantoSettings {
    settings(broker, false, |c| c.phase_timeout_seconds = 2)
}

fn slice(components: &[(&str, &str)]) -> DesiredState {
    serde_json::from_value(json!({"domains":[{"id":"containers","components":
        components.iter().map(|(i, v)| json!({"id": i, "version": v})).collect::<Vec<_>>()}]}))
    .unwrap()
}

async fn agent(broker: &Mosquitto, shutdown: &CancellationToken) -> AgentComponent {
    let s = agent_settings(broker);
    let link = Link::connect(&s, "agents", shutdown.clone());
    let a = KantoAgent::new(link, "containers", s.phase_timeout, Duration::from_secs(2))
        .await
        .unwrap();
    AgentComponent::new(a)
}

async fn run_states(
    c: &AgentComponent,
    activity: &str,
    states: &[State],
    s: &DesiredState,
) -> Result<(), AgentError> {
    for st in states {
        c.run_state(activity, *st, s, &mut |_| {}).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_gets_download_update_activate_cleanup_in_baton_order() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let sim = AgentSim::start(
        broker.port,
        "containers",
        Behaviour {
            components: vec![("web".into(), "1.0".into()), ("db".into(), "15".into())],
            ..Default::default()
        },
    )
    .await;
    let shutdown = CancellationToken::new();
    let c = agent(&broker, &shutdown).await;
    assert_eq!(c.identity("id-1").await.unwrap(), "containers-update-agent");
    let p = c.provides("pr-1").await.unwrap();
    assert_eq!(
        p.get("kanto.containers:web").map(String::as_str),
        Some("1.0")
    );
    let s = slice(&[("web", "1.4.0"), ("db", "15")]);
    let all = [
        State::Download,
        State::ArtifactInstall,
        State::ArtifactReboot,
        State::ArtifactVerifyReboot,
        State::ArtifactCommit,
        State::Cleanup,
    ];
    run_states(&c, "k1", &all, &s).await.unwrap();
    assert_eq!(
        sim.commands(),
        ["DOWNLOAD", "UPDATE", "ACTIVATE", "CLEANUP"]
    );
    assert_eq!(sim.running()["web"], "1.4.0");
    // The same slice again: identification finds nothing to do, no command is sent.
    run_states(&c, "k2", &all, &s).await.unwrap();
    assert_eq!(sim.commands().len(), 4);
    assert_eq!(
        c.agent().identify("k3", &s).await.unwrap(),
        Identified::NothingToDo
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_rolled_back_and_its_failures_are_named() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let sim = AgentSim::start(
        broker.port,
        "containers",
        Behaviour {
            components: vec![("web".into(), "1.0".into())],
            ..Default::default()
        },
    )
    .await;
    let shutdown = CancellationToken::new();
    let c = agent(&broker, &shutdown).await;
    let s = slice(&[("web", "2.0")]);
    // Another component failed after this one installed: baton rolls it back with the rest.
    run_states(
        &c,
        "r1",
        &[
            State::Download,
            State::ArtifactInstall,
            State::ArtifactRollback,
            State::ArtifactFailure,
            State::Cleanup,
        ],
        &s,
    )
    .await
    .unwrap();
    assert_eq!(
        sim.commands(),
        ["DOWNLOAD", "UPDATE", "ROLLBACK", "CLEANUP"]
    );
    assert_eq!(sim.running()["web"], "1.0");
    shutdown.cancel();

    // An agent that fails UPDATE: the error names the domain, the step and its words.
    let sim = AgentSim::start(
        broker.port,
        "apps",
        Behaviour {
            components: vec![],
            fail: Some("UPDATE".into()),
            ..Default::default()
        },
    )
    .await;
    let shutdown = CancellationToken::new();
    let s2 = agent_settings(&broker);
    let link = Link::connect(&s2, "agents2", shutdown.clone());
    let a = AgentComponent::new(
        KantoAgent::new(link, "apps", s2.phase_timeout, Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let s = serde_json::from_value(
        json!({"domains":[{"id":"apps","components":[{"id":"x","version":"1"}]}]}),
    )
    .unwrap();
    let e = run_states(&a, "f1", &[State::Download, State::ArtifactInstall], &s)
        .await
        .unwrap_err();
    match &e {
        AgentError::Failed {
            domain,
            step,
            status,
            message,
        } => {
            assert_eq!(
                (domain.as_str(), *step, *status),
                ("apps", "UPDATE", Status::UpdateFailure)
            );
            assert!(message.contains("apps:x UPDATE_FAILURE"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(sim.commands(), ["DOWNLOAD", "UPDATE"]);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_answers_fails_with_a_clear_reason() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let sim = AgentSim::start(
        broker.port,
        "self-update",
        Behaviour {
            silent: true,
            ..Default::default()
        },
    )
    .await;
    let shutdown = CancellationToken::new();
    let s = agent_settings(&broker);
    let link = Link::connect(&s, "agents", shutdown.clone());
    let a = KantoAgent::new(link, "self-update", s.phase_timeout, Duration::from_secs(1))
        .await
        .unwrap();
    let d = serde_json::from_value(
        json!({"domains":[{"id":"self-update","components":[{"id":"os","version":"2"}]}]}),
    )
    .unwrap();
    let e = a.identify("s1", &d).await.unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, AgentError::Timeout { seconds: 2, .. }),
        "{text}"
    );
    assert!(
        text.contains("domain 'self-update' did not answer identification within 2 s"),
        "{text}"
    );
    assert!(text.contains("selfupdate/desiredstatefeedback"), "{text}");
    let e = a
        .command("s1", Command::Download, &mut |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did not answer DOWNLOAD"), "{e}");
    let e = a.current_state("s2").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("did not answer current state within 1 s"),
        "{e}"
    );
    assert_eq!(sim.log(), ["desiredstate", "DOWNLOAD", "currentstate/get"]);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_agent_topics_leaves_the_client_working() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let _sim = AgentSim::start(broker.port, "containers", Behaviour::default()).await;
    let shutdown = CancellationToken::new();
    let c = agent(&broker, &shutdown).await;
    let noise = e2e::kanto::mqtt::TestClient::connect(broker.port, "noise").await;
    let huge = vec![b'x'; 2 * 1024 * 1024];
    for t in [
        "containersupdate/desiredstatefeedback",
        "containersupdate/currentstate",
    ] {
        for bad in [
            b"garbage".to_vec(),
            br#"{"activityId":"g1","payload":{"status":"SAMPLE"}}"#.to_vec(),
            huge.clone(),
            Vec::new(),
        ] {
            noise.publish(t, false, bad).await;
        }
    }
    let s = slice(&[("web", "1")]);
    run_states(
        &c,
        "g1",
        &[
            State::Download,
            State::ArtifactInstall,
            State::ArtifactCommit,
            State::Cleanup,
        ],
        &s,
    )
    .await
    .unwrap();
    assert_eq!(c.identity("g2").await.unwrap(), "containers-update-agent");
    shutdown.cancel();
}
