//! Debian's Mender client 3.4 run standalone in a private mount namespace, for tests.
//!
//! The Go 3.4 client has two fixed paths: its Update Modules (`/usr/share/mender/modules/v3`)
//! and `/etc/mender` (`artifact_info`, read on a fresh datastore). Each [`Mender`] bind-mounts
//! its own directories over them inside `unshare -m --propagation private`, so tests run in
//! parallel and the host's directories are never written; [`HostDirs`] checks that they were
//! not. Everything else is a flag: `--config`, `--data`, `--no-syslog`. The server URL is
//! unreachable: nothing leaves the machine.
//!
//! Needs root (mounts), `unshare` and the Mender tools: [`sandbox`] is the check a test asks
//! [`crate::need`] about.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::need::{self, Check, Missing};
use crate::{ok, run};

/// The host directories the sandbox covers.
pub const MODULES_DIR: &str = "/usr/share/mender/modules/v3";
pub const ETC_DIR: &str = "/etc/mender";

/// `--reboot-exit-code`: the client's exit code when an update needs a reboot.
pub const REBOOT_EXIT: i32 = 4;

/// What the sandbox needs: Debian's Mender tools, root and a private mount namespace (it
/// bind-mounts over the client's fixed directories), and those directories.
pub fn sandbox() -> Check {
    need::tools(&["mender", "mender-artifact"])?;
    need::mount_namespace()?;
    if !Path::new(MODULES_DIR).is_dir() || !Path::new(ETC_DIR).is_dir() {
        return Err(Missing::new(
            format!("{MODULES_DIR} or {ETC_DIR} is missing"),
            need::install("mender"),
        ));
    }
    Ok(())
}

/// Debian's Update Modules `names` (mender-client's, in [`MODULES_DIR`]) are installed.
pub fn modules(names: &[&str]) -> Check {
    need::all(names.iter().map(|m| {
        if Path::new(MODULES_DIR).join(m).is_file() {
            Ok(())
        } else {
            Err(Missing::new(
                format!("the Update Module {MODULES_DIR}/{m} is missing"),
                need::install("mender"),
            ))
        }
    }))
}

/// Which Update Module handles `mender-orchestrator-manifest` payloads.
#[derive(Debug, Clone)]
pub enum Module {
    /// baton's own, `deploy/mender/mender-orchestrator-manifest`.
    Baton,
    /// Another file, e.g. the official module from mender-orchestrator-support (which calls
    /// `mender-orchestrator` from PATH).
    Other(PathBuf),
}

impl Module {
    pub fn path(&self) -> PathBuf {
        match self {
            Module::Baton => crate::repo_root().join("deploy/mender/mender-orchestrator-manifest"),
            Module::Other(p) => p.clone(),
        }
    }

    pub fn is_baton(&self) -> bool {
        matches!(self, Module::Baton)
    }
}

/// One sandboxed Mender client with its own datastore, modules and configuration.
pub struct Mender {
    dir: TempDir,
    env: Vec<(String, OsString)>,
}

impl Mender {
    /// A client whose device type is `device_type`, with `module` installed as the
    /// `mender-orchestrator-manifest` Update Module, `env` passed to it (and so to the module
    /// and baton), and `ArtifactVerifyKey` set when `verify_key` is given.
    pub fn new(
        device_type: &str,
        module: &Module,
        env: Vec<(String, OsString)>,
        verify_key: Option<&Path>,
    ) -> Mender {
        Mender::new_in(&std::env::temp_dir(), device_type, module, env, verify_key)
    }

    /// [`Mender::new`] with its datastore in `parent`: a benchmark puts it on the same
    /// filesystem as baton's, so that both pay the same disk.
    pub fn new_in(
        parent: &Path,
        device_type: &str,
        module: &Module,
        env: Vec<(String, OsString)>,
        verify_key: Option<&Path>,
    ) -> Mender {
        let dir = tempfile::Builder::new()
            .prefix("baton-mender-")
            .tempdir_in(parent)
            .expect("a temporary directory");
        let d = dir.path();
        for sub in ["modules", "etc", "data", "bin"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        let installed = d.join("modules/mender-orchestrator-manifest");
        fs::copy(module.path(), &installed)
            .unwrap_or_else(|e| panic!("cannot copy the module {}: {e}", module.path().display()));
        set_mode(&installed, 0o755);
        // The official module calls `mender-orchestrator`: baton under that name.
        std::os::unix::fs::symlink(crate::baton_bin(), d.join("bin/mender-orchestrator")).unwrap();

        fs::write(d.join("etc/artifact_info"), "artifact_name=factory-image\n").unwrap();
        fs::write(
            d.join("data/device_type"),
            format!("device_type={device_type}\n"),
        )
        .unwrap();
        let mut conf = serde_json::json!({
            "DeviceTypeFile": d.join("data/device_type"),
            "ServerURL": "https://127.0.0.1:1",
        });
        if let Some(k) = verify_key {
            conf["ArtifactVerifyKey"] = serde_json::json!(k);
        }
        fs::write(
            d.join("mender.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();

        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut search = OsString::from(d.join("bin"));
        search.push(":");
        search.push(path);
        let mut env = env;
        env.push(("PATH".into(), search));
        Mender { dir, env }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `mender <args>` in the sandbox.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// The command that runs `mender <args>` in the sandbox (for callers that time it or
    /// measure its memory).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandbox(&format!("exec mender {} \"$@\"", self.flags()));
        cmd.args(args);
        cmd
    }

    /// The command that runs the shell `script` in the sandbox, where `mender` is this
    /// client (a shell function) and `$1`... are `args`: several calls in one sandbox.
    pub fn shell(&self, script: &str, args: &[&str]) -> Command {
        let mut cmd = self.sandbox(&format!(
            "mender() {{ command mender {} \"$@\"; }}\n{script}",
            self.flags()
        ));
        cmd.args(args);
        cmd
    }

    /// `mender`'s flags for this client's configuration and datastore.
    fn flags(&self) -> String {
        let d = self.dir();
        format!(
            "--no-syslog --config '{c}' --fallback-config '{f}' --data '{data}'",
            c = d.join("mender.conf").display(),
            f = d.join("no-fallback.conf").display(),
            data = d.join("data").display(),
        )
    }

    /// `sh -c <script>` in a private mount namespace, after the bind mounts.
    fn sandbox(&self, script: &str) -> Command {
        let d = self.dir();
        let script = format!(
            "mount --bind '{m}' {MODULES_DIR} && mount --bind '{e}' {ETC_DIR} || exit 1\n{script}",
            m = d.join("modules").display(),
            e = d.join("etc").display(),
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        // baton's own variables must come from `env` only.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MENDER_ORCHESTRATOR_")
                && !self.env.iter().any(|(e, _)| OsString::from(e) == k)
            {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// `mender install --reboot-exit-code <artifact>` (the Go client reads no flag after
    /// the file name).
    pub fn install(&self, artifact: &Path) -> Output {
        self.run(&["install", "--reboot-exit-code", &artifact.to_string_lossy()])
    }

    /// `mender show-provides` as a map.
    pub fn provides(&self) -> BTreeMap<String, String> {
        crate::fixture::key_values(&crate::stdout(&self.ok(&["show-provides"])))
    }

    /// `mender show-artifact`.
    pub fn artifact_name(&self) -> String {
        crate::stdout(&self.ok(&["show-artifact"]))
            .trim()
            .to_string()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mender {args:?} failed ({}):\n{}",
            out.status,
            transcript(&out)
        );
        out
    }
}

/// Stdout and stderr of a run, for failure messages.
pub fn transcript(o: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        crate::stdout(o),
        crate::stderr(o)
    )
}

/// A manifest Artifact (payload type `mender-orchestrator-manifest`, the Manifest as its only
/// payload file, `data-partition` provides) named `name`, compatible with `device_type`,
/// signed with `key` when given; written next to the Manifest.
pub fn manifest_artifact(
    manifest: &Path,
    name: &str,
    device_type: &str,
    key: Option<&Path>,
) -> PathBuf {
    let out = manifest.with_file_name(format!("{name}.mender"));
    let mut c = Command::new("mender-artifact");
    c.args([
        "write",
        "module-image",
        "-T",
        "mender-orchestrator-manifest",
        "-t",
        device_type,
        "--software-filesystem",
        "data-partition",
        "-n",
        name,
    ])
    .arg("-f")
    .arg(manifest)
    .arg("-o")
    .arg(&out);
    if let Some(k) = key {
        c.arg("-k").arg(k);
    }
    ok(&mut c);
    out
}

/// What the host's Mender directories hold: path -> (mode, size, mtime, link target).
/// Taken before a test and compared after, to show the sandbox left them alone.
#[derive(Debug, PartialEq, Eq)]
pub struct HostDirs(BTreeMap<PathBuf, String>);

impl HostDirs {
    pub fn snapshot() -> HostDirs {
        let mut map = BTreeMap::new();
        for root in [
            "/etc/mender",
            "/usr/share/mender",
            "/var/lib/mender",
            "/data",
        ] {
            walk(Path::new(root), &mut map);
        }
        HostDirs(map)
    }

    /// Panics, naming the differences, unless the host's directories are as they were.
    pub fn assert_unchanged(&self) {
        let now = HostDirs::snapshot();
        if &now != self {
            let mut diff = Vec::new();
            for (p, v) in &self.0 {
                match now.0.get(p) {
                    None => diff.push(format!("removed {}", p.display())),
                    Some(w) if w != v => diff.push(format!("changed {}: {v} -> {w}", p.display())),
                    _ => {}
                }
            }
            for p in now.0.keys().filter(|p| !self.0.contains_key(*p)) {
                diff.push(format!("added {}", p.display()));
            }
            panic!(
                "the test changed the host's Mender directories:\n{}",
                diff.join("\n")
            );
        }
    }
}

fn walk(path: &Path, map: &mut BTreeMap<PathBuf, String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let link = fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    map.insert(
        path.to_path_buf(),
        format!("{:o} {} {} {link}", meta.mode(), meta.size(), meta.mtime()),
    );
    if meta.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                walk(&e.path(), map);
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
