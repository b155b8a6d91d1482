//! Issue 18 through the real binary: the constraints checked for every deployment (the
//! design's own example), `baton plan` and `--plan-hash`, and bundles installed with no
//! Artifact source (the CLI, the watched directory, the Mender client with baton's module).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baton::artifact::testkit::ArtifactBuilder;
use baton::artifact::Compression;
use e2e::controller::{http, ready, System};
use e2e::scratch::{Comp, Scratch};
use e2e::{stderr, stdout};
use serde_json::Value;

/// The design's tables (issue 18).
const CONSTRAINTS: &str = "\
api_version: baton/v1
kind: constraints
end_states:
  - name: v.1
    artifacts: {gateway: gateway-v1, rtos: rtos-v1}
  - name: v.2
    artifacts: {gateway: gateway-v2, rtos: rtos-v3}
transitions:
  - artifacts: {gateway: gateway-v2, rtos: rtos-v1}
";

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// A gateway (order 10) and an RTOS board (order 20), on gateway-v1 and rtos-v1.
fn gateway_and_rtos() -> Scratch {
    Scratch::new(vec![
        Comp::new("gw", "gateway", 10),
        Comp::new("r1", "rtos", 20),
    ])
}

/// A mock Artifact `name` for `component_type` in the Scratch's directory source.
fn artifact(s: &Scratch, component_type: &str, name: &str) -> PathBuf {
    let path = s.root().join("artifacts").join(format!("{name}.mender"));
    let bytes = ArtifactBuilder::new(name, "mock", component_type)
        .file("payload.bin", format!("{name}\n").repeat(64))
        .compression(Compression::None)
        .build();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A Manifest `file` putting each `(type, artifact, order)` in place, by name and by path
/// (relative to the Scratch's root, where it is written).
fn manifest(s: &Scratch, file: &str, entries: &[(&str, &str, u8)]) -> PathBuf {
    let mut m = format!(
        "api_version: mender/v1\nkind: manifest\nname: {}\nsystem_types_compatible: [scratch]\ncomponent_types:\n",
        file.trim_end_matches(".yaml")
    );
    for (t, a, order) in entries {
        m.push_str(&format!(
            "  {t}:\n    artifact_name: {a}\n    artifact_path: artifacts/{a}.mender\n    update_strategy:\n      order: {order}\n"
        ));
    }
    let path = s.root().join(file);
    std::fs::write(&path, m).unwrap();
    path
}

/// Whether a component saw anything but the queries that observe it.
fn touched(s: &Scratch, name: &str) -> Vec<String> {
    s.calls(name)
        .into_iter()
        .map(|c| c.state)
        .filter(|st| st != "Identity" && st != "Provides")
        .collect()
}

fn set_config(s: &Scratch, key: &str, value: Value) {
    let path = s.root().join("baton.conf");
    let mut conf: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    conf[key] = value;
    std::fs::write(path, conf.to_string()).unwrap();
}

#[test]
fn the_designs_example_gateway_first_is_accepted_rtos_first_and_other_end_states_refused() {
    let s = gateway_and_rtos();
    std::fs::write(s.root().join("store/constraints.yaml"), CONSTRAINTS).unwrap();
    for (t, a) in [
        ("gateway", "gateway-v2"),
        ("rtos", "rtos-v3"),
        ("rtos", "rtos-v2"),
    ] {
        artifact(&s, t, a);
    }
    let as_str = |p: &Path| p.to_str().unwrap().to_string();

    // The validator takes the constraints file, with the Topology's types.
    let out = s.run(&[
        "validate",
        "--topology",
        &as_str(&s.root().join("store/topology.yaml")),
        &as_str(&s.root().join("store/constraints.yaml")),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // RTOS first: after its group the System would run gateway-v1 with rtos-v3.
    let rtos_first = manifest(
        &s,
        "rtos-first.yaml",
        &[("gateway", "gateway-v2", 20), ("rtos", "rtos-v3", 10)],
    );
    let out = s.run(&["install", &as_str(&rtos_first)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("gateway=gateway-v1, rtos=rtos-v3")
            && shown.contains("after order group 10 installs")
            && shown.contains("gateway 10, rtos 20"),
        "the refusal names the combination, the step and the orders that would do: {shown}"
    );
    assert_eq!(s.versions(), vec!["gateway-v1", "rtos-v1"]);
    assert!(touched(&s, "gw").is_empty() && touched(&s, "r1").is_empty());

    // An end state outside the table: refused, named.
    let elsewhere = manifest(
        &s,
        "elsewhere.yaml",
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)],
    );
    let out = s.run(&["install", "-o", "json", &as_str(&elsewhere)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(
            "end state (gateway=gateway-v2, rtos=rtos-v2) is not one of the end states (v.1, v.2)"
        ) && shown.contains("ConstraintViolated"),
        "{shown}"
    );
    assert!(touched(&s, "gw").is_empty() && touched(&s, "r1").is_empty());

    // Gateway first: accepted, installed; the System is in v.2.
    let out = s.run(&["show-provides", "-o", "json"]);
    let before: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(before["systemVersion"], "v.1", "{before}");
    let gateway_first = manifest(
        &s,
        "gateway-first.yaml",
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v3", 20)],
    );
    let out = s.run(&["install", &as_str(&gateway_first)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(s.versions(), vec!["gateway-v2", "rtos-v3"]);
    let out = s.run(&["show-provides", "-o", "json"]);
    let after: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(after["systemVersion"], "v.2", "{after}");

    // A named constraints file must exist; a broken one refuses every deployment.
    let out = s.run(&[
        "--constraints",
        "/nonexistent/constraints.yaml",
        "install",
        &as_str(&gateway_first),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("/nonexistent/constraints.yaml"),
        "{}",
        text(&out)
    );
}

#[test]
fn plan_runs_only_queries_and_its_hash_follows_what_the_components_run() {
    let s = gateway_and_rtos();
    let m = s.release("v2");
    let m = m.to_str().unwrap();
    let plan = |args: &[&str]| {
        let mut all = vec!["plan", "-f", m];
        all.extend_from_slice(args);
        s.run(&all)
    };
    let out = plan(&["-o", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let p = &report["plan"];
    let reviewed = p["planHash"].as_str().unwrap().to_string();
    assert!(
        reviewed.starts_with("sha256:") && reviewed.len() == 71,
        "{reviewed}"
    );
    assert_eq!(p["constraints"]["verdict"], "unconstrained");
    assert_eq!(p["groups"].as_array().unwrap().len(), 2, "{p}");
    let gw = &p["groups"][0]["components"][0];
    assert_eq!(gw["componentType"], "gateway");
    assert_eq!(gw["id"], "gw");
    assert_eq!(gw["currentArtifact"], "gateway-v1");
    assert_eq!(gw["targetArtifact"], "gateway-v2");
    assert_eq!(gw["skipped"], false);
    let size = std::fs::metadata(s.root().join("artifacts/gateway-v2.mender"))
        .unwrap()
        .len();
    assert_eq!(gw["downloadBytes"], size);
    assert_eq!(
        gw["cached"], true,
        "a directory source: on the device already"
    );
    assert!(p["expectedSeconds"].is_null(), "no history: unknown");

    // Queries only: every component saw Identity and Provides, nothing else.
    for c in ["gw", "r1"] {
        assert!(!s.calls(c).is_empty());
        assert!(touched(&s, c).is_empty(), "{c}: {:?}", touched(&s, c));
    }
    assert_eq!(s.versions(), vec!["gateway-v1", "rtos-v1"]);

    // The same System, the same plan; the text says it too.
    let out = plan(&[]);
    let shown = stdout(&out);
    assert!(shown.contains(&format!("planHash: {reviewed}")), "{shown}");
    assert!(
        shown.contains("gateway gw: gateway-v1 -> gateway-v2"),
        "{shown}"
    );
    assert!(shown.contains("expected duration: unknown"), "{shown}");

    // A component moves: the plan is another one, and the reviewed hash is refused, saying
    // what changed, with nothing touched.
    std::fs::write(s.state_dir("r1").join("version"), "rtos-v0\n").unwrap();
    let out = plan(&["-o", "json"]);
    let now: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let fresh = now["plan"]["planHash"].as_str().unwrap().to_string();
    assert_ne!(fresh, reviewed);
    s.clear_calls();
    let out = s.run(&["install", "--plan-hash", &reviewed, m]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("no longer the one reviewed")
            && shown.contains("rtos r1: runs rtos-v0 now, rtos-v1 when reviewed"),
        "{shown}"
    );
    assert!(touched(&s, "gw").is_empty() && touched(&s, "r1").is_empty());
    assert_eq!(s.versions(), vec!["gateway-v1", "rtos-v0"]);

    // The plan as it is now runs.
    let out = s.run(&["install", "--plan-hash", &fresh, m]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(s.versions(), vec!["gateway-v2", "rtos-v2"]);
}

/// `bundle create` of a Manifest naming its Artifacts by path; the Artifacts are then
/// removed, so nothing but the bundle can serve them.
fn bundle_of(s: &Scratch, manifest: &Path, out: &Path) {
    let made = s.run(&[
        "bundle",
        "create",
        "-f",
        manifest.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&made), 0, "{}", text(&made));
}

#[test]
fn a_bundle_installs_with_no_artifact_source_and_a_corrupted_one_touches_nothing() {
    if !crate::artifact_common::have("mender-artifact") {
        return;
    }
    let s = gateway_and_rtos();
    set_config(&s, "ArtifactSources", serde_json::json!([]));
    artifact(&s, "gateway", "gateway-v2");
    artifact(&s, "rtos", "rtos-v2");
    let m = manifest(
        &s,
        "system-v2.yaml",
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)],
    );
    let good = s.root().join("system-v2.mender");
    bundle_of(&s, &m, &good);

    // One inner Artifact corrupted in its payload, the bundle's own checksums right (made by
    // hand with Mender's tool).
    let rtos = s.root().join("artifacts/rtos-v2.mender");
    let mut bytes = std::fs::read(&rtos).unwrap();
    let at = bytes.windows(8).position(|w| w == b"rtos-v2\n").unwrap();
    bytes[at] ^= 1;
    let corrupted_dir = s.root().join("corrupted");
    std::fs::create_dir_all(&corrupted_dir).unwrap();
    std::fs::write(corrupted_dir.join("rtos-v2.mender"), bytes).unwrap();
    let bad = s.root().join("bad.mender");
    let made = Command::new("mender-artifact")
        .args([
            "write",
            "module-image",
            "-T",
            "mender-orchestrator-manifest",
        ])
        .args([
            "-t",
            "scratch",
            "-n",
            "bad",
            "--software-filesystem",
            "data-partition",
        ])
        .arg("-f")
        .arg(&m)
        .arg("-f")
        .arg(s.root().join("artifacts/gateway-v2.mender"))
        .arg("-f")
        .arg(corrupted_dir.join("rtos-v2.mender"))
        .arg("-o")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    std::fs::remove_dir_all(s.root().join("artifacts")).unwrap();
    std::fs::remove_dir_all(&corrupted_dir).unwrap();

    let out = s.run(&["install", bad.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("rtos-v2.mender") && text(&out).contains("nothing was touched"),
        "{}",
        text(&out)
    );
    assert!(
        s.calls("gw").is_empty() && s.calls("r1").is_empty(),
        "not even asked"
    );
    let staged = s.root().join("store/bundles");
    let count = |d: &Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    assert_eq!(count(&staged), 0, "a refused bundle leaves nothing staged");

    // The good one: planned, then installed from the bundle alone.
    let out = s.run(&["plan", "-f", good.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains("rtos r1: rtos-v1 -> rtos-v2"),
        "{}",
        text(&out)
    );
    assert_eq!(count(&staged), 0, "a plan leaves nothing staged");
    let out = s.run(&["install", good.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(s.versions(), vec!["gateway-v2", "rtos-v2"]);
    assert_eq!(
        count(&staged),
        1,
        "the current Manifest's bundle stays staged"
    );
    // In sync: the same bundle again touches nothing (its Artifacts still come from it).
    s.clear_calls();
    let out = s.run(&["install", good.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(touched(&s, "gw").is_empty() && touched(&s, "r1").is_empty());
}

/// The daemon's System (rtos order 1, gateway order 2), with a constraints file.
fn controller(extra: Value) -> Option<System> {
    let sys = System::new(extra)?;
    std::fs::write(
        sys.root().join("datastore/constraints.yaml"),
        "api_version: baton/v1\nkind: constraints\nend_states:\n  - name: v.1\n    artifacts: {rtos: rtos-v1, gateway: gateway-v1}\n  - name: v.2\n    artifacts: {rtos: rtos-v2, gateway: gateway-v2}\ntransitions:\n  - artifacts: {rtos: rtos-v2, gateway: gateway-v1}\n",
    )
    .unwrap();
    Some(sys)
}

fn run(sys: &System, args: &[&str]) -> Output {
    sys.baton().args(args).output().unwrap()
}

#[test]
fn apply_with_a_stale_plan_hash_is_refused_through_the_daemon_and_status_shows_the_system_version()
{
    let Some(sys) = controller(serde_json::json!({})) else {
        return;
    };
    let d = sys.start();
    let m = sys.root().join("v2.yaml");
    std::fs::write(&m, sys.manifest("sys-v2", "v2")).unwrap();
    let m = m.to_str().unwrap();
    let out = run(&sys, &["plan", "-f", m, "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["plan"]["constraints"]["verdict"], "accepted");
    let reviewed = report["plan"]["planHash"].as_str().unwrap().to_string();

    // The RTOS moves on by itself: the reviewed plan is stale.
    std::fs::write(sys.component("a").join("version"), "rtos-v2\n").unwrap();
    let out = run(&sys, &["apply", "-f", m, "--plan-hash", &reviewed]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("PlanChanged")
            && shown.contains("rtos RTOS-A: runs rtos-v2 now, rtos-v1 when reviewed")
            && shown.contains("rtos RTOS-A: now skipped"),
        "{shown}"
    );
    let s = d.status();
    assert_eq!(s["generation"], 0, "nothing became desired: {s}");
    for c in ["a", "b"] {
        let calls = std::fs::read_to_string(sys.component(c).join("calls.log")).unwrap_or_default();
        assert!(
            calls.lines().all(|l| l.starts_with("Identity ")
                || l.starts_with("Provides ")
                || l.starts_with("Inventory ")),
            "{c}: {calls}"
        );
    }

    // The plan as it is now is applied.
    let out = run(&sys, &["plan", "-f", m, "-o", "json"]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let fresh = report["plan"]["planHash"].as_str().unwrap().to_string();
    let out = run(&sys, &["apply", "-f", m, "--plan-hash", &fresh]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let s = d.until("ready in v.2", |s| ready(s) && s["systemVersion"] == "v.2");
    assert_eq!(s["observedGeneration"], 1);
    let out = run(&sys, &["status"]);
    assert!(
        stdout(&out).contains("System version v.2"),
        "{}",
        text(&out)
    );
    assert_eq!(sys.version("a"), "rtos-v2");
    assert_eq!(sys.version("b"), "gateway-v2");
}

#[test]
fn a_bundle_dropped_in_the_watched_directory_installs_with_no_artifact_source() {
    let Some(sys) = controller(serde_json::json!({"ArtifactSources": []})) else {
        return;
    };
    let m = sys.root().join("sys-v2.yaml");
    let mut text_m = sys.manifest("sys-v2", "v2");
    for t in ["rtos", "gateway"] {
        text_m = text_m.replace(
            &format!("    artifact_name: {t}-v2\n"),
            &format!("    artifact_name: {t}-v2\n    artifact_path: artifacts/{t}-v2.mender\n"),
        );
    }
    std::fs::write(&m, text_m).unwrap();
    let bundle = sys.root().join("sys-v2.mender");
    let out = run(
        &sys,
        &[
            "bundle",
            "create",
            "-f",
            m.to_str().unwrap(),
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    std::fs::remove_dir_all(sys.root().join("artifacts")).unwrap();

    let d = sys.start();
    let tmp = sys.watch().join(".sys-v2.mender.part");
    std::fs::copy(&bundle, &tmp).unwrap();
    std::fs::rename(&tmp, sys.watch().join("sys-v2.mender")).unwrap();
    let s = d.until("the bundle deployed", |s| {
        ready(s) && s["observedGeneration"] == 1
    });
    assert_eq!(s["desiredManifest"], "sys-v2", "{s}");
    assert_eq!(s["systemVersion"], "v.2", "{s}");
    assert_eq!(sys.version("a"), "rtos-v2");
    assert_eq!(sys.version("b"), "gateway-v2");
    assert!(sys.watch().join("applied/1-sys-v2.mender").exists());

    // A bundle refused in the watched directory says why and leaves the desired state.
    let (code_, _) = http(&d.socket, "GET", "/v1/status", "").unwrap();
    assert_eq!(code_, 200);
    std::fs::write(sys.watch().join("junk.mender"), {
        let mut b = std::fs::read(&bundle).unwrap();
        let n = b.len();
        b.truncate(n / 2);
        b
    })
    .unwrap();
    let error = sys.watch().join("rejected/junk.mender.error");
    let t = std::time::Instant::now();
    while !error.exists() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "{}",
            d.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(d.status()["generation"], 1);
}

#[test]
fn a_bundle_installs_through_the_mender_client_with_batons_module() {
    use crate::mender_common::{Rig, DEVICE_TYPE, V1};
    let Some(rig) = Rig::new(e2e::mender::Module::Baton, None) else {
        return;
    };
    let artifacts = rig.system.artifacts_dir();
    let mut m = format!(
        "api_version: mender/v1\nkind: manifest\nname: sys-v1\nsystem_types_compatible: [{}]\ncomponent_types:\n",
        crate::mender_common::SYSTEM_TYPE
    );
    for (t, name, order) in V1 {
        rig.system.component_artifact(t, name, None);
        m.push_str(&format!(
            "  {t}:\n    artifact_name: {name}\n    artifact_path: {}\n    update_strategy:\n      order: {order}\n",
            artifacts.join(format!("{name}.mender")).display()
        ));
    }
    let manifest = rig.system.root().join("sys-v1.yaml");
    std::fs::write(&manifest, m).unwrap();
    let bundle = rig.system.root().join("sys-v1.mender");
    let out = rig
        .system
        .baton()
        .args(["bundle", "create", "-s", DEVICE_TYPE, "-f"])
        .arg(&manifest)
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Nothing but the bundle can serve the Artifacts now.
    std::fs::remove_dir_all(&artifacts).unwrap();
    rig.system
        .configure(serde_json::json!({"ArtifactSources": []}));

    let out = rig.mender.install(&bundle);
    assert_eq!(code(&out), 0, "{}", e2e::mender::transcript(&out));
    let out = rig.mender.run(&["commit"]);
    assert_eq!(code(&out), 0, "{}", e2e::mender::transcript(&out));
    rig.assert_versions("gateway-v1", "rtos-v1");
    rig.assert_deployed("sys-v1", V1);
    rig.finish();
}
