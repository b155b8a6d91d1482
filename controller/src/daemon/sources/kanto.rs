//! Eclipse Kanto's Update Manager API as a desired-state source (`Kanto` in the
//! configuration): baton as a drop-in for Kanto's Update Manager.
//!
//! The settings are checked when the source is made ([`KantoSource::open`]), so a bad value
//! stops `baton run` with `Kanto.<Key>: ...`; then one MQTT connection
//! ([`crate::kanto::link::Link`]) starts and the room's [`KantoUpdateManager`] runs on it with
//! the daemon's edges: the door ([`super::kanto_edges::DaemonDoor`], `Door::Kanto`), the
//! system view ([`super::kanto_edges::DaemonView`]), the event feed
//! ([`super::kanto_feed`]) and the consent gate's desk. A Kanto desired state changes the
//! System only as a generation of the desired state, which the reconciler deploys like
//! any other.
//!
//! The Update Manager has its own connection (client id `baton-update-manager`); the drivers
//! of `kanto:<domain>` components share another (`baton-agents`, built with the engine in
//! `cli/agents.rs`). The manager writes every agent's slice of a desired state into the
//! datastore's [`SliceStore`] before admitting the Manifest that names it, where those
//! drivers read it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::kanto_edges::{DaemonDoor, DaemonView};
use super::kanto_feed::{pump, Feed, Queue};
use super::{Source, SourceContext, SourceError, StartError};
use crate::engine::api::BoxFuture;
use crate::kanto::link::Link;
use crate::kanto::manager::{Edges, KantoUpdateManager};
use crate::kanto::slices::SliceStore;
use crate::kanto::{KantoConfig, KantoSettings};

pub struct KantoSource {
    settings: KantoSettings,
    link: Link,
    slices: SliceStore,
    /// Stops the connection when the source ends.
    stop: CancellationToken,
}

impl KantoSource {
    /// Checks the `Kanto` key and starts connecting to its broker (in the background, with
    /// backoff: a broker that is not there yet does not stop `baton run`).
    pub fn open(cfg: &KantoConfig, datastore: &std::path::Path) -> Result<Self, StartError> {
        let settings = cfg.settings()?;
        let stop = CancellationToken::new();
        let link = Link::connect(&settings, "baton-update-manager", stop.clone());
        tracing::info!(
            broker = link.broker(),
            domain = %settings.domain,
            things = settings.things_enabled,
            "Kanto: connecting"
        );
        Ok(Self {
            settings,
            link,
            slices: SliceStore::new(datastore),
            stop,
        })
    }
}

impl Source for KantoSource {
    fn name(&self) -> &'static str {
        "kanto"
    }

    fn run(self: Box<Self>, mut ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            let _stop = self.stop.clone().drop_guard();
            let handle = ctx.handle.clone();
            let queue = Arc::new(Queue::default());
            // Subscribed before anything is admitted: no event the manager waits for is missed.
            let rx = handle.board.events().subscribe();
            let consent = handle.gates.desk().subscribe();
            let pumping = tokio::spawn(pump(handle.board.clone(), rx, consent, queue.clone()));
            let edges = Edges {
                door: Arc::new(DaemonDoor::new(
                    ctx.admission.clone(),
                    handle.clone(),
                    queue.clone(),
                )),
                view: Arc::new(DaemonView {
                    admission: ctx.admission.clone(),
                    handle: handle.clone(),
                }),
                consent: handle.gates.desk().clone(),
                events: Box::new(Feed(queue)),
            };
            let manager = KantoUpdateManager::new(self.settings, self.link.clone(), edges)
                .with_slices(self.slices);
            ctx.started();
            let r = manager.run(ctx.shutdown.clone()).await;
            pumping.abort();
            r.map_err(|e| SourceError::Failed(e.to_string()))
        })
    }
}
