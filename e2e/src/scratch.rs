//! A scratch System for engine tests: mock components, Artifacts, Manifests and a
//! configuration in a temporary directory, driven through the real `baton` binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};

use baton::artifact::testkit::ArtifactBuilder;

/// One mock component.
#[derive(Debug, Clone)]
pub struct Comp {
    /// Its state directory's name, also its ID.
    pub name: String,
    pub component_type: String,
    pub order: u8,
    pub supports_rollback: bool,
    /// `No`, `Yes` or `Automatic`.
    pub reboot: String,
}

impl Comp {
    pub fn new(name: &str, component_type: &str, order: u8) -> Self {
        Self {
            name: name.into(),
            component_type: component_type.into(),
            order,
            supports_rollback: true,
            reboot: "No".into(),
        }
    }
    pub fn reboot(mut self, answer: &str) -> Self {
        self.reboot = answer.into();
        self
    }
    pub fn no_rollback(mut self) -> Self {
        self.supports_rollback = false;
        self
    }
}

pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub comps: Vec<Comp>,
}

/// What the mock Interface logged for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub state: String,
    pub artifact: String,
    pub result: String,
}

impl Scratch {
    /// Lay out the System with every component on `v1`.
    pub fn new(comps: Vec<Comp>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let s = Self { dir, comps };
        let root = s.root().to_path_buf();
        let iface = root.join("data/interfaces/v1/mock");
        fs::create_dir_all(iface.parent().unwrap()).unwrap();
        fs::copy(crate::repo_root().join("interfaces/mock"), &iface).unwrap();
        fs::set_permissions(&iface, fs::Permissions::from_mode(0o755)).unwrap();
        let mut topology = String::from(
            "api_version: mender/v1\nkind: topology\nsystem_type: scratch\ncomponents:\n",
        );
        for c in &s.comps {
            let sd = s.state_dir(&c.name);
            fs::create_dir_all(&sd).unwrap();
            fs::write(sd.join("Identity"), format!("id={}\n", c.name)).unwrap();
            fs::write(sd.join("version"), format!("{}-v1\n", c.component_type)).unwrap();
            let rollback = if c.supports_rollback { "Yes" } else { "No" };
            fs::write(sd.join("SupportsRollback"), format!("{rollback}\n")).unwrap();
            fs::write(sd.join("NeedsArtifactReboot"), format!("{}\n", c.reboot)).unwrap();
            topology.push_str(&format!(
                "  - component_type: {}\n    interface: mock\n    interface_args: [\"{}\"]\n",
                c.component_type,
                sd.display()
            ));
        }
        fs::create_dir_all(root.join("store")).unwrap();
        fs::write(root.join("store/topology.yaml"), topology).unwrap();
        fs::create_dir_all(root.join("artifacts")).unwrap();
        fs::write(root.join("boot_id"), "boot-1\n").unwrap();
        // The reboot command: a new boot id, then baton dies as it would with the host.
        let reboot = root.join("reboot");
        fs::write(
            &reboot,
            format!(
                "#!/bin/sh\necho \"boot-$$-$(date +%s%N)\" > {}\necho rebooted >> {}\nkill -9 $PPID\n",
                root.join("boot_id").display(),
                root.join("reboots.log").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&reboot, fs::Permissions::from_mode(0o755)).unwrap();
        let conf = serde_json::json!({
            "ArtifactSources": [{"Type": "directory", "Path": root.join("artifacts")}],
            "BootIdPath": root.join("boot_id"),
            "RebootCommand": [reboot],
            "InterfaceTimeoutSeconds": 30,
            "QueryTimeoutSeconds": 10,
        });
        fs::write(
            root.join("baton.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.root().join("components").join(name)
    }

    fn types(&self) -> Vec<(String, u8)> {
        let mut v: Vec<(String, u8)> = self
            .comps
            .iter()
            .map(|c| (c.component_type.clone(), c.order))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Write `<type>-<version>` Artifacts for every component type and the Manifest
    /// `scratch-<version>` naming them; returns the Manifest's path.
    pub fn release(&self, version: &str) -> PathBuf {
        let mut manifest = format!(
            "api_version: mender/v1\nkind: manifest\nname: scratch-{version}\nsystem_types_compatible: [scratch]\ncomponent_types:\n"
        );
        for (t, order) in self.types() {
            let name = format!("{t}-{version}");
            let path = self.root().join("artifacts").join(format!("{name}.mender"));
            if !path.exists() {
                let bytes = ArtifactBuilder::new(&name, "mock", &t)
                    .file("payload.bin", format!("{name}\n").repeat(512))
                    .build();
                fs::write(&path, bytes).unwrap();
            }
            manifest.push_str(&format!(
                "  {t}:\n    artifact_name: {name}\n    update_strategy:\n      order: {order}\n"
            ));
        }
        let path = self.root().join(format!("scratch-{version}.yaml"));
        fs::write(&path, manifest).unwrap();
        path
    }

    /// `baton` with this System's configuration.
    pub fn baton(&self) -> Command {
        let mut c = crate::baton();
        c.arg("-c")
            .arg(self.root().join("baton.conf"))
            .arg("--data-dir")
            .arg(self.root().join("data"))
            .arg("-d")
            .arg(self.root().join("store"));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.baton().args(args).output().expect("baton runs")
    }

    /// The committed version of every component, in Topology order.
    pub fn versions(&self) -> Vec<String> {
        self.comps
            .iter()
            .map(|c| {
                fs::read_to_string(self.state_dir(&c.name).join("version"))
                    .unwrap()
                    .trim()
                    .to_string()
            })
            .collect()
    }

    /// Every call the mock logged for a component.
    pub fn calls(&self, name: &str) -> Vec<Call> {
        let log = fs::read_to_string(self.state_dir(name).join("calls.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 4).then(|| Call {
                    state: f[0].into(),
                    artifact: f[2].into(),
                    result: f[3].into(),
                })
            })
            .collect()
    }

    /// The states and queries of the deployment protocol a component saw, in order (the
    /// observation queries and the Download preliminaries left out).
    pub fn protocol_calls(&self, name: &str) -> Vec<String> {
        self.calls(name)
            .into_iter()
            .map(|c| c.state)
            .filter(|s| {
                !matches!(
                    s.as_str(),
                    "Identity"
                        | "Provides"
                        | "Inventory"
                        | "NeedsUnpackedArtifact"
                        | "ProvidePayloadFileSizes"
                )
            })
            .collect()
    }

    pub fn clear_calls(&self) {
        for c in &self.comps {
            let _ = fs::remove_file(self.state_dir(&c.name).join("calls.log"));
        }
    }

    /// Put a fault marker (`<State>.FAIL`, `.KILL`, ...) in a component's state directory.
    pub fn mark(&self, name: &str, marker: &str) {
        fs::write(self.state_dir(name).join(marker), "").unwrap();
    }

    pub fn unmark_all(&self) {
        for c in &self.comps {
            for e in fs::read_dir(self.state_dir(&c.name)).unwrap().flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if [".FAIL", ".KILL", ".KILLALWAYS", ".HANG"]
                    .iter()
                    .any(|s| n.ends_with(s))
                {
                    fs::remove_file(e.path()).unwrap();
                }
            }
        }
    }
}

/// Whether a process was killed by SIGKILL.
pub fn killed(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}
