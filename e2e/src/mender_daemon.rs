//! Debian's Mender client 3.4 in daemon mode (`mender daemon`), sandboxed, against a fake
//! Mender Server, with its D-Bus API (mender-auth, built into Debian's Go client through
//! GLib) on a private bus standing in for the system bus.
//!
//! The Go client reads three fixed directories: `/usr/share/mender` (Update Modules in
//! `modules/v3`, the identity script in `identity/`, inventory scripts in `inventory/`) and
//! `/etc/mender` (`artifact_info`). Each [`MenderDaemon`] bind-mounts its own over them in a
//! private mount namespace (`unshare -m --propagation private`, as [`crate::mender`] does
//! for the standalone client), so the host's directories are never written. Its poll
//! intervals are one or two seconds: a deployment takes seconds, not the minutes of the
//! defaults. The daemon and everything it starts is one process group, killed when dropped.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::mender::{Module, ETC_DIR};

/// The data directory the Go client's identity, inventory and modules come from.
pub const SHARE_DIR: &str = "/usr/share/mender";

/// How to run the daemon.
pub struct DaemonOptions<'a> {
    pub device_type: &'a str,
    pub module: &'a Module,
    /// The inventory script (baton's `deploy/mender/mender-inventory-baton`, or Mender's
    /// official one).
    pub inventory: &'a Path,
    /// The server's URL (the fake server's `http://127.0.0.1:<port>`).
    pub server_url: &'a str,
    /// The bus mender-auth is published on (`DBUS_SYSTEM_BUS_ADDRESS`).
    pub bus: &'a str,
    /// More environment for the daemon, and so for its Update Modules and inventory
    /// scripts (baton's `MENDER_ORCHESTRATOR_*`, `BATON_BIN`).
    pub env: Vec<(String, OsString)>,
}

/// A running `mender daemon`.
pub struct MenderDaemon {
    dir: TempDir,
    child: Child,
}

fn chmod_755(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    chmod_755(path);
}

impl MenderDaemon {
    /// Starts the daemon. Needs what [`crate::mender::sandbox`] checks.
    pub fn start(opts: &DaemonOptions<'_>) -> MenderDaemon {
        let dir = tempfile::Builder::new()
            .prefix("baton-mender-daemon-")
            .tempdir()
            .expect("a temporary directory");
        let d = dir.path();
        for sub in [
            "share/modules/v3",
            "share/identity",
            "share/inventory",
            "etc",
            "data",
            "bin",
        ] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        let module = d.join("share/modules/v3/mender-orchestrator-manifest");
        fs::copy(opts.module.path(), &module).unwrap_or_else(|e| {
            panic!(
                "cannot copy the module {}: {e}",
                opts.module.path().display()
            )
        });
        chmod_755(&module);
        // The official module calls `mender-orchestrator`: baton under that name.
        std::os::unix::fs::symlink(crate::baton_bin(), d.join("bin/mender-orchestrator")).unwrap();
        // Debian ships no identity script; the device's identity is its (made-up) MAC.
        executable(
            &d.join("share/identity/mender-device-identity"),
            "#!/bin/sh\necho mac=02:00:00:00:0b:a7\n",
        );
        let inventory = d
            .join("share/inventory")
            .join(opts.inventory.file_name().expect("a script's file name"));
        fs::copy(opts.inventory, &inventory).unwrap_or_else(|e| {
            panic!(
                "cannot copy the inventory script {}: {e}",
                opts.inventory.display()
            )
        });
        chmod_755(&inventory);
        fs::write(d.join("etc/artifact_info"), "artifact_name=factory-image\n").unwrap();
        fs::write(
            d.join("data/device_type"),
            format!("device_type={}\n", opts.device_type),
        )
        .unwrap();
        let conf = serde_json::json!({
            "ServerURL": opts.server_url,
            "DeviceTypeFile": d.join("data/device_type"),
            "UpdatePollIntervalSeconds": 1,
            "InventoryPollIntervalSeconds": 2,
            "RetryPollIntervalSeconds": 1,
            "DBus": {"Enabled": true},
        });
        fs::write(
            d.join("mender.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();

        let script = format!(
            "mount --bind '{share}' {SHARE_DIR} && mount --bind '{etc}' {ETC_DIR} || exit 1\n\
             exec mender --no-syslog --log-level debug --config '{conf}' --fallback-config '{none}' --data '{data}' daemon",
            share = d.join("share").display(),
            etc = d.join("etc").display(),
            conf = d.join("mender.conf").display(),
            none = d.join("no-fallback.conf").display(),
            data = d.join("data").display(),
        );
        let log = fs::File::create(d.join("daemon.log")).unwrap();
        let mut path = OsString::from(d.join("bin"));
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", opts.bus)
            .env("PATH", path)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("MENDER_ORCHESTRATOR_") && !opts.env.iter().any(|(e, _)| *e == k) {
                cmd.env_remove(k);
            }
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("unshare runs");
        MenderDaemon { dir, child }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's log so far (with its Update Modules' and inventory scripts' output).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Where the daemon keeps its datastore.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for MenderDaemon {
    fn drop(&mut self) {
        // The whole group: the daemon, its Update Module, baton.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}
