//! `baton events [--follow] [--since ID] [-o json]`: the controller's status events, as the
//! status page gets them (`GET /v1/events`).
//!
//! Without `--follow` it prints the events the daemon still keeps and ends; with it, it
//! goes on until interrupted, and when the connection drops it reconnects from the last id
//! it printed, so nothing is missed (or it says that some events are no longer kept).

use std::io::Write;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::view;
use super::{exit, CliError, GlobalArgs};
use crate::wire::sse;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per event, for people
    #[default]
    Text,
    /// The event's JSON, one per line
    Json,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Start after this event id [default: every kept event; with --follow: from now]
    #[arg(long, value_name = "ID")]
    pub since: Option<u64>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Output,
}

/// How long a follower keeps trying to reconnect to a daemon that went away.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

pub async fn run(
    global: &GlobalArgs,
    args: &EventsArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let since = if args.follow {
        args.since
    } else {
        Some(args.since.unwrap_or(0))
    };
    let client = view::daemon(global).await?;
    let mut last = since;
    let mut lost_since: Option<tokio::time::Instant> = None;
    loop {
        let mut stream = match client.events(last, args.follow).await {
            Ok(s) => s,
            // The daemon went away (it restarts?): a follower tries again for a while.
            Err(e) if args.follow && e.code().is_none() => {
                let t = *lost_since.get_or_insert_with(tokio::time::Instant::now);
                if t.elapsed() > RECONNECT_FOR {
                    return Err(CliError::LostDaemon(e));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        lost_since = None;
        while let Some(m) = stream.next().await {
            let Ok(m) = m else { break };
            if let Some(id) = m.id.as_deref().and_then(|i| i.parse().ok()) {
                last = Some(id);
            }
            print_message(&m, args.output, out)?;
            out.flush()?;
        }
        if !args.follow {
            return Ok(exit::OK);
        }
        // The stream ended (the daemon stopped, or this follower fell behind): go on from
        // the last id seen.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_message(m: &sse::Message, output: Output, out: &mut dyn Write) -> std::io::Result<()> {
    match (m.event.as_str(), output) {
        (sse::HEARTBEAT | sse::HELLO, _) => Ok(()),
        (sse::RESYNC, Output::Json) => {
            let v: Value = serde_json::from_str(&m.data).unwrap_or(Value::Null);
            writeln!(out, "{}", serde_json::json!({ "resync": v }))
        }
        (sse::RESYNC, Output::Text) => writeln!(
            out,
            "(some earlier events are no longer kept: `baton status` shows the whole state)"
        ),
        (_, Output::Json) => writeln!(out, "{}", m.data),
        (_, Output::Text) => match serde_json::from_str::<Value>(&m.data) {
            Ok(v) => writeln!(out, "{}", describe(&v)),
            Err(_) => writeln!(out, "{}", m.data),
        },
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn component(v: &Value) -> String {
    format!("{} {}", s(v, "componentType"), s(v, "id"))
}

/// One line for a status event (`{id, change}`), for people.
pub fn describe(ev: &Value) -> String {
    let c = &ev["change"];
    let what = match s(c, "kind") {
        "summary" => {
            let mut line = format!(
                "summary: generation {}, in sync with {}{}",
                c["generation"],
                c["observedGeneration"],
                if c["suspended"] == true {
                    ", SUSPENDED"
                } else {
                    ""
                }
            );
            // Ready with its message; Degraded and Stalled when true (their message is
            // Ready's).
            for cond in c["conditions"].as_array().into_iter().flatten() {
                let t = s(cond, "type");
                let message = match s(cond, "message") {
                    m if t == "Ready" && !m.is_empty() => format!(": {m}"),
                    _ => String::new(),
                };
                if t == "Ready" || s(cond, "status") == "True" && t != "Progressing" {
                    line.push_str(&format!(
                        "; {t} {} ({}){message}",
                        s(cond, "status"),
                        s(cond, "reason"),
                    ));
                }
            }
            line
        }
        "deployment" => match &c["deployment"] {
            Value::Null => "deployment ended".to_string(),
            d => format!(
                "deployment starts: generation {} by {}",
                d["generation"],
                s(d, "driver")
            ),
        },
        "progress" => progress(&c["progress"]),
        "components" => {
            let all = c["components"].as_array().cloned().unwrap_or_default();
            let off: Vec<String> = all
                .iter()
                .filter(|x| x["inSync"] != true)
                .map(|x| {
                    format!(
                        "{} runs {}, desired {}",
                        component(x),
                        x["observedArtifact"].as_str().unwrap_or("?"),
                        x["desiredArtifact"].as_str().unwrap_or("-")
                    )
                })
                .collect();
            let in_sync = all.len() - off.len();
            let mut line = format!("components: {in_sync} of {} in sync", all.len());
            if !off.is_empty() {
                line.push_str(&format!(" (not: {})", off.join("; ")));
            }
            line
        }
        "finished" => {
            let e = &c["entry"];
            format!(
                "finished: '{}' generation {} {} in {} s{}{}",
                s(e, "manifest"),
                e["generation"],
                s(e, "outcome"),
                e["durationSeconds"],
                match s(e, "reason") {
                    "" => String::new(),
                    r => format!(" ({r})"),
                },
                match s(e, "message") {
                    "" => String::new(),
                    m => format!(": {m}"),
                }
            )
        }
        "settled" => {
            let how = &c["settled"];
            let detail = match s(how, "how") {
                "refused" => format!(" ({}): {}", s(how, "reason"), s(how, "message")),
                // How the deployment ended: `succeeded`, `rolled_back`, ...
                "deployed" => match s(&how["end"], "result") {
                    "" => String::new(),
                    result => format!(" ({result})"),
                },
                _ => String::new(),
            };
            format!(
                "settled: generation {} {}{detail}",
                c["generation"],
                s(how, "how")
            )
        }
        other => format!("{other}: {c}"),
    };
    format!("#{:<5} {what}", ev["id"].as_u64().unwrap_or(0))
}

fn progress(p: &Value) -> String {
    let list = |k: &str| -> String {
        p[k].as_array()
            .into_iter()
            .flatten()
            .map(component)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match s(p, "event") {
        "started" => {
            let changes: Vec<String> = p["components"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} -> {} (order {})",
                        component(&c["component"]),
                        s(c, "toArtifact"),
                        c["order"]
                    )
                })
                .collect();
            format!(
                "deploying '{}' ({}): {}",
                s(p, "manifest"),
                s(p, "deployment"),
                changes.join(", ")
            )
        }
        "stepStarted" => format!(
            "order {:>3}  {:<28} {}",
            p["order"].as_u64().unwrap_or(0),
            s(p, "state"),
            list("components")
        ),
        "stepFinished" => {
            let failed: Vec<String> = p["failed"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} ({})", component(&f[0]), f[1].as_str().unwrap_or("")))
                .collect();
            format!(
                "order {:>3}  {:<28} {}",
                p["order"].as_u64().unwrap_or(0),
                format!("{} done", s(p, "state")),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("FAILED: {}", failed.join(", "))
                }
            )
        }
        "bytes" => format!(
            "          sent {} bytes to {}",
            p["bytes"],
            component(&p["component"])
        ),
        "rebooting" => "rebooting the System device".to_string(),
        other => format!("{other}: {p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_for_people() {
        let rtos = json!({"componentType": "rtos", "id": "A"});
        for (change, want) in [
            (
                json!({"kind": "progress", "progress": {"event": "stepStarted", "order": 2, "state": "ArtifactInstall", "components": [rtos]}}),
                "#7     order   2  ArtifactInstall              rtos A",
            ),
            (
                json!({"kind": "finished", "entry": {"manifest": "m", "generation": 3, "outcome": "RolledBack", "durationSeconds": 4, "reason": "CommitFailed", "message": "rtos A: ArtifactCommit failed"}}),
                "#7     finished: 'm' generation 3 RolledBack in 4 s (CommitFailed): rtos A: ArtifactCommit failed",
            ),
            (
                json!({"kind": "summary", "generation": 3, "observedGeneration": 2, "suspended": false, "conditions": [
                    {"type": "Ready", "status": "False", "reason": "CommitFailed", "message": "m"},
                    {"type": "Progressing", "status": "True", "reason": "RetryScheduled", "message": ""},
                    {"type": "Degraded", "status": "True", "reason": "CommitFailed", "message": "m"},
                    {"type": "Stalled", "status": "False", "reason": "RetryScheduled", "message": ""}]}),
                "#7     summary: generation 3, in sync with 2; Ready False (CommitFailed): m; Degraded True (CommitFailed)",
            ),
            (
                json!({"kind": "components", "components": [
                    {"componentType": "rtos", "id": "A", "inSync": true},
                    {"componentType": "gw", "id": "B", "inSync": false, "observedArtifact": "gw-v1", "desiredArtifact": "gw-v2"}]}),
                "#7     components: 1 of 2 in sync (not: gw B runs gw-v1, desired gw-v2)",
            ),
            (json!({"kind": "deployment", "deployment": null}), "#7     deployment ended"),
        ] {
            assert_eq!(describe(&json!({"id": 7, "change": change})), want);
        }
    }

    #[test]
    fn a_settled_deployment_says_how_it_ended() {
        use crate::engine::api::End;
        use crate::model::Reason;
        use crate::wire::events::{Change, Settled};
        let change = Change::Settled {
            generation: 2,
            settled: Settled::Deployed {
                end: End::RolledBack {
                    reason: Reason::CommitFailed,
                    failed_at: "ArtifactCommit mcu SEAT".into(),
                    message: "exit code 1".into(),
                },
            },
        };
        let ev = json!({"id": 7, "change": serde_json::to_value(change).unwrap()});
        assert_eq!(
            describe(&ev),
            "#7     settled: generation 2 deployed (rolledBack)"
        );
    }
}
