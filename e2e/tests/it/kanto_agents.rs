//! A Kanto domain update agent as one component of baton's System, through the real binary:
//! `baton install` (in-process) on a Topology of mock process Interfaces and one
//! `interface: kanto:containers` component, the agent simulated from the Update Agent API on
//! a real broker (Debian's mosquitto on a free loopback port). The agent's slice of the
//! desired state is in the datastore's slice store, as the Kanto Update Manager leaves it.

use std::path::Path;

use baton::kanto::slices::SliceStore;
use baton::kanto::wire::DesiredState;
use e2e::fixture::{Component, System};
use e2e::kanto::agent::{AgentSim, Behaviour};
use e2e::kanto::broker::Mosquitto;
use e2e::{stderr, stdout};
use serde_json::json;

const SLICE: &str = "kanto-containers-test1";

/// `gw` (gateway, order 10) and `m1` (mcu, order 30) on the mock Interface, and the agent's
/// `containers` component (order 20); Kanto configured on `broker` with `phase` seconds per
/// phase; the agent's slice (web 2.0) in the store; Artifacts for gateway-v2 and mcu-v2.
fn system(broker: Option<&Mosquitto>, phase: u64) -> System {
    let s = System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("m1", "mcu", 30),
    ]);
    let topology = s.datastore().join("topology.yaml");
    let mut text = std::fs::read_to_string(&topology).unwrap();
    text.push_str("  - component_type: containers\n    interface: \"kanto:containers\"\n");
    std::fs::write(&topology, text).unwrap();
    if let Some(b) = broker {
        s.configure(json!({"Kanto": {
            "Broker": format!("tcp://127.0.0.1:{}", b.port),
            "PhaseTimeoutSeconds": phase,
        }}));
    }
    let slice: DesiredState = serde_json::from_value(
        json!({"domains":[{"id":"containers","components":[{"id":"web","version":"2.0"}]}]}),
    )
    .unwrap();
    SliceStore::new(&s.datastore())
        .write_desired(SLICE, &slice)
        .unwrap();
    s.kit_artifact("gateway", "gateway-v2");
    s.kit_artifact("mcu", "mcu-v2");
    s
}

/// The Manifest moving every component: the agent's entry names only its slice.
fn manifest(s: &System) -> std::path::PathBuf {
    s.manifest(
        "m2",
        &[
            ("gateway", "gateway-v2", 10),
            ("containers", SLICE, 20),
            ("mcu", "mcu-v2", 30),
        ],
    )
}

/// Whether the mock component `name` has run `state` (its calls.log), as a word.
fn ran(dir: &Path, state: &str) -> &'static str {
    let log = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    if log
        .lines()
        .any(|l| l.starts_with(&format!("{state} ")) && l.ends_with(" ok"))
    {
        "done"
    } else {
        "-"
    }
}

/// A broker, the System on it (`phase` seconds per agent phase) and the agent (running
/// web 1.0, ignoring `ignore`), whose witness notes what the mock components had done.
async fn rig(phase: u64, ignore: &[&str]) -> Option<(Mosquitto, System, AgentSim)> {
    let broker = Mosquitto::start()?;
    let s = system(Some(&broker), phase);
    let behaviour = Behaviour {
        components: vec![("web".into(), "1.0".into())],
        ignore: ignore.iter().map(|i| i.to_string()).collect(),
        ..Default::default()
    };
    let sim = AgentSim::start(broker.port, "containers", behaviour).await;
    let (gw, m1) = (s.state_dir("gw"), s.state_dir("m1"));
    sim.witness(move |_| {
        format!(
            "gw:install={} m1:install={} gw:commit={}",
            ran(&gw, "ArtifactInstall"),
            ran(&m1, "ArtifactInstall"),
            ran(&gw, "ArtifactCommit"),
        )
    });
    Some((broker, s, sim))
}

/// The exit code of `out`, or a failure showing its output.
fn exits(out: &std::process::Output, code: i32) -> String {
    let text = format!("{}{}", stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(code), "{text}");
    text
}

/// `baton install` of the Manifest, off the runtime's threads (the simulator runs on them).
async fn install(s: &System) -> std::process::Output {
    let mut cmd = s.baton();
    cmd.arg("install").arg(manifest(s));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn note<'a>(notes: &'a [(String, String)], request: &str) -> &'a str {
    notes
        .iter()
        .find(|(r, _)| r == request)
        .map(|(_, n)| n.as_str())
        .unwrap_or_else(|| panic!("no {request} in {notes:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_gets_its_commands_in_batons_order() {
    let Some((_broker, s, sim)) = rig(30, &[]).await else {
        return;
    };
    let out = install(&s).await;
    exits(&out, 0);
    assert_eq!(
        sim.commands(),
        ["DOWNLOAD", "UPDATE", "ACTIVATE", "CLEANUP"]
    );
    let notes = sim.notes();
    // UPDATE in order group 20: after the gateway's install (10), before the mcu's (30).
    assert!(
        note(&notes, "UPDATE").starts_with("gw:install=done m1:install=-"),
        "{notes:?}"
    );
    // ACTIVATE is the agent's commit: after every group installed.
    assert!(
        note(&notes, "ACTIVATE").starts_with("gw:install=done m1:install=done"),
        "{notes:?}"
    );
    assert_eq!(sim.running()["web"], "2.0");
    assert_eq!(s.version("gw"), "gateway-v2");
    assert_eq!(s.version("m1"), "mcu-v2");
    // show-provides names what the agent runs.
    let out = s.run(&["show-provides"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "containers.containers-update-agent.artifact_name={SLICE}"
        )),
        "{text}{}",
        stderr(&out)
    );
    assert!(
        text.contains("containers.containers-update-agent.kanto.containers:web=2.0"),
        "{text}"
    );
    // The same Manifest again: the agent runs its slice, nothing is sent to it.
    let out = install(&s).await;
    exits(&out, 0);
    assert_eq!(sim.commands().len(), 4, "{:?}", sim.commands());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_rolled_back_with_the_rest_when_another_component_fails() {
    let Some((_broker, s, sim)) = rig(30, &[]).await else {
        return;
    };
    s.mark("m1", "ArtifactInstall.FAIL");
    let out = install(&s).await;
    exits(&out, 1);
    assert_eq!(
        sim.commands(),
        ["DOWNLOAD", "UPDATE", "ROLLBACK", "CLEANUP"]
    );
    let notes = sim.notes();
    assert!(
        note(&notes, "ROLLBACK").contains("m1:install=-"),
        "rolled back after the mcu failed: {notes:?}"
    );
    assert_eq!(sim.running()["web"], "1.0");
    assert_eq!(s.version("gw"), "gateway-v1");
    assert_eq!(s.version("m1"), "mcu-v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_answers_fails_the_deployment_naming_domain_step_and_topic() {
    let Some((_broker, s, sim)) = rig(2, &["desiredstate"]).await else {
        return;
    };
    let out = install(&s).await;
    let text = exits(&out, 1);
    assert!(
        text.contains("the Kanto update agent for domain 'containers' did not answer identification within 2 s"),
        "{text}"
    );
    assert!(
        text.contains("containersupdate/desiredstatefeedback"),
        "{text}"
    );
    // Nothing was installed: the agent was never told to download, only to clean up with
    // the rest (as Kanto's Update Manager sends CLEANUP after a failed phase).
    assert_eq!(sim.commands(), ["CLEANUP"]);
    assert_eq!(s.version("gw"), "gateway-v1");
    assert_eq!(s.version("m1"), "mcu-v1");
}

#[test]
fn a_kanto_component_without_the_kanto_key_is_refused_at_start() {
    let s = system(None, 0);
    let out = s.run(&["install", manifest(&s).to_str().unwrap()]);
    let text = exits(&out, 1);
    assert!(
        text.contains("component #3 of type 'containers'")
            && text.contains("kanto:containers")
            && text.contains("no `Kanto` key"),
        "{text}"
    );
    assert!(
        !s.state_dir("gw").join("calls.log").exists() || s.calls_of("gw", "Download").is_empty()
    );
}
