//! The Interface runner against real processes: invocation, environment, exits, timeouts
//! that end whole process groups, cancellation, and strict query answers.

use std::time::Duration;

use crate::interface_support::*;
use baton::interface::protocol::{AnswerProblem, Query, RebootAnswer, State};
use baton::interface::{Exit, InterfaceError, Runner, RunnerConfig};

const SHORT: Duration = Duration::from_millis(400);
const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_gets_its_exact_arguments_and_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let iface = script(
        tmp.path(),
        "probe",
        r#"for a in "$@"; do echo "arg:$a"; done; echo "cwd:$(pwd -P)"; exec 0<&-; cat >/dev/null 2>&1; echo "stdin:done""#,
    );
    let inv = invocation(&iface, &work, &["--port", "/dev/ttyS1", "with space"]);
    let report = quick_runner(LONG)
        .run_state(&inv, State::ArtifactInstall)
        .await
        .unwrap();
    let out = String::from_utf8(report.stdout).unwrap();
    let work = work.canonicalize().unwrap();
    let expected = format!(
        "arg:ArtifactInstall\narg:{}\narg:rtos\narg:--port\narg:/dev/ttyS1\narg:with space\ncwd:{}\nstdin:done\n",
        inv.work_dir.display(),
        work.display()
    );
    assert_eq!(out, expected);
    assert_eq!(report.exit, Exit::Code(0));
    assert!(!report.strays_terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_holds_no_secrets_and_no_service_channels() {
    let tmp = tempfile::tempdir().unwrap();
    let iface = script(tmp.path(), "printenv", "env");
    let parent = [
        ("PATH", "/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("TZ", "UTC"),
        ("MENDER_DATASTORE_DIR", "/var/lib/mender"),
        ("BATON_API_TOKEN", "s3cret-token"),
        ("NOTIFY_SOCKET", "/run/systemd/notify"),
        ("WATCHDOG_USEC", "30000000"),
        ("WATCHDOG_PID", "1"),
        ("LISTEN_FDS", "3"),
        ("INVOCATION_ID", "0123"),
        ("JOURNAL_STREAM", "8:42"),
    ]
    .map(|(k, v)| (k.into(), v.into()));
    let runner = Runner::with_parent_env(RunnerConfig::default(), parent);
    let report = runner
        .query(&invocation(&iface, tmp.path(), &[]), Query::Inventory)
        .await
        .unwrap();
    let mut names: Vec<String> = String::from_utf8(report.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect();
    names.sort();
    // The shell itself adds PWD (and may add SHLVL or _); nothing else may appear.
    names.retain(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(&n.as_str()));
    assert_eq!(names, ["LANG", "MENDER_DATASTORE_DIR", "PATH", "TZ"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_non_executable_interfaces_are_named() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let runner = quick_runner(LONG);

    let missing = tmp.path().join("nowhere");
    let err = runner
        .query(&invocation(&missing, tmp.path(), &[]), Query::Identity)
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::NotFound { .. }), "{err}");
    assert_eq!(err.reason(), "InterfaceNotFound");
    assert!(
        err.to_string().contains("nowhere") && err.to_string().contains("Identity"),
        "{err}"
    );

    let plain = script(tmp.path(), "plain", "echo id=x");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = runner
        .query(&invocation(&plain, tmp.path(), &[]), Query::Identity)
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::NotExecutable { .. }), "{err}");

    let dir = tmp.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let err = runner
        .query(&invocation(&dir, tmp.path(), &[]), Query::Identity)
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::NotExecutable { .. }), "{err}");

    let bad_interpreter = tmp.path().join("badshebang");
    std::fs::write(&bad_interpreter, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&bad_interpreter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = runner
        .query(
            &invocation(&bad_interpreter, tmp.path(), &[]),
            Query::Identity,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::Spawn { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_signals_are_errors_with_the_stderr_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let runner = quick_runner(LONG);
    let failing = script(
        tmp.path(),
        "failing",
        "echo 'checking flash' >&2; echo 'flash is write-protected' >&2; exit 3",
    );
    let err = runner
        .run_state(
            &invocation(&failing, tmp.path(), &[]),
            State::ArtifactInstall,
        )
        .await
        .unwrap_err();
    match &err {
        InterfaceError::Failed {
            code: 3, report, ..
        } => assert_eq!(report.exit, Exit::Code(3)),
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("Interface failing") && msg.contains("ArtifactInstall"),
        "{msg}"
    );
    assert!(
        msg.contains("component R1") && msg.contains("flash is write-protected"),
        "{msg}"
    );

    let suicidal = script(tmp.path(), "suicidal", "kill -9 $$");
    let err = runner
        .run_state(
            &invocation(&suicidal, tmp.path(), &[]),
            State::ArtifactCommit,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, InterfaceError::Killed { signal: 9, .. }),
        "{err}"
    );
    assert_eq!(err.reason(), "InterfaceKilled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_ends_the_whole_group_grandchildren_included() {
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    let iface = script(
        tmp.path(),
        "hanging",
        &format!(
            "sleep 1000 & echo $! > {0}.child; (sleep 1000 &); echo $$ > {0}; wait",
            pids.display()
        ),
    );
    let err = quick_runner(SHORT)
        .run_state(&invocation(&iface, tmp.path(), &[]), State::ArtifactInstall)
        .await
        .unwrap_err();
    let InterfaceError::Timeout { after, report, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*after, SHORT);
    assert_eq!(report.exit, Exit::Signal(15), "a shell dies of SIGTERM");
    let pgid = wait_pid(&pids).await;
    let child = wait_pid(&tmp.path().join("pids.child")).await;
    assert_eq!(running_in_group(pgid), Vec::<i32>::new());
    assert!(!is_running(pgid) && !is_running(child));
    assert_eq!(err.reason(), "InterfaceTimeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ignored_means_sigkill_after_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let pid = tmp.path().join("pid");
    let iface = script(
        tmp.path(),
        "stubborn",
        &format!(
            "trap '' TERM; echo $$ > {}; sleep 1000 & while :; do sleep 1; done",
            pid.display()
        ),
    );
    let err = quick_runner(SHORT)
        .run_state(
            &invocation(&iface, tmp.path(), &[]),
            State::ArtifactVerifyReboot,
        )
        .await
        .unwrap_err();
    let InterfaceError::Timeout { report, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(report.exit, Exit::Signal(9));
    let pgid = wait_pid(&pid).await;
    assert_eq!(running_in_group(pgid), Vec::<i32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_holding_stdout_does_not_hang_the_call() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    std::fs::write(state.join("SupportsRollback"), "Yes\n").unwrap();
    std::fs::write(state.join("SupportsRollback.GRANDCHILD"), "").unwrap();
    let inv = mock_invocation(tmp.path(), &state);
    // The call ends when the Interface exits, plus the bounded wait for the pipes.
    let answer = quick_runner(LONG).supports_rollback(&inv).await.unwrap();
    assert!(answer);
    let pgid = std::fs::read_to_string(state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(running_in_group(pgid), Vec::<i32>::new());

    let report = quick_runner(LONG)
        .query(&inv, Query::SupportsRollback)
        .await
        .unwrap();
    assert!(report.strays_terminated);
    assert_eq!(report.stdout, b"Yes\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_kills_its_group() {
    let tmp = tempfile::tempdir().unwrap();
    let pid = tmp.path().join("pid");
    let iface = script(
        tmp.path(),
        "slow",
        &format!(
            "trap '' TERM; echo $$ > {}; (sleep 1000 &); sleep 1000",
            pid.display()
        ),
    );
    let runner = quick_runner(LONG);
    let inv = invocation(&iface, tmp.path(), &[]);
    let call = runner.run_state(&inv, State::ArtifactInstall);
    let pgid = tokio::select! {
        _ = call => panic!("the call ended by itself"),
        pgid = wait_pid(&pid) => pgid,
    };
    // The select dropped the call.
    assert!(
        eventually(|| running_in_group(pgid).is_empty()).await,
        "{:?}",
        running_in_group(pgid)
    );
    // And its leader, this process's child, was reaped in the background: no zombie stays.
    let leader = std::path::PathBuf::from(format!("/proc/{pgid}"));
    assert!(
        eventually(|| !leader.exists()).await,
        "the dropped call's leader {pgid} is still in /proc"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_get_a_scratch_directory_states_need_theirs() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let iface = script(tmp.path(), "quiet", "exit 0");
    let runner = quick_runner(LONG);
    let scratch = baton::interface::runner::query_work_dir(
        &tmp.path().join("datastore"),
        &"quiet"
            .parse::<String>()
            .map(|s| baton::model::InterfaceName::new(s).unwrap())
            .unwrap(),
    );
    assert_eq!(scratch, tmp.path().join("datastore/work/query/quiet"));
    runner
        .query(&invocation(&iface, &scratch, &[]), Query::Provides)
        .await
        .unwrap();
    let mode = std::fs::metadata(&scratch).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    let absent = tmp.path().join("no-file-api");
    let err = runner
        .run_state(&invocation(&iface, &absent, &[]), State::ArtifactInstall)
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::WorkDir { .. }), "{err}");
    assert!(!absent.exists());

    let err = runner
        .run_state(
            &invocation(&iface, std::path::Path::new("relative/dir"), &[]),
            State::Cleanup,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, InterfaceError::WorkDir { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_queries_read_the_mock() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R123", "rtos-v1");
    std::fs::write(state.join("Provides.extra"), "custom.key=1\n").unwrap();
    std::fs::write(
        state.join("Inventory.extra"),
        "port=/dev/ttyS1\nport=/dev/ttyS2\n",
    )
    .unwrap();
    std::fs::write(state.join("NeedsArtifactReboot"), "Automatic\n").unwrap();
    let inv = mock_invocation(tmp.path(), &state);
    let runner = quick_runner(LONG);

    assert_eq!(runner.identity(&inv).await.unwrap().as_str(), "R123");
    let provides = runner.provides(&inv).await.unwrap();
    assert_eq!(provides.get("rootfs-image.mock.version"), Some("rtos-v1"));
    assert_eq!(provides.get("custom.key"), Some("1"));
    let inventory = runner.inventory(&inv).await.unwrap();
    assert_eq!(inventory.0["port"], ["/dev/ttyS1", "/dev/ttyS2"]);
    assert_eq!(
        runner.needs_reboot(&inv).await.unwrap(),
        RebootAnswer::Automatic
    );
    // Absent answers are the protocol's defaults.
    assert!(!runner.supports_rollback(&inv).await.unwrap());
    assert!(runner.needs_unpacked(&inv).await.unwrap());
    assert!(!runner.provide_sizes(&inv).await.unwrap());
    std::fs::write(state.join("NeedsUnpackedArtifact"), "No\n").unwrap();
    std::fs::write(state.join("ProvidePayloadFileSizes"), "Yes\n").unwrap();
    assert!(!runner.needs_unpacked(&inv).await.unwrap());
    assert!(runner.provide_sizes(&inv).await.unwrap());

    let log = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert!(
        log.starts_with("Identity rtos - ok\nProvides rtos - ok\n"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_name_the_interface_the_query_and_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    let inv = mock_invocation(tmp.path(), &state);
    let runner = quick_runner(LONG);

    std::fs::write(state.join("SupportsRollback"), "Yes\nNo\n").unwrap();
    let err = runner.supports_rollback(&inv).await.unwrap_err();
    let InterfaceError::BadAnswer { answer, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(answer.problem, AnswerProblem::TooManyLines);
    let msg = err.to_string();
    assert!(
        msg.contains("Interface mock") && msg.contains("SupportsRollback"),
        "{msg}"
    );
    assert!(msg.contains(r#""Yes\nNo\n""#), "{msg}");
    assert_eq!(err.reason(), "InterfaceBadAnswer");

    std::fs::write(state.join("NeedsArtifactReboot"), "Maybe\n").unwrap();
    let msg = runner.needs_reboot(&inv).await.unwrap_err().to_string();
    assert!(
        msg.contains("NeedsArtifactReboot") && msg.contains(r#""Maybe\n""#),
        "{msg}"
    );

    std::fs::write(state.join("Identity"), "R1\n").unwrap();
    let msg = runner.identity(&inv).await.unwrap_err().to_string();
    assert!(msg.contains("Identity") && msg.contains("id=<ID>"), "{msg}");

    std::fs::remove_file(state.join("version")).unwrap();
    std::fs::write(state.join("Provides.extra"), "artifact_name=v1\n").unwrap();
    let err = runner.provides(&inv).await.unwrap_err();
    assert!(
        err.to_string().contains("rootfs-image.mock.version"),
        "{err}"
    );
    // Reporting still works without the key.
    let provides = runner.provides_unchecked(&inv).await.unwrap();
    assert_eq!(provides.get("artifact_name"), Some("v1"));

    std::fs::write(state.join("Provides.extra"), "device_type=rtos\n").unwrap();
    let msg = runner.provides(&inv).await.unwrap_err().to_string();
    assert!(msg.contains("device_type"), "{msg}");

    std::fs::write(state.join("Provides.FLOOD"), "").unwrap();
    let err = runner.provides(&inv).await.unwrap_err();
    let InterfaceError::BadAnswer { answer, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        answer.problem,
        AnswerProblem::Truncated {
            cap: RunnerConfig::DEFAULT_OUTPUT_CAP
        }
    );
    assert!(
        err.to_string().len() < 1000,
        "the error quotes a bounded excerpt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_can_kill_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    std::fs::write(state.join("ArtifactCommit.KILL"), "").unwrap();
    std::fs::write(state.join("pending"), "v2\n").unwrap();
    // A stand-in for baton: the mock's parent, which the mock kills.
    let parent = script(
        tmp.path(),
        "parent",
        &format!(
            r#"{} "$@"; echo "survived" "#,
            reference_interface("mock").display()
        ),
    );
    let inv = invocation(&parent, tmp.path(), &[state.to_str().unwrap()]);
    let runner = quick_runner(LONG);
    let err = runner
        .run_state(&inv, State::ArtifactCommit)
        .await
        .unwrap_err();
    let InterfaceError::Killed {
        signal: 9, report, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(report.stdout.is_empty());
    // The work was done, and logged; the marker fires once.
    assert_eq!(
        std::fs::read_to_string(state.join("version")).unwrap(),
        "v2\n"
    );
    assert!(!state.join("ArtifactCommit.KILL").exists());
    let log = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert_eq!(log, "ArtifactCommit rtos - killed-parent\n");
    runner.run_state(&inv, State::ArtifactCommit).await.unwrap();
}

/// A writer the test can read back: what the subscriber formatted.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Current-thread runtime: the subscriber is set for this thread, where the call and the
// output-draining tasks all run.
#[tokio::test]
async fn calls_are_logged_per_component_and_state_with_stderr_at_debug() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let tmp = tempfile::tempdir().unwrap();
    let iface = script(
        tmp.path(),
        "logger",
        "echo 'flashing block 7' >&2; printf '\\377 not utf-8\\n' >&2; exit 2",
    );
    let err = quick_runner(LONG)
        .run_state(&invocation(&iface, tmp.path(), &[]), State::ArtifactInstall)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "InterfaceFailed");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle:?} in:\n{text}"))
            .to_owned()
    };
    let stderr_line = line("flashing block 7");
    assert!(stderr_line.contains("DEBUG"), "{stderr_line}");
    for field in [
        "interface=logger",
        "component_type=rtos",
        "component=R1",
        "call=ArtifactInstall",
        "stream=\"stderr\"",
    ] {
        assert!(
            stderr_line.contains(field),
            "{field} missing: {stderr_line}"
        );
    }
    assert!(
        line("not utf-8").contains('\u{fffd}'),
        "non-UTF-8 is logged lossily"
    );
    let failed = line("Interface call failed");
    assert!(
        failed.contains("WARN") && failed.contains("result=\"InterfaceFailed\""),
        "{failed}"
    );
    assert!(
        failed.contains("call=ArtifactInstall") && failed.contains("duration_ms="),
        "{failed}"
    );
}
