//! Interface calls: how many, how they ended and how long they took, per Interface and
//! protocol word.

use std::collections::BTreeSet;
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec};

use super::{Def, Metrics, Vocabulary};
use crate::model::{InterfaceName, Topology};

/// A query answers in milliseconds; a state may flash a board for hours (Mender's default
/// `InterfaceTimeoutSeconds` is 4 h).
const CALL_BUCKETS: [f64; 15] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

#[derive(Clone)]
pub(super) struct Families {
    calls_total: IntCounterVec,
    call_seconds: HistogramVec,
}

impl Families {
    pub(super) fn new(d: &Def) -> Self {
        Self {
            calls_total: d.counters(
                "baton_interface_calls_total",
                "Interface calls by Interface, state or query, and how they ended",
                &["interface", "state", "result"],
            ),
            call_seconds: d.histograms(
                "baton_interface_call_duration_seconds",
                "How long Interface calls ran, by Interface and state or query",
                &["interface", "state"],
                &CALL_BUCKETS,
            ),
        }
    }

    /// Every Interface of the Topology, every protocol word, the usual results: at 0.
    pub(super) fn init(&self, t: &Topology, v: &Vocabulary) {
        let interfaces: BTreeSet<&str> =
            t.components.iter().map(|c| c.interface.as_str()).collect();
        for i in interfaces {
            for w in &v.protocol_words {
                for r in &v.interface_results {
                    self.calls_total.with_label_values(&[i, w, r]);
                }
            }
        }
    }
}

impl Metrics {
    /// One Interface call ended (the runner calls this for every call): `word` is the state
    /// or query (`Call::as_str`), `result` how it ended (`success`, or the error's
    /// `result_label`), `took` how long it ran (`None` for a call that never started).
    pub fn interface_call(
        &self,
        interface: &InterfaceName,
        word: &'static str,
        result: &'static str,
        took: Option<Duration>,
    ) {
        let i = &self.interface;
        let interface = interface.as_str();
        i.calls_total
            .with_label_values(&[interface, word, result])
            .inc();
        if let Some(took) = took {
            i.call_seconds
                .with_label_values(&[interface, word])
                .observe(took.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{value, vocabulary};
    use super::*;
    use crate::model::{ComponentSpec, ComponentType};

    fn name(s: &str) -> InterfaceName {
        InterfaceName::new(s).unwrap()
    }

    #[test]
    fn calls_count_by_result_and_time_by_state() {
        let m = Metrics::default();
        let i = name("rtos-flash");
        let ms = |n| Some(Duration::from_millis(n));
        m.interface_call(&i, "ArtifactInstall", "success", ms(300));
        m.interface_call(&i, "ArtifactInstall", "failed", ms(2000));
        m.interface_call(&i, "Provides", "not_run", None);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(
            get("baton_interface_calls_total{interface=\"rtos-flash\",result=\"success\",state=\"ArtifactInstall\"}"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            get("baton_interface_calls_total{interface=\"rtos-flash\",result=\"failed\",state=\"ArtifactInstall\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_interface_calls_total{interface=\"rtos-flash\",result=\"not_run\",state=\"Provides\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_interface_call_duration_seconds_count{interface=\"rtos-flash\",state=\"ArtifactInstall\"}"),
            Some(2.0)
        );
        assert_eq!(
            get("baton_interface_call_duration_seconds_bucket{interface=\"rtos-flash\",state=\"ArtifactInstall\",le=\"0.5\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_interface_call_duration_seconds_count{interface=\"rtos-flash\",state=\"Provides\"}"),
            None,
            "a call that never ran has no duration"
        );
    }

    #[test]
    fn the_topologys_interfaces_start_at_zero() {
        let v = vocabulary();
        let m = Metrics::new(v.clone());
        let spec = |t: &str, i: &str| ComponentSpec {
            component_type: ComponentType::new(t).unwrap(),
            interface: name(i),
            interface_args: vec![],
        };
        m.topology_loaded(&Topology {
            system_type: "car".into(),
            components: vec![spec("rtos", "mock"), spec("gw", "mock"), spec("ecu", "can")],
        });
        let text = m.render();
        for i in ["mock", "can"] {
            for w in &v.protocol_words {
                for r in &v.interface_results {
                    let s = format!(
                        "baton_interface_calls_total{{interface=\"{i}\",result=\"{r}\",state=\"{w}\"}}"
                    );
                    assert_eq!(value(&text, &s), Some(0.0), "{s}");
                }
            }
        }
    }
}
