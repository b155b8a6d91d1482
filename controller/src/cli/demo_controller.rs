//! `baton demo --controller`: the controller at work on the demo System, from a fresh clone
//! with no root.
//!
//! It builds the demo System ([`super::demo`]) with a configuration for `baton run` (socket,
//! watched directory and runtime files inside the directory; loopback TCP on a free port
//! with tokens; drift corrected; a resync every 2 s), starts the daemon (this same binary)
//! as a child, and follows its event stream through: a Manifest dropped into the watched
//! directory, deployed to Ready; `baton status`; a component changed behind baton's back
//! and put back; a Manifest applied through the API whose commit fails, rolled back, with
//! the Degraded condition; `baton revert`. It prints the status page's URL and the metrics
//! endpoint, then stops the daemon (or, with `--keep`, leaves it running).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::demo::{prepare, DemoArgs};
use super::{events, exit, inspect, ui, CliError, GlobalArgs};
use crate::client::{Client, EventStream};
use crate::model::{ConditionStatus, ConditionType, Outcome, Status};
use crate::wire::sse;

/// How long one step may take before the demo gives up.
const STEP: Duration = Duration::from_secs(90);

/// The daemon; stopped (SIGTERM, then SIGKILL) when dropped unless kept.
struct Daemon {
    child: Child,
    keep: bool,
}

impl Drop for Daemon {
    // A Drop, outside any runtime: it polls the child's exit (10 s at most) by the real clock.
    #[allow(clippy::disallowed_methods)]
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn private_file(path: &Path, text: &str) -> std::io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Adds the controller's settings to the demo's configuration.
fn configure(dir: &Path) -> std::io::Result<()> {
    let tokens = dir.join("tokens");
    fs::create_dir_all(&tokens)?;
    let token = || crate::daemon::api::ui::session::random_hex(16);
    private_file(&tokens.join("write.token"), &token()?)?;
    private_file(&tokens.join("read.token"), &token()?)?;
    let conf_path = dir.join("baton.conf");
    let mut conf: serde_json::Value = serde_json::from_slice(&fs::read(&conf_path)?)?;
    let extra = serde_json::json!({
        "Api": {
            "Socket": dir.join("run/baton.sock"),
            // Port 0: the kernel picks a free one; `ui-url` answers where it is.
            "Tcp": "127.0.0.1:0",
            "TokenFile": tokens.join("write.token"),
            "ReadTokenFile": tokens.join("read.token"),
        },
        "RuntimeDir": dir.join("run"),
        "WatchDir": dir.join("watch"),
        "ResyncIntervalSeconds": 2,
        "DriftPolicy": "enabled",
        // A failed deployment is retried after a minute: the demo reverts before that.
        "Retry": {"BaseSeconds": 60, "CapSeconds": 120, "Limit": 2},
    });
    if let (Some(c), Some(e)) = (conf.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    fs::write(&conf_path, serde_json::to_vec_pretty(&conf)?)
}

fn start(dir: &Path, keep: bool) -> std::io::Result<Daemon> {
    let log = fs::File::create(dir.join("run.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .arg("-c")
        .arg(dir.join("baton.conf"))
        .arg("-d")
        .arg(dir.join("datastore"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["run", "--grace-seconds", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok(Daemon { child, keep })
}

fn ready(s: &Status) -> bool {
    condition(s, ConditionType::Ready).is_some_and(|c| c.status == ConditionStatus::True)
}

fn condition(s: &Status, t: ConditionType) -> Option<&crate::model::Condition> {
    s.conditions.iter().find(|c| c.type_ == t)
}

/// The demo's conversation with the daemon: one event stream, followed step by step.
struct Follow<'a> {
    client: Client,
    events: EventStream,
    last: Option<u64>,
    out: &'a mut dyn Write,
}

impl Follow<'_> {
    /// Prints events until the status satisfies `done`; the final status.
    async fn until(
        &mut self,
        what: &str,
        done: impl Fn(&Status) -> bool,
    ) -> Result<Status, String> {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let s = self.client.status().await.map_err(|e| e.to_string())?;
            if done(&s) {
                return Ok(s);
            }
            let next = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .map_err(|_| format!("{what}: not after {} s", STEP.as_secs()))?;
            match next {
                Some(Ok(m)) => self.show(&m).map_err(|e| e.to_string())?,
                // Ended (fell behind): go on from the last id printed.
                _ => {
                    self.events = self
                        .client
                        .events(self.last, true)
                        .await
                        .map_err(|e| e.to_string())?
                }
            }
        }
    }

    fn show(&mut self, m: &sse::Message) -> std::io::Result<()> {
        if let Some(id) = m.id.as_deref().and_then(|i| i.parse().ok()) {
            self.last = Some(id);
        }
        if m.event != "message" {
            return Ok(());
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&m.data) else {
            return Ok(());
        };
        // Byte counts change four times a second, and a step's end says nothing new unless it
        // failed: the page shows them, the demo does not.
        let p = &v["change"]["progress"];
        if p["event"] == "bytes"
            || p["event"] == "stepFinished" && p["failed"].as_array().is_none_or(|f| f.is_empty())
        {
            return Ok(());
        }
        writeln!(self.out, "     {}", events::describe(&v))
    }
}

pub fn run(
    _global: &GlobalArgs,
    args: &DemoArgs,
    out: &mut dyn Write,
    rt: &tokio::runtime::Runtime,
) -> Result<u8, CliError> {
    let dir = match prepare(args)? {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    configure(&dir)?;
    let daemon = start(&dir, args.keep)?;
    writeln!(
        out,
        "A demo System of 4 mock components in {}, kept by the controller (`baton run`, pid {}).\n  \
         watched directory: {}\n  its log: {}\n",
        dir.display(),
        daemon.child.id(),
        dir.join("watch").display(),
        dir.join("run.log").display(),
    )?;
    let r = rt.block_on(story(&dir, out));
    let code = match r {
        Ok(()) => exit::OK,
        Err(why) => {
            writeln!(
                out,
                "\nThe demo did not end as expected: {why} (see {})",
                dir.join("run.log").display()
            )?;
            exit::INVALID
        }
    };
    if args.keep && code == exit::OK {
        writeln!(
            out,
            "\nThe controller keeps running (pid {}): `kill {}` stops it.",
            daemon.child.id(),
            daemon.child.id()
        )?;
    } else {
        writeln!(out, "\nStopping the controller.")?;
        drop(daemon);
    }
    let _ = fs::remove_file(dir.join("components/seat-heater/ArtifactCommit.FAIL"));
    Ok(code)
}

async fn connect(socket: &Path) -> Result<Client, String> {
    for _ in 0..200 {
        if let Some(c) = Client::connect(socket).await {
            // Past recovery: the reconciler has looked once.
            if let Ok(s) = c.status().await {
                if condition(&s, ConditionType::Ready)
                    .is_some_and(|c| c.reason != crate::model::Reason::Recovering)
                {
                    return Ok(c);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "the controller did not answer at {}",
        socket.display()
    ))
}

async fn story(dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let client = connect(&dir.join("run/baton.sock")).await?;
    let events = client.events(None, true).await.map_err(|e| e.to_string())?;
    let mut f = Follow {
        client: client.clone(),
        events,
        last: None,
        out,
    };
    let io = |e: std::io::Error| e.to_string();
    let manifest = |v: &str| dir.join("manifests").join(format!("demo-car-{v}.yaml"));

    writeln!(
        f.out,
        "1. Drop demo-car-v2.yaml into the watched directory; the controller deploys it:"
    )
    .map_err(io)?;
    let watch = dir.join("watch");
    fs::copy(manifest("v2"), watch.join(".demo-car-v2.yaml.part")).map_err(io)?;
    fs::rename(
        watch.join(".demo-car-v2.yaml.part"),
        watch.join("demo-car-v2.yaml"),
    )
    .map_err(io)?;
    let s = f
        .until("Ready at generation 1", |s| {
            s.observed_generation >= 1 && ready(s)
        })
        .await?;
    let applied: Vec<PathBuf> = fs::read_dir(watch.join("applied"))
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    writeln!(
        f.out,
        "   => Ready: {}; the file is now {}",
        condition(&s, ConditionType::Ready)
            .map(|c| c.message.as_str())
            .unwrap_or(""),
        applied
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    )
    .map_err(io)?;

    writeln!(f.out, "\n2. baton status:").map_err(io)?;
    let mut text = Vec::new();
    inspect::print_status(&s, &mut text).map_err(io)?;
    for line in String::from_utf8_lossy(&text).lines() {
        writeln!(f.out, "   {line}").map_err(io)?;
    }

    writeln!(f.out, "\n3. Drift: the brake ECU is put back on ecu-v1 behind baton's back; the next resync (2 s) finds it,\n   and with DriftPolicy `enabled` the controller reinstalls it:").map_err(io)?;
    let before = s.history.len();
    fs::write(dir.join("components/brake/version"), "ecu-v1\n").map_err(io)?;
    f.until("drift corrected", |s| {
        s.history.len() > before && ready(s) && s.components.iter().all(|c| c.in_sync)
    })
    .await?;
    let brake = fs::read_to_string(dir.join("components/brake/version")).unwrap_or_default();
    writeln!(
        f.out,
        "   => drift corrected: ECU-BRAKE runs {} again",
        brake.trim()
    )
    .map_err(io)?;

    writeln!(f.out, "\n4. Apply demo-car-v3 through the API (PUT /v1/manifest, as `baton apply` does); the seat heater's\n   ArtifactCommit is made to fail, so the whole System rolls back:").map_err(io)?;
    fs::write(dir.join("components/seat-heater/ArtifactCommit.FAIL"), "").map_err(io)?;
    let bytes = fs::read(manifest("v3")).map_err(io)?;
    let a = client
        .apply(&bytes, None)
        .await
        .map_err(|e| e.to_string())?;
    let s = f
        .until("the rollback", |s| {
            s.history
                .first()
                .is_some_and(|h| h.generation == a.generation && h.outcome != Outcome::Succeeded)
                && s.deployment.is_none()
                && condition(s, ConditionType::Degraded)
                    .is_some_and(|c| c.status == ConditionStatus::True)
        })
        .await?;
    let h = &s.history[0];
    let d = condition(&s, ConditionType::Degraded);
    writeln!(
        f.out,
        "   => rollback: '{}' {:?} ({}); Degraded {:?} ({})\n      {}",
        h.manifest,
        h.outcome,
        h.reason.map(|r| r.to_string()).unwrap_or_default(),
        d.map(|c| c.status).unwrap_or(ConditionStatus::Unknown),
        d.map(|c| c.reason.to_string()).unwrap_or_default(),
        d.map(|c| c.message.as_str()).unwrap_or("")
    )
    .map_err(io)?;
    let versions: Vec<String> = ["gateway", "brake", "motor", "seat-heater"]
        .iter()
        .map(|c| {
            fs::read_to_string(dir.join("components").join(c).join("version"))
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    writeln!(
        f.out,
        "   every component still runs v2: {}",
        versions.join(", ")
    )
    .map_err(io)?;
    if !versions.iter().all(|v| v.ends_with("-v2")) {
        return Err(format!(
            "after the rollback the components run {versions:?}"
        ));
    }

    writeln!(f.out, "\n5. baton revert: the last good Manifest is desired again (no retry of v3 after its backoff):").map_err(io)?;
    let reply = client.action("rollback").await.map_err(|e| e.to_string())?;
    writeln!(f.out, "   {}", reply.message).map_err(io)?;
    f.until("Ready again", |s| {
        s.observed_generation >= reply.generation && ready(s)
    })
    .await?;
    writeln!(f.out, "   => Ready").map_err(io)?;

    let code = client.login_code(false).await.map_err(|e| e.to_string())?;
    let page = ui::url(&code).map_err(|e| e.to_string())?;
    let tcp = code.tcp.clone().unwrap_or_default();
    writeln!(
        f.out,
        "\nThe status page (one use, within {} s; `baton -c {} ui-url` makes another):\n   {page}",
        code.expires_in_seconds,
        dir.join("baton.conf").display()
    )
    .map_err(io)?;
    writeln!(
        f.out,
        "Metrics: http://{tcp}/metrics with `Authorization: Bearer $(cat {})`; now:",
        dir.join("tokens/read.token").display()
    )
    .map_err(io)?;
    let metrics = client.metrics().await.map_err(|e| e.to_string())?;
    for line in metrics.lines().filter(|l| {
        (l.starts_with("baton_condition{") || l.starts_with("baton_deployments_total{"))
            && !l.ends_with(" 0")
    }) {
        writeln!(f.out, "   {line}").map_err(io)?;
    }
    Ok(())
}
