//! The engine's side of the seam for Interfaces that are not processes
//! ([`crate::interface::external`]): which components go through it, their observation, the
//! planner's candidate for what they install, and one state or query run with the engine's
//! timeouts and progress. The executor, the observation and the planning call these where
//! they would call the runner or resolve an Artifact; every other rule of a deployment (order
//! groups, parallelism, journal, rollback of the whole System, gates) is the driver's and
//! does not know the difference.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::machine::{CallResult, QueryResult};
use super::plan::{Candidate, Observed, PlannedComponent};
use super::progress::{Progress, ProgressSink};
use super::report::ComponentRef;
use super::states::{Query, State};
use crate::interface::external::{ExternalInterface, Externals, StateCall};
use crate::interface::protocol::Inventory;
use crate::model::{ComponentId, ComponentType, Provides, Topology};

/// The component types of `topology` whose components are driven by an external Interface
/// (none of them has an Artifact file), and the problems of types that mix the two kinds.
pub(super) fn external_types(
    topology: &Topology,
    externals: &Externals,
) -> (BTreeSet<ComponentType>, Vec<String>) {
    let mut external = BTreeSet::new();
    let mut process = BTreeSet::new();
    for c in &topology.components {
        if externals.get(&c.interface).is_some() {
            external.insert(c.component_type.clone());
        } else {
            process.insert(c.component_type.clone());
        }
    }
    let mixed = external
        .intersection(&process)
        .map(|t| {
            format!(
                "component type '{t}' has components driven by an external Interface ({}) and by an executable; a component type takes one kind of Artifact, so give them one kind of interface",
                names_for(topology, externals, t)
            )
        })
        .collect();
    (external, mixed)
}

fn names_for(topology: &Topology, externals: &Externals, t: &ComponentType) -> String {
    let names: BTreeSet<&str> = topology
        .components
        .iter()
        .filter(|c| &c.component_type == t && externals.get(&c.interface).is_some())
        .map(|c| c.interface.as_str())
        .collect();
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// What an external Interface installs, for the planner: named by `artifact_name` alone.
/// A component runs it when its Provides say `artifact_name=<it>` (the external Interface
/// reports what it last activated, and only while that still holds).
pub(super) struct ExternalTarget {
    pub artifact_name: String,
}

impl Candidate for ExternalTarget {
    fn artifact_name(&self) -> &str {
        &self.artifact_name
    }
    fn is_installed(&self, provides: &Provides) -> bool {
        provides.get("artifact_name") == Some(self.artifact_name.as_str())
    }
    fn check_compatible(&self, _: &ComponentType, _: &Provides) -> Result<(), Vec<String>> {
        Ok(())
    }
}

/// Bounds an external call as the runner bounds a process's.
async fn bounded<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{what} did not finish within {} s",
            limit.as_secs()
        )),
    }
}

/// `Identity` then `Provides`, each within `limit`.
pub(super) async fn observe(
    driver: &dyn ExternalInterface,
    limit: Duration,
) -> Result<Observed, String> {
    let id = bounded(limit, "Identity", driver.identity()).await?;
    let provides = bounded(limit, "Provides", driver.provides(&id)).await?;
    Ok(Observed { id, provides })
}

/// `Inventory` within `limit`.
pub(super) async fn inventory(
    driver: &dyn ExternalInterface,
    id: &ComponentId,
    limit: Duration,
) -> Result<Inventory, String> {
    bounded(limit, "Inventory", driver.inventory(id)).await
}

/// One state of one planned component, within `limit`; its progress reported as
/// [`Progress::Percent`].
pub(super) async fn run_state(
    driver: Arc<dyn ExternalInterface>,
    deployment: &str,
    c: &PlannedComponent,
    state: State,
    progress: Arc<dyn ProgressSink>,
    limit: Duration,
) -> CallResult {
    let who = ComponentRef {
        component_type: c.component_type.to_string(),
        id: c.id.to_string(),
    };
    let report = move |percent: u8| {
        progress.emit(Progress::Percent {
            component: who.clone(),
            percent: percent.min(100),
        })
    };
    let call = StateCall {
        deployment,
        component: &c.id,
        artifact_name: &c.artifact_name,
        state,
    };
    match bounded(limit, state.as_str(), driver.run_state(call, &report)).await {
        Ok(()) => CallResult::Ok,
        Err(why) => CallResult::Failed(why),
    }
}

/// One query the engine schedules during a deployment, within `limit`.
pub(super) async fn query(
    driver: &dyn ExternalInterface,
    query: Query,
    limit: Duration,
) -> QueryResult {
    let r = match query {
        Query::SupportsRollback => bounded(limit, query.as_str(), driver.supports_rollback())
            .await
            .map(QueryResult::SupportsRollback),
        Query::NeedsArtifactReboot => bounded(limit, query.as_str(), driver.needs_reboot())
            .await
            .map(QueryResult::NeedsReboot),
        other => Err(format!("the engine does not schedule {other}")),
    };
    r.unwrap_or_else(QueryResult::Failed)
}

#[cfg(test)]
#[path = "external_tests.rs"]
mod tests;
