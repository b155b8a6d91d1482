//! The daemon's side of the Kanto room's edges (`kanto::edge`): the desired-state door
//! and the system view. (The event feed is [`super::kanto_feed`]; the consent desk is the
//! consent gate's own `gates::consent::Desk`.)
//!
//! - [`DaemonDoor`]: a mapped Kanto desired state goes through [`super::offer`] with
//!   [`Door::Kanto`] and `Origin::Kanto`, like every other door's Manifest. It remembers the
//!   desired state it replaced, so "restore previous" after a failed activity puts that one
//!   back as a new generation (the System already runs it after the rollback: the
//!   reconciler finds it in sync and runs nothing).
//! - [`DaemonView`]: the Topology as admission reads it, the components as the reconciler
//!   last observed them (the status board; the engine's last observation before the first
//!   look), and the desired Manifest when the reconciler found the System on it. It never
//!   waits for a deployment in flight.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::kanto_feed::Queue;
use super::{offer, Offer, OfferError};
use crate::daemon::admission::{Admission, Door};
use crate::daemon::commands::{Action, Answer, Handle, Query};
use crate::daemon::desired::Desired;
use crate::kanto::edge::{
    BatonEvent, BoxFuture, DesiredDoor, KantoOrigin, ObservedComponent, Problems, SystemSnapshot,
    SystemView,
};
use crate::model::{Origin, Provides};

/// How many replaced desired states are remembered for "restore previous".
const REMEMBERED: usize = 16;

pub struct DaemonDoor {
    pub admission: Arc<Admission>,
    pub handle: Handle,
    /// Where the manager's events come from: "already in sync" is said here when the same
    /// Manifest comes again (it keeps its generation, so the reconciler has nothing new).
    pub queue: Arc<Queue>,
    /// Admitted generation -> the desired state it replaced.
    replaced: Mutex<BTreeMap<u64, Option<Arc<Desired>>>>,
}

impl DaemonDoor {
    pub fn new(admission: Arc<Admission>, handle: Handle, queue: Arc<Queue>) -> Self {
        Self {
            admission,
            handle,
            queue,
            replaced: Mutex::default(),
        }
    }

    fn replaced(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Option<Arc<Desired>>>> {
        self.replaced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The same Manifest again kept its generation: say where that generation stands, or
    /// try it again (the backend sending it again is Kanto's way to retry).
    async fn again(&self, generation: u64) {
        let s = self.handle.board.get();
        if s.deployment.is_some() {
            return; // its end (or the end of what runs) comes as an event
        }
        if s.observed_generation == generation && s.failures == 0 {
            self.queue.push(BatonEvent::InSync { generation });
        } else if s.failures > 0 {
            tracing::info!(
                generation,
                "Kanto: the same desired state again: trying it again"
            );
            if let Err(e) = self.handle.action(Action::Retry).await {
                tracing::warn!(generation, error = %e, "Kanto: cannot try the desired state again");
            }
        } else {
            self.handle.poke();
        }
    }
}

impl DesiredDoor for DaemonDoor {
    fn admit(
        &self,
        manifest_yaml: Vec<u8>,
        origin: KantoOrigin,
    ) -> BoxFuture<'_, Result<u64, Problems>> {
        Box::pin(async move {
            let (admission, handle) = (self.admission.clone(), self.handle.clone());
            let before = handle.desired.current();
            let applied = tokio::task::spawn_blocking(move || {
                let shown_as = format!("kanto:{}", origin.activity_id);
                offer(
                    &admission,
                    &handle,
                    Offer {
                        door: Door::Kanto,
                        origin: Origin::Kanto {
                            activity: origin.activity_id.clone(),
                        },
                        shown_as: &shown_as,
                        bytes: &manifest_yaml,
                        signature: None,
                        base_dir: None,
                    },
                )
            })
            .await
            .map_err(|e| Problems(vec![format!("admission stopped: {e}")]))?;
            let applied = applied.map_err(|e| match e {
                OfferError::Refused(r) => {
                    Problems(r.diagnostics.0.iter().map(|d| d.to_string()).collect())
                }
                OfferError::Store(e) => {
                    Problems(vec![format!("the desired state could not be stored: {e}")])
                }
            })?;
            if applied.changed {
                let mut replaced = self.replaced();
                replaced.insert(applied.generation, before);
                while replaced.len() > REMEMBERED {
                    replaced.pop_first();
                }
            } else {
                self.again(applied.generation).await;
            }
            Ok(applied.generation)
        })
    }

    fn restore_previous(&self, generation: u64) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let before = self.replaced().remove(&generation);
            let desired = self.handle.desired.clone();
            if desired.generation() != generation {
                tracing::info!(
                    generation,
                    newest = desired.generation(),
                    "Kanto: a newer desired state exists; nothing to restore"
                );
                return Ok(());
            }
            let Some(Some(previous)) = before else {
                tracing::warn!(
                    generation,
                    "Kanto: no desired state before this one; it stays desired and is not retried"
                );
                return Ok(());
            };
            let (name, origin) = (
                previous.manifest.manifest.name.clone(),
                previous.origin.clone(),
            );
            let applied = tokio::task::spawn_blocking(move || {
                desired.apply(previous.manifest.clone(), previous.origin.clone(), None)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            tracing::info!(generation = applied.0, manifest = %name, %origin, failed = generation, "Kanto: the desired state before the failed activity is desired again");
            if applied.1 {
                self.handle.poke();
            }
            Ok(())
        })
    }
}

pub struct DaemonView {
    pub admission: Arc<Admission>,
    pub handle: Handle,
}

impl DaemonView {
    /// Each component's `Inventory` answers (hardware nodes come from its `hardware.*` keys),
    /// through the engine's read: `<type>.<id>.<key>=<value>` lines, split back per component.
    /// Best effort: without them the current state still lists what every component runs.
    async fn add_inventory(&self, components: &mut [ObservedComponent]) {
        let lines = match self.handle.query(Query::Inventory).await {
            Ok(Answer::Inventory(inv)) => inv.lines,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "Kanto: the components' inventory could not be read; the current state has no hardware nodes");
                return;
            }
        };
        for c in components.iter_mut() {
            let Some(id) = &c.id else { continue };
            let prefix = format!("{}.{}.", c.component_type, id);
            for (k, v) in &lines {
                if let Some(key) = k.strip_prefix(&prefix) {
                    c.inventory
                        .entry(key.to_string())
                        .or_default()
                        .push(v.clone());
                }
            }
        }
    }
}

impl SystemView for DaemonView {
    fn snapshot(&self) -> BoxFuture<'_, Result<SystemSnapshot, String>> {
        Box::pin(async move {
            let (file, components) = (
                self.admission.topology_file.clone(),
                self.admission.topology_components.clone(),
            );
            let topology = tokio::task::spawn_blocking(move || {
                crate::resource::load_topology(&file, components.as_deref())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the Topology: {e}"))?;
            let status = self.handle.board.get();
            let components = if status.components.is_empty() {
                // Before the reconciler's first look: the engine's read, which answers from
                // its last observation while a deployment runs.
                match self.handle.query(Query::Provides).await {
                    Ok(Answer::Provides(obs)) => obs
                        .components
                        .into_iter()
                        .map(|c| ObservedComponent {
                            component_type: c.component_type,
                            interface: c.interface,
                            id: c.id,
                            provides: c.provides,
                            inventory: BTreeMap::new(),
                            error: c.error,
                        })
                        .collect(),
                    Ok(_) => Vec::new(),
                    Err(e) => return Err(e.to_string()),
                }
            } else {
                status
                    .components
                    .iter()
                    .map(|c| ObservedComponent {
                        component_type: c.component_type.clone(),
                        interface: c.interface.clone(),
                        id: c.id.clone(),
                        provides: Provides(c.provides.clone()),
                        inventory: BTreeMap::new(),
                        error: c.error.clone(),
                    })
                    .collect()
            };
            let mut components = components;
            self.add_inventory(&mut components).await;
            let deployed = self
                .handle
                .desired
                .current()
                .filter(|d| d.generation == status.observed_generation)
                .map(|d| d.manifest.clone());
            Ok(SystemSnapshot {
                baton_version: env!("CARGO_PKG_VERSION").to_string(),
                topology,
                deployed,
                components,
            })
        })
    }
}
