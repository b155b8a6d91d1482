//! `baton status`, `baton history`, `baton get components`: what the daemon says, printed.

use std::io::Write;

use clap::{Args, Subcommand};

use super::view::{self, structured, table, View};
use super::{exit, CliError, GlobalArgs};
use crate::client::{Client, ClientError};
use crate::model::{ComponentStatus, HistoryEntry, Status};

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
}

#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Every component of the Topology: observed and desired Artifacts, in sync or not
    Components(ViewArgs),
}

/// Asks the daemon one thing, then prints it as asked (`text` with the given printer).
async fn show<T: serde::Serialize, Fut>(
    global: &GlobalArgs,
    view: View,
    out: &mut dyn Write,
    ask: impl FnOnce(Client) -> Fut,
    text: fn(&T, &mut dyn Write) -> std::io::Result<()>,
) -> Result<u8, CliError>
where
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let v = ask(view::daemon(global).await?).await?;
    if !structured(view, &v, out)? {
        text(&v, out)?;
    }
    Ok(exit::OK)
}

pub async fn status(
    global: &GlobalArgs,
    args: &ViewArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    show(
        global,
        args.output,
        out,
        |c| async move { c.status().await },
        print_status,
    )
    .await
}

pub async fn history(
    global: &GlobalArgs,
    args: &ViewArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    show(
        global,
        args.output,
        out,
        |c| async move { c.history().await },
        |h: &Vec<HistoryEntry>, o| print_history(h, o),
    )
    .await
}

pub async fn get(
    global: &GlobalArgs,
    cmd: &GetCommand,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let GetCommand::Components(args) = cmd;
    show(
        global,
        args.output,
        out,
        |c| async move { c.components().await },
        |cs: &Vec<ComponentStatus>, o| print_components(cs, o),
    )
    .await
}

pub fn print_status(s: &Status, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Manifest:   {} (generation {}, observed {}){}",
        s.desired_manifest.as_deref().unwrap_or("(none)"),
        s.generation,
        s.observed_generation,
        if s.suspended { ", SUSPENDED" } else { "" }
    )?;
    writeln!(
        out,
        "System:     {}",
        match &s.system_version {
            Some(v) => format!("System version {v}"),
            None => "in no end state of the constraints (or none configured)".into(),
        }
    )?;
    for c in &s.conditions {
        writeln!(
            out,
            "{:<11} {:?} ({}){}",
            format!("{:?}:", c.type_),
            c.status,
            c.reason,
            if c.message.is_empty() {
                String::new()
            } else {
                format!(": {}", c.message)
            }
        )?;
    }
    if s.failures > 0 {
        writeln!(
            out,
            "Failures:   {}{}",
            s.failures,
            s.next_attempt_at
                .as_ref()
                .map(|t| format!(", next attempt at {t}"))
                .unwrap_or_default()
        )?;
    }
    if let Some(d) = &s.deployment {
        writeln!(
            out,
            "Deployment: {} of '{}' by {}, {}{}",
            d.id,
            d.manifest,
            d.driver,
            if d.state.is_empty() {
                "starting"
            } else {
                &d.state
            },
            d.order_group
                .map(|o| format!(" in order group {o}"))
                .unwrap_or_default()
        )?;
        for c in &d.components {
            writeln!(out, "  {}", super::apply::component_line(c))?;
        }
    }
    if !s.components.is_empty() {
        writeln!(out)?;
        print_components(&s.components, out)?;
    }
    Ok(())
}

pub fn print_components(cs: &[ComponentStatus], out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = cs
        .iter()
        .map(|c| {
            vec![
                c.component_type.clone(),
                c.id.clone().unwrap_or_else(|| "?".into()),
                c.observed_artifact.clone().unwrap_or_else(|| "-".into()),
                c.desired_artifact.clone().unwrap_or_else(|| "-".into()),
                match (&c.error, c.in_sync) {
                    (Some(e), _) => format!("error: {e}"),
                    (None, true) => "yes".into(),
                    (None, false) => "no".into(),
                },
            ]
        })
        .collect();
    table(
        out,
        &["TYPE", "ID", "OBSERVED", "DESIRED", "IN SYNC"],
        &rows,
    )
}

pub fn print_history(h: &[HistoryEntry], out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = h
        .iter()
        .map(|e| {
            vec![
                e.generation.to_string(),
                e.manifest.clone(),
                e.started_at.clone(),
                format!("{}s", e.duration_seconds),
                format!("{:?}", e.outcome),
                e.reason.map(|r| r.to_string()).unwrap_or_default(),
                e.driver.clone(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "GEN", "MANIFEST", "STARTED", "TOOK", "OUTCOME", "REASON", "BY",
        ],
        &rows,
    )
}
