//! `baton plan -f MANIFEST [-o json|yaml]`: what deploying a Manifest (or a bundle) would do
//! now, without doing it, as `terraform plan` says.
//!
//! The engine plans as a deployment does before its first state (the components are asked
//! `Identity` and `Provides`, nothing else; the Artifacts resolved and their headers read;
//! the constraints checked), through the daemon when one serves this datastore, else
//! in-process. Printed per order group: each component's current and target Artifact, skipped
//! or not, the bytes to download and whether the Artifact is on the device already; the
//! constraints' verdict; the expected duration from the controller's history (the median of
//! its successful deployments; unknown without one); and the `planHash` that
//! `apply --plan-hash` and `install --plan-hash` check. Exit code 1 when a deployment of it
//! would be refused now.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::target::{deployer, Need};
use super::view::{structured, View};
use super::{desired, exit, settings, CliError, GlobalArgs};
use crate::config::Effective;
use crate::engine::api::{ConstraintsVerdict, PlanDescription, PlanReport};
use crate::model::HistoryEntry;
use crate::planner::verdict_word;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The Manifest, or a bundle
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
}

pub async fn run(
    global: &GlobalArgs,
    args: &PlanArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    let given = desired::load(&eff, &args.file, None)?;
    let planned = plan(&eff, given.manifest.clone()).await;
    // A plan installs nothing: the bundle's staging is not needed.
    given.discard();
    let mut report = planned?;
    if let Some(p) = report.plan.as_mut() {
        p.expected_seconds = estimate(&history(&eff).await);
    }
    if !structured(args.output, &report, out)? {
        print(&report, out)?;
    }
    Ok(if report.refused() {
        exit::INVALID
    } else {
        exit::OK
    })
}

async fn plan(eff: &Effective, m: crate::resource::LoadedManifest) -> Result<PlanReport, CliError> {
    Ok(deployer(eff, Need::Observe).await?.plan(m).await?)
}

/// The controller's history: from the daemon when one serves this datastore, else what it
/// left in the datastore; empty when there is none.
async fn history(eff: &Effective) -> Vec<HistoryEntry> {
    let ours = crate::client::handshake::canonical(&eff.dirs.datastore_dir);
    if let crate::client::handshake::Daemon::Same(c) =
        crate::client::handshake::find(&eff.config.api.socket, &ours).await
    {
        if let Ok(h) = c.history().await {
            return h;
        }
    }
    crate::daemon::status::history::History::open(&crate::daemon::controller_dir(eff))
        .map(|h| h.entries().to_vec())
        .unwrap_or_default()
}

/// The expected duration, as the maintenance window gate reckons it (the median of the last
/// successful deployments, each without the time it waited at gates).
fn estimate(history: &[HistoryEntry]) -> Option<u64> {
    crate::gates::window_gate::expected_duration(history).map(|d| d.as_secs())
}

fn print(r: &PlanReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(p) = &r.plan {
        print_plan(p, out)?;
    }
    if r.refused() {
        writeln!(out, "A deployment of it now would be refused:")?;
        for p in &r.problems {
            writeln!(out, "  {}: {}", p.reason, p.message)?;
        }
    }
    Ok(())
}

fn print_plan(p: &PlanDescription, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Plan for Manifest '{}' (sha256 {})",
        p.manifest.name, p.manifest.sha256
    )?;
    for g in &p.groups {
        writeln!(out, "order group {}:", g.order)?;
        for c in &g.components {
            let now = c.current_artifact.as_deref().unwrap_or("(unknown)");
            let id = c.id.as_deref().unwrap_or("(no ID)");
            if c.skipped {
                writeln!(
                    out,
                    "  {} {id}: {now}, already its target: skipped",
                    c.component_type
                )?;
                continue;
            }
            let bytes = match c.download_bytes {
                Some(b) => format!("{b} bytes"),
                None => "unknown bytes".into(),
            };
            let whence = if c.cached {
                "on the device"
            } else {
                "to fetch"
            };
            writeln!(
                out,
                "  {} {id}: {now} -> {}, download {bytes} ({whence})",
                c.component_type, c.target_artifact
            )?;
        }
    }
    match &p.constraints {
        ConstraintsVerdict::Refused {
            violations,
            suggestion,
        } => {
            writeln!(out, "constraints: refused")?;
            for v in violations {
                writeln!(out, "  {v}")?;
            }
            writeln!(out, "  {suggestion}")?;
        }
        ConstraintsVerdict::Unconstrained => {
            writeln!(out, "constraints: unconstrained (no constraints file)")?
        }
        v => writeln!(out, "constraints: {}", verdict_word(v))?,
    }
    match p.expected_seconds {
        Some(s) => writeln!(
            out,
            "expected duration: about {s} s (median of the successful deployments in history)"
        )?,
        None => writeln!(
            out,
            "expected duration: unknown (no successful deployment in the controller's history)"
        )?,
    }
    writeln!(out, "planHash: {}", p.plan_hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn entry(outcome: Outcome, seconds: u64) -> HistoryEntry {
        HistoryEntry {
            id: "d".into(),
            manifest_sha256: "00".into(),
            started_at: "t".into(),
            finished_at: "t".into(),
            ..HistoryEntry::sample(outcome, seconds)
        }
    }

    #[test]
    fn the_estimate_is_the_median_of_successful_deployments() {
        assert_eq!(estimate(&[]), None);
        let h = [
            entry(Outcome::Succeeded, 30),
            entry(Outcome::RolledBack, 900),
            entry(Outcome::UpToDate, 0),
            entry(Outcome::Succeeded, 50),
            entry(Outcome::Succeeded, 40),
        ];
        assert_eq!(estimate(&h), Some(40));
    }
}
