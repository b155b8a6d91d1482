//! Issue 18 through the real binary: the constraints checked for every deployment (the
//! design's own example), `baton plan` and `--plan-hash`, and bundles installed with no
//! Artifact source (the CLI, the watched directory, the Mender client with baton's module).

use std::path::Path;
use std::process::{Command, Output};

use e2e::fixture::{http, ready, Component, MenderRig, System, DEVICE_TYPE};
use e2e::mender::{transcript, Module};
use e2e::{need, stderr, stdout};

use crate::mender_module::V1;
use serde_json::{json, Value};

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
fn gateway_and_rtos() -> System {
    System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("r1", "rtos", 20),
    ])
}

#[test]
fn the_designs_example_gateway_first_is_accepted_rtos_first_and_other_end_states_refused() {
    let s = gateway_and_rtos();
    let constraints = s.datastore().join("constraints.yaml");
    std::fs::write(&constraints, CONSTRAINTS).unwrap();
    for (t, a) in [
        ("gateway", "gateway-v2"),
        ("rtos", "rtos-v3"),
        ("rtos", "rtos-v2"),
    ] {
        s.kit_artifact(t, a);
    }
    let as_str = |p: &Path| p.to_str().unwrap().to_string();

    // The validator takes the constraints file, with the Topology's types.
    let out = s.run(&[
        "validate",
        "--topology",
        &as_str(&s.datastore().join("topology.yaml")),
        &as_str(&constraints),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // RTOS first: after its group the System would run gateway-v1 with rtos-v3.
    let rtos_first = s.manifest_with_paths(
        "rtos-first",
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
    assert!(s.touched("gw").is_empty() && s.touched("r1").is_empty());

    // An end state outside the table: refused, named.
    let elsewhere = s.manifest_with_paths(
        "elsewhere",
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
    assert!(s.touched("gw").is_empty() && s.touched("r1").is_empty());

    // Gateway first: accepted, installed; the System is in v.2.
    let out = s.run(&["show-provides", "-o", "json"]);
    let before: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(before["systemVersion"], "v.1", "{before}");
    let gateway_first = s.manifest_with_paths(
        "gateway-first",
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
    let size = std::fs::metadata(s.artifacts_dir().join("gateway-v2.mender"))
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
        assert!(s.touched(c).is_empty(), "{c}: {:?}", s.touched(c));
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
    s.set("r1", "version", "rtos-v0\n");
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
    assert!(s.touched("gw").is_empty() && s.touched("r1").is_empty());
    assert_eq!(s.versions(), vec!["gateway-v1", "rtos-v0"]);

    // The plan as it is now runs.
    let out = s.run(&["install", "--plan-hash", &fresh, m]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(s.versions(), vec!["gateway-v2", "rtos-v2"]);
}

/// `bundle create` of a Manifest naming its Artifacts by path; the Artifacts are then
/// removed, so nothing but the bundle can serve them.
fn bundle_of(s: &System, manifest: &Path, out: &Path) {
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
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let s = gateway_and_rtos();
    s.configure(json!({"ArtifactSources": []}));
    s.kit_artifact("gateway", "gateway-v2");
    let rtos = s.kit_artifact("rtos", "rtos-v2");
    let m = s.manifest_with_paths(
        "system-v2",
        &[("gateway", "gateway-v2", 10), ("rtos", "rtos-v2", 20)],
    );
    let good = s.root().join("system-v2.mender");
    bundle_of(&s, &m, &good);

    // One inner Artifact corrupted in its payload, the bundle's own checksums right (made by
    // hand with Mender's tool).
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
            &s.system_type,
            "-n",
            "bad",
            "--software-filesystem",
            "data-partition",
        ])
        .arg("-f")
        .arg(&m)
        .arg("-f")
        .arg(s.artifacts_dir().join("gateway-v2.mender"))
        .arg("-f")
        .arg(corrupted_dir.join("rtos-v2.mender"))
        .arg("-o")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    std::fs::remove_dir_all(s.artifacts_dir()).unwrap();
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
    let staged = s.datastore().join("bundles");
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
    assert!(s.touched("gw").is_empty() && s.touched("r1").is_empty());
}

/// The daemon's System (rtos order 1, gateway order 2), with a constraints file.
fn controller(extra: Value) -> Option<System> {
    let sys = System::served(extra)?;
    std::fs::write(
        sys.datastore().join("constraints.yaml"),
        "api_version: baton/v1\nkind: constraints\nend_states:\n  - name: v.1\n    artifacts: {rtos: rtos-v1, gateway: gateway-v1}\n  - name: v.2\n    artifacts: {rtos: rtos-v2, gateway: gateway-v2}\ntransitions:\n  - artifacts: {rtos: rtos-v2, gateway: gateway-v1}\n",
    )
    .unwrap();
    Some(sys)
}

#[test]
fn apply_with_a_stale_plan_hash_is_refused_through_the_daemon_and_status_shows_the_system_version()
{
    let Some(sys) = controller(json!({})) else {
        return;
    };
    let d = sys.start();
    let m = sys.manifests_dir().join("v2.yaml");
    std::fs::write(&m, sys.release_text("sys-v2", "v2")).unwrap();
    let m = m.to_str().unwrap();
    let out = sys.run(&["plan", "-f", m, "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["plan"]["constraints"]["verdict"], "accepted");
    let reviewed = report["plan"]["planHash"].as_str().unwrap().to_string();

    // The RTOS moves on by itself: the reviewed plan is stale.
    sys.set("a", "version", "rtos-v2\n");
    let out = sys.run(&["apply", "-f", m, "--plan-hash", &reviewed]);
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
        let calls = sys.call_log(c);
        assert!(
            calls.iter().all(|l| l.starts_with("Identity ")
                || l.starts_with("Provides ")
                || l.starts_with("Inventory ")),
            "{c}: {calls:?}"
        );
    }

    // The plan as it is now is applied.
    let out = sys.run(&["plan", "-f", m, "-o", "json"]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let fresh = report["plan"]["planHash"].as_str().unwrap().to_string();
    let out = sys.run(&["apply", "-f", m, "--plan-hash", &fresh]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let s = d.until("ready in v.2", |s| ready(s) && s["systemVersion"] == "v.2");
    assert_eq!(s["observedGeneration"], 1);
    let out = sys.run(&["status"]);
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
    let Some(sys) = controller(json!({"ArtifactSources": []})) else {
        return;
    };
    let m = sys.manifest_with_paths(
        "sys-v2",
        &[("rtos", "rtos-v2", 1), ("gateway", "gateway-v2", 2)],
    );
    let bundle = sys.root().join("sys-v2.mender");
    bundle_of(&sys, &m, &bundle);
    std::fs::remove_dir_all(sys.artifacts_dir()).unwrap();

    let d = sys.start();
    sys.drop_file("sys-v2.mender", &std::fs::read(&bundle).unwrap());
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
    d.until_exists(&error);
    assert_eq!(d.status()["generation"], 1);
}

#[test]
fn a_bundle_installs_through_the_mender_client_with_batons_module() {
    let Some(rig) = MenderRig::new(Module::Baton, None) else {
        return;
    };
    let names: Vec<(&str, &str)> = V1.iter().map(|(t, name, _)| (*t, *name)).collect();
    rig.artifacts(&names, None);
    let manifest = rig.system.manifest_with_paths("sys-v1", V1);
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
    std::fs::remove_dir_all(rig.system.artifacts_dir()).unwrap();
    rig.system.configure(json!({"ArtifactSources": []}));

    let out = rig.mender.install(&bundle);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let out = rig.mender.run(&["commit"]);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    rig.assert_versions("gateway-v1", "rtos-v1");
    rig.assert_deployed("sys-v1", V1);
    rig.finish();
}
