//! Mender Orchestrator's verbs: `install`, `resume`, `rollback`, `show-provides`,
//! `show-inventory`, with its exit codes (0 success, 1 failure, 2 nothing to resume,
//! 4 success that needs a reboot), plus `journal reset`.
//!
//! The verbs run the engine in this process. Output for people goes to stdout; logs go to
//! stderr.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{exit, Format, GlobalArgs};
use crate::config::{self, Effective, ProcessEnv};
use crate::engine::api::Boundary;
use crate::engine::api::RunOptions;
use crate::engine::api::{DeploymentReport, End, EngineError, NoProgress, Progress, ProgressSink};
use crate::engine::{Deployer, Engine};
use crate::resource;

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
    /// The Manifest to deploy
    pub manifest: PathBuf,
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

pub(super) fn effective(global: &GlobalArgs) -> Result<Effective, u8> {
    match config::load(&global.overrides(), &ProcessEnv) {
        Ok(e) => {
            crate::telemetry::init(
                global.log_level.unwrap_or(e.config.log_level),
                global.log_format,
            );
            Ok(e)
        }
        Err(e) => {
            eprintln!("baton: the configuration is invalid:\n{e}");
            Err(exit::INVALID)
        }
    }
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn open_engine(global: &GlobalArgs) -> Result<Engine, u8> {
    let eff = effective(global)?;
    Engine::open(eff, Default::default()).map_err(|e| {
        eprintln!("baton: {e}");
        exit::INVALID
    })
}

/// Prints each step as it starts and ends, for a person watching.
struct Lines;

impl ProgressSink for Lines {
    fn emit(&self, event: Progress) {
        match event {
            Progress::Started {
                manifest,
                components,
                ..
            } => {
                eprintln!(
                    "deploying {manifest}: {} component(s) to update",
                    components.len()
                );
            }
            Progress::StepStarted {
                order,
                call,
                components,
            } => {
                let state = call.as_str();
                const SHOWN: usize = 6;
                let mut ids: Vec<String> = components
                    .iter()
                    .take(SHOWN)
                    .map(|c| format!("{} {}", c.component_type, c.id))
                    .collect();
                if components.len() > SHOWN {
                    ids.push(format!("and {} more", components.len() - SHOWN));
                }
                eprintln!("  order {order:>3}  {state:<28} {}", ids.join(", "));
            }
            Progress::StepFinished { failed, .. } => {
                for (c, why) in failed {
                    eprintln!("           FAILED {} {}: {why}", c.component_type, c.id);
                }
            }
            Progress::Rebooting => eprintln!("  rebooting the host"),
            Progress::Waiting {
                point,
                reason,
                message,
                ..
            } => eprintln!("  waiting {point} ({reason}): {message}"),
            Progress::Bytes { .. } => {}
        }
    }
}

fn progress_for(format: Format) -> Arc<dyn ProgressSink> {
    match format {
        Format::Text => Arc::new(Lines),
        Format::Json => Arc::new(NoProgress),
    }
}

fn print_report(r: &DeploymentReport, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, r)?;
        return writeln!(out);
    }
    let summary = match &r.end {
        End::Success => "success".to_string(),
        End::RolledBack {
            failed_at, message, ..
        } => {
            format!("failed at {failed_at}: {message}; rolled back")
        }
        End::Inconsistent {
            failed_at,
            message,
            components,
            ..
        } => format!(
            "failed at {failed_at}: {message}; NOT rolled back: {}",
            components
                .iter()
                .map(|c| format!("{} {}", c.component_type, c.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        End::Rejected { problems } => format!(
            "rejected, nothing was touched:\n  {}",
            crate::engine::api::Problem::join(problems, "\n  ")
        ),
        End::Paused {
            before, failing, ..
        } => {
            format!(
                "paused before {before:?}{}",
                if *failing { " (after a failure)" } else { "" }
            )
        }
        End::AwaitingReboot => "the host must be rebooted; then run `resume`".to_string(),
    };
    writeln!(out, "{}: {summary}", r.manifest)?;
    for c in &r.components {
        let what = c.result.describe();
        writeln!(
            out,
            "  {} {} -> {}: {what}",
            c.component.component_type, c.component.id, c.to_artifact
        )?;
    }
    Ok(())
}

fn finish(
    result: Result<DeploymentReport, EngineError>,
    format: Format,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    match result {
        Ok(r) => {
            print_report(&r, format, out)?;
            Ok(r.exit_code())
        }
        Err(EngineError::NothingInProgress) => {
            eprintln!("baton: there is no deployment in progress: nothing to resume or roll back");
            Ok(exit::NOTHING)
        }
        Err(e) => {
            eprintln!("baton: {e}");
            Ok(exit::INVALID)
        }
    }
}

pub fn install(
    global: &GlobalArgs,
    args: &InstallArgs,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let opts = RunOptions {
        allow_downgrade: args.allow_downgrade,
        ..args.flow.options()
    };
    let verb = super::handoff::Verb::Install {
        manifest: &args.manifest,
        opts: &opts,
    };
    if let Some(result) = super::handoff::through_daemon(global, verb) {
        return finish(result, args.flow.output, out);
    }
    let engine = match open_engine(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let manifest = match resource::load_manifest(&args.manifest) {
        Ok(m) => m,
        Err(d) => {
            eprintln!("baton: the Manifest is invalid:\n{d}");
            return Ok(exit::INVALID);
        }
    };
    let progress = progress_for(args.flow.output);
    let result = runtime().block_on(engine.install(manifest, opts, progress));
    finish(result, args.flow.output, out)
}

pub fn resume(global: &GlobalArgs, args: &FlowArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    if let Some(result) =
        super::handoff::through_daemon(global, super::handoff::Verb::Resume(&args.options()))
    {
        return finish(result, args.output, out);
    }
    let engine = match open_engine(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let result = runtime().block_on(engine.resume(args.options(), true, progress_for(args.output)));
    finish(result, args.output, out)
}

pub fn rollback(global: &GlobalArgs, args: &FlowArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    if let Some(result) =
        super::handoff::through_daemon(global, super::handoff::Verb::Rollback(&args.options()))
    {
        return finish(result, args.output, out);
    }
    let engine = match open_engine(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let result = runtime().block_on(engine.rollback(args.options(), progress_for(args.output)));
    finish(result, args.output, out)
}

pub fn show_provides(
    global: &GlobalArgs,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let engine = match open_engine(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let observation = match runtime().block_on(engine.observe()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("baton: {e}");
            return Ok(exit::INVALID);
        }
    };
    if args.output == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &observation)?;
        writeln!(out)?;
    }
    let mut code = exit::OK;
    for c in &observation.components {
        match (&c.id, &c.error) {
            (Some(id), None) => {
                if args.output == Format::Text {
                    for (k, v) in c.provides.iter() {
                        writeln!(out, "{}.{id}.{k}={v}", c.component_type)?;
                    }
                }
            }
            (_, err) => {
                eprintln!(
                    "baton: component #{} ({}) could not be observed: {}",
                    c.index + 1,
                    c.component_type,
                    err.as_deref().unwrap_or("no ID")
                );
                code = exit::INVALID;
            }
        }
    }
    Ok(code)
}

pub fn show_inventory(global: &GlobalArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let engine = match open_engine(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    match runtime().block_on(engine.inventory()) {
        Ok(inventory) => {
            for (k, v) in inventory.lines {
                writeln!(out, "{k}={v}")?;
            }
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("baton: {e}");
            Ok(exit::INVALID)
        }
    }
}

pub fn journal(
    global: &GlobalArgs,
    cmd: &JournalCommand,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    if let JournalCommand::Show(args) = cmd {
        return super::journal::show(global, args.output, out);
    }
    let eff = match effective(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    match crate::engine::api::journal_reset(&eff.dirs.datastore_dir) {
        Ok(moved) if moved.is_empty() => writeln!(out, "no journal files to move")?,
        Ok(moved) => {
            for p in moved {
                writeln!(out, "moved aside: {}", p.display())?;
            }
        }
        Err(e) => {
            eprintln!("baton: {e}");
            return Ok(exit::INVALID);
        }
    }
    Ok(exit::OK)
}
