//! `baton config show [-o json]`: the effective configuration and where each value came from.

use std::io::Write;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use super::{exit, Format, GlobalArgs};
use crate::config::{self, Origin, ProcessEnv};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration and the origin of every value
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Serialize)]
struct Entry {
    key: String,
    value: Value,
    origin: Origin,
}

pub fn run(global: &GlobalArgs, cmd: &ConfigCommand, out: &mut dyn Write) -> std::io::Result<u8> {
    let ConfigCommand::Show(args) = cmd;
    let effective = match config::load(&global.overrides(), &ProcessEnv) {
        Ok(e) => e,
        Err(e) => {
            match args.output {
                Format::Json => {
                    serde_json::to_writer_pretty(
                        &mut *out,
                        &serde_json::json!({ "valid": false, "diagnostics": e.diagnostics() }),
                    )?;
                    writeln!(out)?;
                }
                Format::Text => writeln!(out, "{e}")?,
            }
            return Ok(exit::INVALID);
        }
    };
    // What a schema cannot check (cron, time zones, patterns): as `baton run` would refuse it.
    if let Err(problems) = crate::gates::GateSettings::from_config(&effective.config) {
        match args.output {
            Format::Json => {
                serde_json::to_writer_pretty(
                    &mut *out,
                    &serde_json::json!({ "valid": false, "problems": problems }),
                )?;
                writeln!(out)?;
            }
            Format::Text => {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
            }
        }
        return Ok(exit::INVALID);
    }
    let entries: Vec<Entry> = effective
        .entries()
        .into_iter()
        .map(|(key, value, origin)| Entry { key, value, origin })
        .collect();
    match args.output {
        Format::Json => {
            let doc = serde_json::json!({
                "valid": true,
                "config": effective.config,
                "dirs": effective.dirs,
                "origins": entries,
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => {
            let width = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
            for e in &entries {
                let shown = match &e.value {
                    Value::Null => "(unset)".to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "{:width$}  {shown}  [{}]", e.key, e.origin)?;
            }
        }
    }
    Ok(exit::OK)
}
