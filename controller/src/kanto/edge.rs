//! The room's edge: what the Kanto Update Manager needs from the rest of baton, as small traits
//! and plain input types. This is the contract the daemon's adapters implement; nothing else
//! of baton is named by the IO half of this room.
//!
//! - [`DesiredDoor`]: the one admission path (door `Kanto`) and the "put back what ran before"
//!   a failed Kanto activity asks for.
//! - [`SystemView`]: the Topology, the Manifest last deployed and the last observation of
//!   every component; the mapping and the inventory are computed from it.
//! - [`EventFeed`]: baton's status/progress stream, as [`BatonEvent`]s, in order.
//! - [`ConsentDesk`]: where the owner's answer to a consent question goes (baton's consent
//!   gate); the questions themselves arrive as [`BatonEvent::ConsentRequested`].
//!
//! Every method may be called from the manager's task at any time; none may block the thread
//! (return a future instead).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::wire::ConsentCommand;
use crate::interface::protocol::Call;
use crate::model::{ComponentSpec, ComponentType, InterfaceName, NameError, Provides, Topology};
use crate::resource::LoadedManifest;

/// A boxed future, so the edge traits can be used as `Arc<dyn ...>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a Kanto desired state came from (for `model::Origin::Kanto { activity }`, history and
/// logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KantoOrigin {
    /// The backend's activityId, unchanged.
    pub activity_id: String,
    /// The Update Manager's `Domain` that received it.
    pub domain: String,
    /// The envelope's timestamp (ms since the epoch, as the backend wrote it).
    pub timestamp: i64,
}

/// Why admission refused a Manifest: every problem, in words (file, field, expected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Problems(pub Vec<String>);

/// The desired-state door for Kanto.
pub trait DesiredDoor: Send + Sync {
    /// Admits `manifest_yaml` (a Manifest document, valid for `resource::parse_manifest`;
    /// no signature, no base directory: it names Artifacts only by `artifact_name`, or by an
    /// absolute `artifact_path` kept from the deployed Manifest) through baton's one admission
    /// path as door `Kanto`, stores it as the next generation of the desired state and pokes
    /// the reconciler. Returns that generation. On error nothing was stored.
    fn admit(
        &self,
        manifest_yaml: Vec<u8>,
        origin: KantoOrigin,
    ) -> BoxFuture<'_, Result<u64, Problems>>;

    /// Puts back the desired state that was in force before `generation` was admitted, as a
    /// new generation, unless a newer generation than `generation` exists (then it does
    /// nothing). Called once when a Kanto activity whose Manifest was admitted ends
    /// INCOMPLETE or IDENTIFICATION_FAILED: Kanto never retries a failed desired state on its
    /// own, so baton's reconciler must not retry it in the background either. The restored
    /// generation must not be retried as a new deployment of the failed one (the System
    /// already runs it after the rollback).
    fn restore_previous(&self, generation: u64) -> BoxFuture<'_, Result<(), String>>;
}

/// What the System is and runs, for the mapping and the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSnapshot {
    /// baton's version, for the inventory's root node.
    pub baton_version: String,
    pub topology: Topology,
    /// The Manifest the System was last deployed with successfully, if any: what component
    /// types absent from a Kanto desired state keep.
    pub deployed: Option<LoadedManifest>,
    /// Every component of the Topology, in Topology order (the last observation; may be
    /// cached by the adapter).
    pub components: Vec<ObservedComponent>,
}

impl SystemSnapshot {
    /// A snapshot whose Topology is exactly these components, in this order, without
    /// Interface arguments (tests, and adapters that hold no Topology of their own).
    pub fn of_components(
        baton_version: &str,
        system_type: &str,
        components: Vec<ObservedComponent>,
    ) -> Result<Self, NameError> {
        let specs = components
            .iter()
            .map(|c| {
                Ok(ComponentSpec {
                    component_type: ComponentType::new(c.component_type.clone())?,
                    interface: InterfaceName::new(c.interface.clone())?,
                    interface_args: vec![],
                })
            })
            .collect::<Result<Vec<_>, NameError>>()?;
        Ok(SystemSnapshot {
            baton_version: baton_version.to_string(),
            topology: Topology {
                system_type: system_type.to_string(),
                components: specs,
            },
            deployed: None,
            components,
        })
    }
}

/// One component as last observed (`engine::api::ComponentObservation` plus its Inventory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedComponent {
    pub component_type: String,
    pub interface: String,
    /// From `Identity`; `None` when it could not be identified.
    pub id: Option<String>,
    /// From `Provides`; `artifact_name` is the Artifact it runs.
    pub provides: Provides,
    /// From the `Inventory` query (a repeated key is a list); empty when not asked. Keys
    /// starting with `hardware.` describe the component's hardware (see `inventory.rs`).
    pub inventory: BTreeMap<String, Vec<String>>,
    /// Why it could not be observed.
    pub error: Option<String>,
}

impl ObservedComponent {
    /// The Artifact it runs, when it says: by the engine's rule (`artifact_name`, else the
    /// version its Interface keeps as `rootfs-image.<interface>.version`, as Mender's
    /// module-image Interfaces do).
    pub fn artifact_name(&self) -> Option<&str> {
        self.provides.artifact(&self.interface)
    }
}

/// Reads what the System is and runs.
pub trait SystemView: Send + Sync {
    fn snapshot(&self) -> BoxFuture<'_, Result<SystemSnapshot, String>>;
}

/// A component as progress names it (`engine::api::ComponentRef`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComponentKey {
    pub component_type: String,
    /// From `Identity`.
    pub id: String,
}

impl ComponentKey {
    pub fn new(component_type: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            component_type: component_type.into(),
            id: id.into(),
        }
    }
}

/// A component a deployment will change (`engine::api::PlannedChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedComponent {
    pub component: ComponentKey,
    pub order: u8,
    pub to_artifact: String,
}

/// How a deployment ended (`engine::api::End`, less what the controller never produces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentEnd {
    /// Every component runs the Manifest's Artifacts.
    Success,
    /// A step failed (or a gate refused) and every touched component was brought back.
    RolledBack { failed_at: String, reason: String },
    /// A step failed and these components could not be brought back.
    Inconsistent {
        failed_at: String,
        reason: String,
        lost: Vec<ComponentKey>,
    },
    /// The engine refused the Manifest at planning; nothing was touched.
    Rejected { problems: Vec<String> },
}

/// What baton's status stream says, in the order it happened. The adapter must deliver
/// `Started`, `Ended`, `InSync` and `Superseded` even when it had to drop progress events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatonEvent {
    /// The reconciler found every component already running generation `generation`: no
    /// deployment.
    InSync { generation: u64 },
    /// A deployment of generation `generation` starts; these components will change.
    Started {
        generation: u64,
        components: Vec<PlannedComponent>,
    },
    /// A state or query starts for these components of an order group (of the deployment in
    /// flight).
    StepStarted {
        order: u8,
        call: Call,
        components: Vec<ComponentKey>,
    },
    /// It finished; `failed` names who failed and why.
    StepFinished {
        order: u8,
        call: Call,
        failed: Vec<(ComponentKey, String)>,
    },
    /// Payload bytes handed to a component's Interface so far.
    Bytes {
        component: ComponentKey,
        bytes: u64,
        total: Option<u64>,
    },
    /// The consent gate asks the owner whether the deployment in flight may go on to
    /// `command`; answer through [`ConsentDesk::answer`] with `question`.
    ConsentRequested {
        question: u64,
        command: ConsentCommand,
    },
    /// That question was answered (by anyone) or withdrawn.
    ConsentSettled { question: u64 },
    /// The deployment of generation `generation` ended.
    Ended { generation: u64, end: DeploymentEnd },
    /// Generation `generation` was replaced in the desired-state store by `by` before a
    /// deployment of it started.
    Superseded { generation: u64, by: u64 },
}

/// baton's event stream, as the manager reads it.
pub trait EventFeed: Send {
    /// The next event; `None` when the stream has ended (the daemon is stopping).
    fn next(&mut self) -> BoxFuture<'_, Option<BatonEvent>>;
}

impl EventFeed for tokio::sync::mpsc::Receiver<BatonEvent> {
    fn next(&mut self) -> BoxFuture<'_, Option<BatonEvent>> {
        Box::pin(self.recv())
    }
}

/// The owner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentAnswer {
    Approved,
    /// Denied, or no answer in time (`reason` says which).
    Denied {
        reason: String,
    },
}

/// baton's consent gate, as the manager answers it.
pub trait ConsentDesk: Send + Sync {
    /// The answer to `question`. The first answer to a question wins; the desk ignores later
    /// ones (the local API or CLI may have answered first).
    fn answer(&self, question: u64, answer: ConsentAnswer);
}
