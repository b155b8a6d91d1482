//! What a crash may leave behind: processes of a scratch System, and files a settled
//! datastore must not hold.

use std::fs;
use std::path::{Path, PathBuf};

/// Processes that belong to a scratch System: their command line or working directory
/// mentions `root`. `(pid, command line)`.
pub fn stray_processes(root: &Path) -> Vec<(u32, String)> {
    let root_text = root.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = fs::read_link(e.path().join("cwd")).unwrap_or_default();
        if cmdline.contains(&root_text) || cwd.starts_with(root) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// SIGKILLs every process [`stray_processes`] finds, as systemd's `KillMode=control-group`
/// does when the service it supervises dies. Returns what was killed.
pub fn kill_strays(root: &Path) -> Vec<(u32, String)> {
    let strays = stray_processes(root);
    for (pid, _) in &strays {
        // It may have exited since: no message.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
    strays
}

/// What a settled datastore must not hold: a deployment's work directory (anything under
/// `work/` but the query scratch directories), a journal or Manifest store temporary file,
/// a pending Manifest, a partial download, a streams tree anywhere but where it is parked
/// (`parked/<type>/<id>/stream-next` and an empty `streams/` beside it).
pub fn stray_files(datastore: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let parking = datastore.join("parked");
    let in_parking = |p: &Path, depth: usize| {
        p.strip_prefix(&parking)
            .is_ok_and(|r| r.components().count() == depth)
    };
    let in_parked_streams = |p: &Path| {
        in_parking(p, 4) && p.parent().and_then(Path::file_name) == Some("streams".as_ref())
    };
    if let Ok(work) = fs::read_dir(datastore.join("work")) {
        for e in work.flatten() {
            if e.file_name() != "query" {
                found.push(e.path());
            }
        }
    }
    walk(datastore, &mut |p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let stray = name.ends_with(".tmp")
            || name.ends_with(".part")
            || name.starts_with("pending.")
            || ((name == "stream-next" || name == "streams") && !in_parking(p, 3))
            || in_parked_streams(p);
        if stray {
            found.push(p.to_path_buf());
        }
    });
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        f(&p);
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_files_are_found() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("work/query/mock")).unwrap();
        assert!(stray_files(d.path()).is_empty());
        fs::create_dir_all(d.path().join("work/1234-5/ecu")).unwrap();
        fs::create_dir_all(d.path().join("journal")).unwrap();
        fs::write(d.path().join("journal/current.tmp"), "x").unwrap();
        let found = stray_files(d.path());
        assert_eq!(found.len(), 2, "{found:?}");

        let parked = d.path().join("parked/ecu/e1");
        fs::create_dir_all(parked.join("streams")).unwrap();
        fs::write(parked.join("stream-next"), "").unwrap();
        assert_eq!(
            stray_files(d.path()).len(),
            2,
            "a parked streams tree is no stray"
        );
        fs::write(parked.join("streams/payload"), "").unwrap();
        fs::create_dir_all(d.path().join("spare-trees/ecu/e1/streams")).unwrap();
        let found = stray_files(d.path());
        assert_eq!(found.len(), 4, "{found:?}");
    }
}
