//! Why a verb failed: one error type for the whole command line, each variant with its
//! exit code. Verbs return it; [`super::run`] prints it once, as `baton: <message>`.

use std::path::PathBuf;

use super::exit;
use crate::client::ClientError;
use crate::config::ConfigError;
use crate::engine::api::EngineError;
use crate::resource::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("the configuration is invalid:\n{0}")]
    Config(#[from] ConfigError),
    #[error("the Manifest is invalid:\n{0}")]
    Manifest(Diagnostics),
    /// A bundle that could not be verified or staged.
    #[error("the bundle {0}")]
    Bundle(String),
    #[error("there is no deployment in progress: nothing to resume or roll back")]
    NothingInProgress,
    #[error(transparent)]
    Engine(EngineError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("lost the daemon: {0}")]
    LostDaemon(ClientError),
    #[error("no baton daemon answers at {} (start it with `baton run`)", .0.display())]
    NoDaemon(PathBuf),
    /// The daemon on the socket acts on another datastore: never act on its System.
    #[error("{0}")]
    OtherDaemon(Box<Elsewhere>),
    /// The daemon on the socket acts on another datastore, and another baton holds ours.
    #[error("{0}; and {1}")]
    OtherDaemonAndHeld(Box<Elsewhere>, Box<EngineError>),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", file.display())]
    Apply { file: PathBuf, source: ClientError },
    /// Arguments clap cannot check alone.
    #[error("{0}")]
    Usage(String),
    #[error("--force: {0}")]
    Force(ClientError),
    /// The daemon refused a controller action (`baton suspend`...), with the API's reason.
    #[error("{verb} refused: {source}")]
    Refused {
        verb: &'static str,
        source: ClientError,
    },
    /// `baton ui-url` with a daemon that has no TCP listener to serve the page on.
    #[error(
        "the status page is served on the API's TCP listener, and this daemon has none: set \
Api.Tcp (e.g. \"127.0.0.1:7373\") and Api.TokenFile or Api.ReadTokenFile in the \
configuration, then restart `baton run`"
    )]
    NoStatusPage,
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    #[error("the configuration's gates are invalid:\n{}", .0.join("\n"))]
    Gates(Vec<String>),
    /// The update policy holds the Manifest back (`NotNewer`, `NotPinned`): nothing ran.
    #[error("{reason}: {message}")]
    Held {
        reason: crate::model::Reason,
        message: String,
    },
    /// A Topology component driven by a Kanto update agent that cannot be driven.
    #[error("{0}")]
    Kanto(String),
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// A daemon that acts on another datastore than the command's.
#[derive(Debug, thiserror::Error)]
#[error(
    "the baton daemon at {} acts on the datastore {}, not on this command's datastore {}",
    socket.display(), theirs.display(), ours.display()
)]
pub struct Elsewhere {
    pub socket: PathBuf,
    pub theirs: PathBuf,
    pub ours: PathBuf,
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NothingInProgress => CliError::NothingInProgress,
            e => CliError::Engine(e),
        }
    }
}

impl CliError {
    /// Mender Orchestrator's exit code for it: 2 when there was nothing to resume or roll
    /// back, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NothingInProgress => exit::NOTHING,
            CliError::Usage(_) => exit::USAGE,
            _ => exit::INVALID,
        }
    }
}
