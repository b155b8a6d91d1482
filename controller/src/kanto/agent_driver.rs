//! A Kanto update agent as the engine drives it: [`AgentDriver`] implements the engine's seam
//! for Interfaces that are not processes ([`ExternalInterface`]) over an [`AgentComponent`]
//! and the [`SliceStore`], for a Topology component with `interface: kanto:<domain>`.
//!
//! - The "Artifact" the Manifest names (`kanto-<domain>-<digest>`) is a slice in the store;
//!   planning asks [`ExternalInterface::target`] whether it is there, Download reads it
//!   (a missing one fails Download, naming the component and the slice).
//! - A state runs with the deployment's id as the agent's activityId: the same for every
//!   state of a deployment, also when baton resumes it after a restart.
//! - When ACTIVATE (baton's ArtifactCommit) succeeds, the slice is noted as the agent's
//!   activated one; `Provides` carries `artifact_name=<it>` while the agent's current state
//!   still shows every component of that slice at its version, so the engine skips an agent
//!   that already runs its slice and redeploys one that drifted.
//! - Progress is the mean of the agent's actions' progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::agent::AgentComponent;
use super::link::now_ms;
use super::slices::SliceStore;
use super::wire::{Action, DesiredState};
use crate::interface::external::{BoxFuture, ExternalInterface, PercentSink, StateCall};
use crate::interface::protocol::{Inventory, RebootAnswer, State};
use crate::model::{ComponentId, Provides};

/// One Kanto update agent as a component's Interface.
pub struct AgentDriver {
    component: AgentComponent,
    slices: SliceStore,
}

impl AgentDriver {
    pub fn new(component: AgentComponent, slices: SliceStore) -> Arc<Self> {
        Arc::new(Self { component, slices })
    }

    fn domain(&self) -> &str {
        self.component.agent().domain()
    }

    /// An activityId for a query outside a deployment.
    fn query_activity(&self, what: &str) -> String {
        format!("baton-{what}-{}", now_ms())
    }

    fn slice(&self, call: &StateCall<'_>) -> Result<DesiredState, String> {
        let missing = |detail: String| {
            format!(
                "component '{}' (Kanto update agent '{}'): {detail}",
                call.component,
                self.domain()
            )
        };
        match self.slices.read(call.artifact_name) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(missing(format!(
                "no desired-state slice for '{}' at {} (it is written when a Kanto desired state naming it is admitted)",
                call.artifact_name,
                self.slices.path(call.artifact_name).display()
            ))),
            Err(e) => Err(missing(e.to_string())),
        }
    }
}

/// Whether the agent's current state (`provides`: `kanto.<node id>` -> version) shows every
/// component of `slice`'s domains at its version (a node is `<domain>:<id>`, or `<id>`).
pub fn runs(slice: &DesiredState, provides: &BTreeMap<String, String>) -> bool {
    slice.domains.iter().all(|d| {
        d.components.iter().all(|c| {
            let (id, version) = (&c.component.id, &c.component.version);
            [format!("kanto.{}:{id}", d.id), format!("kanto.{id}")]
                .iter()
                .any(|k| provides.get(k) == Some(version))
        })
    })
}

/// The mean progress of `actions`, in percent.
pub fn percent(actions: &[Action]) -> Option<u8> {
    if actions.is_empty() {
        return None;
    }
    let sum: usize = actions
        .iter()
        .map(|a| usize::from(a.progress.min(100)))
        .sum();
    Some((sum / actions.len()) as u8)
}

impl ExternalInterface for AgentDriver {
    fn identity(&self) -> BoxFuture<'_, Result<ComponentId, String>> {
        Box::pin(async move {
            let id = self
                .component
                .identity(&self.query_activity("identity"))
                .await
                .map_err(|e| e.to_string())?;
            ComponentId::new(id.clone()).map_err(|e| {
                format!(
                    "the Kanto update agent '{}' names itself '{id}': {e}",
                    self.domain()
                )
            })
        })
    }

    fn provides<'a>(&'a self, _: &'a ComponentId) -> BoxFuture<'a, Result<Provides, String>> {
        Box::pin(async move {
            let mut p = self
                .component
                .provides(&self.query_activity("provides"))
                .await
                .map_err(|e| e.to_string())?;
            let activated = self.slices.activated(self.domain());
            if let Some(name) = activated {
                if let Ok(Some(slice)) = self.slices.read(&name) {
                    if runs(&slice, &p) {
                        p.insert("artifact_name".into(), name);
                    }
                }
            }
            Ok(Provides(p))
        })
    }

    fn inventory<'a>(&'a self, _: &'a ComponentId) -> BoxFuture<'a, Result<Inventory, String>> {
        let domain = vec![self.domain().to_string()];
        Box::pin(async move { Ok(Inventory(BTreeMap::from([("kanto_domain".into(), domain)]))) })
    }

    fn supports_rollback(&self) -> BoxFuture<'_, Result<bool, String>> {
        let yes = self.component.supports_rollback();
        Box::pin(async move { Ok(yes) })
    }

    fn needs_reboot(&self) -> BoxFuture<'_, Result<RebootAnswer, String>> {
        let answer = if self.component.needs_reboot() {
            RebootAnswer::Yes
        } else {
            RebootAnswer::No
        };
        Box::pin(async move { Ok(answer) })
    }

    fn target(&self, artifact_name: &str) -> Result<(), String> {
        match self.slices.read(artifact_name) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "no desired-state slice for the Kanto update agent '{}' named '{artifact_name}' at {} (it is written when a Kanto desired state naming it is admitted)",
                self.domain(),
                self.slices.path(artifact_name).display()
            )),
            Err(e) => Err(format!(
                "the Kanto update agent '{}': {e}",
                self.domain()
            )),
        }
    }

    fn run_state<'a>(
        &'a self,
        call: StateCall<'a>,
        progress: PercentSink<'a>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let slice = match call.state {
                State::Download | State::DownloadWithFileSizes => self.slice(&call)?,
                // Only identification sends the slice; the commands name the activity.
                _ => DesiredState::default(),
            };
            let mut report = |actions: &[Action]| {
                if let Some(p) = percent(actions) {
                    progress(p);
                }
            };
            self.component
                .run_state(call.deployment, call.state, &slice, &mut report)
                .await
                .map_err(|e| e.to_string())?;
            if call.state == State::ArtifactCommit {
                // Activated: this is what the agent runs now. Failing to note it costs a
                // needless redeployment later, not the System's consistency.
                if let Err(e) = self.slices.set_activated(self.domain(), call.artifact_name) {
                    tracing::warn!(domain = self.domain(), error = %e, "Kanto: could not note the activated slice");
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kanto::wire::ActionStatus;

    fn slice(components: &[(&str, &str)]) -> DesiredState {
        serde_json::from_value(serde_json::json!({"domains":[{"id":"containers","components":
            components.iter().map(|(i, v)| serde_json::json!({"id": i, "version": v})).collect::<Vec<_>>()}]}))
        .unwrap()
    }

    fn nodes(n: &[(&str, &str)]) -> BTreeMap<String, String> {
        n.iter()
            .map(|(k, v)| (format!("kanto.{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn an_agent_runs_a_slice_when_every_component_is_at_its_version() {
        let s = slice(&[("web", "1.4"), ("db", "15")]);
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("containers:web", "1.4"), ("containers:db", "15")], true),
            (&[("web", "1.4"), ("db", "15")], true),
            (
                &[
                    ("containers:web", "1.4"),
                    ("containers:db", "15"),
                    ("containers:x", "1"),
                ],
                true,
            ),
            (&[("containers:web", "1.3"), ("containers:db", "15")], false),
            (&[("containers:web", "1.4")], false),
            (&[], false),
        ];
        for (n, want) in cases {
            assert_eq!(runs(&s, &nodes(n)), *want, "{n:?}");
        }
        assert!(
            runs(&slice(&[]), &nodes(&[])),
            "an empty slice: nothing to run"
        );
    }

    #[test]
    fn progress_is_the_mean_of_the_actions() {
        let a = |p: u8| Action {
            component: Default::default(),
            status: ActionStatus::Downloading,
            progress: p,
            message: String::new(),
        };
        assert_eq!(percent(&[]), None);
        assert_eq!(percent(&[a(50)]), Some(50));
        assert_eq!(percent(&[a(0), a(100), a(50)]), Some(50));
        assert_eq!(percent(&[a(200)]), Some(100));
    }
}
