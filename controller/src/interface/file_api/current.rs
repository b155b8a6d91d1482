//! What the component runs now, as the File API's `current_*` files show it.

use crate::model::{ComponentType, InterfaceName, Provides};

/// The bare values of `current_artifact_name`, `current_artifact_group` and
/// `current_device_type`, derived from the component's Provides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentArtifact {
    pub artifact_name: Option<String>,
    pub artifact_group: Option<String>,
    pub device_type: String,
}

impl CurrentArtifact {
    /// Which keys feed which file:
    /// - `artifact_name`: the `artifact_name` key when provided (a component running Mender
    ///   reports it), else the version key (`rootfs-image.<interface>.version`, then
    ///   `rootfs-image.version`). mender-artifact sets that key to the Artifact's name by
    ///   default, and it is the only name an Interface-only component is required to report.
    /// - `artifact_group`: the `artifact_group` key, if any.
    /// - `device_type`: the Topology's component type. Provides must not carry `device_type`
    ///   (the Orchestrator matches Artifacts against the component type), so the component
    ///   type *is* the device type here.
    ///
    /// An absent value gives an empty file, as in Mender's own File API.
    pub fn from_provides(
        component_type: &ComponentType,
        interface: &InterfaceName,
        provides: &Provides,
    ) -> Self {
        let interface_key = format!("rootfs-image.{interface}.version");
        let artifact_name = provides
            .get("artifact_name")
            .or_else(|| provides.get(&interface_key))
            .or_else(|| provides.get("rootfs-image.version"))
            .map(str::to_owned);
        Self {
            artifact_name,
            artifact_group: provides.get("artifact_group").map(str::to_owned),
            device_type: component_type.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provides(lines: &[(&str, &str)]) -> Provides {
        lines
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn keys_feed_the_current_files() {
        let rtos = ComponentType::new("rtos").unwrap();
        let iface = InterfaceName::new("rtos-interface").unwrap();
        // (Provides, expected current_artifact_name, expected current_artifact_group)
        type Row<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>);
        let table: &[Row] = &[
            (
                &[("rootfs-image.rtos-interface.version", "rtos-v1")],
                Some("rtos-v1"),
                None,
            ),
            (
                &[
                    ("rootfs-image.version", "gw-v2"),
                    ("artifact_name", "gw-v2-full"),
                ],
                Some("gw-v2-full"),
                None,
            ),
            (&[("rootfs-image.version", "gw-v2")], Some("gw-v2"), None),
            (
                &[
                    ("rootfs-image.version", "a"),
                    ("rootfs-image.rtos-interface.version", "b"),
                ],
                Some("b"),
                None,
            ),
            (
                &[
                    ("rootfs-image.other.version", "x"),
                    ("artifact_group", "g1"),
                ],
                None,
                Some("g1"),
            ),
            (&[], None, None),
        ];
        for (lines, name, group) in table {
            let c = CurrentArtifact::from_provides(&rtos, &iface, &provides(lines));
            assert_eq!(c.artifact_name.as_deref(), *name, "{lines:?}");
            assert_eq!(c.artifact_group.as_deref(), *group, "{lines:?}");
            assert_eq!(c.device_type, "rtos");
        }
    }
}
