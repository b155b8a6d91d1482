//! Interfaces that are not processes: a component whose Topology `interface` names something
//! baton drives by other means (today a Kanto domain update agent over MQTT,
//! `interface: kanto:<domain>`). The engine asks such a component the same queries and runs
//! the same states as it would a process Interface, in the same order groups, with the same
//! journal, timeouts and whole-System rollback; only the call itself goes through
//! [`ExternalInterface`] instead of the runner.
//!
//! What differs from a process Interface, and why:
//! - Download is given no Artifact file: the Manifest's `artifact_name` names what the
//!   external Interface installs ([`ExternalInterface::target`] says at planning whether it
//!   knows that name), so no Artifact source is asked for it.
//! - There is no File API directory; a state is told the deployment's id instead, which
//!   stays the same for the deployment's whole life, also after a restart.
//! - Progress is a percentage the external Interface reports, not payload bytes.
//!
//! The implementations live in the rooms that speak their protocol (`kanto/`); the engine
//! sees only this trait, chosen per component by its `interface` ([`Externals`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::protocol::{Inventory, RebootAnswer, State};
use crate::model::{ComponentId, InterfaceName, Provides};

/// A boxed future, so the trait can be used as `Arc<dyn ExternalInterface>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One state for one component of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCall<'a> {
    /// The deployment's id: the same for every state of one deployment, across restarts.
    pub deployment: &'a str,
    pub component: &'a ComponentId,
    /// What the component is moved to: the Manifest's `artifact_name`.
    pub artifact_name: &'a str,
    pub state: State,
}

/// Receives a state's progress in percent (0..=100). Must not block.
pub type PercentSink<'a> = &'a (dyn Fn(u8) + Send + Sync);

/// A component's Interface that is not a process. Errors are the reason in words; the
/// engine records them as a process Interface's failures are recorded.
pub trait ExternalInterface: Send + Sync {
    /// `Identity`.
    fn identity(&self) -> BoxFuture<'_, Result<ComponentId, String>>;
    /// `Provides` of the component `id`.
    fn provides<'a>(&'a self, id: &'a ComponentId) -> BoxFuture<'a, Result<Provides, String>>;
    /// `Inventory` of the component `id`.
    fn inventory<'a>(&'a self, id: &'a ComponentId) -> BoxFuture<'a, Result<Inventory, String>>;
    /// `SupportsRollback`.
    fn supports_rollback(&self) -> BoxFuture<'_, Result<bool, String>>;
    /// `NeedsArtifactReboot`.
    fn needs_reboot(&self) -> BoxFuture<'_, Result<RebootAnswer, String>>;
    /// Whether this Interface can install what `artifact_name` names (it stands where a
    /// process Interface's Artifact file would). Asked when planning, before anything is
    /// touched; the reason names what is missing.
    fn target(&self, artifact_name: &str) -> Result<(), String>;
    /// Runs one state.
    fn run_state<'a>(
        &'a self,
        call: StateCall<'a>,
        progress: PercentSink<'a>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The external Interfaces of a System, by the Topology `interface` that names each.
#[derive(Clone, Default)]
pub struct Externals(BTreeMap<InterfaceName, Arc<dyn ExternalInterface>>);

impl Externals {
    pub fn new() -> Self {
        Self::default()
    }

    /// Components whose `interface` is `name` are driven by `driver`.
    pub fn with(mut self, name: InterfaceName, driver: Arc<dyn ExternalInterface>) -> Self {
        self.0.insert(name, driver);
        self
    }

    /// The driver of components whose `interface` is `name`; `None`: a process Interface.
    pub fn get(&self, name: &InterfaceName) -> Option<&Arc<dyn ExternalInterface>> {
        self.0.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The interface names served, in order.
    pub fn names(&self) -> impl Iterator<Item = &InterfaceName> {
        self.0.keys()
    }
}

impl std::fmt::Debug for Externals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}
