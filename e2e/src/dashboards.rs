//! The Grafana dashboards in `dashboards/`, read the way Grafana reads them: every query of
//! every panel (rows' nested panels included) and every template variable, with Grafana's
//! variables substituted before Prometheus sees the expression.

use std::path::PathBuf;

use serde_json::Value;

/// The dashboards directory of the repository.
pub fn dir() -> PathBuf {
    crate::repo_root().join("dashboards")
}

/// Every `*.json` dashboard: (file name, parsed JSON).
pub fn all() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir())
        .expect("dashboards/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A query found in a dashboard.
#[derive(Debug, Clone)]
pub struct Query {
    /// Where it is: `panel title / refId`, or `variable <name>`.
    pub place: String,
    pub expr: String,
}

/// Every panel target's `expr`, in order (rows' nested panels too).
pub fn panel_queries(dashboard: &Value) -> Vec<Query> {
    fn walk(panels: &[Value], out: &mut Vec<Query>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(Query {
                        place: format!("{title} / {}", t["refId"].as_str().unwrap_or("?")),
                        expr: expr.to_string(),
                    });
                }
            }
            walk(
                p["panels"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                out,
            );
        }
    }
    let mut out = Vec::new();
    walk(
        dashboard["panels"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        &mut out,
    );
    out
}

/// Every query-type template variable as (name, series selector, label): Grafana's
/// `label_values(<selector>, <label>)`.
pub fn variable_queries(dashboard: &Value) -> Vec<(String, String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let name = v["name"].as_str().unwrap_or("?").to_string();
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or("");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("variable {name}: not label_values(...): {q}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("variable {name}: label_values needs a label: {q}"));
            (name, selector.trim().to_string(), label.trim().to_string())
        })
        .collect()
}

/// `expr` with Grafana's variables replaced; `vars` are (name, value) without the `$`.
/// Longer names first, so `$__range` is not read as `$__r...`.
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = expr.to_string();
    for (name, value) in vars {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_panels_and_variables_are_found() {
        let d = serde_json::json!({
            "panels": [
                {"type": "row", "title": "r", "panels": [
                    {"title": "inner", "targets": [{"refId": "A", "expr": "up"}]}
                ]},
                {"title": "outer", "targets": [{"refId": "B", "expr": "x{a=\"$v\"}"}, {"refId": "C"}]}
            ],
            "templating": {"list": [
                {"type": "datasource", "name": "ds"},
                {"type": "query", "name": "v", "query": {"query": "label_values(m{k=~\"$w\"}, v)"}}
            ]}
        });
        let q = panel_queries(&d);
        assert_eq!(
            q.iter().map(|q| q.expr.as_str()).collect::<Vec<_>>(),
            ["up", "x{a=\"$v\"}"]
        );
        assert_eq!(q[0].place, "inner / A");
        assert_eq!(
            variable_queries(&d),
            [("v".into(), "m{k=~\"$w\"}".into(), "v".into())]
        );
    }

    #[test]
    fn longer_variable_names_win() {
        let e = "rate(x{i=~\"$instance\"}[$__rate_interval]) + increase(y[${__range}])";
        assert_eq!(
            substitute(
                e,
                &[
                    ("__range", "5m"),
                    ("__rate_interval", "1m"),
                    ("instance", ".+")
                ]
            ),
            "rate(x{i=~\".+\"}[1m]) + increase(y[5m])"
        );
    }
}
