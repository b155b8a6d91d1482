//! `baton status`, `baton history`, `baton get components`: what the daemon says, printed.

use std::io::Write;

use clap::{Args, Subcommand};

use super::view::{self, structured, table, View};
use super::{exit, GlobalArgs};
use crate::daemon::client::block_on;
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

pub fn status(global: &GlobalArgs, args: &ViewArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let s = match block_on(async {
        let c = view::daemon(global).await?;
        c.status().await.map_err(|e| {
            eprintln!("baton: {e}");
            exit::INVALID
        })
    }) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if !structured(args.output, &s, out)? {
        print_status(&s, out)?;
    }
    Ok(exit::OK)
}

pub fn history(global: &GlobalArgs, args: &ViewArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let h = match block_on(async {
        let c = view::daemon(global).await?;
        c.history().await.map_err(|e| {
            eprintln!("baton: {e}");
            exit::INVALID
        })
    }) {
        Ok(h) => h,
        Err(code) => return Ok(code),
    };
    if !structured(args.output, &h, out)? {
        print_history(&h, out)?;
    }
    Ok(exit::OK)
}

pub fn get(global: &GlobalArgs, cmd: &GetCommand, out: &mut dyn Write) -> std::io::Result<u8> {
    let GetCommand::Components(args) = cmd;
    let cs = match block_on(async {
        let c = view::daemon(global).await?;
        c.components().await.map_err(|e| {
            eprintln!("baton: {e}");
            exit::INVALID
        })
    }) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if !structured(args.output, &cs, out)? {
        print_components(&cs, out)?;
    }
    Ok(exit::OK)
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
                e.reason.clone().unwrap_or_default(),
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
