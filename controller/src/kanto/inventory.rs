//! The System as Kanto's current state (inventory graph): pure, no IO.
//!
//! The graph keeps Kanto's three levels, so a backend that reads a Kanto device reads baton:
//!
//! - root: `<Domain>-update-manager` (APPLICATION, name `baton`, version = baton's version,
//!   parameter `system_type`), as Kanto names its own root node;
//! - one node per component type, the "domain" a desired state names: `<type>-interface`
//!   (APPLICATION, parameters `domain=<type>` as Kanto's agent nodes carry, and `interface`);
//! - one node per component: `<type>:<ID>` (IMAGE), version = the Artifact it runs, its
//!   Provides as parameters (an unidentified one: `<type>:unidentified-<n>` with `error`).
//!
//! Hardware: a component whose `Inventory` answer has `hardware.*` keys runs on a hardware
//! node: `hardware.id` (default `<type>:<ID>:hardware`), `hardware.name`,
//! `hardware.version`, `hardware.addressable=true`, and every other `hardware.<key>` as a
//! parameter. Components on the same hardware (same `hardware.id`) share one node.
//!
//! Associations point from parent to child: root -> type -> component -> hardware.

use super::edge::{ObservedComponent, SystemSnapshot};
use super::mapping::agent_domain;
use super::wire::{
    Association, HardwareNode, Inventory, InventoryNode, KeyValue, SoftwareNode, SoftwareType,
};

/// The prefix of `Inventory` keys that describe a component's hardware.
pub const HARDWARE_PREFIX: &str = "hardware.";

/// The root node's id for the Update Manager of `domain` (Kanto's `<name>-update-manager`).
pub fn root_id(domain: &str) -> String {
    format!("{domain}-update-manager")
}

/// The current state of the System, for the Update Manager of `domain`.
pub fn inventory(domain: &str, system: &SystemSnapshot) -> Inventory {
    let root = root_id(domain);
    let mut inv = Inventory::default();
    inv.software_nodes.push(software(
        &root,
        &system.baton_version,
        "baton",
        vec![KeyValue::new("system_type", &system.topology.system_type)],
        SoftwareType::Application,
    ));
    let mut types: Vec<(&str, &str)> = Vec::new();
    for c in &system.components {
        if !types.iter().any(|(t, _)| *t == c.component_type) {
            types.push((&c.component_type, &c.interface));
        }
    }
    for (t, interface) in types {
        let type_id = format!("{t}-interface");
        let mut params = vec![
            KeyValue::new("domain", t),
            KeyValue::new("interface", interface),
        ];
        if let Some(d) = agent_domain(interface) {
            params.push(KeyValue::new("kanto_agent_domain", d));
        }
        inv.software_nodes.push(software(
            &type_id,
            "",
            &format!("Interface {interface}"),
            params,
            SoftwareType::Application,
        ));
        inv.associations.push(link(&root, &type_id));
        for (n, c) in system
            .components
            .iter()
            .filter(|c| c.component_type == t)
            .enumerate()
        {
            let node_id = component_id(c, n);
            inv.software_nodes.push(component_node(c, &node_id));
            inv.associations.push(link(&type_id, &node_id));
            if let Some(hw) = hardware(c, &node_id) {
                let hw_id = hw.node.id.clone();
                if !inv.hardware_nodes.iter().any(|h| h.node.id == hw_id) {
                    inv.hardware_nodes.push(hw);
                }
                inv.associations.push(link(&node_id, &hw_id));
            }
        }
    }
    inv
}

fn component_id(c: &ObservedComponent, n: usize) -> String {
    match &c.id {
        Some(id) => format!("{}:{id}", c.component_type),
        None => format!("{}:unidentified-{}", c.component_type, n + 1),
    }
}

fn component_node(c: &ObservedComponent, id: &str) -> SoftwareNode {
    let mut params: Vec<KeyValue> = c
        .provides
        .iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    if let Some(e) = &c.error {
        params.push(KeyValue::new("error", e));
    }
    software(
        id,
        c.artifact_name().unwrap_or(""),
        &c.component_type,
        params,
        SoftwareType::Image,
    )
}

fn hardware(c: &ObservedComponent, component_node: &str) -> Option<HardwareNode> {
    let mut node = HardwareNode::default();
    let mut any = false;
    for (key, values) in &c.inventory {
        let Some(field) = key.strip_prefix(HARDWARE_PREFIX) else {
            continue;
        };
        any = true;
        let first = values.first().cloned().unwrap_or_default();
        match field {
            "id" => node.node.id = first,
            "name" => node.node.name = first,
            "version" => node.node.version = first,
            "addressable" => node.addressable = first == "true",
            _ => node
                .node
                .parameters
                .extend(values.iter().map(|v| KeyValue::new(field, v))),
        }
    }
    if !any {
        return None;
    }
    if node.node.id.is_empty() {
        node.node.id = format!("{component_node}:hardware");
    }
    Some(node)
}

fn software(
    id: &str,
    version: &str,
    name: &str,
    parameters: Vec<KeyValue>,
    kind: SoftwareType,
) -> SoftwareNode {
    SoftwareNode {
        node: InventoryNode {
            id: id.to_string(),
            version: version.to_string(),
            name: name.to_string(),
            parameters,
        },
        kind: Some(kind),
    }
}

fn link(source: &str, target: &str) -> Association {
    Association {
        source_id: source.to_string(),
        target_id: target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn observed(
        t: &str,
        i: &str,
        id: Option<&str>,
        provides: &[(&str, &str)],
        inv: &[(&str, &[&str])],
    ) -> ObservedComponent {
        ObservedComponent {
            component_type: t.into(),
            interface: i.into(),
            id: id.map(str::to_string),
            provides: provides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            inventory: inv
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
            error: None,
        }
    }

    fn snapshot(components: Vec<ObservedComponent>) -> SystemSnapshot {
        SystemSnapshot::of_components("0.1.0", "car", components).unwrap()
    }

    #[test]
    fn the_graph_has_kantos_three_levels_with_provides_as_parameters() {
        let s = snapshot(vec![
            observed(
                "gateway",
                "gateway",
                Some("gw-1"),
                &[("artifact_name", "gw-v2"), ("rootfs-image.version", "2")],
                &[],
            ),
            observed(
                "rtos",
                "rtos",
                Some("mcu-1"),
                &[("artifact_name", "r1")],
                &[],
            ),
            observed("rtos", "rtos", None, &[], &[]),
        ]);
        let v = serde_json::to_value(inventory("device", &s)).unwrap();
        assert_eq!(
            v,
            json!({
              "softwareNodes":[
                {"id":"device-update-manager","version":"0.1.0","name":"baton","type":"APPLICATION",
                 "parameters":[{"key":"system_type","value":"car"}]},
                {"id":"gateway-interface","name":"Interface gateway","type":"APPLICATION",
                 "parameters":[{"key":"domain","value":"gateway"},{"key":"interface","value":"gateway"}]},
                {"id":"gateway:gw-1","version":"gw-v2","name":"gateway","type":"IMAGE",
                 "parameters":[{"key":"artifact_name","value":"gw-v2"},{"key":"rootfs-image.version","value":"2"}]},
                {"id":"rtos-interface","name":"Interface rtos","type":"APPLICATION",
                 "parameters":[{"key":"domain","value":"rtos"},{"key":"interface","value":"rtos"}]},
                {"id":"rtos:mcu-1","version":"r1","name":"rtos","type":"IMAGE",
                 "parameters":[{"key":"artifact_name","value":"r1"}]},
                {"id":"rtos:unidentified-2","name":"rtos","type":"IMAGE"}],
              "associations":[
                {"sourceId":"device-update-manager","targetId":"gateway-interface"},
                {"sourceId":"gateway-interface","targetId":"gateway:gw-1"},
                {"sourceId":"device-update-manager","targetId":"rtos-interface"},
                {"sourceId":"rtos-interface","targetId":"rtos:mcu-1"},
                {"sourceId":"rtos-interface","targetId":"rtos:unidentified-2"}]})
        );
    }

    #[test]
    fn hardware_comes_from_inventory_keys_and_is_shared() {
        let hw: &[(&str, &[&str])] = &[
            ("hardware.id", &["board-7"]),
            ("hardware.name", &["OWASYS box"]),
            ("hardware.version", &["rev2"]),
            ("hardware.addressable", &["true"]),
            ("hardware.cpu-arch", &["armv7"]),
            ("hardware.bus", &["can0", "can1"]),
            ("device_type", &["car"]),
        ];
        let s = snapshot(vec![
            observed("gateway", "gateway", Some("gw-1"), &[], hw),
            observed(
                "modem",
                "kanto:modem",
                Some("m-1"),
                &[],
                &[("hardware.id", &["board-7"])],
            ),
            observed(
                "rtos",
                "rtos",
                Some("mcu-1"),
                &[],
                &[("hardware.serial", &["42"])],
            ),
        ]);
        let inv = inventory("device", &s);
        let v = serde_json::to_value(&inv.hardware_nodes).unwrap();
        assert_eq!(
            v,
            json!([
              {"id":"board-7","version":"rev2","name":"OWASYS box","addressable":true,
               "parameters":[{"key":"bus","value":"can0"},{"key":"bus","value":"can1"},{"key":"cpu-arch","value":"armv7"}]},
              {"id":"rtos:mcu-1:hardware","parameters":[{"key":"serial","value":"42"}]}])
        );
        let links: Vec<(&str, &str)> = inv
            .associations
            .iter()
            .map(|a| (a.source_id.as_str(), a.target_id.as_str()))
            .filter(|(_, t)| *t == "board-7" || t.ends_with(":hardware"))
            .collect();
        assert_eq!(
            links,
            [
                ("gateway:gw-1", "board-7"),
                ("modem:m-1", "board-7"),
                ("rtos:mcu-1", "rtos:mcu-1:hardware")
            ]
        );
        let modem = inv
            .software_nodes
            .iter()
            .find(|n| n.node.id == "modem-interface")
            .unwrap();
        assert!(modem
            .node
            .parameters
            .contains(&KeyValue::new("kanto_agent_domain", "modem")));
    }
}
