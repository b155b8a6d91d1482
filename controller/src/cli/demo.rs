//! `baton demo`: a System of mock components in a scratch directory, updated from a fresh
//! clone with no root and no tools beyond baton itself.
//!
//! It builds the System (the mock Interface, a Topology, Artifacts written by baton's own
//! writer, Manifests, a configuration), then runs the engine through what baton is for:
//! observe, deploy v2 in order groups, deploy v3 where one component fails its
//! ArtifactCommit so the whole System rolls back, and observe again. Everything stays in the
//! directory for inspection.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{exit, GlobalArgs};
use crate::artifact::write::ArtifactBuilder;
use crate::config::{self, Overrides, ProcessEnv};
use crate::engine::api::RunOptions;
use crate::engine::api::{DeploymentReport, End, ProgressSink};
use crate::engine::{Deployer, Engine};
use crate::resource;

/// The mock Interface, embedded so the demo needs nothing from the source tree.
const MOCK_INTERFACE: &str = include_str!("../../../interfaces/mock");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the demo System [default: a new directory under the temp dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Show the controller instead (`baton run`): the watched directory, drift corrected, a
    /// rollback through the API, the status page
    #[arg(long)]
    pub controller: bool,
    /// With --controller: leave the controller running at the end, to open the status page
    #[arg(long, requires = "controller")]
    pub keep: bool,
}

/// (state directory name, component type, ID, order, reboot answer)
const COMPONENTS: &[(&str, &str, &str, u8, &str)] = &[
    ("gateway", "gateway", "GW-1", 10, "No"),
    ("brake", "ecu", "ECU-BRAKE", 20, "No"),
    ("motor", "ecu", "ECU-MOTOR", 20, "No"),
    ("seat-heater", "mcu", "MCU-SEAT", 30, "Yes"),
];

fn write(path: &Path, content: impl AsRef<[u8]>) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, content)
}

/// Lays the System out under `dir`, with its configuration in `baton.conf`.
fn build(dir: &Path) -> std::io::Result<()> {
    let iface = dir.join("data/interfaces/v1/mock");
    write(&iface, MOCK_INTERFACE)?;
    fs::set_permissions(&iface, fs::Permissions::from_mode(0o755))?;

    let mut topology = String::from(
        "api_version: mender/v1\nkind: topology\nsystem_type: demo-car\ncomponents:\n",
    );
    for (state, ctype, id, _, reboot) in COMPONENTS {
        let sd = dir.join("components").join(state);
        write(&sd.join("Identity"), format!("id={id}\n"))?;
        write(&sd.join("version"), format!("{ctype}-v1\n"))?;
        write(&sd.join("SupportsRollback"), "Yes\n")?;
        write(&sd.join("NeedsArtifactReboot"), format!("{reboot}\n"))?;
        topology.push_str(&format!(
            "  - component_type: {ctype}\n    interface: mock\n    interface_args: [\"{}\"]\n",
            sd.display()
        ));
    }
    write(&dir.join("datastore/topology.yaml"), topology)?;

    for version in ["v2", "v3"] {
        for ctype in ["gateway", "ecu", "mcu"] {
            let name = format!("{ctype}-{version}");
            let payload = format!("firmware for {ctype}, {version}\n").repeat(2000);
            let bytes = ArtifactBuilder::new(&name, "mock", ctype)
                .file("firmware.bin", payload)
                .build();
            write(&dir.join("artifacts").join(format!("{name}.mender")), bytes)?;
        }
        let mut manifest = format!(
            "api_version: mender/v1\nkind: manifest\nname: demo-car-{version}\nsystem_types_compatible: [demo-car]\ncomponent_types:\n"
        );
        for (ctype, order) in [("gateway", 10), ("ecu", 20), ("mcu", 30)] {
            manifest.push_str(&format!(
                "  {ctype}:\n    artifact_name: {ctype}-{version}\n    update_strategy:\n      order: {order}\n"
            ));
        }
        write(
            &dir.join("manifests")
                .join(format!("demo-car-{version}.yaml")),
            manifest,
        )?;
    }
    write(&dir.join("boot_id"), "demo-boot-1\n")?;
    let conf = serde_json::json!({
        "ArtifactSources": [{"Type": "directory", "Path": dir.join("artifacts")}],
        "BootIdPath": dir.join("boot_id"),
        "InterfaceTimeoutSeconds": 60,
    });
    write(
        &dir.join("baton.conf"),
        serde_json::to_vec_pretty(&conf).unwrap_or_default(),
    )
}

/// The demo's directory (new, or empty) with the System built in it; an exit code after
/// saying why not.
pub(super) fn prepare(args: &DemoArgs) -> std::io::Result<Result<PathBuf, u8>> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("baton-demo-{}", std::process::id())));
    if dir.exists() && fs::read_dir(&dir)?.next().is_some() {
        eprintln!(
            "baton demo: {} is not empty; give an empty or new --dir",
            dir.display()
        );
        return Ok(Err(exit::INVALID));
    }
    build(&dir)?;
    Ok(Ok(dir))
}

fn provides_table(
    engine: &Engine,
    rt: &tokio::runtime::Runtime,
    out: &mut dyn Write,
) -> std::io::Result<Vec<String>> {
    let mut versions = Vec::new();
    match rt.block_on(engine.observe()) {
        Ok(o) => {
            for c in o.components {
                let v = c
                    .provides
                    .get("rootfs-image.mock.version")
                    .unwrap_or("?")
                    .to_string();
                writeln!(
                    out,
                    "    {:<8} {:<10} {v}",
                    c.component_type,
                    c.id.unwrap_or_default()
                )?;
                versions.push(v);
            }
        }
        Err(e) => writeln!(out, "    cannot observe the System: {e}")?,
    }
    Ok(versions)
}

fn summary(r: &DeploymentReport, out: &mut dyn Write) -> std::io::Result<()> {
    let end = match &r.end {
        End::Success => "success".to_string(),
        End::RolledBack {
            failed_at, message, ..
        } => {
            format!("failed at {failed_at} ({message}); the whole System was rolled back")
        }
        other => format!("{other:?}"),
    };
    writeln!(out, "  => {end}")?;
    for c in &r.components {
        let what = c.result.describe();
        writeln!(
            out,
            "     {} {}: {what}",
            c.component.component_type, c.component.id
        )?;
    }
    Ok(())
}

/// Prints the ordering as it happens.
struct Steps;
impl ProgressSink for Steps {
    fn emit(&self, event: crate::engine::api::Progress) {
        use crate::engine::api::Progress;
        if let Progress::StepStarted {
            order,
            call,
            components,
        } = event
        {
            let ids: Vec<String> = components.into_iter().map(|c| c.id).collect();
            println!(
                "     order {order:>3}  {:<24} {}",
                call.as_str(),
                ids.join(" ")
            );
        }
    }
}

pub fn run(
    global: &GlobalArgs,
    args: &DemoArgs,
    out: &mut dyn Write,
    rt: &tokio::runtime::Runtime,
) -> Result<u8, super::CliError> {
    if args.controller {
        return super::demo_controller::run(global, args, out, rt);
    }
    let dir = match prepare(args)? {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    writeln!(
        out,
        "A demo System of {} mock components in {}\n",
        COMPONENTS.len(),
        dir.display()
    )?;

    let overrides = Overrides {
        config_file: Some(dir.join("baton.conf")),
        datastore_dir: Some(dir.join("datastore")),
        data_dir: Some(dir.join("data")),
        ..Overrides::default()
    };
    let eff = match config::load(&overrides, &ProcessEnv) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("baton demo: {e}");
            return Ok(exit::INVALID);
        }
    };
    let engine = match Engine::open(eff, Default::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("baton demo: {e}");
            return Ok(exit::INVALID);
        }
    };

    writeln!(
        out,
        "1. What the components run now (Identity and Provides, asked through each Interface):"
    )?;
    provides_table(&engine, rt, out)?;

    let deploy = |version: &str,
                  out: &mut dyn Write|
     -> std::io::Result<Option<DeploymentReport>> {
        let path = dir
            .join("manifests")
            .join(format!("demo-car-{version}.yaml"));
        let manifest = match resource::load_manifest(&path) {
            Ok(m) => m,
            Err(d) => {
                writeln!(out, "  invalid Manifest: {d}")?;
                return Ok(None);
            }
        };
        out.flush()?;
        let report = rt.block_on(engine.install(manifest, RunOptions::default(), Arc::new(Steps)));
        match report {
            Ok(r) => {
                summary(&r, out)?;
                Ok(Some(r))
            }
            Err(e) => {
                writeln!(out, "  => {e}")?;
                Ok(None)
            }
        }
    };

    writeln!(out, "\n2. Deploy demo-car-v2: order groups lowest first, each state across the group, then commit, then cleanup:")?;
    let v2 = deploy("v2", out)?;

    writeln!(
        out,
        "\n3. Deploy demo-car-v3, with the seat heater's ArtifactCommit made to fail:"
    )?;
    write(&dir.join("components/seat-heater/ArtifactCommit.FAIL"), "")?;
    let v3 = deploy("v3", out)?;
    let _ = fs::remove_file(dir.join("components/seat-heater/ArtifactCommit.FAIL"));

    writeln!(out, "\n4. What the components run now:")?;
    let versions = provides_table(&engine, rt, out)?;
    writeln!(
        out,
        "\nEvery Interface call is logged in {}/components/*/calls.log.",
        dir.display()
    )?;

    let expected = versions.iter().all(|v| v.ends_with("-v2"))
        && matches!(v2.map(|r| r.end), Some(End::Success))
        && matches!(v3.map(|r| r.end), Some(End::RolledBack { .. }));
    if expected {
        writeln!(
            out,
            "The System moved to v2 as a whole, and stayed on v2 as a whole when v3 failed."
        )?;
        Ok(exit::OK)
    } else {
        writeln!(
            out,
            "The demo did not end as expected: see the lines above."
        )?;
        Ok(exit::INVALID)
    }
}
