//! The spans of a deployment, nested as the protocol nests the work: a deployment, then an
//! order group and the state it runs, then each component, then the Interface call (the
//! runner's own `interface` span). Every log line inside carries them, as a text prefix or
//! as the `spans` list of a JSON line.
//!
//! Span fields are for people reading logs; metrics never take labels from them. This file
//! takes plain values, so the driver and the executor use it without it knowing them.

use tracing::Span;

use super::plan::PlannedComponent;

/// The whole deployment (entered by the engine around the driver).
pub(crate) fn deployment(id: &str, manifest: &str) -> Span {
    tracing::info_span!("deployment", id = %id, manifest = %manifest)
}

/// One step: the order group (none for a step outside any), and inside it the state or
/// query it runs.
pub(crate) fn step(order: Option<u8>, state: &str) -> Span {
    let group = tracing::info_span!("order_group", order);
    tracing::info_span!(parent: &group, "state", state = %state)
}

/// One component's share of a step.
pub(crate) fn component(c: &PlannedComponent) -> Span {
    tracing::info_span!(
        "component",
        component_type = %c.component_type,
        component = %c.id,
    )
}
