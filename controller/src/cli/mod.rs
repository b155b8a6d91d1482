//! The command line: Mender Orchestrator's verbs plus baton's own.

use std::process::ExitCode;

use clap::Parser;

pub mod artifact;

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "On-device reconciliation controller for multi-component updates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Read and verify Mender Artifacts.
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Artifact(cmd) => artifact::run(
            cmd,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
    };
    ExitCode::from(code)
}
