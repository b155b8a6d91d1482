//! `baton journal show`: what the deployment journal holds, read the way a starting baton
//! reads it (newest valid generation, else the previous one, else a clear error).
//!
//! It takes the datastore lock (loading removes a stale temporary record, which must never
//! race a running baton's write) and never acts on a component.

use std::io::Write;

use serde::Serialize;

use super::deploy::effective;
use super::{exit, Format, GlobalArgs};
use crate::durable::DatastoreLock;
use crate::engine::driver::DeploymentRecord;
use crate::engine::journal::Journal;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shown {
    journal: String,
    generation: u64,
    /// Why the newest generation was unusable, when the previous one was used.
    fell_back: Option<String>,
    deployment: Option<Deployment>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    id: String,
    manifest: String,
    position: String,
    failing: bool,
}

pub fn show(global: &GlobalArgs, format: Format, out: &mut dyn Write) -> std::io::Result<u8> {
    let eff = match effective(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let datastore = &eff.dirs.datastore_dir;
    let _lock = match DatastoreLock::acquire(datastore) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("baton: {e}");
            return Ok(exit::INVALID);
        }
    };
    let dir = datastore.join("journal");
    let (journal, loaded) = match Journal::open::<DeploymentRecord>(&dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("baton: {e}");
            return Ok(exit::INVALID);
        }
    };
    let shown = Shown {
        journal: dir.display().to_string(),
        generation: journal.generation(),
        fell_back: loaded.fell_back,
        deployment: loaded.record.map(|r| Deployment {
            position: r.machine.describe(),
            failing: r.machine.failure.is_some(),
            id: r.id,
            manifest: r.manifest.name,
        }),
    };
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &shown)?;
        writeln!(out)?;
        return Ok(exit::OK);
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
        None => writeln!(out, "no deployment in progress")?,
        Some(d) => writeln!(
            out,
            "deployment {} of {}: {}{}",
            d.id,
            d.manifest,
            d.position,
            if d.failing { " (after a failure)" } else { "" }
        )?,
    }
    Ok(exit::OK)
}
