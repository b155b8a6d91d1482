//! What the status document shows, as gauges: the deployment in flight (phase, order group,
//! state) and every component's observed Artifact and whether it is in sync.
//!
//! These are a mirror, not events: the status board calls [`Metrics::status`] after every
//! change, so a scrape and `baton status` never disagree. Component label sets that leave
//! the status (a component replaced, a new version observed) are removed, so
//! `baton_component_info` always has exactly one series per component.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use prometheus::{IntGauge, IntGaugeVec};

use super::{one_hot, Def, Metrics, Vocabulary};
use crate::model::Status;

/// (component_type, component, artifact_name) of an `_info` series, and the first two for
/// `in_sync`.
type Shown = (BTreeSet<[String; 3]>, BTreeSet<[String; 2]>);

#[derive(Clone)]
pub(super) struct Families {
    phase: IntGaugeVec,
    state: IntGaugeVec,
    order_group: IntGauge,
    component_info: IntGaugeVec,
    component_in_sync: IntGaugeVec,
    shown: Arc<Mutex<Shown>>,
}

impl Families {
    pub(super) fn new(d: &Def) -> Self {
        Self {
            phase: d.gauges(
                "baton_deployment_phase",
                "1 for the phase of the deployment in flight (idle when none), 0 for the others",
                &["phase"],
            ),
            state: d.gauges(
                "baton_deployment_state",
                "1 for the state or query the deployment in flight runs now, 0 for the others",
                &["state"],
            ),
            order_group: d.gauge(
                "baton_deployment_order_group",
                "The order of the group the deployment in flight works on (0: none)",
            ),
            component_info: d.gauges(
                "baton_component_info",
                "Always 1; the Artifact each component reports running (empty when unknown)",
                &["component_type", "component", "artifact_name"],
            ),
            component_in_sync: d.gauges(
                "baton_component_in_sync",
                "1 when the component runs its desired Artifact, else 0",
                &["component_type", "component"],
            ),
            shown: Arc::new(Mutex::new(Shown::default())),
        }
    }

    pub(super) fn init(&self, v: &Vocabulary) {
        one_hot(&self.phase, &v.deployment_phases, v.deployment_phase(None));
        for w in &v.protocol_words {
            self.state.with_label_values(&[w]).set(0);
        }
    }

    pub(super) fn mirror(&self, s: &Status, v: &Vocabulary) {
        let d = s.deployment.as_ref();
        let phase = v.deployment_phase(d.map(|d| (d.state.as_str(), d.rolling_back)));
        one_hot(&self.phase, &v.deployment_phases, phase);
        let now = d.and_then(|d| v.protocol_word(&d.state));
        for w in &v.protocol_words {
            self.state
                .with_label_values(&[w])
                .set(i64::from(Some(*w) == now));
        }
        self.order_group
            .set(d.and_then(|d| d.order_group).map_or(0, i64::from));

        let mut info = BTreeSet::new();
        let mut sync = BTreeMap::new();
        for c in &s.components {
            // Unidentified components (no Identity answer) share one empty ID: one series,
            // in sync only if all of them are, and no unbounded name is made up for them.
            let id = c.id.clone().unwrap_or_default();
            let artifact = c.observed_artifact.clone().unwrap_or_default();
            info.insert([c.component_type.clone(), id.clone(), artifact]);
            let all = sync.entry([c.component_type.clone(), id]).or_insert(true);
            *all &= c.in_sync;
        }
        for i in &info {
            self.component_info
                .with_label_values(&[&i[0], &i[1], &i[2]])
                .set(1);
        }
        for (k, in_sync) in &sync {
            self.component_in_sync
                .with_label_values(&[&k[0], &k[1]])
                .set(i64::from(*in_sync));
        }
        let sync: BTreeSet<[String; 2]> = sync.into_keys().collect();
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        for gone in shown.0.difference(&info) {
            let _ = self
                .component_info
                .remove_label_values(&[&gone[0], &gone[1], &gone[2]]);
        }
        for gone in shown.1.difference(&sync) {
            let _ = self
                .component_in_sync
                .remove_label_values(&[&gone[0], &gone[1]]);
        }
        *shown = (info, sync);
    }
}

impl Metrics {
    /// Mirrors the status document (the status board calls this after every change).
    pub fn status(&self, s: &Status) {
        self.controller.mirror(s);
        self.deployment.mirror(s, &self.vocabulary);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deploying, status, value, vocabulary};
    use super::*;
    use crate::model::ComponentStatus;

    fn component(t: &str, id: Option<&str>, artifact: &str, in_sync: bool) -> ComponentStatus {
        ComponentStatus {
            component_type: t.into(),
            id: id.map(str::to_string),
            interface: "mock".into(),
            interface_args: vec![],
            provides: Default::default(),
            observed_artifact: Some(artifact.into()),
            desired_artifact: None,
            in_sync,
            error: None,
        }
    }

    #[test]
    fn the_deployment_in_flight_and_back_to_idle() {
        let m = Metrics::new(vocabulary());
        let mut s = status();
        let mut d = deploying("ArtifactCommit", false);
        d.order_group = Some(20);
        s.deployment = Some(d);
        m.status(&s);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(get("baton_deployment_phase{phase=\"commit\"}"), Some(1.0));
        assert_eq!(get("baton_deployment_phase{phase=\"idle\"}"), Some(0.0));
        assert_eq!(
            get("baton_deployment_state{state=\"ArtifactCommit\"}"),
            Some(1.0)
        );
        assert_eq!(get("baton_deployment_state{state=\"Download\"}"), Some(0.0));
        assert_eq!(get("baton_deployment_order_group"), Some(20.0));

        s.deployment = None;
        m.status(&s);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(get("baton_deployment_phase{phase=\"idle\"}"), Some(1.0));
        assert_eq!(
            get("baton_deployment_state{state=\"ArtifactCommit\"}"),
            Some(0.0)
        );
        assert_eq!(get("baton_deployment_order_group"), Some(0.0));
    }

    #[test]
    fn one_info_series_per_component_and_old_versions_go() {
        let m = Metrics::default();
        let mut s = status();
        s.components = vec![
            component("rtos", Some("R1"), "rtos-v1", false),
            component("gateway", Some("GW"), "gw-v2", true),
        ];
        m.status(&s);
        s.components[0] = component("rtos", Some("R1"), "rtos-v2", true);
        m.status(&s);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(
            get("baton_component_info{artifact_name=\"rtos-v2\",component=\"R1\",component_type=\"rtos\"}"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            get("baton_component_info{artifact_name=\"rtos-v1\",component=\"R1\",component_type=\"rtos\"}"),
            None,
            "the old version is gone"
        );
        assert_eq!(
            get("baton_component_in_sync{component=\"R1\",component_type=\"rtos\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_component_in_sync{component=\"GW\",component_type=\"gateway\"}"),
            Some(1.0)
        );
        // A component leaves the Topology.
        s.components.truncate(1);
        m.status(&s);
        let text = m.render();
        assert!(!text.contains("component=\"GW\""), "{text}");
    }

    #[test]
    fn unidentified_components_share_an_empty_id_and_are_out_of_sync() {
        let m = Metrics::default();
        let mut s = status();
        s.components = vec![
            component("rtos", None, "", false),
            component("rtos", None, "", false),
            component("rtos", Some("R3"), "rtos-v1", true),
        ];
        m.status(&s);
        let text = m.render();
        assert_eq!(
            value(
                &text,
                "baton_component_in_sync{component=\"\",component_type=\"rtos\"}"
            ),
            Some(0.0)
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("baton_component_info{"))
                .count(),
            2,
            "{text}"
        );
    }
}
