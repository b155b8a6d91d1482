//! The mapping, by table: each case a Topology, what its components run, a desired state, and
//! the Manifest (read back through `resource::parse_manifest`) or the problems expected.

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::kanto::edge::ObservedComponent;
use crate::model::Manifest;
use crate::resource::{check_manifest_against_topology, parse_manifest};

/// `(type, interface, id, artifact it runs)` per component.
fn system(components: &[(&str, &str, &str, &str)], deployed: Option<&str>) -> SystemSnapshot {
    let observed = components
        .iter()
        .map(|(t, i, id, a)| ObservedComponent {
            component_type: t.to_string(),
            interface: i.to_string(),
            id: (!id.is_empty()).then(|| id.to_string()),
            provides: [("artifact_name".to_string(), a.to_string())]
                .into_iter()
                .filter(|(_, a)| !a.is_empty())
                .collect(),
            ..Default::default()
        })
        .collect();
    let mut s = SystemSnapshot::of_components("0.1.0", "car", observed).unwrap();
    s.deployed = deployed.map(|y| {
        let mut m = parse_manifest("deployed.yaml", y.as_bytes()).unwrap();
        m.base_dir = Some(PathBuf::from("/var/lib/manifests"));
        m
    });
    s
}

fn desired(v: serde_json::Value) -> DesiredState {
    serde_json::from_value(v).unwrap()
}

/// Maps and reads the Manifest back as baton would admit it.
fn manifest(s: &SystemSnapshot, d: &DesiredState) -> (Mapped, Manifest) {
    let m = map("act-1", d, s).unwrap_or_else(|p| panic!("unmappable: {p:?}"));
    let loaded = parse_manifest("kanto", &m.manifest_yaml)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&m.manifest_yaml)));
    assert!(check_manifest_against_topology(&loaded.manifest, &s.topology).is_empty());
    (m, loaded.manifest)
}

fn entry(m: &Manifest, t: &str) -> (Option<String>, Option<PathBuf>, u8) {
    let e = &m.component_types[t];
    (
        e.artifact_name.clone(),
        e.artifact_path.clone(),
        e.order.get(),
    )
}

fn problems(s: &SystemSnapshot, d: serde_json::Value) -> String {
    map("act-1", &desired(d), s).unwrap_err().join("\n")
}

const TWO: &[(&str, &str, &str, &str)] = &[
    ("gateway", "gateway", "gw-1", "gw-v1"),
    ("rtos", "rtos", "mcu-1", "rtos-v1"),
    ("rtos", "rtos", "mcu-2", "rtos-v1"),
];

#[test]
fn two_domains_in_listed_order_get_groups_10_and_20() {
    let s = system(TWO, None);
    let (m, man) = manifest(
        &s,
        &desired(json!({"domains":[
            {"id":"rtos","components":[{"id":"rtos","version":"rtos-v2"}]},
            {"id":"gateway","components":[{"id":"gateway","version":"gw-v2"}]}]})),
    );
    assert_eq!(man.name, "kanto-act-1");
    assert_eq!(man.system_types_compatible, vec!["car".to_string()]);
    assert_eq!(entry(&man, "rtos"), (Some("rtos-v2".into()), None, 10));
    assert_eq!(entry(&man, "gateway"), (Some("gw-v2".into()), None, 20));
    assert!(m.kept.is_empty() && m.agents.is_empty());
}

#[test]
fn an_order_config_entry_sets_the_group() {
    let s = system(TWO, None);
    let (_, man) = manifest(
        &s,
        &desired(json!({"domains":[
            {"id":"rtos","config":[{"key":"order","value":"50"}],"components":[{"id":"rtos","version":"r2"}]},
            {"id":"gateway","components":[{"id":"gateway","version":"g2"}]}]})),
    );
    assert_eq!(entry(&man, "rtos").2, 50);
    assert_eq!(entry(&man, "gateway").2, 20);
    for bad in ["0", "101", "x", "-1", ""] {
        let p = problems(
            &s,
            json!({"domains":[{"id":"rtos","config":[{"key":"order","value":bad}],
                   "components":[{"id":"rtos","version":"r2"}]}]}),
        );
        assert!(p.contains("domain 'rtos': config 'order'"), "{bad}: {p}");
    }
}

#[test]
fn per_id_versions_must_agree_and_cover_the_type() {
    let s = system(TWO, None);
    // Every component named, same version: fine.
    let (_, man) = manifest(
        &s,
        &desired(json!({"domains":[{"id":"rtos","components":[
            {"id":"mcu-1","version":"r2"},{"id":"mcu-2","version":"r2"}]}]})),
    );
    assert_eq!(entry(&man, "rtos").0.as_deref(), Some("r2"));
    // Different versions: one Artifact per type.
    let p = problems(
        &s,
        json!({"domains":[{"id":"rtos","components":[
            {"id":"mcu-1","version":"r2"},{"id":"mcu-2","version":"r3"}]}]}),
    );
    assert!(
        p.contains("domain 'rtos': its components ask for different Artifacts"),
        "{p}"
    );
    assert!(
        p.contains("mcu-1 -> 'r2'") && p.contains("mcu-2 -> 'r3'"),
        "{p}"
    );
    // One named, the other runs something else: it would be changed too.
    let p = problems(
        &s,
        json!({"domains":[{"id":"rtos","components":[{"id":"mcu-1","version":"r2"}]}]}),
    );
    assert!(
        p.contains("component 'mcu-2' is not named and runs 'rtos-v1'"),
        "{p}"
    );
    // One named, the other already runs it: fine.
    let s2 = system(
        &[
            ("rtos", "rtos", "mcu-1", "rtos-v1"),
            ("rtos", "rtos", "mcu-2", "r2"),
        ],
        None,
    );
    let (_, man) = manifest(
        &s2,
        &desired(json!({"domains":[{"id":"rtos","components":[{"id":"mcu-1","version":"r2"}]}]})),
    );
    assert_eq!(entry(&man, "rtos").0.as_deref(), Some("r2"));
}

#[test]
fn unknown_domains_and_components_are_named() {
    let s = system(TWO, None);
    let p = problems(
        &s,
        json!({"domains":[{"id":"rtoss","components":[{"id":"rtoss","version":"1"}]}]}),
    );
    assert!(
        p.contains(
            "domain 'rtoss': the Topology has no component type 'rtoss' (did you mean 'rtos'?)"
        ),
        "{p}"
    );
    let p = problems(
        &s,
        json!({"domains":[{"id":"rtos","components":[{"id":"mcu-9","version":"1"}]}]}),
    );
    assert!(p.contains("domain 'rtos', component 'mcu-9': neither the component type 'rtos' nor the ID of one of its components (mcu-1, mcu-2)"), "{p}");
    let p = problems(
        &s,
        json!({"domains":[{"id":"rtos","components":[{"id":"rtos"}]}]}),
    );
    assert!(
        p.contains("domain 'rtos', component 'rtos': no version"),
        "{p}"
    );
    let p = problems(&s, json!({"domains":[{"id":"rtos"}]}));
    assert!(p.contains("domain 'rtos' lists no components"), "{p}");
    let p = problems(
        &s,
        json!({"domains":[
        {"id":"rtos","components":[{"id":"rtos","version":"1"}]},
        {"id":"rtos","components":[{"id":"rtos","version":"2"}]}]}),
    );
    assert!(p.contains("domain 'rtos' is listed twice"), "{p}");
    assert!(problems(&s, json!({})).contains("names no domain"));
    assert!(map(
        "",
        &desired(json!({"domains":[{"id":"rtos","components":[{"id":"rtos","version":"1"}]}]})),
        &s
    )
    .unwrap_err()
    .join("")
    .contains("no activityId"));
}

#[test]
fn absent_types_keep_the_deployed_entry_or_what_they_run() {
    let deployed = "api_version: mender/v1\nkind: manifest\nname: release-7\n\
        system_types_compatible: [car]\ncomponent_types:\n  \
        gateway:\n    artifact_path: gw-v1.mender\n    update_strategy: {order: 30}\n  \
        rtos:\n    artifact_name: rtos-v1\n    update_strategy: {order: 5}\n";
    let s = system(TWO, Some(deployed));
    let (m, man) = manifest(
        &s,
        &desired(
            json!({"domains":[{"id":"rtos","components":[{"id":"rtos","version":"rtos-v2"}]}]}),
        ),
    );
    // The deployed entry, its relative path resolved against the deployed Manifest's directory.
    assert_eq!(
        entry(&man, "gateway"),
        (
            None,
            Some(PathBuf::from("/var/lib/manifests/gw-v1.mender")),
            30
        )
    );
    assert_eq!(m.kept["gateway"], "/var/lib/manifests/gw-v1.mender");
    // No deployed Manifest: the one Artifact its components report.
    let s = system(TWO, None);
    let (m, man) = manifest(
        &s,
        &desired(
            json!({"domains":[{"id":"gateway","components":[{"id":"gateway","version":"gw-v2"}]}]}),
        ),
    );
    assert_eq!(entry(&man, "rtos"), (Some("rtos-v1".into()), None, 100));
    assert_eq!(m.kept["rtos"], "rtos-v1");
    // Components disagree (or report nothing): cannot keep.
    let s = system(
        &[
            ("gateway", "gateway", "gw-1", "gw-v1"),
            ("rtos", "rtos", "a", "r1"),
            ("rtos", "rtos", "b", ""),
        ],
        None,
    );
    let p = problems(
        &s,
        json!({"domains":[{"id":"gateway","components":[{"id":"gateway","version":"g2"}]}]}),
    );
    assert!(
        p.contains("component type 'rtos' is not in the desired state"),
        "{p}"
    );
    assert!(
        p.contains("'r1', no artifact_name") || p.contains("no artifact_name, 'r1'"),
        "{p}"
    );
}

#[test]
fn agent_domains_become_slices_with_a_digest_artifact_name() {
    let s = system(
        &[
            ("gateway", "gateway", "gw-1", "gw-v1"),
            ("containers", "kanto:containers", "containers", ""),
        ],
        None,
    );
    let d = desired(json!({
        "baselines":[{"title":"b","components":["containers:web","gateway:gw-1"]}],
        "domains":[{"id":"gateway","components":[{"id":"gateway","version":"gw-v2"}]},
                   {"id":"containers","config":[{"key":"systemContainers","value":"proxy"}],
                    "components":[{"id":"web","version":"1.4.0","config":[{"key":"image","value":"r/web:1.4.0"}]},
                                  {"id":"db","version":"15"}]}]}));
    let (m, man) = manifest(&s, &d);
    let a = &m.agents[0];
    assert_eq!(
        (a.component_type.as_str(), a.domain.as_str()),
        ("containers", "containers")
    );
    assert_eq!(
        a.components,
        vec![Component::new("web", "1.4.0"), Component::new("db", "15")]
    );
    assert_eq!(
        a.desired.baselines[0].components,
        vec!["containers:web".to_string()]
    );
    assert_eq!(
        a.desired.domains[0].config_value("systemContainers"),
        Some("proxy")
    );
    assert!(a.artifact_name.starts_with("kanto-containers-") && a.artifact_name.len() == 33);
    assert_eq!(
        entry(&man, "containers"),
        (Some(a.artifact_name.clone()), None, 20)
    );
    // The same slice gives the same name; a changed one a new name.
    let again = map("act-2", &d, &s).unwrap();
    assert_eq!(again.agents[0].artifact_name, a.artifact_name);
    let mut d2 = d.clone();
    d2.domains[1].components[1].component.version = "16".into();
    assert_ne!(
        map("act-3", &d2, &s).unwrap().agents[0].artifact_name,
        a.artifact_name
    );
}

#[test]
fn manifest_names_are_deterministic_and_safe() {
    assert_eq!(manifest_name("a1"), "kanto-a1");
    assert_eq!(manifest_name("0d5d9a8e-1f2b"), "kanto-0d5d9a8e-1f2b");
    let odd = manifest_name("x/y z");
    assert!(
        odd.starts_with("kanto-x-y-z-") && odd.len() == "kanto-x-y-z-".len() + 8,
        "{odd}"
    );
    assert_eq!(odd, manifest_name("x/y z"));
    assert_ne!(manifest_name("x/y"), manifest_name("x y"));
    assert!(manifest_name(&"a".repeat(300)).len() < 90);
}

#[test]
fn more_than_ten_domains_spread_over_the_groups() {
    let types: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let comps: Vec<(&str, &str, &str, &str)> = types
        .iter()
        .map(|t| (t.as_str(), t.as_str(), t.as_str(), "a1"))
        .collect();
    let s = system(&comps, None);
    let domains: Vec<_> = types
        .iter()
        .map(|t| json!({"id": t, "components":[{"id": t, "version":"a2"}]}))
        .collect();
    let (_, man) = manifest(&s, &desired(json!({ "domains": domains })));
    let orders: Vec<u8> = types.iter().map(|t| entry(&man, t).2).collect();
    assert_eq!(orders, (1..=12).map(|i| i * 8).collect::<Vec<u8>>());
}
