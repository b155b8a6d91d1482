//! Logs as text and as JSON: every line of a deployment carries its spans (deployment,
//! order group, state, component, Interface call).

use e2e::fixture::System;
use serde_json::json;

fn install(sys: &System, format: &str) -> String {
    let m = sys.root().join(format!("{format}.yaml"));
    let version = if format == "text" { "v2" } else { "v3" };
    std::fs::write(&m, sys.release_text(&format!("sys-{version}"), version)).unwrap();
    let out = sys
        .baton()
        .args(["--log-format", format, "install"])
        .arg(&m)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    e2e::stderr(&out)
}

#[test]
fn text_lines_are_prefixed_with_the_deployments_spans() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let log = install(&sys, "text");
    let line = log
        .lines()
        .find(|l| l.contains("Interface call finished") && l.contains("call=ArtifactInstall"))
        .unwrap_or_else(|| panic!("no ArtifactInstall call logged:\n{log}"));
    let spans = [
        "deployment{id=",
        "manifest=sys-v2}:order_group{order=1}:state{state=ArtifactInstall}:",
        "component{component_type=rtos component=RTOS-A}:interface{interface=mock",
    ];
    let mut at = 0;
    for s in spans {
        let found = line[at..]
            .find(s)
            .unwrap_or_else(|| panic!("`{s}` not in order in:\n{line}"));
        at += found + s.len();
    }
    assert!(
        !line.contains('\x1b'),
        "no colours when stderr is not a terminal"
    );
}

#[test]
fn json_lines_carry_the_spans_as_a_list() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let log = install(&sys, "json");
    let mut states = Vec::new();
    // `install` also prints its progress for a person watching; the log lines are JSON.
    for line in log.lines().filter(|l| l.starts_with('{')) {
        let v = e2e::logs::parse(line);
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if let Some(spans) = e2e::logs::call_spans(&v) {
            assert_eq!(spans[0]["manifest"], "sys-v3", "{line}");
            assert_eq!(spans[2]["state"], spans[4]["call"], "{line}");
            states.push((
                spans[1]["order"].as_u64().unwrap(),
                spans[2]["state"].as_str().unwrap().to_string(),
                spans[3]["component"].as_str().unwrap().to_string(),
            ));
        }
    }
    for want in [
        (1, "Download", "RTOS-A"),
        (1, "ArtifactInstall", "RTOS-A"),
        (2, "ArtifactInstall", "GW-B"),
        (2, "ArtifactCommit", "GW-B"),
        (1, "Cleanup", "RTOS-A"),
    ] {
        assert!(
            states
                .iter()
                .any(|(o, s, c)| (*o, s.as_str(), c.as_str()) == want),
            "{want:?} not among {states:?}"
        );
    }
}
