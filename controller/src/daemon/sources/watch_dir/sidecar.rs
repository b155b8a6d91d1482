//! A dropped Manifest's detached signature, `<name>.sig` next to it (see
//! [`crate::signed_manifest`]).
//!
//! Read with the same care as the Manifest (no symlink, a regular file, a few KiB at most),
//! and moved along with it to `applied/` or `rejected/`, so the watched directory holds only
//! what is still to be taken in. The signature must be there first: a Manifest found without
//! one is judged unsigned, not waited for.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const SUFFIX: &str = ".sig";
/// A base64 RSA-4096 signature is under 700 bytes.
const MAX_BYTES: u64 = 16 << 10;

fn name_of(manifest: &OsStr) -> std::ffi::OsString {
    let mut n = manifest.to_owned();
    n.push(SUFFIX);
    n
}

/// The signature of Manifest `name` in `dir`, if there is one. `Err` says why a file that
/// is there cannot be used.
pub fn read(dir: &Path, name: &OsStr) -> Result<Option<Vec<u8>>, String> {
    let path = dir.join(name_of(name));
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("its signature file cannot be opened: {e}")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("its signature file cannot be examined: {e}"))?;
    if !meta.is_file() {
        return Err("its signature file is not a regular file: refused".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("its signature file cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "its signature file is larger than {MAX_BYTES} bytes: refused"
        ));
    }
    Ok(Some(bytes))
}

/// Moves the signature of Manifest `name` in `dir`, if any, next to where the Manifest went.
pub fn follow(dir: &Path, name: &OsStr, manifest_now: &Path) -> io::Result<()> {
    let mut to = manifest_now.as_os_str().to_owned();
    to.push(SUFFIX);
    match fs::rename(dir.join(name_of(name)), &to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_read_and_moved_along_and_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let name = OsStr::new("m.yaml");
        assert_eq!(read(d.path(), name), Ok(None));
        fs::write(d.path().join("m.yaml.sig"), "c2ln\n").unwrap();
        assert_eq!(read(d.path(), name), Ok(Some(b"c2ln\n".to_vec())));
        fs::create_dir(d.path().join("applied")).unwrap();
        follow(d.path(), name, &d.path().join("applied/3-m.yaml")).unwrap();
        assert!(d.path().join("applied/3-m.yaml.sig").exists());
        follow(d.path(), name, &d.path().join("applied/3-m.yaml")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", d.path().join("m.yaml.sig")).unwrap();
        assert!(read(d.path(), name)
            .unwrap_err()
            .contains("cannot be opened"));
        fs::remove_file(d.path().join("m.yaml.sig")).unwrap();
        fs::write(d.path().join("m.yaml.sig"), vec![b'A'; 20 << 10]).unwrap();
        assert!(read(d.path(), name).unwrap_err().contains("larger than"));
    }
}
