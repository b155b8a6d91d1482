//! How the engine verbs print: each step as it starts and ends for a person watching (on
//! stderr), and the final report, the Provides, the inventory and the journal (on stdout,
//! as text or JSON).

use std::io::Write;
use std::sync::Arc;

use super::Format;
use crate::engine::api::{
    DeploymentReport, End, JournalView, NoProgress, Observation, Problem, Progress, ProgressSink,
};

/// Prints each step as it starts and ends, for a person watching.
struct Lines;

impl ProgressSink for Lines {
    fn emit(&self, event: Progress) {
        match event {
            Progress::Started {
                manifest,
                components,
                ..
            } => {
                eprintln!(
                    "deploying {manifest}: {} component(s) to update",
                    components.len()
                );
            }
            Progress::StepStarted {
                order,
                call,
                components,
            } => {
                const SHOWN: usize = 6;
                let mut ids: Vec<String> = components
                    .iter()
                    .take(SHOWN)
                    .map(|c| format!("{} {}", c.component_type, c.id))
                    .collect();
                if components.len() > SHOWN {
                    ids.push(format!("and {} more", components.len() - SHOWN));
                }
                eprintln!(
                    "  order {order:>3}  {:<28} {}",
                    call.as_str(),
                    ids.join(", ")
                );
            }
            Progress::StepFinished { failed, .. } => {
                for (c, why) in failed {
                    eprintln!("           FAILED {} {}: {why}", c.component_type, c.id);
                }
            }
            Progress::Rebooting => eprintln!("  rebooting the host"),
            Progress::Waiting {
                point,
                reason,
                message,
                ..
            } => eprintln!("  waiting {point} ({reason}): {message}"),
            Progress::Bytes { .. } | Progress::Percent { .. } => {}
        }
    }
}

/// Progress lines for text output; nothing for JSON (tools read the report).
pub fn sink_for(format: Format) -> Arc<dyn ProgressSink> {
    match format {
        Format::Text => Arc::new(Lines),
        Format::Json => Arc::new(NoProgress),
    }
}

pub fn report(r: &DeploymentReport, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, r)?;
        return writeln!(out);
    }
    let summary = match &r.end {
        End::Success => "success".to_string(),
        End::RolledBack {
            failed_at, message, ..
        } => format!("failed at {failed_at}: {message}; rolled back"),
        End::Inconsistent {
            failed_at,
            message,
            components,
            ..
        } => format!(
            "failed at {failed_at}: {message}; NOT rolled back: {}",
            components
                .iter()
                .map(|c| format!("{} {}", c.component_type, c.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        End::Rejected { problems } => format!(
            "rejected, nothing was touched:\n  {}",
            Problem::join(problems, "\n  ")
        ),
        End::Paused {
            before, failing, ..
        } => format!(
            "paused before {before:?}{}",
            if *failing { " (after a failure)" } else { "" }
        ),
        End::AwaitingReboot => "the host must be rebooted; then run `resume`".to_string(),
    };
    writeln!(out, "{}: {summary}", r.manifest)?;
    for c in &r.components {
        writeln!(
            out,
            "  {} {} -> {}: {}",
            c.component.component_type,
            c.component.id,
            c.to_artifact,
            c.result.describe()
        )?;
    }
    Ok(())
}

/// `<component_type>.<id>.<key>=<value>` per Provides entry (or the observation as JSON);
/// `false` when some component could not be observed (each said on stderr).
pub fn provides(o: &Observation, format: Format, out: &mut dyn Write) -> std::io::Result<bool> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, o)?;
        writeln!(out)?;
    }
    let mut all = true;
    for c in &o.components {
        match (&c.id, &c.error) {
            (Some(id), None) => {
                if format == Format::Text {
                    for (k, v) in c.provides.iter() {
                        writeln!(out, "{}.{id}.{k}={v}", c.component_type)?;
                    }
                }
            }
            (_, err) => {
                eprintln!(
                    "baton: component #{} ({}) could not be observed: {}",
                    c.index + 1,
                    c.component_type,
                    err.as_deref().unwrap_or("no ID")
                );
                all = false;
            }
        }
    }
    Ok(all)
}

pub fn journal(shown: &JournalView, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, shown)?;
        return writeln!(out);
    }
    writeln!(
        out,
        "journal {}: generation {}",
        shown.journal, shown.generation
    )?;
    if let Some(why) = &shown.fell_back {
        writeln!(
            out,
            "the newest record was unusable ({why}); the previous one was used"
        )?;
    }
    match &shown.deployment {
        None => writeln!(out, "no deployment in progress"),
        Some(d) => writeln!(
            out,
            "deployment {} of {}: {}{}",
            d.deployment,
            d.manifest,
            d.position,
            if d.failing { " (after a failure)" } else { "" }
        ),
    }
}
