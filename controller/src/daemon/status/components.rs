//! Every component's observed versions and whether it is in sync, for status (pure).
//!
//! In sync comes from the last [`Preview`] of the desired Manifest when there is one (the
//! engine's own answer, which knows about Artifact names and provides); without one, the
//! observed Artifact name is compared with the Manifest's `artifact_name`.

use crate::engine::api::{Observation, Preview};
use crate::model::{ComponentStatus, Manifest};

/// The Artifact name a component reports: `artifact_name`, else its rootfs-image version.
pub fn observed_artifact(provides: &crate::model::Provides, interface: &str) -> Option<String> {
    provides.artifact(interface).map(str::to_string)
}

pub fn components(
    obs: &Observation,
    desired: Option<&Manifest>,
    preview: Option<&Preview>,
) -> Vec<ComponentStatus> {
    obs.components
        .iter()
        .map(|c| {
            let observed = observed_artifact(&c.provides, &c.interface);
            let planned = match preview {
                Some(Preview::Changes { components }) => components.iter().find(|p| {
                    p.component.component_type == c.component_type
                        && c.id.as_deref() == Some(p.component.id.as_str())
                }),
                _ => None,
            };
            let desired_artifact = planned.map(|p| p.to_artifact.clone()).or_else(|| {
                desired
                    .and_then(|m| m.component_types.get(c.component_type.as_str()))
                    .and_then(|t| t.artifact_name.clone())
            });
            let in_sync = c.error.is_none()
                && match preview {
                    Some(Preview::InSync) => true,
                    Some(Preview::Changes { .. }) => planned.is_none(),
                    _ => desired_artifact.is_some() && desired_artifact == observed,
                };
            ComponentStatus {
                component_type: c.component_type.clone(),
                id: c.id.clone(),
                interface: c.interface.clone(),
                interface_args: Vec::new(),
                provides: c.provides.0.clone(),
                observed_artifact: observed,
                desired_artifact,
                in_sync,
                error: c.error.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::{ComponentObservation, ComponentRef, PlannedChange};
    use crate::model::Provides;

    fn obs() -> Observation {
        let c = |i: usize, id: &str, v: &str| ComponentObservation {
            index: i,
            component_type: "rtos".into(),
            interface: "mock".into(),
            id: Some(id.into()),
            provides: [("rootfs-image.mock.version".to_string(), v.to_string())]
                .into_iter()
                .collect::<Provides>(),
            error: None,
        };
        Observation {
            system_type: "sys".into(),
            components: vec![c(0, "A", "v1"), c(1, "B", "v2")],
            taken_at: 0,
            live: true,
            system_version: None,
        }
    }

    fn manifest() -> Manifest {
        crate::resource::parse_manifest(
            "t",
            b"api_version: mender/v1\nkind: manifest\nname: m\nsystem_types_compatible: [sys]\n\
component_types:\n  rtos:\n    artifact_name: v2\n    update_strategy:\n      order: 1\n",
        )
        .unwrap()
        .manifest
    }

    #[test]
    fn in_sync_per_component() {
        let m = manifest();
        let changes = Preview::Changes {
            components: vec![PlannedChange {
                component: ComponentRef {
                    component_type: "rtos".into(),
                    id: "A".into(),
                },
                order: 1,
                to_artifact: "v2".into(),
            }],
        };
        let sync = |p: Option<&Preview>| -> Vec<bool> {
            components(&obs(), Some(&m), p)
                .iter()
                .map(|c| c.in_sync)
                .collect()
        };
        assert_eq!(sync(Some(&changes)), [false, true]);
        assert_eq!(sync(Some(&Preview::InSync)), [true, true]);
        assert_eq!(sync(None), [false, true]);
        let cs = components(&obs(), Some(&m), None);
        assert_eq!(cs[0].observed_artifact.as_deref(), Some("v1"));
        assert_eq!(cs[0].desired_artifact.as_deref(), Some("v2"));
        // Nothing desired: nothing is in sync.
        assert_eq!(
            components(&obs(), None, None)
                .iter()
                .filter(|c| c.in_sync)
                .count(),
            0
        );
        // A component that cannot be observed is not in sync, whatever the preview says.
        let mut o = obs();
        o.components[1].error = Some("Identity: exit 1".into());
        assert!(!components(&o, Some(&m), Some(&Preview::InSync))[1].in_sync);
    }
}
