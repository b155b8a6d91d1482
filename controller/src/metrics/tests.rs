//! The whole registry: names, types, start values and the README's list.

use std::time::Duration;

use super::testing::{families, status, value, vocabulary};
use super::*;
use crate::model::{ComponentSpec, ComponentStatus, ComponentType, InterfaceName, Topology};

/// A registry in which every family has at least one series.
fn everything() -> Metrics {
    let m = Metrics::new(vocabulary());
    let mock = InterfaceName::new("mock").unwrap();
    m.topology_loaded(&Topology {
        system_type: "car".into(),
        components: vec![ComponentSpec {
            component_type: ComponentType::new("rtos").unwrap(),
            interface: mock.clone(),
            interface_args: vec![],
        }],
    });
    m.interface_call(&mock, "Identity", "success", Some(Duration::from_millis(4)));
    m.phase("recovering");
    let mut s = status();
    s.components = vec![ComponentStatus {
        component_type: "rtos".into(),
        id: Some("R1".into()),
        interface: "mock".into(),
        interface_args: vec![],
        provides: Default::default(),
        observed_artifact: Some("rtos-v1".into()),
        desired_artifact: None,
        in_sync: true,
        error: None,
    }];
    m.status(&s);
    m.reconciled(ReconcileResult::Success, Duration::from_millis(1));
    m.deployment_finished(&crate::model::HistoryEntry::sample(
        crate::model::Outcome::Succeeded,
        3,
    ));
    m.artifact_bytes_read("directory", 1);
    m
}

#[test]
fn every_label_set_exists_before_its_first_event() {
    let text = Metrics::new(vocabulary()).render();
    for r in ReconcileResult::ALL {
        let s = format!(
            "controller_runtime_reconcile_total{{controller=\"baton\",result=\"{}\"}}",
            r.label()
        );
        assert_eq!(value(&text, &s), Some(0.0), "{s} in\n{text}");
    }
    for s in [
        "controller_runtime_reconcile_errors_total{controller=\"baton\"}",
        "baton_rollbacks_total",
        "baton_deployments_total{driver=\"update-module\",result=\"failed\"}",
        "baton_drift_detected_total{action=\"reported\"}",
        "baton_deployment_phase{phase=\"rollback\"}",
        "baton_deployment_state{state=\"ArtifactRollback\"}",
        "baton_condition{status=\"True\",type=\"Ready\"}",
        "baton_artifact_read_bytes_total{source=\"url\"}",
        "baton_artifact_cache_lookups_total{result=\"miss\"}",
        "baton_artifact_verification_failures_total{reason=\"signature_invalid\"}",
        "baton_reconcile_failures",
    ] {
        assert_eq!(value(&text, s), Some(0.0), "{s} in\n{text}");
    }
    let info = format!(
        "baton_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &info), Some(1.0), "{text}");
    assert_eq!(
        value(&text, "baton_deployment_phase{phase=\"idle\"}"),
        Some(1.0)
    );
}

#[test]
fn names_follow_one_scheme() {
    for (name, kind) in families(&everything().render()) {
        assert!(
            name.starts_with("baton_") || name.starts_with("controller_runtime_"),
            "{name}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        assert_eq!(name.ends_with("_total"), kind == "counter", "{name} {kind}");
        if kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{name}: in base units");
        }
    }
}

/// The metric names the README's table lists, in order.
fn readme_metrics() -> Vec<(String, String)> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once("\n### Metrics\n")
        .expect("README has a `### Metrics` section")
        .1;
    let section = section.split("\n#").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix("| `")?.split('|');
            let name = cells.next()?.trim().trim_end_matches('`');
            let kind = cells.next()?.trim();
            Some((name.to_string(), kind.to_string()))
        })
        .collect()
}

#[test]
fn the_readme_lists_every_metric_with_its_type() {
    let mut exported = families(&everything().render());
    exported.sort();
    let mut listed = readme_metrics();
    listed.sort();
    assert_eq!(
        listed, exported,
        "README.md's `### Metrics` table must list every exported family (name | type | ...)"
    );
}

#[test]
fn a_phase_outside_the_vocabulary_is_still_one_hot() {
    let m = Metrics::default();
    m.phase("stalled");
    m.phase("recovering");
    let text = m.render();
    assert_eq!(
        value(&text, "baton_controller_phase{phase=\"stalled\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "baton_controller_phase{phase=\"recovering\"}"),
        Some(1.0)
    );
}
