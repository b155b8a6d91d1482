//! baton's JSON log lines (`--log-format json`), as a log collector reads them.

use serde_json::Value;

/// The spans of an Interface call made by a deployment, outermost first.
pub const CALL_SPANS: [&str; 5] = [
    "deployment",
    "order_group",
    "state",
    "component",
    "interface",
];

/// Parses one JSON log line; panics with the line when it is not JSON.
pub fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
}

/// The spans of a finished Interface call of a deployment (named as [`CALL_SPANS`]), or
/// `None` for any other line.
pub fn call_spans(line: &Value) -> Option<Vec<Value>> {
    if line["fields"]["message"] != "Interface call finished" {
        return None;
    }
    let spans = line["spans"].as_array()?;
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    (names == CALL_SPANS).then(|| spans.clone())
}
