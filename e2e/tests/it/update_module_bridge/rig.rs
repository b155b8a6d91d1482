//! The rig of the Update Module bridge tests: a System in a temporary directory (the
//! Interfaces, a Topology, a configuration baton reads through Mender Orchestrator's
//! environment variables, so the bridge keeps its state in the test's datastore, its
//! default; a directory Artifact source), the Artifact makers, and the sandboxed Mender
//! client to compare Provides with.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::mender::{self, Mender, Module};
use e2e::system::{key_values, ok, run};
use serde_json::Value;

pub(super) const MODULES: &str = "/usr/share/mender/modules/v3";

/// Whether the test can run: `missing` says what it lacks. A test that cannot run says so
/// loudly, and fails when `BATON_TEST_STRICT=1` (CI).
pub(super) fn can_run(test: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    let strict = std::env::var("BATON_TEST_STRICT").is_ok_and(|v| v == "1");
    assert!(!strict, "{test} cannot run: {why} (BATON_TEST_STRICT=1)");
    eprintln!("\n*** SKIPPING {test}: {why} ***\n");
    false
}

/// The first of `tools` not on PATH, or of Debian's Update Modules `modules` not installed.
pub(super) fn lacking(tools: &[&str], modules: &[&str]) -> Option<String> {
    for t in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{t}` is not installed (e2e/run installs it)"));
        }
    }
    modules
        .iter()
        .find(|m| !Path::new(MODULES).join(m).is_file())
        .map(|m| {
            format!("the Update Module {MODULES}/{m} is missing (apt-get install mender-client)")
        })
}

pub(super) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One component of the rig's System.
#[derive(Clone)]
pub(super) struct Comp {
    ctype: &'static str,
    id: &'static str,
    order: u8,
    /// The Interface name; `mock` for a mock component.
    interface: &'static str,
    /// interface_args after the ID (bridge components only).
    options: Vec<String>,
}

pub(super) fn bridge(
    ctype: &'static str,
    id: &'static str,
    order: u8,
    interface: &'static str,
) -> Comp {
    Comp {
        ctype,
        id,
        order,
        interface,
        options: vec![],
    }
}

pub(super) fn mock(ctype: &'static str, id: &'static str, order: u8) -> Comp {
    bridge(ctype, id, order, "mock")
}

impl Comp {
    /// One more interface_arg; `@ROOT@` stands for the rig's directory.
    pub(super) fn with(mut self, option: &str) -> Comp {
        self.options.push(option.to_string());
        self
    }
}

pub(super) struct Rig {
    dir: tempfile::TempDir,
    comps: Vec<Comp>,
}

impl Rig {
    pub(super) fn new(comps: Vec<Comp>) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("baton-bridge-")
            .tempdir()
            .unwrap();
        let rig = Rig { dir, comps };
        let r = rig.root();
        let ifaces = r.join("data/interfaces/v1");
        for d in [
            "store",
            "etc",
            "artifacts",
            "manifests",
            "modules",
            "target",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::create_dir_all(&ifaces).unwrap();
        for script in ["update-module", "mock"] {
            let to = ifaces.join(script);
            fs::copy(e2e::repo_root().join("interfaces").join(script), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut topology = String::from(
            "api_version: mender/v1\nkind: topology\nsystem_type: bridged\ncomponents:\n",
        );
        for c in &rig.comps {
            let args = if c.interface == "mock" {
                let sd = rig.mock_dir(c.id);
                fs::create_dir_all(&sd).unwrap();
                fs::write(sd.join("Identity"), format!("id={}\n", c.id)).unwrap();
                fs::write(sd.join("version"), format!("{}-v0\n", c.ctype)).unwrap();
                fs::write(sd.join("SupportsRollback"), "Yes\n").unwrap();
                vec![sd.display().to_string()]
            } else {
                let link = ifaces.join(c.interface);
                if !link.exists() {
                    symlink("update-module", &link).unwrap();
                }
                let mut a = vec![c.id.to_string()];
                let root = r.display().to_string();
                a.extend(c.options.iter().map(|o| o.replace("@ROOT@", &root)));
                a
            };
            let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
            topology.push_str(&format!(
                "  - component_type: {}\n    interface: {}\n    interface_args: [{}]\n",
                c.ctype,
                c.interface,
                args.join(", ")
            ));
        }
        fs::write(r.join("store/topology.yaml"), topology).unwrap();
        fs::write(r.join("boot_id"), "boot-1\n").unwrap();
        let conf = serde_json::json!({
            "BootIdPath": r.join("boot_id"),
            "RebootCommand": ["sh", "-c", "exit 1"],
            "ArtifactSources": [{"Type": "directory", "Path": r.join("artifacts")}],
            "InterfaceTimeoutSeconds": 120,
        });
        fs::write(
            r.join("etc/mender-orchestrator.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();
        rig
    }

    pub(super) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn mock_dir(&self, id: &str) -> PathBuf {
        self.root().join("mock").join(id)
    }

    /// Where the components install: `target/<rel>` (`rel` empty: `target` itself).
    pub(super) fn target(&self, rel: &str) -> PathBuf {
        let t = self.root().join("target");
        if rel.is_empty() {
            t
        } else {
            t.join(rel)
        }
    }

    pub(super) fn artifacts(&self) -> PathBuf {
        self.root().join("artifacts")
    }

    /// The bridge's state directory of a component (the default: under the datastore).
    pub(super) fn state(&self, id: &str) -> PathBuf {
        let c = self.comp(id);
        self.root()
            .join("store/update-module")
            .join(c.ctype)
            .join(id)
    }

    pub(super) fn comp(&self, id: &str) -> &Comp {
        self.comps.iter().find(|c| c.id == id).unwrap()
    }

    pub(super) fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("MENDER_ORCHESTRATOR_CONF_DIR", self.root().join("etc")),
            ("MENDER_ORCHESTRATOR_DATA_DIR", self.root().join("data")),
            (
                "MENDER_ORCHESTRATOR_DATASTORE_DIR",
                self.root().join("store"),
            ),
        ]
    }

    pub(super) fn baton(&self) -> Command {
        let mut c = e2e::baton();
        c.envs(self.env());
        c
    }

    /// A Manifest putting each component type on `<type>-<version>`.
    pub(super) fn manifest(&self, version: &str) -> PathBuf {
        let mut text = format!(
            "api_version: mender/v1\nkind: manifest\nname: sys-{version}\n\
             system_types_compatible: [bridged]\ncomponent_types:\n"
        );
        let mut seen = Vec::new();
        for c in &self.comps {
            if !seen.contains(&c.ctype) {
                seen.push(c.ctype);
                text.push_str(&format!(
                    "  {t}:\n    artifact_name: {t}-{version}\n    update_strategy:\n      order: {o}\n",
                    t = c.ctype,
                    o = c.order
                ));
            }
        }
        let path = self.root().join(format!("manifests/sys-{version}.yaml"));
        fs::write(&path, text).unwrap();
        path
    }

    /// `baton install -o json` of `sys-<version>`: its end result (`success`, `rolledBack`...)
    /// and the whole output for messages.
    pub(super) fn deploy(&self, version: &str) -> (String, Output) {
        let out = run(self
            .baton()
            .args(["install", "-o", "json"])
            .arg(self.manifest(version)));
        (end_result(&out), out)
    }

    pub(super) fn deploy_ok(&self, version: &str) {
        let (end, out) = self.deploy(version);
        assert_eq!(
            end,
            "success",
            "sys-{version}:\n{}",
            mender::transcript(&out)
        );
    }

    /// A mock component's Artifact `<type>-<version>`.
    pub(super) fn mock_artifact(&self, ctype: &str, version: &str) {
        let payload = self.root().join(format!("{ctype}-{version}.bin"));
        fs::write(&payload, format!("{ctype} {version}\n")).unwrap();
        write_module_image(
            "mock",
            &format!("{ctype}-{version}"),
            ctype,
            &[payload],
            &[],
            &self.artifacts(),
        );
    }

    /// A component's Provides as `baton show-provides` reports them, without the prefix.
    pub(super) fn provides(&self, id: &str) -> BTreeMap<String, String> {
        let c = self.comp(id);
        let prefix = format!("{}.{}.", c.ctype, c.id);
        let out = ok(self.baton().arg("show-provides"));
        key_values(&e2e::stdout(&out))
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
            .collect()
    }

    pub(super) fn mark(&self, id: &str, marker: &str) {
        fs::write(self.mock_dir(id).join(marker), "").unwrap();
    }

    pub(super) fn unmark(&self, id: &str, marker: &str) {
        fs::remove_file(self.mock_dir(id).join(marker)).unwrap();
    }
}

pub(super) fn end_result(out: &Output) -> String {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}", mender::transcript(out)));
    report["end"]["result"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `mender-artifact write module-image` (what Mender's generators run) into `out_dir`.
pub(super) fn write_module_image(
    module: &str,
    name: &str,
    device_type: &str,
    files: &[PathBuf],
    extra: &[&str],
    out_dir: &Path,
) -> PathBuf {
    let out = out_dir.join(format!("{name}.mender"));
    let mut c = Command::new("mender-artifact");
    c.args([
        "write",
        "module-image",
        "-T",
        module,
        "-t",
        device_type,
        "-n",
        name,
    ]);
    for f in files {
        c.arg("-f").arg(f);
    }
    c.args(extra).arg("-o").arg(&out);
    ok(&mut c);
    out
}

/// An Artifact for Mender's `single-file` or `directory` module, made by Mender's generator
/// (single-file-artifact-gen, directory-artifact-gen) when installed, else by the commands it
/// runs (Debian does not ship the generators): `<out_dir>/<name>.mender`.
pub(super) struct Gen<'a> {
    name: &'a str,
    device_type: &'a str,
    dest_dir: &'a Path,
    out_dir: &'a Path,
    extra: &'a [&'a str],
}

impl<'a> Gen<'a> {
    pub(super) fn new(
        name: &'a str,
        device_type: &'a str,
        dest_dir: &'a Path,
        out_dir: &'a Path,
    ) -> Self {
        Gen {
            name,
            device_type,
            dest_dir,
            out_dir,
            extra: &[],
        }
    }

    /// Options passed on to mender-artifact.
    pub(super) fn extra(mut self, extra: &'a [&'a str]) -> Self {
        self.extra = extra;
        self
    }

    fn out(&self) -> PathBuf {
        self.out_dir.join(format!("{}.mender", self.name))
    }

    /// Runs the generator `tool` (in `dir`, where it writes its temporary files) on `input`,
    /// if installed.
    fn generator(&self, tool: &str, dir: &Path, input: &Path) -> bool {
        if !which(tool) {
            return false;
        }
        ok(Command::new(tool)
            .current_dir(dir)
            .args(["-n", self.name, "-t", self.device_type, "-d"])
            .arg(self.dest_dir)
            .arg("-o")
            .arg(self.out())
            .arg(input)
            .arg("--")
            .args(self.extra));
        true
    }

    fn module_image(&self, module: &str, files: &[PathBuf]) -> PathBuf {
        write_module_image(
            module,
            self.name,
            self.device_type,
            files,
            self.extra,
            self.out_dir,
        )
    }

    /// Installs `file` into `dest_dir`: the payload is the files `dest_dir`, `filename`,
    /// `permissions` and the file.
    pub(super) fn single_file(&self, file: &Path) -> PathBuf {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        if self.generator("single-file-artifact-gen", w, file) {
            return self.out();
        }
        fs::write(w.join("dest_dir"), format!("{}\n", self.dest_dir.display())).unwrap();
        let filename = file.file_name().unwrap().to_string_lossy().into_owned();
        fs::write(w.join("filename"), format!("{filename}\n")).unwrap();
        let mode = fs::metadata(file).unwrap().permissions().mode() & 0o7777;
        fs::write(w.join("permissions"), format!("{mode:o}\n")).unwrap();
        let files = ["dest_dir", "filename", "permissions"].map(|f| w.join(f));
        let mut all = files.to_vec();
        all.push(file.to_path_buf());
        self.module_image("single-file", &all)
    }

    /// Installs the tree `src` as `dest_dir`: the payload is `update.tar` and `dest_dir`.
    pub(super) fn directory(&self, src: &Path) -> PathBuf {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        if self.generator("directory-artifact-gen", w, src) {
            return self.out();
        }
        ok(Command::new("tar")
            .arg("-cf")
            .arg(w.join("update.tar"))
            .arg("-C")
            .arg(src)
            .arg("."));
        fs::write(w.join("dest_dir"), format!("{}\n", self.dest_dir.display())).unwrap();
        self.module_image("directory", &[w.join("update.tar"), w.join("dest_dir")])
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every file under `dir` with its content, by relative path.
pub(super) fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub(super) fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes `entries` as a directory tree under `dir` (emptied first).
pub(super) fn write_tree(dir: &Path, entries: &BTreeMap<String, String>) {
    let _ = fs::remove_dir_all(dir);
    for (rel, text) in entries {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// A sandboxed Debian Mender client whose device type is `device_type`, with Debian's
/// `module` installed beside the manifest module the sandbox always carries.
pub(super) fn mender_client(device_type: &str, module: &str) -> Mender {
    let m = Mender::new(
        device_type,
        &Module::Other(Path::new(MODULES).join(module)),
        vec![],
        None,
    );
    fs::copy(
        Path::new(MODULES).join(module),
        m.dir().join("modules").join(module),
    )
    .unwrap();
    m
}

/// `mender install` then, if the client waits for it, `mender commit`: the client's provides.
pub(super) fn mender_records(m: &Mender, artifact: &Path) -> BTreeMap<String, String> {
    let out = m.install(artifact);
    if e2e::stdout(&out).contains("Use 'commit' to update") {
        let out = m.run(&["commit"]);
        assert_eq!(out.status.code(), Some(0), "{}", mender::transcript(&out));
    }
    m.provides()
}

pub(super) fn mender_lacking() -> Option<String> {
    lacking(
        &["mender", "mender-artifact", "unshare"],
        &["single-file", "directory", "script"],
    )
    .or_else(|| {
        (!is_root()).then(|| {
            "not root: the Mender client's sandbox bind-mounts in a mount namespace".to_string()
        })
    })
}

/// A small Debian package `baton-e2e-hello` at `version`, built by dpkg-deb.
pub(super) fn hello_deb(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("hello-{version}"));
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/share/baton-e2e-hello")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: baton-e2e-hello\nVersion: {version}\nArchitecture: all\n\
             Maintainer: baton tests <baton@example.invalid>\n\
             Description: what the Update Module bridge test installs\n"
        ),
    )
    .unwrap();
    fs::write(
        root.join("usr/share/baton-e2e-hello/hello.txt"),
        format!("hello {version}\n"),
    )
    .unwrap();
    let deb = dir.join(format!("baton-e2e-hello_{version}_all.deb"));
    ok(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb));
    deb
}
