//! A default ext4 (journal included) for the disk rows, whatever this machine's own disk is:
//! a sparse image file in the disk directory, formatted by `mkfs.ext4` with its defaults and
//! loop-mounted on a temporary directory beside it. Devices' datastores are on such a
//! filesystem; this machine's `/var/tmp` may not be (see the machine table), and ext4 without
//! a journal allocates inodes very differently (see the orchestration note).
//!
//! Needs root and a free loop device; otherwise [`LoopExt4::create`] says why, and the rows
//! that wanted it carry that message. Unmounted and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::measure::{check, need};

/// The image's size: room for the 1 000-component row's trees many times over. Sparse, so
/// only what is written takes disk space.
const IMAGE_BYTES: u64 = 2 << 30;

/// A mounted, journaled ext4.
pub struct LoopExt4 {
    image: PathBuf,
    mountpoint: tempfile::TempDir,
}

impl LoopExt4 {
    /// Formats and mounts a new image in `parent` (which must be on a disk, not tmpfs, for
    /// the figures to mean anything).
    pub fn create(parent: &Path) -> Result<LoopExt4, String> {
        need(&["mkfs.ext4", "mount", "umount"])?;
        let image = parent.join(format!("baton-bench-ext4-{}.img", std::process::id()));
        let made = (|| {
            let f = std::fs::File::create(&image).map_err(|e| e.to_string())?;
            f.set_len(IMAGE_BYTES).map_err(|e| e.to_string())?;
            run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_file(&image);
            return Err(format!("formatting an ext4 image: {e}"));
        }
        let mountpoint = match tempfile::Builder::new()
            .prefix("baton-bench-ext4-")
            .tempdir_in(parent)
        {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_file(&image);
                return Err(e.to_string());
            }
        };
        if let Err(e) = run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(mountpoint.path()))
        {
            let _ = std::fs::remove_file(&image);
            return Err(format!(
                "loop-mounting an ext4 image (root and a loop device are needed): {e}"
            ));
        }
        Ok(LoopExt4 { image, mountpoint })
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        self.mountpoint.path()
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        // `mount -o loop` sets autoclear: unmounting frees the loop device too.
        let _ = Command::new("umount").arg(self.mountpoint.path()).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    check(cmd, &out)
}
