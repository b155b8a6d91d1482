//! `baton apply -f FILE [--wait] [--force]`: make a Manifest the desired state through the
//! daemon. `--force` (with or without a file) lets the next update lock check pass once.
//!
//! With `--wait` it follows the deployment: on a terminal a live view redrawn in place
//! (order group, component, state, bytes), otherwise one plain line per change. It ends when
//! the generation is Ready (exit 0), failed or Stalled (1), or superseded by a newer one (1).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::view::{self, structured, View};
use super::{exit, CliError, GlobalArgs};
use crate::client::Client;
use crate::model::{ConditionStatus, ConditionType, DeploymentComponent, Status};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The Manifest file
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        required_unless_present = "force"
    )]
    pub file: Option<PathBuf>,
    /// Pass the update locks once: the deployment waiting for one (or the next) goes on
    #[arg(long)]
    pub force: bool,
    /// Follow the deployment until the System is Ready or the attempt failed
    #[arg(long)]
    pub wait: bool,
    /// Output format of the final answer
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
    /// Apply only if deploying it now would run this plan, as `baton plan` showed it
    #[arg(long = "plan-hash", value_name = "HASH")]
    pub plan_hash: Option<String>,
}

/// One line for a component of the deployment in flight.
pub fn component_line(c: &DeploymentComponent) -> String {
    let bytes = match (c.bytes, c.total_bytes) {
        (0, None) => String::new(),
        (b, Some(t)) if t > 0 => format!("  {b}/{t} bytes ({}%)", b * 100 / t),
        (b, _) => format!("  {b} bytes"),
    };
    format!(
        "order {:>3}  {} {} -> {}  {}{bytes}",
        c.order_group,
        c.component_type,
        c.id,
        c.to_artifact,
        if c.state.is_empty() {
            "waiting"
        } else {
            &c.state
        },
    )
}

fn condition(s: &Status, t: ConditionType) -> Option<&crate::model::Condition> {
    s.conditions.iter().find(|c| c.type_ == t)
}

/// How a wait ends, from one status.
fn verdict(s: &Status, generation: u64) -> Option<(u8, String)> {
    if s.generation > generation {
        return Some((
            exit::INVALID,
            format!("superseded by generation {}", s.generation),
        ));
    }
    let ready = condition(s, ConditionType::Ready);
    if s.observed_generation >= generation
        && ready.is_some_and(|c| c.status == ConditionStatus::True)
    {
        return Some((exit::OK, "Ready".into()));
    }
    // Held back for good (the update policy's NotPinned, spent retries).
    let stalled = condition(s, ConditionType::Stalled);
    if s.generation == generation && stalled.is_some_and(|c| c.status == ConditionStatus::True) {
        let why = stalled.map(|c| format!("{}: {}", c.reason, c.message));
        return Some((
            exit::INVALID,
            format!("stalled ({})", why.unwrap_or_default()),
        ));
    }
    if s.deployment.is_none() && s.failures > 0 {
        let why = condition(s, ConditionType::Ready)
            .map(|c| format!("{}: {}", c.reason, c.message))
            .unwrap_or_default();
        return Some((exit::INVALID, format!("failed ({why})")));
    }
    None
}

fn lines(s: &Status) -> Vec<String> {
    match &s.deployment {
        None => {
            let r = condition(s, ConditionType::Ready);
            vec![format!(
                "waiting: {}",
                r.map(|c| c.reason.as_str()).unwrap_or("")
            )]
        }
        Some(d) => {
            let mut v = vec![format!(
                "deploying '{}' ({}){}",
                d.manifest,
                if d.state.is_empty() {
                    "starting"
                } else {
                    &d.state
                },
                if d.rolling_back { ", rolling back" } else { "" }
            )];
            v.extend(
                d.components
                    .iter()
                    .map(|c| format!("  {}", component_line(c))),
            );
            v
        }
    }
}

async fn follow(c: &Client, generation: u64, tty: bool) -> (u8, String, Option<Status>) {
    let mut shown: Vec<String> = Vec::new();
    let mut err = std::io::stderr();
    loop {
        let s = match c.status().await {
            Ok(s) => s,
            Err(e) => return (exit::INVALID, format!("lost the daemon: {e}"), None),
        };
        let now = lines(&s);
        if now != shown {
            if tty {
                if !shown.is_empty() {
                    // Redraw in place: up over the previous view, clear to the end.
                    let _ = write!(err, "\x1b[{}A\x1b[J", shown.len());
                }
                for l in &now {
                    let _ = writeln!(err, "{l}");
                }
            } else {
                // Plain lines: only what changed, and no byte counters (they change always).
                let strip = |l: &String| l.split("  ").take(3).collect::<Vec<_>>().join("  ");
                for l in &now {
                    if !shown.iter().any(|o| strip(o) == strip(l)) {
                        let _ = writeln!(err, "{l}");
                    }
                }
            }
            shown = now;
        }
        if let Some((code, why)) = verdict(&s, generation) {
            return (code, why, Some(s));
        }
        tokio::time::sleep(Duration::from_millis(if tty { 100 } else { 250 })).await;
    }
}

/// `--force`: the next update lock check passes (after the Manifest is applied, so a
/// deployment it supersedes does not use it up).
async fn force(c: &Client) -> Result<(), CliError> {
    let reply = c.action("force").await.map_err(CliError::Force)?;
    eprintln!("{}", reply.message);
    Ok(())
}

pub async fn run(
    global: &GlobalArgs,
    args: &ApplyArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let Some(file) = &args.file else {
        // `--force` alone (clap requires one of the two).
        force(&view::daemon(global).await?).await?;
        return Ok(exit::OK);
    };
    // A bundle is verified and staged first; its Manifest is what is applied.
    let bundle = super::desired::bundle(global, file)?;
    let bytes = match &bundle {
        Some(b) => b.manifest.bytes.clone(),
        None => std::fs::read(file).map_err(|source| CliError::Read {
            path: file.clone(),
            source,
        })?,
    };
    let base_dir = match &bundle {
        Some(b) => b.manifest.base_dir.clone(),
        None => std::path::absolute(file)
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf())),
    };
    // `<file>.sig`, when there is one, goes with it (RequireSignedManifests).
    let signature = std::fs::read(crate::signed_manifest::signature_path(file)).ok();
    let c = view::daemon(global).await?;
    let applied = c
        .apply_reviewed(
            &bytes,
            base_dir.as_deref(),
            signature.as_deref(),
            args.plan_hash.as_deref(),
        )
        .await
        .map_err(|source| {
            bundle.iter().for_each(super::desired::Given::discard);
            CliError::Apply {
                file: file.clone(),
                source,
            }
        })?;
    if args.force {
        force(&c).await?;
    }
    let waited = if args.wait {
        Some(follow(&c, applied.generation, std::io::stderr().is_terminal()).await)
    } else {
        None
    };
    let value = serde_json::json!({
        "applied": &applied,
        "result": waited.as_ref().map(|(code, why, _)| serde_json::json!({"ok": *code == exit::OK, "message": why})),
    });
    if !structured(args.output, &value, out)? {
        writeln!(
            out,
            "{}: generation {}{}",
            applied.name,
            applied.generation,
            if applied.changed {
                ""
            } else {
                " (unchanged: already the desired Manifest)"
            }
        )?;
        if let Some((_, why, _)) = &waited {
            writeln!(out, "{why}")?;
        }
    }
    Ok(waited.map(|(code, _, _)| code).unwrap_or(exit::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Condition;

    fn status(generation: u64, observed: u64, ready: ConditionStatus, failures: u32) -> Status {
        Status {
            observed_generation: observed,
            generation,
            desired_manifest: None,
            suspended: false,
            failures,
            next_attempt_at: None,
            system_version: None,
            conditions: vec![Condition {
                type_: ConditionType::Ready,
                status: ready,
                reason: crate::model::Reason::InSync,
                message: "m".into(),
                last_transition_time: "t".into(),
                observed_generation: generation,
            }],
            deployment: None,
            components: vec![],
            history: vec![],
            next_window_at: None,
            gate: None,
        }
    }

    #[test]
    fn when_a_wait_ends() {
        use ConditionStatus::*;
        assert_eq!(
            verdict(&status(3, 3, True, 0), 3).map(|v| v.0),
            Some(exit::OK)
        );
        // Ready for an older generation is not ours.
        assert_eq!(verdict(&status(3, 2, True, 0), 3), None);
        assert_eq!(verdict(&status(3, 2, False, 0), 3), None);
        assert_eq!(
            verdict(&status(3, 2, False, 1), 3).map(|v| v.0),
            Some(exit::INVALID)
        );
        assert!(verdict(&status(4, 3, True, 0), 3)
            .unwrap()
            .1
            .contains("superseded"));
        // Held back for good (UpdatePolicy pinned): a failure, without any failed attempt.
        let mut pinned = status(3, 2, False, 0);
        pinned.conditions.push(Condition {
            type_: ConditionType::Stalled,
            status: True,
            reason: crate::model::Reason::NotPinned,
            message: "'m3' is not the pinned Manifest".into(),
            last_transition_time: "t".into(),
            observed_generation: 3,
        });
        let (code, why) = verdict(&pinned, 3).unwrap();
        assert_eq!(code, exit::INVALID);
        assert!(why.contains("NotPinned"), "{why}");
    }

    #[test]
    fn component_lines() {
        let c = DeploymentComponent {
            component_type: "rtos".into(),
            id: "A".into(),
            order_group: 2,
            to_artifact: "v2".into(),
            state: "Download".into(),
            bytes: 512,
            total_bytes: Some(2048),
        };
        assert_eq!(
            component_line(&c),
            "order   2  rtos A -> v2  Download  512/2048 bytes (25%)"
        );
    }
}
