//! `baton run` as Eclipse Kanto's Update Manager: the real binary, configured with `Kanto`,
//! against a real broker (Debian's mosquitto on a free loopback port) and the simulated
//! Kanto backend (`e2e::kanto::backend`), deploying through the mock Interfaces of the served
//! System (`a`: rtos `RTOS-A`, `b`: gateway `GW-B`, both on v1).
//!
//! Every wait is on an event (a feedback message, a current state, the status); the
//! durations given to the waits only bound a hang.

use std::time::Duration;

use e2e::fixture::{Daemon, System};
use e2e::kanto::agent::{AgentSim, Behaviour};
use e2e::kanto::backend::{BackendSim, Mode};
use e2e::kanto::broker::Mosquitto;
use e2e::kanto::mqtt::TestClient;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// A desired state naming each `(domain, Artifact)` type-wide, domains in this order.
fn desired(domains: &[(&str, &str)]) -> Value {
    let domains: Vec<Value> = domains
        .iter()
        .map(|(d, v)| json!({"id": d, "components": [{"id": d, "version": v}]}))
        .collect();
    json!({"domains": domains})
}

/// The served System, its broker, and `baton run` configured as the Update Manager.
fn serve(kanto: Value) -> Option<(System, Mosquitto)> {
    let broker = Mosquitto::start()?;
    let mut k = json!({
        "Broker": format!("tcp://127.0.0.1:{}", broker.port),
        "ReportFeedbackIntervalSeconds": 1,
    });
    for (key, v) in kanto.as_object().unwrap() {
        k[key] = v.clone();
    }
    let sys = System::served(json!({"Kanto": k}))?;
    Some((sys, broker))
}

/// The backend simulator, then `baton run`, serving once its first current state is out
/// (published once it subscribed).
async fn start(sys: &System, broker: &Mosquitto, mode: Mode) -> (BackendSim, Daemon) {
    let backend = BackendSim::start(broker.port, "device", mode).await;
    let d = tokio::task::block_in_place(|| sys.start());
    backend
        .wait_current_state("the initial current state", |a| {
            a.starts_with("initial-current-state-")
        })
        .await;
    (backend, d)
}

fn statuses(feedback: &[Value]) -> Vec<String> {
    feedback
        .iter()
        .map(|f| f["status"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn last(feedback: &[Value]) -> &Value {
    feedback.last().expect("feedback")
}

/// When `state` first started for component `comp` (ns since the epoch), from the served
/// System's wrapper (`starts.log`) and the mock's `calls.log`, which list calls in order.
fn first_start_of(sys: &System, comp: &str, state: &str) -> u128 {
    let i = sys
        .call_log(comp)
        .iter()
        .position(|l| l.starts_with(&format!("{state} ")))
        .unwrap_or_else(|| panic!("{state} never ran on {comp}"));
    let starts = std::fs::read_to_string(sys.state_dir(comp).join("starts.log")).unwrap();
    starts.lines().nth(i).unwrap().parse().unwrap()
}

/// The software node of component `id` in an inventory.
fn node<'a>(inv: &'a Value, id: &str) -> &'a Value {
    inv["softwareNodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {inv:#}"))
}

fn until(d: &Daemon, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::task::block_in_place(|| d.until(what, pred))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_updates_in_order_fails_whole_and_refuses_what_it_cannot_map() {
    let Some((sys, broker)) = serve(json!({"ThingsEnabled": false})) else {
        return;
    };
    // The rtos says what hardware it runs on (its Inventory answer): a hardware node.
    std::fs::write(
        sys.state_dir("a").join("Inventory.extra"),
        "hardware.name=rtos-mcu\nhardware.version=rev-b\n",
    )
    .unwrap();
    let (backend, d) = start(&sys, &broker, Mode::Plain).await;

    // A two-domain update, gateway listed first: order 10, rtos 20.
    let ds = desired(&[("gateway", "gateway-v2"), ("rtos", "rtos-v2")]);
    backend.desired_state("a1", ds.clone()).await;
    let fb = backend.wait_final("a1", WAIT).await;
    let st = statuses(&fb);
    assert_eq!(st[..2], ["IDENTIFYING", "IDENTIFIED"], "{st:?}");
    assert_eq!(st.last().map(String::as_str), Some("COMPLETED"), "{st:?}");
    assert!(st.len() > 3, "RUNNING between: {st:?}");
    assert!(st[2..st.len() - 1].iter().all(|s| s == "RUNNING"), "{st:?}");
    let done = last(&fb);
    let actions = done["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{done:#}");
    for (id, v) in [("gateway:GW-B", "gateway-v2"), ("rtos:RTOS-A", "rtos-v2")] {
        let a = actions.iter().find(|a| a["component"]["id"] == id).unwrap();
        assert_eq!(a["component"]["version"], v);
        assert_eq!(a["status"], "UPDATE_SUCCESS", "{a:#}");
    }
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);
    assert!(
        first_start_of(&sys, "b", "ArtifactInstall") < first_start_of(&sys, "a", "ArtifactInstall"),
        "the gateway (order 10) installs before the rtos (order 20)"
    );
    // The current state after it, retained: a client that comes later reads it.
    backend
        .wait_current_state("a1's current state", |a| a == "a1")
        .await;
    let late = TestClient::connect(broker.port, "late-reader").await;
    late.subscribe("deviceupdate/currentstate").await;
    let inv = late
        .wait_for("the retained current state", WAIT, |rs| {
            rs.iter()
                .find(|r| r.retained && r.topic == "deviceupdate/currentstate")
                .and_then(|r| r.json())
        })
        .await;
    assert_eq!(inv["activityId"], "a1");
    assert_eq!(node(&inv["payload"], "rtos:RTOS-A")["version"], "rtos-v2");
    let hw = inv["payload"]["hardwareNodes"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["id"] == "rtos:RTOS-A:hardware"))
        .unwrap_or_else(|| panic!("no hardware node for the rtos in {inv:#}"));
    assert_eq!(
        (&hw["name"], &hw["version"]),
        (&json!("rtos-mcu"), &json!("rev-b"))
    );
    assert_eq!(
        node(&inv["payload"], "gateway:GW-B")["version"],
        "gateway-v2"
    );

    // The same desired state again: completed, nothing touched.
    sys.clear_calls();
    backend.desired_state("a2", ds).await;
    let fb = backend.wait_final("a2", WAIT).await;
    assert_eq!(statuses(&fb), ["IDENTIFYING", "IDENTIFIED", "COMPLETED"]);
    assert!(sys.touched("a").is_empty() && sys.touched("b").is_empty());

    // A failing component: INCOMPLETE, every component back on its old Artifact.
    sys.mark("b", "ArtifactInstall.FAIL");
    backend
        .desired_state(
            "a3",
            desired(&[("gateway", "gateway-v3"), ("rtos", "rtos-v3")]),
        )
        .await;
    let fb = backend.wait_final("a3", WAIT).await;
    let end = last(&fb);
    assert_eq!(end["status"], "INCOMPLETE", "{end:#}");
    let message = end["message"].as_str().unwrap();
    assert!(
        message.contains("ArtifactInstall") && message.contains("rolled the whole System back"),
        "{message}"
    );
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);
    // Not retried: the desired state goes back to what ran before, found in sync.
    let s = until(
        &d,
        "the desired state before a3 restored and in sync",
        |s| {
            s["desiredManifest"] == "kanto-a2"
                && s["observedGeneration"] == s["generation"]
                && e2e::fixture::ready(s)
        },
    );
    sys.unmark_all();

    // An unknown Artifact: IDENTIFICATION_FAILED, no Interface state run.
    sys.clear_calls();
    backend
        .desired_state("a4", desired(&[("rtos", "rtos-v9")]))
        .await;
    let fb = backend.wait_final("a4", WAIT).await;
    let end = last(&fb);
    assert_eq!(end["status"], "IDENTIFICATION_FAILED", "{end:#}");
    assert!(
        end["message"].as_str().unwrap().contains("rtos-v9"),
        "{end:#}"
    );
    assert!(sys.protocol_calls("a").is_empty() && sys.protocol_calls("b").is_empty());
    // A domain the Topology does not have: the same, named.
    backend
        .desired_state("a5", desired(&[("engine", "engine-v2")]))
        .await;
    let end = last(&backend.wait_final("a5", WAIT).await).clone();
    assert_eq!(end["status"], "IDENTIFICATION_FAILED");
    assert!(
        end["message"].as_str().unwrap().contains("domain 'engine'"),
        "{end:#}"
    );
    assert!(sys.protocol_calls("a").is_empty() && sys.protocol_calls("b").is_empty());

    // Garbage on every subscribed topic; the daemon keeps serving.
    let huge = vec![b'{'; 2 << 20];
    for t in [
        "desiredstate",
        "desiredstate/command",
        "currentstate/get",
        "ownerconsentfeedback",
    ] {
        let topic = format!("deviceupdate/{t}");
        backend.raw(&topic, "not json").await;
        backend.raw(&topic, "[1, 2, 3]").await;
        backend
            .raw(&topic, r#"{"activityId": 7, "payload": {"domains": "x"}}"#)
            .await;
        backend
            .raw(
                &topic,
                r#"{"activityId": "g", "payload": {"command": "REBOOT"}}"#,
            )
            .await;
        backend.raw(&topic, huge.clone()).await;
    }
    // The next valid message works, and a3 was never tried again.
    backend
        .desired_state(
            "a6",
            desired(&[("rtos", "rtos-v3"), ("gateway", "gateway-v3")]),
        )
        .await;
    let fb = backend.wait_final("a6", WAIT).await;
    assert_eq!(last(&fb)["status"], "COMPLETED", "{fb:#?}");
    assert_eq!(sys.versions(), ["rtos-v3", "gateway-v3"]);
    let history = d.status()["history"].clone();
    let a3_runs = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["manifest"] == "kanto-a3")
        .count();
    assert_eq!(a3_runs, 1, "the failed desired state ran once: {history:#}");
    assert!(s["generation"].as_u64() > Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn things_mode_asks_the_owner_through_the_one_consent_gate() {
    let Some((sys, broker)) = serve(json!({"OwnerConsentCommands": ["DOWNLOAD"]})) else {
        return;
    };
    let (backend, d) = start(&sys, &broker, Mode::Things("demo:car".into())).await;
    let ds = desired(&[("rtos", "rtos-v2"), ("gateway", "gateway-v2")]);

    // Denied: nothing installed, INCOMPLETE.
    backend.desired_state("c1", ds.clone()).await;
    let (command, correlation) = backend.wait_consent("c1").await;
    assert_eq!(command, "DOWNLOAD");
    // The same question is baton's consent gate's: the local API shows it.
    let s = until(&d, "the consent question in the status", |s| {
        s["gate"]["reason"] == "AwaitingConsent"
    });
    assert!(s["gate"].to_string().contains("Download"), "{s:#}");
    backend.answer_consent("c1", "DENIED", &correlation).await;
    let fb = backend.wait_final("c1", WAIT).await;
    let end = last(&fb);
    assert_eq!(end["status"], "INCOMPLETE", "{end:#}");
    assert!(
        end["message"].as_str().unwrap().contains("denied"),
        "{end:#}"
    );
    assert!(sys.protocol_calls("a").is_empty() && sys.protocol_calls("b").is_empty());
    assert_eq!(sys.versions(), ["rtos-v1", "gateway-v1"]);

    // Garbage in things mode: a malformed apply, a foreign edge answer, not JSON.
    backend
        .inbox("apply", json!({"activityId": "bad"}), "bad")
        .await;
    backend.raw("edge/thing/response", "not json").await;
    backend.raw("command///req/x/apply", "[]").await;

    // Approved: completed.
    backend.desired_state("c2", ds).await;
    let (command, correlation) = backend.wait_consent("c2").await;
    assert_eq!(command, "DOWNLOAD");
    backend.answer_consent("c2", "APPROVED", &correlation).await;
    let fb = backend.wait_final("c2", WAIT).await;
    assert_eq!(last(&fb)["status"], "COMPLETED", "{fb:#?}");
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);
    // The current state after it, as the feature's properties.
    let inv = backend
        .wait_current_state("c2's current state", |a| a == "c2")
        .await;
    assert_eq!(node(&inv, "rtos:RTOS-A")["version"], "rtos-v2");
    assert_eq!(node(&inv, "gateway:GW-B")["version"], "gateway-v2");
    // A malformed apply was answered 400 (things mode's own answer to bad input).
    assert!(
        backend.replies().iter().any(|(_, status)| *status == 400),
        "{:?}",
        backend.replies()
    );
}

#[test]
fn a_bad_kanto_value_stops_baton_run_naming_the_key() {
    let Some(sys) = System::served(json!({"Kanto": {"Broker": "ssl://127.0.0.1:8883"}})) else {
        return;
    };
    let out = sys.run(&["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Kanto.Broker:"), "{err}");
    assert!(err.contains("TLS is not supported"), "{err}");
}

/// The served System with a third component, `containers`, driven by a Kanto update agent
/// (`interface: kanto:containers`), running web 1.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_domain_goes_to_its_agent_in_order_and_rolls_back_with_the_rest() {
    let Some((sys, broker)) = serve(json!({"ThingsEnabled": false})) else {
        return;
    };
    let topology = sys.datastore().join("topology.yaml");
    let mut text = std::fs::read_to_string(&topology).unwrap();
    text.push_str("  - component_type: containers\n    interface: \"kanto:containers\"\n");
    std::fs::write(&topology, text).unwrap();
    let behaviour = Behaviour {
        components: vec![("web".into(), "1.0".into())],
        ..Default::default()
    };
    let sim = AgentSim::start(broker.port, "containers", behaviour).await;
    let (backend, _d) = start(&sys, &broker, Mode::Plain).await;
    let with_web = |v: &str, web: &str| {
        let mut ds = desired(&[
            ("gateway", &format!("gateway-{v}")),
            ("rtos", &format!("rtos-{v}")),
        ]);
        ds["domains"].as_array_mut().unwrap().insert(
            1,
            json!({"id": "containers", "components": [{"id": "web", "version": web}]}),
        );
        ds
    };

    // gateway (order 10), the agent (20), rtos (30): the agent gets its four commands.
    backend.desired_state("g1", with_web("v2", "2.0")).await;
    let end = last(&backend.wait_final("g1", WAIT).await).clone();
    assert_eq!(end["status"], "COMPLETED", "{end:#}");
    assert_eq!(
        sim.commands(),
        ["DOWNLOAD", "UPDATE", "ACTIVATE", "CLEANUP"]
    );
    assert_eq!(sim.running()["web"], "2.0");
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);

    // The rtos fails to install (order 30, after the agent's UPDATE): the agent is rolled
    // back with the gateway, and everything runs what it ran before.
    sys.mark("a", "ArtifactInstall.FAIL");
    backend.desired_state("g2", with_web("v3", "3.0")).await;
    let end = last(&backend.wait_final("g2", WAIT).await).clone();
    assert_eq!(end["status"], "INCOMPLETE", "{end:#}");
    let sent = sim.commands();
    assert_eq!(
        sent[4..],
        ["DOWNLOAD", "UPDATE", "ROLLBACK", "CLEANUP"],
        "{sent:?}"
    );
    assert_eq!(sim.running()["web"], "2.0");
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);
}
