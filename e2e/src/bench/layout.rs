//! The directory layout of a benchmark's scratch System, shared by the orchestration and
//! install scenarios: `baton.conf` (its boot ID from a file, so that no reboot is ever
//! seen), `data/` (Interfaces) and `store/` (Topology, journal). Files only, no timing.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Writes `boot_id` and `baton.conf` in `root`.
pub fn write_config(root: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    fs::write(root.join("boot_id"), "bench\n").map_err(io)?;
    fs::write(
        root.join("baton.conf"),
        format!("{{\"BootIdPath\": \"{}\"}}", root.join("boot_id").display()),
    )
    .map_err(io)
}

/// `baton install <manifest>` on the System in `root`, logging errors only.
pub fn install(baton: &Path, root: &Path, manifest: &Path) -> Command {
    let mut cmd = Command::new(baton);
    cmd.arg("-c")
        .arg(root.join("baton.conf"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("-d")
        .arg(root.join("store"))
        .args(["-l", "error", "install"])
        .arg(manifest);
    cmd
}
