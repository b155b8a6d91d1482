//! The engine's reads, which never wait for a deployment (the rule is in [`super::kept`]):
//! keeping the last observation, answering from it while busy, the inventory, the journal.

use super::ending::{in_flight_of, now};
use super::error::EngineError;
use super::kept::{load_kept, Kept, KEPT};
use super::live::{Books, Engine};
use super::report::{Inventory, JournalView, Observation};
use super::store::Slot;
use crate::durable;
use crate::interface::runner::{query_work_dir, Invocation};

impl Engine {
    /// The books for a read: `None` while a deployment holds them, or when a short call
    /// does not release them within the busy wait.
    pub(super) async fn books_for_a_read(&self) -> Option<tokio::sync::MutexGuard<'_, Books>> {
        if self.deploying.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        tokio::time::timeout(self.busy_wait, self.books.lock())
            .await
            .ok()
    }

    /// Remembers `o` as the last observation, with the Manifest the System runs now. A
    /// failure to keep it on disk costs nothing but a staler answer elsewhere.
    pub(super) fn keep(&self, o: &Observation) {
        let manifest = self
            .store
            .get(Slot::Current)
            .ok()
            .flatten()
            .map(|c| c.meta.name);
        let kept = Kept {
            observation: o.clone(),
            manifest,
        };
        let bytes = serde_json::to_vec(&kept).expect("observations serialize");
        if let Err(e) = durable::replace_cache(&self.eff.dirs.datastore_dir, KEPT, &bytes) {
            tracing::debug!(error = %e, "cannot keep the observation in the datastore");
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(kept);
    }

    /// The last observation, in memory or else in the datastore.
    pub(super) fn last(&self) -> Result<Kept, EngineError> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some(k) => Ok(k.stale()),
            None => load_kept(&self.eff.dirs.datastore_dir)
                .map(Kept::stale)
                .map_err(|e| {
                    EngineError::NoObservation(format!(
                        "{e}; a deployment runs: try again when it ends"
                    ))
                }),
        }
    }

    /// The System's inventory as Mender inventory lines: the system type, the deployed
    /// Manifest, and each component's Provides and Inventory, keyed
    /// `<component_type>.<id>.<key>`. While a deployment runs, from the last observation.
    pub(super) async fn inventory_now(&self) -> Result<Inventory, EngineError> {
        let topology = self.topology()?;
        let Some(_books) = self.books_for_a_read().await else {
            return self.last().map(|k| k.inventory());
        };
        let mut lines = vec![("system_type".to_string(), topology.system_type.clone())];
        if let Some(current) = self.store.get(Slot::Current)? {
            lines.push(("orchestrator_manifest".into(), current.meta.name));
        }
        let observed = self.observe_topology(&topology).await;
        let datastore = &self.eff.dirs.datastore_dir;
        for (spec, o) in topology.components.iter().zip(observed) {
            let Ok(o) = o else { continue };
            let prefix = format!("{}.{}", spec.component_type, o.id);
            lines.push(("component".into(), prefix.clone()));
            for (k, v) in o.provides.iter() {
                lines.push((format!("{prefix}.{k}"), v.to_string()));
            }
            let answer = match self.settings.externals.get(&spec.interface) {
                Some(driver) => {
                    let limit = self.runner.config().query_timeout;
                    super::external::inventory(&**driver, &o.id, limit).await
                }
                None => {
                    let work = query_work_dir(datastore, &spec.interface);
                    let inv = Invocation::new(&self.settings.interfaces_dir, spec, work)
                        .with_component(o.id.clone());
                    self.runner.inventory(&inv).await.map_err(|e| e.to_string())
                }
            };
            match answer {
                Ok(inventory) => {
                    for (k, vs) in inventory.0 {
                        for v in vs {
                            lines.push((format!("{prefix}.{k}"), v));
                        }
                    }
                }
                Err(e) => tracing::warn!(component = %prefix, error = %e, "Inventory query failed"),
            }
        }
        Ok(Inventory {
            lines,
            taken_at: now(),
            live: true,
        })
    }

    /// Every component's Identity and Provides: now when the engine is idle, else the last
    /// observation.
    pub(super) async fn observe_now(&self) -> Result<Observation, EngineError> {
        let topology = self.topology()?;
        let Some(_books) = self.books_for_a_read().await else {
            return self.last().map(|k| k.observation);
        };
        let observed = self.observe_topology(&topology).await;
        Ok(self.observation(&topology, observed))
    }

    /// The journal as this engine holds it (the last known state while a deployment runs).
    pub(super) async fn journal_now(&self) -> JournalView {
        let dir = self.eff.dirs.datastore_dir.join("journal");
        let (generation, record) = match self.books_for_a_read().await {
            Some(books) => (
                books.journal.generation(),
                books.record.as_ref().map(in_flight_of),
            ),
            None => self.snapshot.get(),
        };
        JournalView {
            journal: dir.display().to_string(),
            generation,
            fell_back: self.fell_back.clone(),
            deployment: record,
            locked: true,
        }
    }
}
