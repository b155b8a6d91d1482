//! Mender Orchestrator's verbs: `install`, `resume`, `rollback`, `show-provides`,
//! `show-inventory`, with its exit codes (0 success, 1 failure, 2 nothing to resume,
//! 4 success that needs a reboot), plus `journal show|reset`.
//!
//! Each verb is written once against `&dyn Deployer`: the daemon's engine over its socket
//! or this process's own ([`super::target`] chooses). Output for people goes to stdout;
//! logs and progress go to stderr.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::target::{deployer, Need};
use super::{desired, exit, progress, settings, CliError, Format, GlobalArgs};
use crate::engine::api::{Boundary, Deployer, DeploymentReport, End, EngineError, RunOptions};
use crate::gates::policy::Policy;
use crate::resource::LoadedManifest;

/// `--stop-before`: the states Mender Orchestrator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum StopBefore {
    ArtifactCommit,
    ArtifactRollback,
    Cleanup,
}

impl From<StopBefore> for Boundary {
    fn from(s: StopBefore) -> Self {
        match s {
            StopBefore::ArtifactCommit => Boundary::ArtifactCommit,
            StopBefore::ArtifactRollback => Boundary::ArtifactRollback,
            StopBefore::Cleanup => Boundary::Cleanup,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FlowArgs {
    /// Pause before this state (repeatable): ArtifactCommit, ArtifactRollback, Cleanup
    #[arg(long = "stop-before", value_name = "STATE")]
    pub stop_before: Vec<StopBefore>,
    /// When the host must reboot, exit with code 4 instead of rebooting; `resume` continues
    #[arg(long = "exit-on-reboot")]
    pub exit_on_reboot: bool,
    /// Report format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Format,
}

impl FlowArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            stop_before: self
                .stop_before
                .iter()
                .map(|&s| s.into())
                .collect::<BTreeSet<_>>(),
            exit_on_reboot: self.exit_on_reboot,
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The Manifest to deploy, or a bundle (a Mender Artifact with the Manifest and its
    /// Artifacts; or the directory of its payload files, as the Mender client unpacks it)
    pub manifest: PathBuf,
    /// Deploy only if the plan is still this one, as `baton plan` showed it
    #[arg(long = "plan-hash", value_name = "HASH")]
    pub plan_hash: Option<String>,
    /// For a bundle given as a directory: the bundle header's meta-data (its index)
    #[arg(long = "bundle-meta", value_name = "FILE")]
    pub bundle_meta: Option<PathBuf>,
    /// Deploy it even if DowngradeProtection finds it older than what the System accepted
    /// before (an operator returning the System to an older Manifest on purpose)
    #[arg(long = "allow-downgrade")]
    pub allow_downgrade: bool,
    #[command(flatten)]
    pub flow: FlowArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Move an unusable journal aside so baton can start again (after inspecting it)
    Reset,
    /// Print the deployment the journal holds, and which generation it came from
    Show(ShowArgs),
}

/// Prints the report; its exit code.
fn finish(
    r: Result<DeploymentReport, EngineError>,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let r = r?;
    progress::report(&r, format, out)?;
    Ok(r.exit_code())
}

pub async fn install(
    global: &GlobalArgs,
    args: &InstallArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    let opts = RunOptions {
        allow_downgrade: args.allow_downgrade,
        plan_hash: args.plan_hash.clone(),
        ..args.flow.options()
    };
    let given = desired::load(&eff, &args.manifest, args.bundle_meta.as_deref())?;
    let r = match deployer(&eff, Need::Act).await {
        Ok(engine) => match held_by_policy(&eff, &*engine, &given.manifest) {
            Ok(()) => {
                let sink = progress::sink_for(args.flow.output);
                engine.install(given.manifest.clone(), opts, sink).await
            }
            Err(e) => {
                given.discard();
                return Err(e);
            }
        },
        Err(e) => {
            given.discard();
            return Err(e);
        }
    };
    // A refused bundle is not kept; one being installed is the engine's to keep and sweep.
    if r.as_ref()
        .map_or(true, |r| matches!(r.end, End::Rejected { .. }))
    {
        given.discard();
    }
    finish(r, args.flow.output, out)
}

/// The update policy, for an install in-process (a daemon applies it itself: the engine
/// through it does not offer the Manifest store): `Err` when it holds `offered` back.
fn held_by_policy(
    eff: &crate::config::Effective,
    engine: &dyn Deployer,
    offered: &LoadedManifest,
) -> Result<(), CliError> {
    let Ok((deployed, _)) = engine.deployed_manifests() else {
        return Ok(());
    };
    // The configuration was checked when the engine got its gates.
    let policy =
        Policy::from_config(&eff.config.update_policy).map_err(|e| CliError::Gates(vec![e]))?;
    match policy.hold(offered, deployed.as_ref()) {
        None => Ok(()),
        Some((reason, message)) => Err(CliError::Held { reason, message }),
    }
}

/// `resume` the deployment in the journal, or roll it back (`rollback`).
pub async fn flow(
    global: &GlobalArgs,
    args: &FlowArgs,
    out: &mut dyn Write,
    rollback: bool,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    let engine = deployer(&eff, Need::Act).await?;
    let sink = progress::sink_for(args.output);
    let r = if rollback {
        engine.rollback(args.options(), sink).await
    } else {
        engine.resume(args.options(), true, sink).await
    };
    finish(r, args.output, out)
}

/// Says on stderr that an answer is not from now, and since when it is.
fn not_live(taken_at: u64) {
    eprintln!(
        "baton: a deployment is in flight or another baton holds the datastore: answering from \
         the last observation ({})",
        crate::daemon::clock::rfc3339(taken_at)
    );
}

pub async fn show_provides(
    global: &GlobalArgs,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    let observation = deployer(&eff, Need::Observe).await?.observe().await?;
    if !observation.live {
        not_live(observation.taken_at);
    }
    Ok(if progress::provides(&observation, args.output, out)? {
        exit::OK
    } else {
        exit::INVALID
    })
}

pub async fn show_inventory(global: &GlobalArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    let inventory = deployer(&eff, Need::Observe).await?.inventory().await?;
    if !inventory.live {
        not_live(inventory.taken_at);
    }
    for (k, v) in inventory.lines {
        writeln!(out, "{k}={v}")?;
    }
    Ok(exit::OK)
}

pub async fn journal(
    global: &GlobalArgs,
    cmd: &JournalCommand,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    match cmd {
        JournalCommand::Show(args) => {
            let shown = deployer(&eff, Need::Journal).await?.journal().await?;
            if !shown.locked {
                eprintln!(
                    "baton: another baton acts on {}: the journal was read without the lock and may have moved on",
                    eff.dirs.datastore_dir.display()
                );
            }
            progress::journal(&shown, args.output, out)?;
        }
        JournalCommand::Reset => {
            let moved = crate::engine::api::journal_reset(&eff.dirs.datastore_dir)?;
            if moved.is_empty() {
                writeln!(out, "no journal files to move")?;
            }
            for p in moved {
                writeln!(out, "moved aside: {}", p.display())?;
            }
        }
    }
    Ok(exit::OK)
}
