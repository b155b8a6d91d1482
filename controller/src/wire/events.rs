//! What the status event stream (`GET /v1/events`) carries: every change of the status
//! document and every progress event of the deployment in flight, numbered. The daemon's
//! board publishes them (`daemon::status::events`), the API writes them as Server-Sent
//! Events ([`super::sse`]), and the JSON of an [`Event`] is what the status page, `baton
//! events`, `baton status --watch` and the demo read (crds/api.md, *Events*).
//!
//! Data only: no IO.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::api::{End, Progress};
use crate::model::{
    ComponentStatus, Condition, DeploymentStatus, GateStatus, HistoryEntry, Reason,
};

/// What changed. Each carries only its own part of the status, never the whole document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Change {
    /// The top-level fields and the conditions.
    #[serde(rename_all = "camelCase")]
    Summary {
        generation: u64,
        observed_generation: u64,
        desired_manifest: Option<String>,
        suspended: bool,
        failures: u32,
        next_attempt_at: Option<String>,
        system_version: Option<String>,
        conditions: Vec<Condition>,
    },
    /// A deployment started (its status before the engine's first event) or ended (`None`).
    Deployment {
        deployment: Option<DeploymentStatus>,
    },
    /// The engine's progress of the deployment in flight.
    Progress { progress: Progress },
    /// The components as last observed.
    Components { components: Vec<ComponentStatus> },
    /// A deployment finished and is the newest history entry.
    Finished { entry: HistoryEntry },
    /// What the deployment waits for at a gate (a window, a lock, the owner, the soak), and
    /// when the next maintenance window opens.
    #[serde(rename_all = "camelCase")]
    Gate {
        gate: Option<GateStatus>,
        next_window_at: Option<String>,
    },
    /// The controller settled desired generation `generation`: found in sync, refused
    /// before anything ran, or deployed (how the deployment ended). What a source that
    /// answers its sender (Kanto's feedback) waits for, whichever way the look went.
    Settled { generation: u64, settled: Settled },
}

/// How the controller settled a desired generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "how")]
pub enum Settled {
    /// Every component already ran its Artifact: nothing ran.
    InSync,
    /// Nothing ran: the Manifest cannot be deployed now (refused at planning, held back by
    /// the update policy, or the engine could not answer).
    Refused { reason: Reason, message: String },
    /// A deployment of it ran and ended so.
    Deployed { end: End },
}

/// One numbered change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: u64,
    #[serde(serialize_with = "shared")]
    pub change: Arc<Change>,
}

fn shared<S: serde::Serializer>(c: &Arc<Change>, s: S) -> Result<S::Ok, S::Error> {
    c.as_ref().serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_serialize_with_their_kind() {
        let v = serde_json::to_value(Event {
            id: 7,
            change: Arc::new(Change::Deployment { deployment: None }),
        })
        .unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["change"]["kind"], "deployment");
        assert!(v["change"]["deployment"].is_null());
    }
}
