//! The Mender inventory script `deploy/mender/mender-inventory-baton`: run as the Mender
//! client runs it (no arguments, output on stdout), over a scratch System of mock components.

use std::collections::BTreeMap;
use std::process::Command;

use e2e::fixture::System;
use e2e::need;
use e2e::{ok, run};

fn script(system: &System) -> Command {
    let mut c = Command::new(e2e::repo_root().join("deploy/mender/mender-inventory-baton"));
    c.envs(system.env());
    c
}

/// Mender's inventory format: every line `key=value`, keys without spaces or `=`.
fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not a key=value line: {l:?}"));
            assert!(
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "not an inventory key: {k:?}"
            );
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Values by key, repeated keys as lists (as Mender reads them).
fn by_key(lines: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in lines {
        map.entry(k.clone()).or_default().push(v.clone());
    }
    map
}

#[test]
fn reports_the_system_type_components_and_their_versions() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let system = System::under_mender(
        "sys-core",
        &[("gateway", "GW1"), ("rtos", "RT1"), ("rtos", "RT2")],
    );

    let out = ok(&mut script(&system));
    let lines = parse(&e2e::stdout(&out));
    assert_eq!(
        lines[0],
        ("baton_version".into(), env!("CARGO_PKG_VERSION").into())
    );
    let inv = by_key(&lines);
    assert_eq!(inv["system_type"], vec!["sys-core"]);
    assert_eq!(
        inv["component"],
        vec!["gateway.GW1", "rtos.RT1", "rtos.RT2"]
    );
    assert!(
        !inv.contains_key("orchestrator_manifest"),
        "nothing deployed yet"
    );
    assert!(inv["rtos.RT2.rootfs-image.mock.version"]
        .iter()
        .all(|v| v == "rtos-v0"));

    system.mender_artifact("gateway", "gateway-v1", None);
    system.mender_artifact("rtos", "rtos-v1", None);
    let manifest = system.manifest(
        "sys-v1",
        &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v1", 20)],
    );
    ok(system.baton_from_env().arg("install").arg(&manifest));

    let out = ok(&mut script(&system));
    let inv = by_key(&parse(&e2e::stdout(&out)));
    assert_eq!(inv["orchestrator_manifest"], vec!["sys-v1"]);
    for (c, v) in [
        ("gateway.GW1", "gateway-v1"),
        ("rtos.RT1", "rtos-v1"),
        ("rtos.RT2", "rtos-v1"),
    ] {
        let values = &inv[&format!("{c}.rootfs-image.mock.version")];
        assert!(
            !values.is_empty() && values.iter().all(|x| x == v),
            "{c}: {values:?}"
        );
    }
}

#[test]
fn prints_nothing_and_fails_without_a_topology() {
    let system = System::under_mender("sys-core", &[("gateway", "GW1")]);
    std::fs::remove_file(system.datastore().join("topology.yaml")).unwrap();
    let out = run(&mut script(&system));
    assert_eq!(out.status.code(), Some(1), "{}", e2e::stderr(&out));
    assert_eq!(e2e::stdout(&out), "", "no half inventory on stdout");
    assert!(e2e::stderr(&out).contains("show-inventory failed"));
}
