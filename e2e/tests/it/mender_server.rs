//! End to end with real parts: Debian's Mender client 3.4 in daemon mode against the fake
//! Mender Server, its mender-auth on a private `dbus-daemon` standing in for the system bus.
//! The server offers a manifest Artifact; the client downloads it and runs the Update Module
//! (baton's, or the official one from `BATON_OFFICIAL_MODULE`); baton gets the token from
//! the client over D-Bus and fetches each component's Artifact from the server; the client
//! reports the outcome, with its deployment log, and sends the System in its inventory
//! (through baton's inventory script, or the official one from `BATON_OFFICIAL_INVENTORY`
//! with the official module).
//!
//! Each flow runs twice: with baton in the Update Module's process (no `baton run`), and
//! with `baton run` serving the same datastore ([`Baton::Served`]), started on the private
//! bus before the client: the Update Module then hands the Manifest to the daemon over its
//! Unix socket, the daemon gets the client's token over D-Bus and fetches the component
//! Artifacts, and the inventory script reads through the daemon.

use std::time::Duration;

use e2e::dbus::PrivateBus;
use e2e::fixture::{Daemon, ServerStage, DEVICE_TYPE, SERVER_V1};
use e2e::mender::{self, HostDirs, Module};
use e2e::mender_daemon::{DaemonOptions, MenderDaemon};
use e2e::need;
use serde_json::Value;

/// How long a deployment may take to settle (it takes a few seconds).
const SETTLE: Duration = Duration::from_secs(90);

/// Where baton runs the deployment.
#[derive(Clone, Copy)]
enum Baton {
    /// In the Update Module's process.
    InModule,
    /// In `baton run`, serving the System's datastore: the Update Module hands off to it.
    Served,
}

/// Everything a flow runs: the stage, the bus, the client daemon, baton's daemon if served,
/// the host's directories.
struct Flow {
    stage: ServerStage,
    deployment: String,
    host: HostDirs,
    _bus: PrivateBus,
    daemon: MenderDaemon,
    baton: Option<Daemon>,
}

impl Flow {
    /// The stage with `releases` on the server and a deployment of V1, baton's daemon
    /// started on the bus when `baton` says so, then the client; `None` (see
    /// [`e2e::need`]: a failure when strict) if it cannot run.
    fn start(module: Module, baton: Baton, releases: &[(&str, &str)]) -> Option<Flow> {
        // openssl: the fake server checks the client's signed authentication request.
        if !need::have(need::all([
            mender::sandbox(),
            need::tool("openssl").map(drop),
        ])) {
            return None;
        }
        // The official module's flows run the official inventory script too.
        let inventory = match &module {
            Module::Baton => e2e::repo_root().join("deploy/mender/mender-inventory-baton"),
            Module::Other(_) => need::require(need::official_inventory())?,
        };
        let host = HostDirs::snapshot();
        let stage = ServerStage::new()?;
        stage.upload(releases);
        let manifest = stage.system.manifest("sys-v1", SERVER_V1);
        let artifact = mender::manifest_artifact(&manifest, "sys-v1", DEVICE_TYPE, None);
        let deployment = stage.server.deploy(std::fs::read(artifact).unwrap());
        let bus = e2e::dbus::private_bus()?;
        let baton = match baton {
            Baton::InModule => None,
            Baton::Served => {
                let system = &stage.system;
                system.configure(system.daemon_settings());
                // Debug: the API logs each request (the inventory's read shows there).
                Some(system.start_with(
                    &["--log-level", "debug"],
                    &[("DBUS_SYSTEM_BUS_ADDRESS".into(), bus.address().into())],
                ))
            }
        };
        let daemon = MenderDaemon::start(&DaemonOptions {
            device_type: DEVICE_TYPE,
            module: &module,
            inventory: &inventory,
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
            baton,
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

    /// baton's daemon's history entry for the deployment the Update Module handed it, once
    /// there (`None` when baton ran in the module).
    fn handed_off(&self) -> Option<Value> {
        let d = self.baton.as_ref()?;
        let entry = |st: &Value| {
            st["history"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| h["manifest"] == "sys-v1" && h["driver"] == "update-module")
                .cloned()
        };
        let st = d.until("the hand-off in the daemon's history", |st| {
            entry(st).is_some()
        });
        entry(&st)
    }

    fn finish(self) {
        drop(self.daemon);
        if let Some(d) = self.baton {
            // Still serving after the client's deployment, and it ends cleanly.
            d.wait_ready();
            let log = d.log.clone();
            let code = d.terminate(SETTLE).code();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            assert_eq!(code, Some(0), "{log}");
        }
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

fn deploys_from_the_server(module: Module, baton: Baton) {
    let Some(mut flow) = Flow::start(
        module,
        baton,
        &[("gateway", "gateway-v1"), ("rtos", "rtos-v1")],
    ) else {
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
    // Three Artifacts linked: the manifest Artifact (the client's), and one per component
    // type. In the module, each linked once. With `baton run`, the daemon's first preview of
    // the Manifest it just made desired reads the component Artifacts' headers, which costs
    // one more download each (the cache is off; later previews reuse those headers, see
    // `reliability_download`): more links to the same two, counted only as the same three
    // Artifacts here.
    let links = server.seen_under("/links/");
    let artifacts: std::collections::BTreeSet<&str> =
        links.iter().map(|s| s.path.as_str()).collect();
    let context = || {
        let log = flow.baton.as_ref().map(Daemon::log_text);
        format!(
            "{links:?}\n--- baton run's log\n{}",
            log.unwrap_or_default()
        )
    };
    assert_eq!(artifacts.len(), 3, "{}", context());
    if flow.baton.is_none() {
        assert_eq!(links.len(), 3, "{}", context());
    }
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
    if let Some(entry) = flow.handed_off() {
        // The daemon ran what the Update Module handed it, and made it the desired state.
        assert_eq!(entry["outcome"], "Succeeded", "{entry:#}");
        let d = flow.baton.as_ref().unwrap();
        assert_eq!(d.status()["desiredManifest"], "sys-v1");
        // The inventory script read through it.
        let log = d.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("API request") && l.contains("/v1/inventory")),
            "no inventory read through the daemon:\n{log}"
        );
    }
    flow.finish();
}

fn a_missing_release_fails_before_anything_is_touched(module: Module, baton: Baton) {
    let Some(mut flow) = Flow::start(module, baton, &[("gateway", "gateway-v1")]) else {
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
    if let Some(entry) = flow.handed_off() {
        // The daemon refused it before touching anything, and keeps its desired state.
        assert_eq!(entry["outcome"], "Rejected", "{entry:#}");
        assert!(
            entry["message"].as_str().unwrap_or("").contains("rtos-v1"),
            "{entry:#}"
        );
        let d = flow.baton.as_ref().unwrap();
        assert_eq!(d.status()["generation"], 0, "{:#}", d.status());
    }
    flow.finish();
}

#[test]
fn daemon_client_deploys_component_artifacts_from_the_server() {
    deploys_from_the_server(Module::Baton, Baton::InModule);
}

#[test]
fn daemon_client_reports_a_missing_release_with_nothing_touched() {
    a_missing_release_fails_before_anything_is_touched(Module::Baton, Baton::InModule);
}

#[test]
fn daemon_client_hands_off_to_baton_run_which_fetches_from_the_server() {
    deploys_from_the_server(Module::Baton, Baton::Served);
}

#[test]
fn daemon_client_hands_off_a_missing_release_and_baton_run_touches_nothing() {
    a_missing_release_fails_before_anything_is_touched(Module::Baton, Baton::Served);
}

/// `flow` with the official Update Module (and inventory script), if it can run here.
fn with_the_official_module(flow: fn(Module, Baton), baton: Baton) {
    if let Some(m) = crate::mender_official::official() {
        flow(m, baton);
    }
}

#[test]
fn official_module_daemon_client_deploys_component_artifacts_from_the_server() {
    with_the_official_module(deploys_from_the_server, Baton::InModule);
}

#[test]
fn official_module_daemon_client_reports_a_missing_release_with_nothing_touched() {
    with_the_official_module(
        a_missing_release_fails_before_anything_is_touched,
        Baton::InModule,
    );
}

#[test]
fn official_module_daemon_client_hands_off_to_baton_run_which_fetches_from_the_server() {
    with_the_official_module(deploys_from_the_server, Baton::Served);
}

#[test]
fn official_module_daemon_client_hands_off_a_missing_release_and_baton_run_touches_nothing() {
    with_the_official_module(
        a_missing_release_fails_before_anything_is_touched,
        Baton::Served,
    );
}
