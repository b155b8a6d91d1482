//! baton's metrics, dashboards and alerts against a real Prometheus (Debian's package).
//!
//! Prometheus scrapes `baton run` over its loopback TCP listener with the bearer token from
//! a file, once a second, while a scripted run goes through a successful deployment, drift,
//! and a failing deployment that rolls back until the System stalls. Then every expression
//! of every dashboard panel (read from the JSON files) and of every alert rule (read back
//! from Prometheus) is evaluated through Prometheus's HTTP API and must return numbers, and
//! every alert must fire.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::dashboards;
use e2e::fixture::{condition, http, ready, Daemon, System};
use e2e::prometheus::{self, Prometheus};
use serde_json::{json, Value};

/// The alerts dashboards/alerts.yaml must define (one per situation the issue names).
const ALERTS: [&str; 6] = [
    "BatonStalled",
    "BatonDegraded",
    "BatonRollback",
    "BatonDrift",
    "BatonInterfaceFailing",
    "BatonNotScraped",
];

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    if !e2e::need::have(prometheus::tools()) {
        return;
    }
    let dir = dashboards::dir();
    for args in [
        vec!["check", "rules", "alerts.yaml"],
        vec!["test", "rules", "alerts.test.yaml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            e2e::stdout(&out),
            e2e::stderr(&out)
        );
    }
}

/// `promtool check metrics` on one scrape: nothing to say.
fn check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics:\n{}{}\non:\n{text}",
        e2e::stdout(&out),
        e2e::stderr(&out)
    );
}

fn scrape(d: &Daemon) -> String {
    let (code, body) = http(&d.socket, "GET", "/metrics", "").expect("baton answers");
    assert_eq!(code, 200, "{body}");
    body
}

/// The rules with every `for:` set to 0s: a real Prometheus must see each expression fire
/// within this test; how long each must hold is `alerts.test.yaml`'s job.
fn rules_without_for(to: &Path) {
    let text = std::fs::read_to_string(dashboards::dir().join("alerts.yaml")).unwrap();
    let rewritten: Vec<String> = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect();
    std::fs::write(to, rewritten.join("\n")).unwrap();
}

fn prometheus_config(dir: &Path, baton: &str, offline: &str, token: &Path) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: baton
    authorization:
      type: Bearer
      credentials_file: {token}
    static_configs:
      - targets: ["{baton}"]
      # A System that is switched off: nothing listens there.
      - targets: ["{offline}"]
"#,
        rules = dir.join("alerts.yaml").display(),
        token = token.display(),
    )
}

/// Every problem with the answer to `expr`: empty, or no number in it.
fn check_data(p: &Prometheus, place: &str, expr: &str, problems: &mut Vec<String>) {
    match p.query(expr) {
        Err(e) => problems.push(format!("{place}: `{expr}`: {e}")),
        Ok(s) if s.is_empty() => problems.push(format!("{place}: `{expr}`: no data")),
        Ok(s) if s.iter().all(|s| s.number().is_nan()) => {
            problems.push(format!("{place}: `{expr}`: only NaN: {s:?}"))
        }
        Ok(_) => {}
    }
}

#[test]
fn dashboards_and_alerts_show_real_data_from_a_scripted_run() {
    if !e2e::need::have(prometheus::tools()) {
        return;
    }
    let api_port = prometheus::free_port();
    let Some(sys) = System::served(json!({
        "Api": {
            "Socket": "PLACEHOLDER",
            "Tcp": format!("127.0.0.1:{api_port}"),
            "ReadTokenFile": "PLACEHOLDER",
        },
    })) else {
        return;
    };
    let token = sys.root().join("token");
    std::fs::write(&token, "metrics-reader-0123456789\n").unwrap();
    // A token file others could read would stop baton from starting.
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&token, private).unwrap();
    // The socket and token paths live in the System's directory, known only now.
    let conf_path = sys.config_path();
    let mut conf: Value =
        serde_json::from_str(&std::fs::read_to_string(&conf_path).unwrap()).unwrap();
    conf["Api"]["Socket"] = json!(sys.socket());
    conf["Api"]["ReadTokenFile"] = json!(token);
    std::fs::write(&conf_path, conf.to_string()).unwrap();
    // Not an Artifact: the directory source must refuse it (a verification failure).
    std::fs::write(sys.artifacts_dir().join("junk.mender"), "not a tar\n").unwrap();

    let started = Instant::now();
    let d = sys.start_with(&["--log-format", "json"], &[]);
    check_metrics(&scrape(&d));

    let prom_dir = sys.root().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    rules_without_for(&prom_dir.join("alerts.yaml"));
    let baton_target = format!("127.0.0.1:{api_port}");
    let offline = format!("127.0.0.1:{}", prometheus::free_port());
    let p = Prometheus::start(
        &prom_dir,
        &prometheus_config(&prom_dir, &baton_target, &offline, &token),
    );
    let long = Duration::from_secs(30);
    // Scraped with the token, twice, before anything happens: every counter has its 0.
    p.wait_value(
        &format!("count_over_time(up{{instance=\"{baton_target}\"}}[1m])"),
        long,
        |n| n >= 2.0,
    );
    p.wait_value(&format!("up{{instance=\"{baton_target}\"}}"), long, |v| {
        v == 1.0
    });
    p.wait_value("count_over_time(baton_system_info[1m])", long, |n| n >= 2.0);

    // 1. A deployment that succeeds; ArtifactInstall takes 2 s in each order group, so
    //    scrapes see the deployment in flight in both.
    for c in ["a", "b"] {
        std::fs::write(sys.state_dir(c).join("slow"), "2").unwrap();
    }
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("v2 deployed", |s| ready(s) && s["observedGeneration"] == 1);
    for c in ["a", "b"] {
        std::fs::remove_file(sys.state_dir(c).join("slow")).unwrap();
    }

    // 2. Drift: a component changes behind baton's back; the next resync (2 s) corrects it.
    std::fs::write(sys.state_dir("b").join("version"), "gateway-v1\n").unwrap();
    d.until("drift corrected", |s| {
        s["history"].as_array().unwrap().len() == 2 && ready(s)
    });

    // 3. A deployment whose ArtifactCommit fails: rolled back, retried twice, stalled.
    std::fs::write(sys.state_dir("b").join("ArtifactCommit.FAIL"), "").unwrap();
    sys.drop_manifest("v3.yaml", &sys.release_text("sys-v3", "v3"));
    d.until("stalled", |s| condition(s, "Stalled").0 == "True");
    let scenario = started.elapsed();

    // Prometheus has seen the end, and the run as it went.
    p.wait_value("baton_controller_phase{phase=\"stalled\"}", long, |v| {
        v == 1.0
    });
    let window = format!("{}s", scenario.as_secs() + 60);
    let seen = |expr: &str, ok: fn(f64) -> bool| p.wait_value(expr, long, ok);
    seen(
        &format!("max_over_time(baton_deployment_phase{{phase=\"install\"}}[{window}])"),
        |v| v == 1.0,
    );
    seen(
        &format!("max_over_time(baton_deployment_order_group[{window}])"),
        |v| v == 2.0,
    );
    seen(
        &format!("max_over_time(baton_controller_phase{{phase=\"backoff\"}}[{window}])"),
        |v| v == 1.0,
    );
    seen(
        "baton_deployments_total{driver=\"controller\",result=\"succeeded\"}",
        |v| v == 2.0,
    );
    seen(
        "baton_deployments_total{driver=\"controller\",result=\"rolled_back\"}",
        |v| v == 3.0,
    );
    seen("baton_rollbacks_total", |v| v == 3.0);
    seen("baton_drift_detected_total{action=\"corrected\"}", |v| {
        v == 1.0
    });
    seen(
        "sum(baton_interface_calls_total{state=\"ArtifactCommit\",result=\"failed\"})",
        |v| v == 3.0,
    );
    seen(
        "sum(baton_interface_calls_total{state=\"ArtifactRollback\",result=\"success\"})",
        |v| v >= 3.0,
    );
    seen(
        "baton_artifact_read_bytes_total{source=\"directory\"}",
        |v| v > 0.0,
    );
    seen("sum(baton_artifact_verification_failures_total)", |v| {
        v >= 1.0
    });
    seen("baton_reconcile_failures", |v| v == 3.0);
    seen(
        "baton_component_info{component=\"GW-B\",artifact_name=\"gateway-v2\"}",
        |v| v == 1.0,
    );
    seen("sum(baton_component_in_sync)", |v| v == 0.0);
    seen(
        "baton_desired_generation - baton_observed_generation",
        |v| v == 1.0,
    );

    // Every alert fires.
    let t = Instant::now();
    let firing = loop {
        let alerts = p.api("alerts").unwrap();
        let firing: Vec<String> = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_string())
            .collect();
        if ALERTS.iter().all(|a| firing.iter().any(|f| f == a)) || t.elapsed() > long {
            break firing;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for a in ALERTS {
        assert!(
            firing.iter().any(|f| f == a),
            "{a} did not fire; firing: {firing:?}"
        );
    }

    // Every expression of every alert rule and dashboard panel returns numbers.
    let mut problems = Vec::new();
    let rules = p.api("rules").unwrap();
    let mut rule_names = Vec::new();
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap_or("?");
            rule_names.push(name.to_string());
            check_data(
                &p,
                &format!("rule {name}"),
                r["query"].as_str().unwrap(),
                &mut problems,
            );
        }
    }
    rule_names.sort();
    let mut want: Vec<String> = ALERTS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(rule_names, want, "alerts.yaml's rules");
    let vars = [
        ("instance", baton_target.as_str()),
        ("system_type", ".+"),
        ("job", "baton"),
        ("__rate_interval", window.as_str()),
        ("__range", window.as_str()),
        ("__interval", "1s"),
    ];
    let boards = dashboards::all();
    assert!(boards.len() >= 2, "a System and a fleet dashboard");
    let mut count = 0;
    for (file, board) in &boards {
        for q in dashboards::panel_queries(board) {
            count += 1;
            let expr = dashboards::substitute(&q.expr, &vars);
            assert!(
                !expr.contains('$'),
                "{file}: {}: unknown variable in {expr}",
                q.place
            );
            check_data(&p, &format!("{file}: {}", q.place), &expr, &mut problems);
        }
        for (name, selector, label) in dashboards::variable_queries(board) {
            let selector = dashboards::substitute(&selector, &vars);
            match p.query(&selector) {
                Ok(s) if s.iter().any(|s| s.labels[&label].is_string()) => {}
                other => problems.push(format!(
                    "{file}: variable {name}: no `{label}` in `{selector}`: {other:?}"
                )),
            }
        }
    }
    assert!(count >= 40, "only {count} panel queries found");
    assert!(
        problems.is_empty(),
        "{} of {count} panel queries and {} rules without data:\n{}\nPrometheus log:\n{}",
        problems.len(),
        want.len(),
        problems.join("\n"),
        p.log_text()
    );

    // The last scrape, with every family populated, is still clean.
    let last = scrape(&d);
    check_metrics(&last);
    let series = last.lines().filter(|l| !l.starts_with('#')).count();

    // `--log-format json` works for `baton run`, and a state's log lines carry the spans
    // of the deployment, its order group, the state, the component and the Interface call.
    let log = d.log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(e2e::logs::parse)
        .collect();
    assert!(
        lines.iter().any(|l| e2e::logs::call_spans(l).is_some()),
        "no Interface call with its deployment's spans:\n{log}"
    );
    drop(p);
    assert_eq!(d.terminate(Duration::from_secs(10)).code(), Some(0));
    eprintln!(
        "scenario {:.1} s, whole test {:.1} s, {count} panel queries, {} rules; \
         last scrape {} bytes, {series} series",
        scenario.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        want.len(),
        last.len()
    );
}
