//! The spans of a deployment, nested as the protocol nests the work: a deployment, then an
//! order group and the state it runs, then each component, then the Interface call (the
//! runner's own `interface` span). Every log line inside carries them, as a text prefix or
//! as the `spans` list of a JSON line.
//!
//! Span fields are for people reading logs; metrics never take labels from them.

use tracing::Span;

use crate::engine::driver::{step_name, DeploymentRecord};
use crate::engine::machine::Step;
use crate::engine::plan::PlannedComponent;

/// The whole deployment (entered by the engine around the driver).
pub fn deployment(record: &DeploymentRecord) -> Span {
    tracing::info_span!(
        "deployment",
        id = %record.id,
        manifest = %record.manifest.name,
    )
}

/// One step: the order group, and inside it the state or query it runs.
pub fn step(record: &DeploymentRecord, step: &Step) -> Span {
    let group = match step {
        Step::Call { group, .. } | Step::Query { group, .. } | Step::HostReboot { group, .. } => {
            Some(*group)
        }
        Step::Boundary(_) | Step::Done(_) => None,
    };
    let order = group
        .and_then(|g| record.plan.orders.get(g))
        .map(|o| o.get());
    let group = tracing::info_span!("order_group", order);
    tracing::info_span!(parent: &group, "state", state = %step_name(step))
}

/// One component's share of a step.
pub fn component(c: &PlannedComponent) -> Span {
    tracing::info_span!(
        "component",
        component_type = %c.component_type,
        component = %c.id,
    )
}
