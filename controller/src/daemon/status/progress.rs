//! The deployment in flight, as status shows it, built from the engine's [`Progress`] events.
//!
//! [`apply`] is pure: one event changes the [`DeploymentStatus`] (the board's `BoardSink`
//! feeds it the engine's events).

use crate::engine::api::{rolls_back, Progress, WAITING};
use crate::model::{DeploymentComponent, DeploymentStatus};

/// Applies one event to the deployment status.
pub fn apply(dep: &mut DeploymentStatus, event: &Progress) {
    match event {
        Progress::Started {
            deployment,
            manifest,
            components,
        } => {
            dep.id = deployment.clone();
            dep.manifest = manifest.clone();
            dep.components = components
                .iter()
                .map(|c| DeploymentComponent {
                    component_type: c.component.component_type.clone(),
                    id: c.component.id.clone(),
                    order_group: c.order,
                    to_artifact: c.to_artifact.clone(),
                    state: String::new(),
                    bytes: 0,
                    total_bytes: None,
                })
                .collect();
        }
        Progress::StepStarted {
            order,
            call,
            components,
        } => {
            dep.state = call.as_str().into();
            dep.order_group = Some(*order);
            if rolls_back(*call) {
                dep.rolling_back = true;
            }
            for r in components {
                if let Some(c) = find(dep, &r.component_type, &r.id) {
                    c.state = call.as_str().into();
                }
            }
        }
        Progress::StepFinished { .. } => {}
        Progress::Bytes {
            component,
            bytes,
            total,
        } => {
            if let Some(c) = find(dep, &component.component_type, &component.id) {
                c.bytes = *bytes;
                c.total_bytes = *total;
            }
        }
        // Status counts payload bytes; an external Interface's percent reaches the event
        // stream as the engine emitted it.
        Progress::Percent { .. } => {}
        Progress::Rebooting => dep.state = "Rebooting".into(),
        // A gate holds the deployment; the engine asks it again later.
        Progress::Waiting { .. } => dep.state = WAITING.into(),
    }
}

fn find<'a>(
    dep: &'a mut DeploymentStatus,
    t: &str,
    id: &str,
) -> Option<&'a mut DeploymentComponent> {
    dep.components
        .iter_mut()
        .find(|c| c.component_type == t && c.id == id)
}

/// A deployment status before the engine's first event.
pub fn starting(generation: u64) -> DeploymentStatus {
    DeploymentStatus {
        id: "starting".into(),
        manifest: String::new(),
        manifest_sha256: String::new(),
        generation,
        driver: "controller".into(),
        state: String::new(),
        order_group: None,
        rolling_back: false,
        started_at: crate::daemon::clock::now_rfc3339(),
        components: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::{Call, ComponentRef, PlannedChange, State};

    fn r(id: &str) -> ComponentRef {
        ComponentRef {
            component_type: "rtos".into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_deployment_told_by_its_events() {
        let mut d = starting(3);
        let events = [
            Progress::Started {
                deployment: "d9".into(),
                manifest: "m2".into(),
                components: vec![
                    PlannedChange {
                        component: r("A"),
                        order: 1,
                        to_artifact: "v2".into(),
                    },
                    PlannedChange {
                        component: r("B"),
                        order: 2,
                        to_artifact: "v2".into(),
                    },
                ],
            },
            Progress::StepStarted {
                order: 1,
                call: Call::State(State::Download),
                components: vec![r("A")],
            },
            Progress::Bytes {
                component: r("A"),
                bytes: 10,
                total: Some(40),
            },
            Progress::Bytes {
                component: r("Z"),
                bytes: 10,
                total: None,
            },
            Progress::StepStarted {
                order: 2,
                call: Call::State(State::ArtifactRollback),
                components: vec![r("B")],
            },
        ];
        for e in &events {
            apply(&mut d, e);
        }
        assert_eq!(d.id, "d9");
        assert_eq!(d.manifest, "m2");
        assert_eq!(d.state, "ArtifactRollback");
        assert_eq!(d.order_group, Some(2));
        assert!(d.rolling_back);
        assert_eq!(d.components[0].state, "Download");
        assert_eq!(
            (d.components[0].bytes, d.components[0].total_bytes),
            (10, Some(40))
        );
        assert_eq!(d.components[1].state, "ArtifactRollback");
        assert_eq!(d.components[1].bytes, 0);
        apply(&mut d, &Progress::Rebooting);
        assert_eq!(d.state, "Rebooting");
    }
}
