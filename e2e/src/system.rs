//! A scratch System for end-to-end tests: mock components, a Topology, component Artifacts
//! made by Debian's `mender-artifact` and served from a directory source, and a configuration
//! baton reads through Mender Orchestrator's environment variables.
//!
//! Everything lives in one temporary directory. The host is never rebooted: `BootIdPath`
//! points at a file the test rewrites to simulate a reboot, and `RebootCommand` only records
//! that baton tried (then fails, so a stray reboot shows up as a failed deployment instead of a
//! ten-minute wait).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// One mock component: its component type and the state directory the mock Interface keeps.
#[derive(Debug, Clone)]
pub struct Component {
    pub component_type: String,
    pub id: String,
    pub state_dir: PathBuf,
}

/// A System of mock components in a temporary directory.
pub struct System {
    root: TempDir,
    pub system_type: String,
    pub components: Vec<Component>,
}

/// Runs a command and returns its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        crate::stdout(&out),
        crate::stderr(&out)
    );
    out
}

impl System {
    /// A System of `system_type` with one mock component per `(component_type, id)`, each at
    /// version `<component_type>-v0`, answering `SupportsRollback: Yes`.
    pub fn new(system_type: &str, components: &[(&str, &str)]) -> System {
        let root = tempfile::Builder::new()
            .prefix("baton-system-")
            .tempdir()
            .expect("a temporary directory");
        let r = root.path();
        let interfaces = r.join("data/interfaces/v1");
        fs::create_dir_all(&interfaces).unwrap();
        let mock = interfaces.join("mock");
        fs::copy(crate::repo_root().join("interfaces/mock"), &mock).unwrap();
        chmod(&mock, 0o755);
        for d in ["store", "etc", "artifacts", "manifests"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::write(r.join("boot_id"), "boot-1\n").unwrap();

        let mut list = Vec::new();
        let mut topology = format!(
            "api_version: mender/v1\nkind: topology\nsystem_type: {system_type}\ncomponents:\n"
        );
        for (i, (ctype, id)) in components.iter().enumerate() {
            let state_dir = r.join(format!("component-{i}-{ctype}"));
            fs::create_dir_all(&state_dir).unwrap();
            fs::write(state_dir.join("Identity"), format!("id={id}\n")).unwrap();
            fs::write(state_dir.join("version"), format!("{ctype}-v0\n")).unwrap();
            fs::write(state_dir.join("SupportsRollback"), "Yes\n").unwrap();
            topology.push_str(&format!(
                "  - component_type: {ctype}\n    interface: mock\n    interface_args: [\"{}\"]\n",
                state_dir.display()
            ));
            list.push(Component {
                component_type: ctype.to_string(),
                id: id.to_string(),
                state_dir,
            });
        }
        fs::write(r.join("store/topology.yaml"), topology).unwrap();
        let system = System {
            root,
            system_type: system_type.to_string(),
            components: list,
        };
        system.configure(serde_json::json!({}));
        system
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `MENDER_ORCHESTRATOR_DATA_DIR`: holds `interfaces/v1/mock`.
    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// `MENDER_ORCHESTRATOR_DATASTORE_DIR`: the journal, the Manifest store, topology.yaml.
    pub fn datastore(&self) -> PathBuf {
        self.root().join("store")
    }

    /// `MENDER_ORCHESTRATOR_CONF_DIR`: holds mender-orchestrator.conf.
    pub fn conf_dir(&self) -> PathBuf {
        self.root().join("etc")
    }

    /// The directory Artifact source: component Artifacts, found by their header name.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root().join("artifacts")
    }

    /// Written (one line per attempt) if baton ever runs its reboot command.
    pub fn reboot_log(&self) -> PathBuf {
        self.root().join("reboot-command.log")
    }

    /// Writes mender-orchestrator.conf: the test's settings plus `extra` (an object).
    pub fn configure(&self, extra: serde_json::Value) {
        let mut conf = serde_json::json!({
            "BootIdPath": self.root().join("boot_id"),
            "RebootCommand": [
                "sh", "-c",
                format!("echo reboot >> '{}'; exit 1", self.reboot_log().display())
            ],
            "ArtifactSources": [{"Type": "directory", "Path": self.artifacts_dir()}],
        });
        for (k, v) in extra.as_object().expect("an object").iter() {
            conf[k] = v.clone();
        }
        fs::write(
            self.conf_dir().join("mender-orchestrator.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();
    }

    /// The environment that points baton (and anything that runs it) at this System.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            (
                "MENDER_ORCHESTRATOR_CONF_DIR".into(),
                self.conf_dir().into(),
            ),
            (
                "MENDER_ORCHESTRATOR_DATA_DIR".into(),
                self.data_dir().into(),
            ),
            (
                "MENDER_ORCHESTRATOR_DATASTORE_DIR".into(),
                self.datastore().into(),
            ),
            ("BATON_BIN".into(), crate::baton_bin().into()),
        ]
    }

    /// `baton` for this System (configured through the environment only, as a Mender client
    /// would run it).
    pub fn baton(&self) -> Command {
        let mut c = crate::baton();
        c.envs(self.env());
        c
    }

    /// Simulates a host reboot: the boot id changes.
    pub fn reboot(&self) {
        let path = self.root().join("boot_id");
        let n = fs::read_to_string(&path).unwrap_or_default().len();
        fs::write(path, format!("boot-{n}\n")).unwrap();
    }

    pub fn component(&self, id: &str) -> &Component {
        self.components
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no component {id}"))
    }

    /// Writes a file into a component's state directory (an answer or a fault marker).
    pub fn set(&self, id: &str, file: &str, content: &str) {
        fs::write(self.component(id).state_dir.join(file), content).unwrap();
    }

    /// Removes a file from a component's state directory.
    pub fn unset(&self, id: &str, file: &str) {
        let _ = fs::remove_file(self.component(id).state_dir.join(file));
    }

    /// The version the component has committed.
    pub fn version(&self, id: &str) -> String {
        fs::read_to_string(self.component(id).state_dir.join("version"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Every component's committed version, by ID.
    pub fn versions(&self) -> BTreeMap<String, String> {
        self.components
            .iter()
            .map(|c| (c.id.clone(), self.version(&c.id)))
            .collect()
    }

    /// The mock's calls.log: `<state> <component_type> <artifact_name or -> <result>` lines.
    pub fn calls(&self, id: &str) -> Vec<String> {
        fs::read_to_string(self.component(id).state_dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The calls of `state` the component received (any Artifact, any result).
    pub fn calls_of(&self, id: &str, state: &str) -> Vec<String> {
        self.calls(id)
            .into_iter()
            .filter(|l| l.split(' ').next() == Some(state))
            .collect()
    }

    /// A component Artifact for the mock Interface, named `name`, compatible with
    /// `component_type`, in the directory source; signed with `key` when given.
    pub fn component_artifact(&self, component_type: &str, name: &str, key: Option<&Path>) {
        let payload = self.root().join(format!("payload-{name}"));
        fs::write(&payload, format!("the payload of {name}\n")).unwrap();
        let mut c = Command::new("mender-artifact");
        c.args([
            "write",
            "module-image",
            "-T",
            "mock",
            "-t",
            component_type,
            "-n",
            name,
        ])
        .arg("-f")
        .arg(&payload)
        .arg("-o")
        .arg(self.artifacts_dir().join(format!("{name}.mender")));
        if let Some(k) = key {
            c.arg("-k").arg(k);
        }
        ok(&mut c);
    }

    /// Writes a Manifest `<name>.yaml` for this System; `entries` are
    /// `(component_type, artifact_name, order)`.
    pub fn manifest(&self, name: &str, entries: &[(&str, &str, u8)]) -> PathBuf {
        let mut text = format!(
            "api_version: mender/v1\nkind: manifest\nname: {name}\n\
             system_types_compatible: [{}]\ncomponent_types:\n",
            self.system_type
        );
        for (ctype, artifact, order) in entries {
            text.push_str(&format!(
                "  {ctype}:\n    artifact_name: {artifact}\n    update_strategy:\n      order: {order}\n"
            ));
        }
        let path = self.root().join("manifests").join(format!("{name}.yaml"));
        fs::write(&path, text).unwrap();
        path
    }

    /// `baton show-provides` as a map of `<component_type>.<id>.<key>` to value.
    pub fn baton_provides(&self) -> BTreeMap<String, String> {
        let out = ok(self.baton().arg("show-provides"));
        key_values(&crate::stdout(&out))
    }

    /// The Provides every component must show once `entries` (a Manifest's
    /// `(component_type, artifact_name, _)`) is deployed: the mock's version key.
    pub fn expected_provides(&self, entries: &[(&str, &str, u8)]) -> BTreeMap<String, String> {
        self.components
            .iter()
            .map(|c| {
                let (_, artifact, _) = entries
                    .iter()
                    .find(|(t, _, _)| *t == c.component_type)
                    .unwrap_or_else(|| panic!("the Manifest has no {}", c.component_type));
                (
                    format!("{}.{}.rootfs-image.mock.version", c.component_type, c.id),
                    artifact.to_string(),
                )
            })
            .collect()
    }
}

/// `key=value` lines as a map (the last value of a repeated key wins).
pub fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
