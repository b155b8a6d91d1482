//! Durable file replacement: temporary file, fsync, rename, fsync of the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::fault;

/// Replace `dir/name` with `bytes` so that after a power cut it holds either the old or the
/// new content, never a mix or nothing.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fault::point(format_args!("durable.synced:{name}"));
    fs::rename(&tmp, dir.join(name))?;
    fault::point(format_args!("durable.renamed:{name}"));
    sync_dir(dir)
}

/// Make a rename or removal in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replace `dir/name` with `bytes` atomically but not durably: for a cache that is never a
/// record (a reader gets the old or the new content, and after a power cut possibly
/// nothing usable, which it must treat as "no cache"). No fsync, so no flash wear worth
/// counting, and no fault point (nothing to crash-test: losing it costs nothing).
pub fn replace_cache(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
    }
    fs::rename(&tmp, dir.join(name))
}
