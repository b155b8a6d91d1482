//! The gates against real processes: update locks held by `flock(1)` and by a POSIX
//! `lockf` (Python's `fcntl`), and health checks run through the Interface runner (clean
//! environment, timeouts, bounded output). A tool that is missing skips its test loudly,
//! and fails it with BATON_TEST_STRICT=1.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use baton::gates::health::HealthGate;
use baton::gates::locks::{held, LockGate};
use baton::gates::{Gate, GateContext, GatePoint, Verdict};
use baton::interface::runner::{Runner, RunnerConfig};
use baton::model::Reason;

fn strict() -> bool {
    std::env::var("BATON_TEST_STRICT").as_deref() == Ok("1")
}

/// Runs `argv` in a process group of its own, or `None` (loudly).
fn spawn(argv: &[&str]) -> Option<Child> {
    match Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
    {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(
                !strict(),
                "`{}` cannot run ({e}) and BATON_TEST_STRICT=1",
                argv[0]
            );
            eprintln!("\n!!! SKIPPED: `{}` cannot run: {e} !!!\n", argv[0]);
            None
        }
    }
}

fn end(mut c: Child) {
    let pgid = rustix::process::Pid::from_raw(c.id() as i32).unwrap();
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    c.wait().unwrap();
}

/// Waits until `dir` shows `n` held locks (the holder starts asynchronously).
fn until_held(dir: &Path, n: usize) -> Vec<baton::model::LockHolder> {
    for _ in 0..500 {
        let h = held(dir).unwrap();
        if h.len() == n {
            return h;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never {n} held locks: {:?}", held(dir));
}

fn ctx() -> GateContext {
    GateContext {
        point: GatePoint::BeforeFirstState,
        deployment: Some("d1".into()),
        manifest: "sys-2".into(),
        components: vec![],
        artifacts: vec![],
        waited: Duration::ZERO,
    }
}

/// `ctx` asked at `point`.
fn at(point: GatePoint, ctx: &GateContext) -> GateContext {
    GateContext {
        point,
        ..ctx.clone()
    }
}

#[test]
fn exclusive_and_shared_flocks_and_posix_locks_are_held_and_name_their_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.lock"),
        dir.path().join("b.lock"),
        dir.path().join("c.lock"),
    );
    for f in [&a, &b, &c] {
        std::fs::write(f, "").unwrap();
    }
    // A symbolic link to a held file is not a lock file of its own.
    std::os::unix::fs::symlink(&a, dir.path().join("link.lock")).unwrap();
    assert!(held(dir.path()).unwrap().is_empty());
    let Some(x) = spawn(&["flock", "-x", a.to_str().unwrap(), "sleep", "60"]) else {
        return;
    };
    let Some(s) = spawn(&["flock", "-s", b.to_str().unwrap(), "sleep", "60"]) else {
        return end(x);
    };
    let h = until_held(dir.path(), 2);
    assert_eq!(h[0].file, a.display().to_string());
    assert_eq!(
        h[0].pid,
        Some(x.id()),
        "/proc/locks names flock(1), which took it"
    );
    assert_eq!(h[0].command.as_deref(), Some("flock"));
    assert_eq!(h[1].file, b.display().to_string());
    assert_eq!(h[1].pid, Some(s.id()));
    // A POSIX lock (lockf) counts too, seen through /proc/locks.
    let posix = spawn(&[
        "python3",
        "-c",
        &format!(
            "import fcntl,time; f=open('{}','r+'); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(60)",
            c.display()
        ),
    ]);
    if let Some(p) = posix {
        let h = until_held(dir.path(), 3);
        assert_eq!(h[2].file, c.display().to_string());
        assert_eq!(h[2].pid, Some(p.id()));
        end(p);
    }
    end(x);
    end(s);
    assert!(
        until_held(dir.path(), 0).is_empty(),
        "released with their holders"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_gate_waits_then_times_out_and_force_passes_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("brakes.lock");
    std::fs::write(&f, "").unwrap();
    let Some(holder) = spawn(&["flock", "-x", f.to_str().unwrap(), "sleep", "60"]) else {
        return;
    };
    until_held(dir.path(), 1);
    let gate = LockGate::new(dir.path().to_path_buf(), 1);
    let c = ctx();
    // Only before the first ArtifactInstall.
    assert_eq!(
        gate.check(&at(GatePoint::BeforeFirstState, &c)).await,
        Verdict::Proceed
    );
    match gate.check(&at(GatePoint::BeforeDisruptive, &c)).await {
        Verdict::Wait {
            reason: Reason::UpdateLocked,
            until: None,
            message,
        } => {
            assert!(
                message.contains("brakes.lock") && message.contains("flock"),
                "{message}"
            )
        }
        v => panic!("{v:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    match gate.check(&at(GatePoint::BeforeDisruptive, &c)).await {
        Verdict::Refuse {
            reason: Reason::UpdateLocked,
            message,
        } => {
            assert!(message.contains("for more than 1 s"), "{message}")
        }
        v => panic!("{v:?}"),
    }
    gate.force_once();
    assert_eq!(
        gate.check(&at(GatePoint::BeforeDisruptive, &ctx())).await,
        Verdict::Proceed
    );
    assert!(matches!(
        gate.check(&GateContext {
            point: GatePoint::BeforeDisruptive,
            deployment: Some("d2".into()),
            ..ctx()
        })
        .await,
        Verdict::Wait { .. }
    ));
    end(holder);
    until_held(dir.path(), 0);
    assert_eq!(
        gate.check(&at(GatePoint::BeforeDisruptive, &ctx())).await,
        Verdict::Proceed
    );
}

fn health(checks: Vec<Vec<String>>, parent_env: Vec<(&str, &str)>, timeout: u64) -> HealthGate {
    let runner = Runner::with_parent_env(
        RunnerConfig {
            kill_grace: Duration::from_millis(200),
            ..RunnerConfig::default()
        },
        parent_env.into_iter().map(|(k, v)| (k.into(), v.into())),
    );
    HealthGate::new(
        runner,
        checks,
        0,
        1,
        timeout,
        Arc::new(baton::gates::clock::SystemClock),
    )
}

fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_run_with_the_interfaces_clean_environment_and_bounds() {
    let env = vec![
        ("PATH", "/usr/bin:/bin"),
        ("BATON_API_TOKEN", "s3cret"),
        ("LANG", "C"),
    ];
    // The token never reaches a check; PATH and the locale do.
    let g = health(
        vec![sh(
            r#"[ -z "$BATON_API_TOKEN" ] && [ "$LANG" = C ] && command -v sh"#,
        )],
        env.clone(),
        5,
    );
    assert_eq!(
        g.check(&at(GatePoint::BeforeCommit, &ctx())).await,
        Verdict::Proceed
    );
    // Not asked elsewhere.
    let never = health(vec![sh("exit 1")], env.clone(), 5);
    assert_eq!(
        never.check(&at(GatePoint::BeforeDisruptive, &ctx())).await,
        Verdict::Proceed
    );
    // A check that hangs is killed at its timeout, and names it.
    let slow = health(vec![sh("sleep 30")], env.clone(), 1);
    let started = std::time::Instant::now();
    match slow.check(&at(GatePoint::BeforeCommit, &ctx())).await {
        Verdict::Refuse {
            reason: Reason::HealthCheckFailed,
            message,
        } => {
            assert!(message.contains("did not end within 1 s"), "{message}")
        }
        v => panic!("{v:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // Output is bounded: the end of it is kept.
    let loud = health(
        vec![sh("yes x | head -c 200000; echo THE-END; exit 1")],
        env.clone(),
        5,
    );
    match loud.check(&at(GatePoint::BeforeCommit, &ctx())).await {
        Verdict::Refuse { message, .. } => {
            assert!(
                message.contains("THE-END")
                    && message.len() < 4 * baton::gates::health::OUTPUT_KEPT,
                "{}",
                message.len()
            )
        }
        v => panic!("{v:?}"),
    }
    // A program that is not there.
    let missing = health(vec![vec!["/nonexistent/check".into()]], env, 5);
    match missing.check(&at(GatePoint::BeforeCommit, &ctx())).await {
        Verdict::Refuse { message, .. } => {
            assert!(message.contains("could not be started"), "{message}")
        }
        v => panic!("{v:?}"),
    }
}
