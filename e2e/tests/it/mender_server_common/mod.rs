//! What the Mender Server tests share: a private bus, the fake server, a System of mock
//! components whose Artifacts are Releases on the server, and the checks that nothing was
//! touched.

use std::path::Path;
use std::time::Duration;

use e2e::dbus::{AuthScript, FakeAuth, PrivateBus};
use e2e::mender_server::FakeServer;
use e2e::system::System;

/// Whether a test may run; otherwise a loud SKIP line, or a failure with
/// `BATON_TEST_STRICT=1` (CI), naming what is missing.
pub fn runnable(missing: Option<String>) -> bool {
    match missing {
        None => true,
        Some(what) if std::env::var_os("BATON_TEST_STRICT").is_some_and(|v| v == "1") => {
            panic!("BATON_TEST_STRICT=1 and this test cannot run: {what}")
        }
        Some(what) => {
            eprintln!("\n*** SKIPPING the Mender Server test: {what} ***\n");
            false
        }
    }
}

/// `None` when every tool is on PATH, else which is missing.
pub fn missing_tools(tools: &[&str]) -> Option<String> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "not installed: {} (e2e/run installs them)",
            missing.join(", ")
        )
    })
}

pub const SYSTEM_TYPE: &str = "sys-core";
/// The Mender client's device type (the Go 3.4 client has no system tier).
pub const DEVICE_TYPE: &str = "gateway-board";

/// Manifest v1: both component types change.
pub const V1: &[(&str, &str, u8)] = &[("gateway", "gateway-v1", 10), ("rtos", "rtos-v1", 20)];

/// A System (a gateway and two rtos boards) configured with no `ArtifactSources` key (so
/// the Mender Server is the source), and the fake server.
pub struct Stage {
    pub system: System,
    pub server: FakeServer,
}

impl Stage {
    pub fn new() -> Stage {
        let system = System::new(
            SYSTEM_TYPE,
            &[("gateway", "GW1"), ("rtos", "RT1"), ("rtos", "RT2")],
        );
        configure(&system, serde_json::json!({}));
        Stage {
            system,
            server: FakeServer::start(),
        }
    }

    /// Component Artifacts made by mender-artifact, uploaded to the server (and not left in
    /// any local directory).
    pub fn upload(&self, names: &[(&str, &str)]) {
        for (ctype, name) in names {
            self.system.component_artifact(ctype, name, None);
            let file = self.system.artifacts_dir().join(format!("{name}.mender"));
            self.server.upload(std::fs::read(&file).unwrap());
            std::fs::remove_file(file).unwrap();
        }
    }

    /// No component ran any state: only queries reached the Interfaces, and every one
    /// still runs its v0.
    pub fn assert_untouched(&self) {
        for c in &self.system.components {
            let states: Vec<String> = self
                .system
                .calls(&c.id)
                .into_iter()
                .filter(|l| {
                    let word = l.split(' ').next().unwrap_or("");
                    word.starts_with("Artifact") || word == "Download" || word == "Cleanup"
                })
                .collect();
            assert!(states.is_empty(), "{} was touched: {states:?}", c.id);
            assert_eq!(
                self.system.version(&c.id),
                format!("{}-v0", c.component_type)
            );
        }
    }
}

/// Writes baton's configuration for `system` as `System::configure` does, but without the
/// `ArtifactSources` key (plus `extra`).
pub fn configure(system: &System, extra: serde_json::Value) {
    let mut conf = serde_json::json!({
        "BootIdPath": system.root().join("boot_id"),
        "RebootCommand": ["sh", "-c", "exit 1"],
    });
    for (k, v) in extra.as_object().unwrap() {
        conf[k] = v.clone();
    }
    std::fs::write(
        system.conf_dir().join("mender-orchestrator.conf"),
        serde_json::to_vec_pretty(&conf).unwrap(),
    )
    .unwrap();
}

/// A private bus with a fake mender-auth handing out a token the server accepts, and the
/// server's URL.
pub struct Auth {
    pub bus: PrivateBus,
    pub auth: FakeAuth,
}

impl Auth {
    pub fn start(server: &FakeServer) -> Result<Auth, String> {
        let bus = PrivateBus::start()?;
        let auth = FakeAuth::start(
            bus.address(),
            AuthScript {
                current: (server.issue_token(), server.url()),
                on_fetch: vec![],
            },
        );
        Ok(Auth { bus, auth })
    }
}

/// `baton install <manifest>` for `system` with the system bus at `bus`.
pub fn install(system: &System, manifest: &Path, bus: &str) -> std::process::Output {
    e2e::system::run(
        system
            .baton()
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
            .args(["--log-level", "trace", "install"])
            .arg(manifest),
    )
}

pub const SETTLE: Duration = Duration::from_secs(60);
