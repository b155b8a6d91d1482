//! End to end with real parts: Debian's Mender client 3.4 in daemon mode against the fake
//! Mender Server, its mender-auth on a private `dbus-daemon` standing in for the system bus.
//! The server offers a manifest Artifact; the client downloads it and runs the Update Module
//! (baton's, or the official one from `BATON_OFFICIAL_MODULE`); baton gets the token from
//! the client over D-Bus and fetches each component's Artifact from the server; the client
//! reports the outcome, with its deployment log, and sends the System in its inventory.
//!
//! baton runs in the Update Module's process here (no `baton run`). The same flow with the
//! daemon up is one more step in [`Flow::start`]: start `baton run` with `system.env()`
//! before the client, then expect the same (the inventory script then reads through the
//! daemon).

use std::time::Duration;

use e2e::dbus::PrivateBus;
use e2e::fixture::{ServerStage, DEVICE_TYPE, SERVER_V1};
use e2e::mender::{self, HostDirs, Module};
use e2e::mender_daemon::{DaemonOptions, MenderDaemon};
use e2e::need;
use serde_json::Value;

/// How long a deployment may take to settle (it takes a few seconds).
const SETTLE: Duration = Duration::from_secs(90);

/// Everything a flow runs: the stage, the bus, the client daemon, the host's directories.
struct Flow {
    stage: ServerStage,
    deployment: String,
    host: HostDirs,
    _bus: PrivateBus,
    daemon: MenderDaemon,
}

impl Flow {
    /// The stage with `releases` on the server and a deployment of V1, and the client
    /// started; `None` (see [`e2e::need`]: a failure when strict) if it cannot run.
    fn start(module: Module, releases: &[(&str, &str)]) -> Option<Flow> {
        // openssl: the fake server checks the client's signed authentication request.
        if !need::have(need::all([
            mender::sandbox(),
            need::tool("openssl").map(drop),
        ])) {
            return None;
        }
        let host = HostDirs::snapshot();
        let stage = ServerStage::new()?;
        stage.upload(releases);
        let manifest = stage.system.manifest("sys-v1", SERVER_V1);
        let artifact = mender::manifest_artifact(&manifest, "sys-v1", DEVICE_TYPE, None);
        let deployment = stage.server.deploy(std::fs::read(artifact).unwrap());
        let bus = e2e::dbus::private_bus()?;
        let daemon = MenderDaemon::start(&DaemonOptions {
            device_type: DEVICE_TYPE,
            module: &module,
            server_url: &stage.server.url(),
            bus: bus.address(),
            env: stage.system.env(),
        });
        Some(Flow {
            stage,
            deployment,
            host,
            _bus: bus,
            daemon,
        })
    }

    /// The deployment's final status, once the client reported one.
    fn outcome(&mut self) -> String {
        let id = self.deployment.clone();
        let finals = ["success", "failure", "already-installed"];
        let found = self.stage.server.wait_for(SETTLE, |s| {
            s.statuses()
                .into_iter()
                .find(|(d, st)| *d == id && finals.contains(&st.as_str()))
                .map(|(_, st)| st)
        });
        found.unwrap_or_else(|| {
            panic!(
                "no final status within {SETTLE:?}; statuses {:?}; running: {}\n--- client log\n{}",
                self.stage.server.statuses(),
                self.daemon.running(),
                self.daemon.log()
            )
        })
    }

    fn finish(self) {
        drop(self.daemon);
        self.host.assert_unchanged();
    }
}

/// An inventory attribute's distinct values (a list or one value). baton's inventory
/// repeats a key that a component's Provides and its Interface's Inventory both report.
fn attribute(inventory: &Value, name: &str) -> Vec<String> {
    let mut values: Vec<String> = inventory
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == name)
        .flat_map(|a| match &a["value"] {
            Value::Array(v) => v
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect(),
            v => vec![v.as_str().map_or_else(|| v.to_string(), str::to_owned)],
        })
        .collect();
    values.dedup();
    values
}

fn deploys_from_the_server(module: Module) {
    let Some(mut flow) = Flow::start(module, &[("gateway", "gateway-v1"), ("rtos", "rtos-v1")])
    else {
        return;
    };
    let outcome = flow.outcome();
    assert_eq!(
        outcome,
        "success",
        "statuses {:?}\n--- client log\n{}",
        flow.stage.server.statuses(),
        flow.daemon.log()
    );
    let system = &flow.stage.system;
    for (id, v) in [
        ("GW1", "gateway-v1"),
        ("RT1", "rtos-v1"),
        ("RT2", "rtos-v1"),
    ] {
        assert_eq!(system.version(id), v, "{id}");
    }
    let server = &flow.stage.server;
    // The client authenticated with a signed request, then baton used its token.
    assert!(!server.auth_requests().is_empty());
    let lists = server.seen_under("/api/devices/v1/deployments/artifacts");
    for t in ["gateway", "rtos"] {
        assert!(
            lists
                .iter()
                .any(|s| s.status == 200 && s.query.contains(&format!("device_type={t}"))),
            "{lists:?}"
        );
    }
    assert!(lists.iter().all(|s| s.authorization.is_some()));
    // Three links: the manifest Artifact (the client's), and one per component type.
    let links = server.seen_under("/links/");
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(links.iter().all(|s| s.authorization.is_none()));
    // The next inventory names every component's version.
    let inventory = server.wait_for(SETTLE, |s| {
        s.inventories()
            .into_iter()
            .rev()
            .find(|inv| attribute(inv, "rtos.RT2.rootfs-image.mock.version") == ["rtos-v1"])
    });
    let inventory = inventory.unwrap_or_else(|| {
        panic!(
            "no inventory with the components' versions; last: {:?}\n--- client log\n{}",
            server.inventories().last(),
            flow.daemon.log()
        )
    });
    for (key, v) in [
        ("gateway.GW1.rootfs-image.mock.version", "gateway-v1"),
        ("rtos.RT1.rootfs-image.mock.version", "rtos-v1"),
        ("orchestrator_manifest", "sys-v1"),
        ("system_type", "sys-core"),
    ] {
        assert_eq!(attribute(&inventory, key), [v], "{key} in {inventory}");
    }
    flow.finish();
}

fn a_missing_release_fails_before_anything_is_touched(module: Module) {
    let Some(mut flow) = Flow::start(module, &[("gateway", "gateway-v1")]) else {
        return;
    };
    let outcome = flow.outcome();
    assert_eq!(outcome, "failure", "client log:\n{}", flow.daemon.log());
    flow.stage.assert_untouched();
    let id = flow.deployment.clone();
    let log = flow
        .stage
        .server
        .wait_for(SETTLE, |s| s.logs().into_iter().find(|(d, _)| *d == id))
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no deployment log; client log:\n{}", flow.daemon.log()));
    assert!(
        log.contains("release \\\"rtos-v1\\\": release not found")
            || log.contains("release \"rtos-v1\": release not found"),
        "the log names the missing release:\n{log}"
    );
    flow.finish();
}

#[test]
fn daemon_client_deploys_component_artifacts_from_the_server() {
    deploys_from_the_server(Module::Baton);
}

#[test]
fn daemon_client_reports_a_missing_release_with_nothing_touched() {
    a_missing_release_fails_before_anything_is_touched(Module::Baton);
}

#[test]
fn official_module_daemon_client_deploys_component_artifacts_from_the_server() {
    if let Some(m) = crate::mender_official::official() {
        deploys_from_the_server(m);
    }
}

#[test]
fn official_module_daemon_client_reports_a_missing_release_with_nothing_touched() {
    if let Some(m) = crate::mender_official::official() {
        a_missing_release_fails_before_anything_is_touched(m);
    }
}
