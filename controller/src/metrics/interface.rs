//! Interface calls: how many, how they ended and how long they took, per Interface and
//! protocol word.

use std::collections::BTreeSet;

use prometheus::{HistogramVec, IntCounterVec};

use super::labels;
use super::{Def, Metrics};
use crate::interface::protocol::Call;
use crate::interface::runner::{CallReport, InterfaceError};
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
    pub(super) fn init(&self, t: &Topology) {
        let interfaces: BTreeSet<&str> =
            t.components.iter().map(|c| c.interface.as_str()).collect();
        for i in interfaces {
            for w in labels::protocol_words() {
                for r in labels::INTERFACE_RESULTS {
                    self.calls_total.with_label_values(&[i, w, r]);
                }
            }
        }
    }
}

impl Metrics {
    /// One Interface call ended (the runner calls this for every call).
    pub fn interface_call(
        &self,
        interface: &InterfaceName,
        call: Call,
        result: &Result<CallReport, InterfaceError>,
    ) {
        let i = &self.interface;
        let (interface, word) = (interface.as_str(), call.as_str());
        i.calls_total
            .with_label_values(&[interface, word, labels::interface_result(result)])
            .inc();
        let ran = match result {
            Ok(report) => Some(report.duration),
            Err(e) => e.report().map(|r| r.duration),
        };
        // A call that never started (no such Interface) has no duration to tell.
        if let Some(took) = ran {
            i.call_seconds
                .with_label_values(&[interface, word])
                .observe(took.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::super::testing::value;
    use super::*;
    use crate::interface::protocol::{Query, State};
    use crate::interface::runner::{CallContext, Exit};
    use crate::model::{ComponentSpec, ComponentType};

    fn name(s: &str) -> InterfaceName {
        InterfaceName::new(s).unwrap()
    }

    fn report(ms: u64, code: i32) -> Box<CallReport> {
        Box::new(CallReport {
            exit: Exit::Code(code),
            stdout: vec![],
            stderr: b"the flash tool said: something long and free-form".to_vec(),
            stdout_dropped: 0,
            stderr_dropped: 0,
            duration: Duration::from_millis(ms),
            strays_terminated: false,
        })
    }

    fn ctx(call: Call) -> Box<CallContext> {
        Box::new(CallContext {
            interface: name("rtos-flash"),
            component_type: ComponentType::new("rtos").unwrap(),
            component: None,
            call,
        })
    }

    #[test]
    fn calls_count_by_result_and_time_by_state_with_no_free_text() {
        let m = Metrics::new();
        let i = name("rtos-flash");
        let install = Call::State(State::ArtifactInstall);
        m.interface_call(&i, install, &Ok(*report(300, 0)));
        m.interface_call(
            &i,
            install,
            &Err(InterfaceError::Failed {
                ctx: ctx(install),
                code: 3,
                report: report(2000, 3),
            }),
        );
        m.interface_call(
            &i,
            Call::Query(Query::Provides),
            &Err(InterfaceError::NotFound {
                ctx: ctx(Call::Query(Query::Provides)),
                path: PathBuf::from("/usr/share/x"),
            }),
        );
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
        assert!(!text.contains("flash tool") && !text.contains("/usr/share"));
    }

    #[test]
    fn the_topologys_interfaces_start_at_zero() {
        let m = Metrics::new();
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
            for w in labels::protocol_words() {
                for r in labels::INTERFACE_RESULTS {
                    let s = format!(
                        "baton_interface_calls_total{{interface=\"{i}\",result=\"{r}\",state=\"{w}\"}}"
                    );
                    assert_eq!(value(&text, &s), Some(0.0), "{s}");
                }
            }
        }
    }
}
