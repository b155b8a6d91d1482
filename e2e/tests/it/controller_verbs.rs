//! The controller's client verbs end to end: `baton events`, `baton status --watch`, the
//! actions (`suspend`, `unsuspend`, `retry`, `revert`) and `baton demo --controller`, with the
//! real binary on a System of mock components.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::fixture::*;
use serde_json::{json, Value};

/// A `baton` verb running in the background, its stdout collected.
struct Background {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Background {
    fn start(mut c: std::process::Command) -> Self {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Background { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = self.text();
            if pred(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "never: {what}\n{t}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("id").is_some())
        .collect()
}

/// Whether a word is a protocol state (not a query such as Identity or SupportsRollback).
fn is_state(word: &str) -> bool {
    baton::interface::protocol::State::ALL
        .iter()
        .any(|s| s.as_str() == word)
}

/// The states a mock component ran, in order, from its calls.log.
fn states_run(sys: &System, name: &str) -> Vec<String> {
    sys.call_log(name)
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| is_state(s))
        .map(str::to_string)
        .collect()
}

#[test]
fn events_follow_prints_every_state_and_the_outcome_and_a_reconnect_misses_nothing() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    let mut follow = sys.baton();
    // From the first event this daemon gave: nothing is missed however late it connects.
    follow.args(["events", "--follow", "--since", "0", "-o", "json"]);
    let follower = Background::start(follow);
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    let text = follower.until("the finished deployment", |t| {
        t.contains("\"kind\":\"finished\"")
    });
    d.until("ready", |s| ready(s) && s["observedGeneration"] == 1);
    let evs = events(&text);
    let ids: Vec<u64> = evs.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (ids[0]..ids[0] + ids.len() as u64).collect::<Vec<_>>(),
        "every event, in order"
    );

    // Every state each component ran is in the stream, in the order it ran.
    for c in &sys.components {
        let (ctype, id) = (c.component_type.as_str(), c.id.as_str());
        let in_stream: Vec<String> = evs
            .iter()
            .map(|e| &e["change"]["progress"])
            .filter(|p| p["event"] == "stepStarted")
            .filter(|p| {
                p["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["componentType"] == *ctype && c["id"] == *id)
            })
            .map(|p| p["state"].as_str().unwrap().to_string())
            .filter(|s| is_state(s))
            .collect();
        let ran = states_run(&sys, &c.name);
        assert!(!ran.is_empty());
        assert_eq!(in_stream, ran, "{id}");
    }
    let finished = evs
        .iter()
        .find(|e| e["change"]["kind"] == "finished")
        .unwrap();
    assert_eq!(finished["change"]["entry"]["outcome"], "Succeeded");
    assert_eq!(finished["change"]["entry"]["manifest"], "sys-v2");

    // A reconnect from any id gets exactly the rest (the CLI sends it as Last-Event-ID).
    let mid = ids[ids.len() / 2];
    let out = sys
        .baton()
        .args(["events", "--since", &mid.to_string(), "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let again = events(&e2e::stdout(&out));
    let tail: Vec<&Value> = evs
        .iter()
        .filter(|e| e["id"].as_u64().unwrap() > mid)
        .collect();
    assert_eq!(again.iter().take(tail.len()).collect::<Vec<_>>(), tail);

    // The text listing, for people.
    let out = sys.baton().arg("events").output().unwrap();
    let text = e2e::stdout(&out);
    assert!(
        text.contains("finished: 'sys-v2' generation 1 Succeeded"),
        "{text}"
    );
    assert!(text.contains("ArtifactInstall"), "{text}");
}

#[test]
fn status_watch_prints_each_change() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    // A second in ArtifactInstall: the deployment is seen under way.
    std::fs::write(sys.state_dir("a").join("slow"), "1").unwrap();
    let mut watch = sys.baton();
    watch.args(["status", "--watch"]);
    let w = Background::start(watch);
    w.until("the first view", |t| t.contains("Ready:"));
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("ready", |s| ready(s) && s["observedGeneration"] == 1);
    let text = w.until("the view at the end", |t| {
        t.rsplit("Manifest:").next().is_some_and(|last| {
            last.contains("(generation 1, observed 1)") && last.contains("True (InSync)")
        })
    });
    assert!(
        text.contains("Deployment:"),
        "a view while it deployed:\n{text}"
    );
    assert!(text.matches("Manifest:").count() >= 3, "{text}");
}

fn verb(sys: &System, args: &[&str]) -> (bool, String, String) {
    let out = sys.baton().args(args).output().unwrap();
    (out.status.success(), e2e::stdout(&out), e2e::stderr(&out))
}

#[test]
fn suspend_holds_a_new_manifest_unsuspend_converges_revert_returns_to_the_good_one() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    // Nothing to revert to yet: refused, with the API's reason.
    let (ok, _, err) = verb(&sys, &["revert"]);
    assert!(!ok);
    assert!(err.contains("NothingToRollBackTo"), "{err}");

    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("v2", |s| ready(s) && s["observedGeneration"] == 1);

    let (ok, out, err) = verb(&sys, &["suspend"]);
    assert!(ok, "{err}");
    assert!(out.contains("suspended"), "{out}");
    let v3 = sys.root().join("v3.yaml");
    std::fs::write(&v3, sys.release_text("sys-v3", "v3")).unwrap();
    let (ok, _, err) = verb(&sys, &["apply", "-f", v3.to_str().unwrap()]);
    assert!(ok, "{err}");
    let s = d.until("held", |s| {
        s["generation"] == 2 && condition(s, "Ready").1 == "Suspended"
    });
    // Held across resyncs (every 2 s here): nothing of v3 is installed.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.status()["observedGeneration"], 1, "{s:#}");
    assert_eq!(sys.version("a"), "rtos-v2");
    assert!(!states_run(&sys, "a").is_empty());
    let calls = std::fs::read_to_string(sys.state_dir("a").join("calls.log")).unwrap();
    assert!(!calls.contains("rtos-v3"), "{calls}");

    let (ok, out, _) = verb(&sys, &["unsuspend"]);
    assert!(ok && out.contains("resumed"), "{out}");
    d.until("v3", |s| ready(s) && s["observedGeneration"] == 2);
    assert_eq!(sys.version("a"), "rtos-v3");

    let (ok, out, err) = verb(&sys, &["revert"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("'sys-v2' is desired again (generation 3)"),
        "{out}"
    );
    d.until("back on v2", |s| ready(s) && s["observedGeneration"] == 3);
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v2".into(), "gateway-v2".into())
    );

    let (ok, out, _) = verb(&sys, &["retry", "-o", "json"]);
    assert!(ok);
    let reply: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["generation"], 3);

    // No daemon: said, and exit 1.
    drop(d);
    let (ok, _, err) = verb(&sys, &["suspend"]);
    assert!(!ok);
    assert!(err.contains("no baton daemon answers"), "{err}");
}

#[test]
fn demo_controller_exits_0_and_shows_the_watched_directory_ready_drift_and_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = e2e::baton()
        .args(["demo", "--controller", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    let text = e2e::stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}\n{}",
        e2e::stderr(&out),
        std::fs::read_to_string(demo.join("run.log")).unwrap_or_default()
    );
    for want in [
        &format!("watched directory: {}", demo.join("watch").display()),
        "=> Ready",
        "drift corrected: ECU-BRAKE runs ecu-v2 again",
        "=> rollback: 'demo-car-v3' RolledBack (CommitFailed); Degraded True (CommitFailed)",
        "every component still runs v2",
        "'demo-car-v2' is desired again",
        "/ui/login?code=",
        "/metrics",
        "Stopping the controller.",
    ] {
        assert!(text.contains(want), "missing `{want}`:\n{text}");
    }
    // Stopped: nothing listens on its socket any more.
    assert!(std::os::unix::net::UnixStream::connect(demo.join("run/baton.sock")).is_err());
}
