//! A scratch System for `baton run` end-to-end tests: the mock Interface, two component
//! types in two order groups, Artifacts written by the real `mender-artifact`, and a
//! configuration that keeps the socket, the watched directory and the datastore inside a
//! temporary directory. Talks to the daemon over its Unix socket with raw HTTP.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// (state directory, component type, ID, order)
pub const COMPONENTS: &[(&str, &str, &str, u8)] =
    &[("a", "rtos", "RTOS-A", 1), ("b", "gateway", "GW-B", 2)];

pub struct System {
    pub dir: tempfile::TempDir,
}

impl System {
    /// Builds the System; None without `mender-artifact` (see [`crate::need`]: the test
    /// then fails in strict mode, or says loudly that it skipped).
    pub fn new(extra: Value) -> Option<System> {
        if !crate::need::have(crate::need::tool("mender-artifact")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ifaces = root.join("data/interfaces/v1");
        let real = root.join("data/real");
        std::fs::create_dir_all(&ifaces).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        std::fs::copy(
            crate::repo_root().join("interfaces/mock"),
            real.join("mock"),
        )
        .unwrap();
        // The Interface is a wrapper that notes when each call starts (`starts.log`, ns
        // since the epoch) and takes a second in ArtifactInstall when the component's state
        // directory holds `slow` (its content: seconds, default 1), to catch a deployment
        // mid-way. The
        // real script keeps the name `mock`, which its Provides key is made of.
        std::fs::write(
            ifaces.join("mock"),
            format!(
                "#!/bin/sh\ndate +%s%N >> \"$4/starts.log\"\nif [ \"$1\" = ArtifactInstall ] && [ -f \"$4/slow\" ]; then s=$(cat \"$4/slow\"); sleep \"${{s:-1}}\"; fi\nexec {} \"$@\"\n",
                real.join("mock").display()
            ),
        )
        .unwrap();
        for f in [ifaces.join("mock"), real.join("mock")] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut topology = String::from(
            "api_version: mender/v1\nkind: topology\nsystem_type: e2e-sys\ncomponents:\n",
        );
        for (state, ctype, id, _) in COMPONENTS {
            let sd = root.join("components").join(state);
            std::fs::create_dir_all(&sd).unwrap();
            std::fs::write(sd.join("Identity"), format!("id={id}\n")).unwrap();
            std::fs::write(sd.join("version"), format!("{ctype}-v1\n")).unwrap();
            std::fs::write(sd.join("SupportsRollback"), "Yes\n").unwrap();
            topology.push_str(&format!(
                "  - component_type: {ctype}\n    interface: mock\n    interface_args: [\"{}\"]\n",
                sd.display()
            ));
        }
        std::fs::create_dir_all(root.join("datastore")).unwrap();
        std::fs::write(root.join("datastore/topology.yaml"), topology).unwrap();
        std::fs::create_dir_all(root.join("artifacts")).unwrap();
        std::fs::write(root.join("boot_id"), "boot-1\n").unwrap();
        let mut conf = serde_json::json!({
            "ArtifactSources": [{"Type": "directory", "Path": root.join("artifacts")}],
            "BootIdPath": root.join("boot_id"),
            "InterfaceTimeoutSeconds": 60,
            "Api": {"Socket": root.join("run/baton.sock")},
            "RuntimeDir": root.join("run"),
            "WatchDir": root.join("watch"),
            "ResyncIntervalSeconds": 2,
            "DriftPolicy": "enabled",
            "Retry": {"BaseSeconds": 1, "CapSeconds": 2, "Limit": 2},
        });
        if let (Some(c), Some(e)) = (conf.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        std::fs::write(root.join("baton.conf"), conf.to_string()).unwrap();
        let s = System { dir };
        for v in ["v2", "v3"] {
            for (_, ctype, _, _) in COMPONENTS {
                s.artifact(ctype, v);
            }
        }
        Some(s)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.root().join("run/baton.sock")
    }

    pub fn watch(&self) -> PathBuf {
        self.root().join("watch")
    }

    pub fn component(&self, state: &str) -> PathBuf {
        self.root().join("components").join(state)
    }

    /// The version a mock component runs.
    pub fn version(&self, state: &str) -> String {
        std::fs::read_to_string(self.component(state).join("version"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn artifact(&self, ctype: &str, version: &str) {
        let name = format!("{ctype}-{version}");
        let payload = self.root().join(format!("{name}.bin"));
        std::fs::write(&payload, format!("{name}\n").repeat(100)).unwrap();
        let out = Command::new("mender-artifact")
            .args([
                "write",
                "module-image",
                "-T",
                "mock",
                "-t",
                ctype,
                "-n",
                &name,
                "-f",
            ])
            .arg(&payload)
            .arg("-o")
            .arg(self.root().join("artifacts").join(format!("{name}.mender")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mender-artifact: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A Manifest putting every component on `version`.
    pub fn manifest(&self, name: &str, version: &str) -> String {
        let mut m = format!(
            "api_version: mender/v1\nkind: manifest\nname: {name}\nsystem_types_compatible: [e2e-sys]\ncomponent_types:\n"
        );
        for (_, ctype, _, order) in COMPONENTS {
            m.push_str(&format!(
                "  {ctype}:\n    artifact_name: {ctype}-{version}\n    update_strategy:\n      order: {order}\n"
            ));
        }
        m
    }

    /// Drops a Manifest into the watched directory as careful tools do (write, rename).
    pub fn drop_manifest(&self, file: &str, text: &str) {
        let tmp = self.watch().join(format!(".{file}.part"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.watch().join(file)).unwrap();
    }

    /// `baton` with this System's flags.
    pub fn baton(&self) -> Command {
        let mut c = crate::baton();
        c.arg("-c")
            .arg(self.root().join("baton.conf"))
            .arg("-d")
            .arg(self.root().join("datastore"))
            .arg("--data-dir")
            .arg(self.root().join("data"));
        c
    }

    /// Starts `baton run` and waits until its API is ready.
    pub fn start(&self) -> Daemon {
        self.start_with(&[], &[])
    }

    /// As [`start`](Self::start), with global flags `args` (e.g. `--log-format json`) and
    /// these variables added to baton's environment.
    pub fn start_with(&self, args: &[&str], env: &[(String, String)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root().join("run.log"))
            .unwrap();
        let child = self
            .baton()
            .args(args)
            .arg("run")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            socket: self.socket(),
            log: self.root().join("run.log"),
        };
        d.wait_ready();
        d
    }
}

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// One HTTP/1.1 request over the Unix socket: (status code, body).
pub fn http(socket: &Path, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

impl Daemon {
    /// Waits (30 s at most) until the API says ready.
    pub fn wait_ready(&self) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if let Some((200, _)) = http(&self.socket, "GET", "/readyz", "") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("baton run never became ready; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn status(&self) -> Value {
        let (code, body) = http(&self.socket, "GET", "/v1/status", "").expect("the daemon answers");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits (60 s at most) until `pred` holds for the status.
    pub fn until(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        let mut last = Value::Null;
        while t.elapsed() < Duration::from_secs(60) {
            if let Some((200, body)) = http(&self.socket, "GET", "/v1/status", "") {
                last = serde_json::from_str(&body).unwrap();
                if pred(&last) {
                    return last;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("never: {what}\nstatus: {last:#}\nlog:\n{}", self.log_text());
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end by itself (e.g. killed by an Interface).
    pub fn wait_exit(mut self, within: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < within,
                "baton did not exit; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait.
    pub fn terminate(self, within: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(within)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of condition `t`.
pub fn condition(s: &Value, t: &str) -> (String, String) {
    s["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .unwrap_or_default()
}

pub fn ready(s: &Value) -> bool {
    condition(s, "Ready").0 == "True"
}
