//! The true floor of reading an Artifact's payload: the least any tool must spend on this
//! machine, whatever it is written in. Compressed, that is the payload's fastest
//! single-thread decompressor (libdeflate for gzip, xz-utils, the reference zstd) writing to
//! /dev/null: a reader that hashes on a second thread can at best hide the hashing behind
//! it. Uncompressed, it is SHA-256 at the CPU's speed (`openssl dgst`, which uses the SHA
//! instructions).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::measure::need;

/// One floor: a command over the Artifact's data member, extracted to a file.
#[derive(Debug, Clone)]
pub struct Floor {
    /// What the tables call it, e.g. "libdeflate-gunzip -c".
    pub what: String,
    program: &'static str,
    args: &'static [&'static str],
    member: PathBuf,
}

impl Floor {
    /// Extracts `art`'s data member into `dir` and names its floor; an error if the tool is
    /// missing.
    pub fn of(art: &Path, dir: &Path) -> Result<Floor, String> {
        let list = Command::new("tar")
            .arg("-tf")
            .arg(art)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        let name = String::from_utf8_lossy(&list.stdout)
            .lines()
            .find(|l| l.starts_with("data/0000.tar"))
            .ok_or_else(|| format!("{} has no data/0000.tar*", art.display()))?
            .to_string();
        let (program, args): (&'static str, &'static [&'static str]) =
            match name.rsplit_once('.').map(|(_, ext)| ext) {
                Some("gz") => ("libdeflate-gunzip", &["-c"]),
                // xz-utils 5.4 decodes on one thread unless told otherwise: say it anyway.
                Some("xz") => ("xz", &["-dc", "-T1"]),
                Some("zst") => ("zstd", &["-dc"]),
                _ => ("openssl", &["dgst", "-sha256"]),
            };
        need(&[program])?;
        let out = Command::new("tar")
            .arg("-xf")
            .arg(art)
            .arg("-C")
            .arg(dir)
            .arg(&name)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        super::measure::check(&Command::new("tar"), &out)?;
        Ok(Floor {
            what: format!("{program} {}", args.join(" ")),
            program,
            args,
            member: dir.join(name),
        })
    }

    /// The command to time (its output goes to /dev/null).
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.program);
        c.args(self.args).arg(&self.member);
        c
    }

    /// Removes the extracted member.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.member);
    }
}
