//! Which engine a verb talks to. The rule (README, "Read-only verbs"):
//!
//! 1. A daemon that serves this datastore (the handshake) answers everything: the verb acts
//!    through it, so the daemon, the Update Module and a person share one engine.
//! 2. A daemon of another datastore is left alone: the verb says so and goes on in-process.
//! 3. In-process, a verb that acts takes the datastore lock (failing at once when another
//!    baton holds it, naming both datastores when 2. applied); a read-only verb waits
//!    [`LOCK_WAIT`] for it, then answers from what the holder keeps in the datastore (the
//!    last observation, the journal looked at), saying so.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::Elsewhere;
use super::CliError;
use crate::client::handshake::{self, Daemon};
use crate::client::RemoteDeployer;
use crate::config::Effective;
use crate::durable::LockError;
use crate::engine::api::{Deployer, EngineError};
use crate::engine::{DatastoreReader, Engine};
use crate::gates::Gates;
use crate::metrics::Metrics;

/// How long a read-only verb waits for another baton's short verb to release the datastore.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// What the verb needs from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// To act on the System (`install`, `resume`, `rollback`).
    Act,
    /// To ask the components (`show-provides`, `show-inventory`).
    Observe,
    /// To read the journal (`journal show`).
    Journal,
}

/// The engine for a verb that needs `need`, chosen by the rule above.
pub async fn deployer(eff: &Effective, need: Need) -> Result<Box<dyn Deployer>, CliError> {
    let ours = handshake::canonical(&eff.dirs.datastore_dir);
    let other = match handshake::find(&eff.config.api.socket, &ours).await {
        Daemon::Same(client) => {
            tracing::info!(socket = %client.socket().display(), "a baton daemon runs: acting through it");
            return Ok(Box::new(RemoteDeployer::new(client)));
        }
        Daemon::Other { socket, theirs } => {
            eprintln!(
                "baton: the daemon at {} acts on the datastore {}, not on {}: leaving it alone",
                socket.display(),
                theirs.datastore.display(),
                ours.display()
            );
            Some((socket, theirs.datastore))
        }
        Daemon::None => None,
    };
    let held = |held: EngineError| match &other {
        Some((socket, theirs)) => CliError::OtherDaemonAndHeld(
            Box::new(Elsewhere {
                socket: socket.clone(),
                theirs: theirs.clone(),
                ours: ours.clone(),
            }),
            Box::new(held),
        ),
        None => CliError::Engine(held),
    };
    let datastore = eff.dirs.datastore_dir.clone();
    // The components that are Kanto update agents, on one connection for this verb.
    let agents = super::agents::externals(eff, CancellationToken::new());
    match need {
        Need::Act => match Engine::open(eff.clone(), Metrics::default()) {
            Ok(e) => {
                // The same gates as the controller's (but the owner's consent: see
                // `Gates::for_command`).
                let gates = Gates::for_command(&eff.config, &datastore).map_err(CliError::Gates)?;
                let externals = agents.await?;
                Ok(Box::new(
                    e.with_gate(Arc::new(gates)).with_externals(externals),
                ))
            }
            Err(e @ EngineError::Lock(LockError::Busy { .. })) => Err(held(e)),
            Err(e) => Err(e.into()),
        },
        Need::Observe => {
            match Engine::open_within(eff.clone(), Metrics::default(), LOCK_WAIT).await {
                Ok(e) => {
                    // A read still answers for the other components when the agents
                    // cannot be driven (each agent's observation then says why).
                    let externals = agents.await.unwrap_or_else(|e| {
                        eprintln!("baton: {e}");
                        Default::default()
                    });
                    Ok(Box::new(e.with_externals(externals)))
                }
                Err(EngineError::Lock(LockError::Busy { pid, .. })) => {
                    eprintln!(
                    "baton: another baton (pid {pid}) acts on {}: answering from what it keeps there",
                    datastore.display()
                );
                    Ok(Box::new(DatastoreReader::new(datastore, LOCK_WAIT)))
                }
                Err(e) => Err(e.into()),
            }
        }
        Need::Journal => Ok(Box::new(DatastoreReader::new(datastore, LOCK_WAIT))),
    }
}
