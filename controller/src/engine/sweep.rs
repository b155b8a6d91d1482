//! What an interrupted baton leaves behind, removed when the engine opens and when a
//! deployment ends: a staged Manifest no deployment will promote, File API trees of
//! deployments that are over, Artifacts downloaded for them.
//!
//! A crash between two durable steps (the Manifest staged but the journal not yet written;
//! the journal cleared but the work directory not yet removed) must not leave files that
//! nothing will ever remove. The journal decides what is live: only the deployment it holds
//! keeps its files. This room removes only below the datastore paths it is given and never
//! touches a file the journal's record names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::record::DeploymentRecord;
use super::store::{ManifestStore, Slot};

/// Where leftovers may be, under the datastore.
#[derive(Debug, Clone)]
pub struct Places {
    /// `<datastore>/work`: one directory per deployment, plus `query/`.
    pub work_root: PathBuf,
    /// `<datastore>/downloads`: Artifacts fetched by URL when the cache is off.
    pub downloads: PathBuf,
    /// `<datastore>/bundles`: staged bundles (`artifact::bundle::stage_bundle`).
    pub bundles: PathBuf,
}

/// Staged bundles no Manifest refers to that are kept anyway, the newest: one staged for a
/// deployment that has not started yet (the controller's next desired state, a hand-off on
/// its way) or whose deployment failed and will be retried, and one being planned meanwhile.
pub const SPARE_BUNDLES: usize = 2;

/// Removes what does not belong to `live` (the journal's record, if any). Returns what was
/// removed; a removal that fails is logged and skipped (it is retried next time).
pub fn sweep(
    places: &Places,
    store: &ManifestStore,
    live: Option<&DeploymentRecord>,
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if live.is_none() && store.has_pending() {
        match store.discard_pending() {
            Ok(()) => removed.push(store.dir().join("pending.yaml")),
            Err(e) => tracing::warn!(error = %e, "cannot discard a staged Manifest"),
        }
    }
    let live_id = live.map(|r| r.id.as_str());
    for entry in entries(&places.work_root) {
        let name = entry.file_name().unwrap_or_default().to_string_lossy();
        if name == "query" || Some(name.as_ref()) == live_id {
            continue;
        }
        remove(&entry, &mut removed, fs::remove_dir_all(&entry));
    }
    let in_use = |p: &Path| live.is_some_and(|r| r.artifacts.iter().any(|(_, a)| a == p));
    for entry in entries(&places.downloads) {
        if entry.is_file() && !in_use(&entry) {
            remove(&entry, &mut removed, fs::remove_file(&entry));
        }
    }
    sweep_bundles(places, store, live, &mut removed);
    if !removed.is_empty() {
        tracing::info!(
            ?removed,
            "removed what an interrupted deployment left behind"
        );
    }
    removed
}

/// Removes staged bundles no Manifest refers to (the live deployment's, the store's
/// current and previous), but the newest [`SPARE_BUNDLES`].
fn sweep_bundles(
    places: &Places,
    store: &ManifestStore,
    live: Option<&DeploymentRecord>,
    removed: &mut Vec<PathBuf>,
) {
    let root = match fs::canonicalize(&places.bundles) {
        Ok(r) => r,
        Err(_) => return,
    };
    // A Manifest refers to a staging by its `base_dir`: a directory right under the root.
    let name_in_root = |dir: &Path| {
        let dir = fs::canonicalize(dir).ok()?;
        (dir.parent() == Some(root.as_path())).then(|| dir.file_name().map(|n| n.to_owned()))?
    };
    let mut referenced: Vec<std::ffi::OsString> = Vec::new();
    let bases = live
        .and_then(|r| r.manifest.base_dir.clone())
        .into_iter()
        .chain(
            [Slot::Current, Slot::Previous, Slot::Pending]
                .into_iter()
                .filter_map(|slot| store.get(slot).ok().flatten())
                .filter_map(|m| m.meta.base_dir),
        );
    for base in bases {
        referenced.extend(name_in_root(&base));
    }
    let mut spare: Vec<(std::time::SystemTime, PathBuf)> = entries(&root)
        .into_iter()
        .filter(|e| e.is_dir())
        .filter(|e| {
            !e.file_name()
                .is_some_and(|n| referenced.iter().any(|r| r == n))
        })
        .map(|e| {
            let t = fs::metadata(&e).and_then(|m| m.modified());
            (t.unwrap_or(std::time::UNIX_EPOCH), e)
        })
        .collect();
    spare.sort_by(|a, b| b.cmp(a));
    for (_, dir) in spare.into_iter().skip(SPARE_BUNDLES) {
        remove(&dir, removed, fs::remove_dir_all(&dir));
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn remove(path: &Path, removed: &mut Vec<PathBuf>, result: io::Result<()>) {
    match result {
        Ok(()) => removed.push(path.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::machine::Deployment;
    use crate::engine::plan::Plan;
    use crate::engine::store::{Slot, StoredMeta};
    use crate::model::ComponentType;

    fn meta() -> StoredMeta {
        StoredMeta {
            name: "m".into(),
            sha256: "00".into(),
            origin: "test".into(),
            base_dir: None,
            stored_at: 1,
        }
    }

    fn record(id: &str, artifact: PathBuf) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            manifest: meta(),
            plan: Plan {
                orders: vec![],
                components: vec![],
                skipped: vec![],
            },
            artifacts: vec![(ComponentType::new("ecu").unwrap(), artifact)],
            machine: Deployment::new(0, &[]),
            boot_id_at_reboot: None,
            reboot_delegated: false,
            paused: None,
            started_at: 1,
        }
    }

    /// The places and the Manifest store of a datastore at `d`.
    fn datastore(d: &Path) -> (Places, ManifestStore) {
        let places = Places {
            work_root: d.join("work"),
            downloads: d.join("downloads"),
            bundles: d.join("bundles"),
        };
        (places, ManifestStore::open(&d.join("manifests")).unwrap())
    }

    #[test]
    fn only_the_live_deployment_keeps_its_files() {
        let d = tempfile::tempdir().unwrap();
        let (places, store) = datastore(d.path());
        for dir in [
            "work/query/mock",
            "work/live/ecu",
            "work/old/ecu",
            "downloads",
        ] {
            fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        let kept = d.path().join("downloads/download-1-0.mender");
        let stale = d.path().join("downloads/download-1-1.mender");
        fs::write(&kept, "a").unwrap();
        fs::write(&stale, "b").unwrap();
        store.stage(b"m", &meta()).unwrap();
        // A half-staged one from an earlier crash, too.
        fs::write(d.path().join("manifests/.pending.yaml.tmp"), "m").unwrap();

        let live = record("live", kept.clone());
        let removed = sweep(&places, &store, Some(&live));
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(kept.exists() && !stale.exists());
        assert!(d.path().join("work/live/ecu").exists());
        assert!(d.path().join("work/query/mock").exists());
        assert!(!d.path().join("work/old").exists());
        assert!(
            store.get(Slot::Pending).unwrap().is_some(),
            "a live deployment keeps its staged Manifest"
        );

        let removed = sweep(&places, &store, None);
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(store.get(Slot::Pending).unwrap().is_none());
        assert!(!store.has_pending(), "the half-staged copy went too");
        assert!(!kept.exists());
        assert!(sweep(&places, &store, None).is_empty(), "nothing twice");
    }

    #[test]
    fn staged_bundles_stay_while_a_manifest_names_them_and_two_spares_stay() {
        let d = tempfile::tempdir().unwrap();
        let (places, store) = datastore(d.path());
        #[allow(clippy::disallowed_methods)] // an mtime in the past to set; nothing waits on it
        let staging = |name: &str, age: u64| {
            let dir = places.bundles.join(name);
            fs::create_dir_all(&dir).unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            fs::File::open(&dir).unwrap().set_modified(t).unwrap();
            dir
        };
        let current = staging("current", 500);
        let live = staging("live", 400);
        let old = staging("old", 300);
        let spare = [staging("spare-1", 200), staging("spare-2", 100)];
        store
            .stage(
                b"m",
                &StoredMeta {
                    base_dir: Some(current.clone()),
                    ..meta()
                },
            )
            .unwrap();
        store.promote_pending().unwrap();
        let mut rec = record("d", d.path().join("downloads/x.mender"));
        rec.manifest.base_dir = Some(live.clone());
        let removed = sweep(&places, &store, Some(&rec));
        assert_eq!(removed, vec![old.clone()]);
        assert!(current.exists() && live.exists() && spare.iter().all(|s| s.exists()));
        // The deployment over, its staging is one more spare: the oldest spare goes.
        let removed = sweep(&places, &store, None);
        assert_eq!(removed, vec![live]);
        assert!(current.exists());
    }
}
