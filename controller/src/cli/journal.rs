//! `baton journal show`: what the deployment journal holds, read the way a starting baton
//! reads it (newest valid generation, else the previous one, else a clear error).
//!
//! It takes the datastore lock when it can (loading removes a stale temporary record, which
//! must never race a running baton's write); when another baton holds it, it only looks,
//! and says so. It never acts on a component.

use std::io::Write;

use super::deploy::effective;
use super::{exit, Format, GlobalArgs};

/// How long `journal show` waits for another baton's short verb to release the datastore.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn show(global: &GlobalArgs, format: Format, out: &mut dyn Write) -> std::io::Result<u8> {
    let eff = match effective(global) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let datastore = eff.dirs.datastore_dir.clone();
    let shown = match super::deploy::runtime()
        .block_on(crate::engine::api::journal_show(&datastore, LOCK_WAIT))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("baton: {e}");
            return Ok(exit::INVALID);
        }
    };
    if !shown.locked {
        eprintln!("baton: another baton acts on {}: the journal was read without the lock and may have moved on", datastore.display());
    }
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
            d.deployment,
            d.manifest,
            d.position,
            if d.failing { " (after a failure)" } else { "" }
        )?,
    }
    Ok(exit::OK)
}
