//! The `mender-server` Artifact source through `baton install`, against the fake Mender
//! Server and a fake mender-auth on a private bus: every failure is typed, names the
//! component type and the Release, and leaves every component untouched; the recoverable
//! ones (a 401, a truncated body, an expired link) recover; the token never shows.

use e2e::fixture::{ServerAuth, ServerStage, SERVER_V1};

/// A stage with the Artifacts `upload` on the server and mender-auth on a bus, or `None`
/// when it cannot run here (see [`e2e::need`]: a failure when strict).
fn stage(upload: &[(&str, &str)]) -> Option<(ServerStage, ServerAuth)> {
    let stage = ServerStage::new()?;
    stage.upload(upload);
    let auth = ServerAuth::start(&stage.server)?;
    Some((stage, auth))
}

const BOTH: &[(&str, &str)] = &[("gateway", "gateway-v1"), ("rtos", "rtos-v1")];

/// `baton install` of V1: (exit code, stdout + stderr).
fn deploy(stage: &ServerStage, bus: &str) -> (Option<i32>, String) {
    let manifest = stage.system.manifest("sys-v1", SERVER_V1);
    let out = stage.install(&manifest, bus);
    (
        out.status.code(),
        format!("{}{}", e2e::stdout(&out), e2e::stderr(&out)),
    )
}

fn assert_refused(stage: &ServerStage, bus: &str, words: &[&str]) -> String {
    let (code, text) = deploy(stage, bus);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("nothing was touched"), "{text}");
    for w in words {
        assert!(text.contains(w), "{w:?} missing from:\n{text}");
    }
    stage.assert_untouched();
    text
}

#[test]
fn components_reach_their_releases_and_the_token_never_shows() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    stage.server.set_token_prefix("TOKEN-THAT-MUST-NEVER-SHOW");
    auth.auth
        .script(|s| s.current.0 = stage.server.issue_token());
    let (code, text) = deploy(&stage, auth.bus.address());
    assert_eq!(code, Some(0), "{text}");
    for (id, v) in [
        ("GW1", "gateway-v1"),
        ("RT1", "rtos-v1"),
        ("RT2", "rtos-v1"),
    ] {
        assert_eq!(stage.system.version(id), v);
    }
    // Asked per component type, with the token; the links without it.
    let lists = stage
        .server
        .seen_under("/api/devices/v1/deployments/artifacts");
    assert!(lists.iter().all(|s| s
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer TOKEN-THAT-MUST-NEVER-SHOW"))));
    for t in ["gateway", "rtos"] {
        assert!(
            lists
                .iter()
                .any(|s| s.query.contains(&format!("device_type={t}"))),
            "{lists:?}"
        );
    }
    let links = stage.server.seen_under("/links/");
    assert_eq!(links.len(), 2, "one download per Artifact: {links:?}");
    assert!(links
        .iter()
        .all(|s| s.authorization.is_none() && s.status == 200));
    // The token is in no output, no file baton wrote, no metric.
    assert!(!text.contains("TOKEN-THAT-MUST-NEVER-SHOW"), "{text}");
    let grep = std::process::Command::new("grep")
        .args(["-r", "-l", "TOKEN-THAT-MUST-NEVER-SHOW"])
        .arg(stage.system.root())
        .output()
        .unwrap();
    assert!(grep.stdout.is_empty(), "{}", e2e::stdout(&grep));
}

#[test]
fn without_mender_auth_on_the_bus_it_says_the_client_must_run_in_daemon_mode() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    // A bus where nobody owns mender-auth's name.
    let empty = e2e::dbus::PrivateBus::start().expect("a second private bus");
    let words = [
        "no mender-auth on the system bus: the Mender client must run in daemon mode",
        "component type \"gateway\", release \"gateway-v1\"",
        "component type \"rtos\", release \"rtos-v1\"",
    ];
    assert_refused(&stage, empty.address(), &words);
    // No bus at all.
    let gone = stage.system.root().join("no-bus");
    let text = assert_refused(
        &stage,
        &format!("unix:path={}", gone.display()),
        &words[..1],
    );
    assert!(text.contains("cannot connect"), "{text}");
    assert!(stage.server.seen().is_empty(), "nothing reached the server");
    drop(auth);
}

#[test]
fn a_release_missing_on_the_server_is_named_and_nothing_is_touched() {
    let Some((stage, auth)) = stage(&[("gateway", "gateway-v1")]) else {
        return;
    };
    let text = assert_refused(
        &stage,
        auth.bus.address(),
        &["component type \"rtos\", release \"rtos-v1\": release not found"],
    );
    assert!(
        !text.contains("\"gateway-v1\": release not found"),
        "{text}"
    );
    let links = stage.server.seen_under("/links/").len();
    stage.server.faults(|f| f.list_not_found = true);
    assert_refused(
        &stage,
        auth.bus.address(),
        &["component type \"gateway\", release \"gateway-v1\": release not found"],
    );
    assert_eq!(stage.server.seen_under("/links/").len(), links);
}

#[test]
fn an_artifact_whose_depends_no_component_meets_is_incompatible() {
    let Some((stage, auth)) = stage(&[("gateway", "gateway-v1")]) else {
        return;
    };
    // rtos-v1 depends on a hardware revision the boards do not provide.
    let payload = stage.system.root().join("payload-rtos");
    std::fs::write(&payload, "rtos\n").unwrap();
    let out = stage.system.root().join("rtos-v1-revB.mender");
    e2e::ok(
        std::process::Command::new("mender-artifact")
            .args([
                "write",
                "module-image",
                "-T",
                "mock",
                "-t",
                "rtos",
                "-n",
                "rtos-v1",
            ])
            .args(["--depends", "hw.rev:B", "-f"])
            .arg(&payload)
            .arg("-o")
            .arg(&out),
    );
    stage.server.upload(std::fs::read(&out).unwrap());
    assert_refused(
        &stage,
        auth.bus.address(),
        &[
            "component type \"rtos\", release \"rtos-v1\": no Artifact of the release fits",
            "depends on hw.rev in [\"B\"], but the component does not provide hw.rev",
        ],
    );
}

#[test]
fn an_unreachable_server_fails_typed() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    auth.auth.script(|s| s.current.1 = url);
    assert_refused(
        &stage,
        auth.bus.address(),
        &["component type \"gateway\", release \"gateway-v1\": server unreachable"],
    );
}

#[test]
fn a_link_that_keeps_expiring_fails_and_one_that_expires_once_is_renewed() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    stage.server.faults(|f| f.expire_links = 100);
    assert_refused(
        &stage,
        auth.bus.address(),
        &["the download link expired 3 times in a row"],
    );
    // Half the body, then the link expires: a new link, and the rest with Range.
    stage.server.faults(|f| {
        f.expire_links = 0;
        f.truncate_once = true;
        f.truncated_link_expires = true;
    });
    let before = stage.server.seen_under("/links/").len();
    let (code, text) = deploy(&stage, auth.bus.address());
    assert_eq!(code, Some(0), "{text}");
    let links: Vec<_> = stage
        .server
        .seen_under("/links/")
        .into_iter()
        .skip(before)
        .collect();
    let statuses: Vec<u16> = links.iter().map(|s| s.status).collect();
    assert_eq!(statuses[..3], [200, 403, 206], "{links:?}");
    assert_ne!(links[0].query, links[2].query, "a new link: {links:?}");
    assert!(links[2].range.is_some(), "{links:?}");
    assert_eq!(stage.system.version("RT1"), "rtos-v1");
}

#[test]
fn a_refused_token_is_fetched_again_once() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    let fresh = stage.server.issue_token();
    auth.auth
        .script(|s| s.on_fetch = vec![Some((fresh.clone(), stage.server.url()))]);
    stage.server.faults(|f| f.unauthorized_once = true);
    let (code, text) = deploy(&stage, auth.bus.address());
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        auth.auth
            .calls()
            .iter()
            .filter(|c| *c == "FetchJwtToken")
            .count(),
        1
    );
    assert_eq!(stage.system.version("GW1"), "gateway-v1");
}

#[test]
fn a_token_the_server_never_accepts_fails_after_one_fresh_token() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    stage.server.faults(|f| f.unauthorized_always = true);
    let again = stage.server.issue_token();
    auth.auth
        .script(|s| s.on_fetch = vec![Some((again, stage.server.url())); 4]);
    assert_refused(
        &stage,
        auth.bus.address(),
        &["refused the device's token again after a fresh one was fetched"],
    );
}

#[test]
fn corrupted_bytes_are_refused_and_a_truncated_body_resumes() {
    let Some((stage, auth)) = stage(BOTH) else {
        return;
    };
    stage.server.faults(|f| f.corrupt = true);
    assert_refused(&stage, auth.bus.address(), &["release \"gateway-v1\""]);
    stage.server.faults(|f| {
        f.corrupt = false;
        f.truncate_once = true;
    });
    let (code, text) = deploy(&stage, auth.bus.address());
    assert_eq!(code, Some(0), "{text}");
    assert!(stage
        .server
        .seen_under("/links/")
        .iter()
        .any(|s| s.status == 206));
}

#[test]
fn a_device_that_names_artifacts_by_path_never_asks_the_bus() {
    let Some(stage) = ServerStage::new() else {
        return;
    };
    // No server, no bus: the Manifest names every Artifact by path.
    stage.system.mender_artifact("gateway", "gateway-v1", None);
    stage.system.mender_artifact("rtos", "rtos-v1", None);
    let dir = stage.system.artifacts_dir();
    let manifest = stage.system.root().join("manifests/by-path.yaml");
    std::fs::write(
        &manifest,
        format!(
            "api_version: mender/v1\nkind: manifest\nname: by-path\nsystem_types_compatible: [sys-core]\n\
             component_types:\n  gateway:\n    artifact_path: {}\n    update_strategy:\n      order: 10\n\
             \x20 rtos:\n    artifact_path: {}\n    update_strategy:\n      order: 20\n",
            dir.join("gateway-v1.mender").display(),
            dir.join("rtos-v1.mender").display()
        ),
    )
    .unwrap();
    let out = stage.install(&manifest, "unix:path=/nonexistent/bus");
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));
    assert_eq!(stage.system.version("RT2"), "rtos-v1");
}
