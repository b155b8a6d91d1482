//! D-Bus for tests: a private `dbus-daemon` (Debian's `dbus`) standing in for the system
//! bus, and a fake mender-auth on it for the failures the real Mender client cannot be made
//! to show on demand (no token after the wait, a token that never comes).
//!
//! The bus lives in a temporary directory, accepts anyone on it (a test bus, not a policy
//! test) and is killed when dropped. Processes reach it through
//! `DBUS_SYSTEM_BUS_ADDRESS`, as they would the system bus.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::need::{self, Missing};

/// A private bus for a test, asked through [`crate::need`]: `None` after a loud, recorded
/// skip (a failure with `BATON_TEST_STRICT=1`) when `dbus-daemon` is missing or cannot run
/// here.
pub fn private_bus() -> Option<PrivateBus> {
    need::require(need::tool("dbus-daemon").and_then(|_| {
        PrivateBus::start().map_err(|e| {
            Missing::new(
                format!("a private dbus-daemon does not start here: {e}"),
                need::install("dbus-daemon"),
            )
        })
    }))
}

/// A private bus daemon.
pub struct PrivateBus {
    _dir: TempDir,
    child: Child,
    address: String,
}

impl PrivateBus {
    /// Starts one; an error says why it cannot (no `dbus-daemon`, ...).
    pub fn start() -> Result<PrivateBus, String> {
        let dir = tempfile::Builder::new()
            .prefix("baton-bus-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, config_text(&socket)).map_err(|e| e.to_string())?;
        // Its complaints (it cannot raise its fd limit in a container) go to a file, named
        // when it fails.
        let log = std::fs::File::create(dir.path().join("bus.log")).map_err(|e| e.to_string())?;
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("dbus-daemon cannot run (apt-get install dbus): {e}"))?;
        let mut bus = PrivateBus {
            address: format!("unix:path={}", socket.display()),
            _dir: dir,
            child,
        };
        let end = Instant::now() + Duration::from_secs(10);
        // The socket file appears at bind(), before the daemon listens: wait until a
        // connection is accepted, not until the file exists (a client in between is refused).
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if let Ok(Some(status)) = bus.child.try_wait() {
                let log = std::fs::read_to_string(bus._dir.path().join("bus.log"));
                return Err(format!(
                    "dbus-daemon exited ({status}): {}",
                    log.unwrap_or_default()
                ));
            }
            if Instant::now() > end {
                return Err("dbus-daemon did not accept connections within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bus)
    }

    /// The bus's address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_text(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// What the fake mender-auth answers.
#[derive(Debug, Clone, Default)]
pub struct AuthScript {
    /// `GetJwtToken`: (token, server URL); empty strings mean "no token yet".
    pub current: (String, String),
    /// What each `FetchJwtToken` brings in its `JwtTokenStateChange` signal, in order
    /// (`None`: no signal at all); when the list is spent, no signal.
    pub on_fetch: Vec<Option<(String, String)>>,
}

/// mender-auth's D-Bus API (`io.mender.Authentication1`), from the published XML.
pub struct FakeAuth {
    script: Arc<Mutex<AuthScript>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl FakeAuth {
    /// Owns `io.mender.AuthenticationManager` on `bus` and answers from `script` until the
    /// bus goes away.
    pub fn start(bus: &str, script: AuthScript) -> FakeAuth {
        let script = Arc::new(Mutex::new(script));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (s, c, bus) = (script.clone(), calls.clone(), bus.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(&bus, s, c, ready_tx));
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the fake mender-auth did not start")
            .expect("the fake mender-auth could not own its name");
        FakeAuth { script, calls }
    }

    /// The methods called, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Changes what it answers.
    pub fn script(&self, change: impl FnOnce(&mut AuthScript)) {
        change(&mut self.script.lock().unwrap());
    }
}

const NAME: &str = "io.mender.AuthenticationManager";
const PATH: &str = "/io/mender/AuthenticationManager";
const INTERFACE: &str = "io.mender.Authentication1";

async fn serve(
    bus: &str,
    script: Arc<Mutex<AuthScript>>,
    calls: Arc<Mutex<Vec<String>>>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    use futures_util::StreamExt;
    let conn = match zbus::connection::Builder::address(bus)
        .name(NAME)
        .build()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut incoming = zbus::MessageStream::from(&conn);
    while let Some(Ok(m)) = incoming.next().await {
        if m.message_type() != zbus::message::Type::MethodCall {
            continue;
        }
        let header = m.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        calls.lock().unwrap().push(member.clone());
        match member.as_str() {
            "GetJwtToken" => {
                let current = script.lock().unwrap().current.clone();
                let _ = conn.reply(&header, &current).await;
            }
            "FetchJwtToken" => {
                let _ = conn.reply(&header, &true).await;
                let next = {
                    let mut s = script.lock().unwrap();
                    if s.on_fetch.is_empty() {
                        None
                    } else {
                        s.on_fetch.remove(0)
                    }
                };
                if let Some(pair) = next {
                    script.lock().unwrap().current = pair.clone();
                    let _ = conn
                        .emit_signal(None::<&str>, PATH, INTERFACE, "JwtTokenStateChange", &pair)
                        .await;
                }
            }
            _ => {
                let _ = conn
                    .reply_dbus_error(&header, zbus::fdo::Error::UnknownMethod(member))
                    .await;
            }
        }
    }
}
