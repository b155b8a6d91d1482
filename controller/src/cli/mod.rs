//! The command line: Mender Orchestrator's verbs plus baton's own.
//!
//! One file per verb group; this file holds the global flags (named as Mender's tools name
//! them: `--config/-c`, `--fallback-config/-b`, `--datastore/-d`, `--log-level/-l`,
//! `--topology-components/-t`), builds the one tokio runtime the verbs that need one run
//! on, and turns every [`CliError`] into its message and exit code. Verbs call into the
//! library rooms; they hold no logic of their own beyond presenting results. Nothing else
//! in baton imports this room.

mod actions;
mod agents;
mod apply;
pub mod artifact;
mod bundle;
mod config;
mod consent;
mod demo;
mod demo_controller;
pub mod deploy;
mod desired;
mod error;
mod events;
mod inspect;
pub mod metrics;
mod output;
mod plan;
mod progress;
mod run;
mod settings;
mod target;
mod ui;
mod validate;
mod view;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{LogLevel, Overrides};

pub use error::CliError;
pub use output::Format;

/// Exit codes. Mender's `install` also uses 4 for "done, reboot needed" (not used yet).
pub mod exit {
    pub const OK: u8 = 0;
    /// Invalid input, or a deployment that failed.
    pub const INVALID: u8 = 1;
    /// Wrong usage of the command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// `resume` or `rollback` with no deployment in progress (Mender's code).
    pub const NOTHING: u8 = 2;
    /// Success, but the host must be rebooted (`--exit-on-reboot`).
    pub const REBOOT: u8 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "On-device reconciliation controller for multi-component updates (Mender Orchestrator compatible)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every verb accepts; they outrank the environment and the configuration files.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Main configuration file [default: $MENDER_ORCHESTRATOR_CONF_DIR/mender-orchestrator.conf]
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Fallback configuration file [default: <datastore>/mender-orchestrator.conf]
    #[arg(
        short = 'b',
        long = "fallback-config",
        value_name = "FILE",
        global = true
    )]
    pub fallback_config: Option<PathBuf>,
    /// Persistent datastore directory [env: MENDER_ORCHESTRATOR_DATASTORE_DIR]
    #[arg(
        short = 'd',
        long = "datastore",
        visible_alias = "data",
        value_name = "DIR",
        global = true
    )]
    pub datastore: Option<PathBuf>,
    /// Data directory holding interfaces/v1/ [env: MENDER_ORCHESTRATOR_DATA_DIR]
    #[arg(long = "data-dir", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Directory of topology.yaml [env: MENDER_ORCHESTRATOR_TOPOLOGY_DIR]
    #[arg(long = "topology-dir", value_name = "DIR", global = true)]
    pub topology_dir: Option<PathBuf>,
    /// Separate Topology components file [env: MENDER_ORCHESTRATOR_TOPOLOGY_COMPONENTS_FILE]
    #[arg(
        short = 't',
        long = "topology-components",
        value_name = "FILE",
        global = true
    )]
    pub topology_components: Option<PathBuf>,
    /// Constraints file (end states, transitions) [default: constraints.yaml next to the Topology]
    #[arg(long = "constraints", value_name = "FILE", global = true)]
    pub constraints: Option<PathBuf>,
    /// Log level: trace, debug, info, warning, error, fatal
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL", global = true)]
    pub log_level: Option<LogLevel>,
    /// Log line format on stderr
    #[arg(long = "log-format", value_enum, default_value_t, global = true)]
    pub log_format: crate::telemetry::LogFormat,
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            fallback_config_file: self.fallback_config.clone(),
            datastore_dir: self.datastore.clone(),
            data_dir: self.data_dir.clone(),
            topology_dir: self.topology_dir.clone(),
            topology_components: self.topology_components.clone(),
            constraints: self.constraints.clone(),
            log_level: self.log_level,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a demo System of mock components in a scratch directory and update it
    Demo(demo::DemoArgs),
    /// Check Topology, Topology components, Manifest and constraints files (kind told from `kind:`)
    Validate(validate::ValidateArgs),
    /// Inspect the configuration
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Read and verify Mender Artifacts
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
    /// Make bundles: a Manifest and its Artifacts in one Mender Artifact
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Deploy a Manifest to the System (Mender Orchestrator's `install`)
    Install(deploy::InstallArgs),
    /// Continue the deployment in progress
    Resume(deploy::FlowArgs),
    /// Roll back the deployment in progress
    Rollback(deploy::FlowArgs),
    /// Print every component's Provides as <component_type>.<id>.<key>=<value>
    ShowProvides(deploy::ShowArgs),
    /// Print the System's inventory in Mender inventory format (key=value lines)
    ShowInventory,
    /// Inspect or reset the deployment journal
    #[command(subcommand)]
    Journal(deploy::JournalCommand),
    /// Run the controller: reconcile continuously from the watched directory and the local API
    Run(run::RunArgs),
    /// Make a Manifest the desired state (through the running controller)
    Apply(apply::ApplyArgs),
    /// What deploying a Manifest (or a bundle) would do now, and its planHash: queries only
    Plan(plan::PlanArgs),
    /// Where the controller stands: conditions, deployment in flight, components
    Status(watch::StatusArgs),
    /// The controller's status events (what the status page follows)
    Events(events::EventsArgs),
    /// Start no new deployment until `unsuspend` (one that runs still finishes)
    Suspend(actions::ActionArgs),
    /// Reconcile again after `suspend`
    Unsuspend(actions::ActionArgs),
    /// Forget the desired generation's failures and try again now
    Retry(actions::ActionArgs),
    /// Make the last good Manifest desired again
    Revert(actions::ActionArgs),
    /// Print the status page's address with a one-time login code
    UiUrl(ui::UiUrlArgs),
    /// The last deployments, newest first
    History(inspect::ViewArgs),
    /// List resources the controller observes
    #[command(subcommand)]
    Get(inspect::GetCommand),
    /// Answer the owner's consent question the deployment waits on
    Consent(consent::ConsentArgs),
}

/// Parses the process arguments, runs the verb and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    ExitCode::from(run(&cli, &mut std::io::stdout().lock()))
}

/// Runs a parsed command line, writing its output to `out`; returns the exit code.
pub fn run(cli: &Cli, out: &mut dyn std::io::Write) -> u8 {
    match dispatch(cli, out) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton: {e}");
            e.exit_code()
        }
    }
}

/// The one runtime: two workers (the API answers while the reconciler waits on an
/// Interface), and a few blocking threads for Artifact IO.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

fn dispatch(cli: &Cli, out: &mut dyn std::io::Write) -> Result<u8, CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Validate(a) => return Ok(validate::run(g, a, out)?),
        Command::Config(c) => return Ok(config::run(g, c, out)?),
        Command::Artifact(c) => return Ok(artifact::run(c, out, &mut std::io::stderr().lock())),
        Command::Bundle(c) => return Ok(bundle::run(c, out, &mut std::io::stderr().lock())),
        _ => {}
    }
    let rt = runtime()?;
    match &cli.command {
        Command::Run(a) => run::run(g, a, &rt),
        Command::Demo(a) => demo::run(g, a, out, &rt),
        other => rt.block_on(async {
            match other {
                Command::Install(a) => deploy::install(g, a, out).await,
                Command::Resume(a) => deploy::flow(g, a, out, false).await,
                Command::Rollback(a) => deploy::flow(g, a, out, true).await,
                Command::ShowProvides(a) => deploy::show_provides(g, a, out).await,
                Command::ShowInventory => deploy::show_inventory(g, out).await,
                Command::Journal(c) => deploy::journal(g, c, out).await,
                Command::Apply(a) => apply::run(g, a, out).await,
                Command::Plan(a) => plan::run(g, a, out).await,
                Command::Status(a) => watch::status(g, a, out).await,
                Command::Events(a) => events::run(g, a, out).await,
                Command::Suspend(a) => actions::run(g, actions::Verb::Suspend, a, out).await,
                Command::Unsuspend(a) => actions::run(g, actions::Verb::Unsuspend, a, out).await,
                Command::Retry(a) => actions::run(g, actions::Verb::Retry, a, out).await,
                Command::Revert(a) => actions::run(g, actions::Verb::Revert, a, out).await,
                Command::UiUrl(a) => ui::run(g, a, out).await,
                Command::History(a) => inspect::history(g, a, out).await,
                Command::Get(c) => inspect::get(g, c, out).await,
                Command::Consent(a) => consent::run(g, a, out).await,
                Command::Validate(_)
                | Command::Config(_)
                | Command::Artifact(_)
                | Command::Bundle(_)
                | Command::Run(_)
                | Command::Demo(_) => unreachable!("dispatched above"),
            }
        }),
    }
}
