//! What the sources and the API may ask of the reconciler, and the handle they ask through.
//!
//! A source that changes the desired state writes it to the [`DesiredStore`] itself and then
//! only pokes ("look again"). Actions and Update Module hand-offs are messages answered by
//! the reconciler's single loop, so they never race a deployment.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::desired::DesiredStore;
use super::status::Board;
use crate::engine::api::{
    DeploymentReport, EngineError, Inventory, JournalView, Observation, PlanReport, RunOptions,
};
use crate::gates::Gates;
use crate::model::Reason;
use crate::resource::LoadedManifest;

/// The actions of the local API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forget the failures of the desired generation and try again now (also un-stalls).
    Retry,
    /// Make the last good Manifest desired again (a new generation).
    Rollback,
    /// Start no new reconcile (a running deployment still finishes).
    Suspend,
    Resume,
    /// The next update lock check passes whatever is held (`baton apply --force`).
    Force,
}

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "retry" => Action::Retry,
            "rollback" => Action::Rollback,
            "suspend" => Action::Suspend,
            "resume" => Action::Resume,
            "force" => Action::Force,
            _ => return None,
        })
    }
}

pub use crate::wire::ActionReply;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("there is no earlier good Manifest to roll back to")]
    NothingToRollBackTo,
    #[error("{0}")]
    Failed(String),
}

/// An Update Module hand-off: the engine verbs, run by the daemon for a CLI client.
#[derive(Debug)]
pub enum Handoff {
    Install {
        manifest: LoadedManifest,
        opts: RunOptions,
    },
    Resume {
        opts: RunOptions,
        explicit: bool,
    },
    Rollback {
        opts: RunOptions,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("baton is deploying '{manifest}' (generation {generation}); try again when it ends")]
    Busy { manifest: String, generation: u64 },
    #[error("baton is shutting down")]
    ShuttingDown,
    /// The update policy holds the Manifest back (`NotNewer`, `NotPinned`): nothing ran.
    #[error("{message}")]
    Held { reason: Reason, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a read endpoint asks the engine; answered without waiting for a deployment (the
/// engine answers from its last observation while one runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Provides,
    Inventory,
    Journal,
}

#[derive(Debug)]
pub enum Answer {
    Provides(Observation),
    Inventory(Inventory),
    Journal(JournalView),
}

pub enum Command {
    /// A read; the reconciler answers it on a task of its own, so it never waits for the
    /// loop (or a deployment) and the loop never waits for it.
    Query(Query, oneshot::Sender<Result<Answer, EngineError>>),
    /// What deploying a Manifest would do now (`baton plan`), answered as a read is.
    Plan(
        Box<LoadedManifest>,
        oneshot::Sender<Result<PlanReport, EngineError>>,
    ),
    Action(Action, oneshot::Sender<Result<ActionReply, ActionError>>),
    Handoff(
        Box<Handoff>,
        oneshot::Sender<Result<DeploymentReport, HandoffError>>,
    ),
}

/// How the rest of the daemon talks to the reconciler. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    pub(super) tx: mpsc::Sender<Command>,
    pub(super) poke: Arc<Notify>,
    pub board: Arc<Board>,
    pub desired: Arc<DesiredStore>,
    pub(super) ready: watch::Receiver<bool>,
    /// The gates: the consent desk and `--force` are reached through them.
    pub gates: Arc<Gates>,
}

impl Handle {
    /// "Look again."
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Recovery (journal replay, first directory scan) is done.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    pub async fn action(&self, a: Action) -> Result<ActionReply, ActionError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Action(a, tx))
            .await
            .map_err(|_| ActionError::Failed("baton is shutting down".into()))?;
        rx.await
            .map_err(|_| ActionError::Failed("baton is shutting down".into()))?
    }

    pub async fn query(&self, q: Query) -> Result<Answer, EngineError> {
        let (tx, rx) = oneshot::channel();
        let gone = || EngineError::Remote("baton is shutting down".into());
        self.tx
            .send(Command::Query(q, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub async fn plan(&self, m: LoadedManifest) -> Result<PlanReport, EngineError> {
        let (tx, rx) = oneshot::channel();
        let gone = || EngineError::Remote("baton is shutting down".into());
        self.tx
            .send(Command::Plan(Box::new(m), tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub async fn handoff(&self, h: Handoff) -> Result<DeploymentReport, HandoffError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Handoff(Box::new(h), tx))
            .await
            .map_err(|_| HandoffError::ShuttingDown)?;
        rx.await.map_err(|_| HandoffError::ShuttingDown)?
    }
}
