//! The Artifacts cache (`ArtifactsCache {Enabled, Path, MaxSizeBytes}`), with Mender
//! Orchestrator's meaning.
//!
//! - One fetch for all components that share an Artifact: the first asker downloads, the
//!   others wait for it and then use the cached file (single-flight per Artifact name).
//! - Caching never fails a deployment: a cache that cannot store (no space, no directory)
//!   makes the caller fetch without it.
//! - At the end of a deployment, Artifacts it did not use are evicted; then, past
//!   `MaxSizeBytes` (0 = no limit), the oldest go first. Before storing a new Artifact the
//!   oldest are evicted to make room.
//! - The directory must exist: baton never creates it (Mender's rule); without it the cache
//!   is off, with a warning.
//!
//! Cached files are named from the Artifact name, percent-encoded into one safe path
//! component, and are only ever created by rename from a private temporary file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// `ArtifactsCache` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// 0 means no limit.
    #[serde(default)]
    pub max_size_bytes: u64,
}

/// What the end-of-deployment cleanup removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Eviction {
    pub unused: Vec<String>,
    pub over_size: Vec<String>,
}

/// The cache directory and who is fetching what right now.
pub struct ArtifactsCache {
    dir: PathBuf,
    max_size_bytes: u64,
    metrics: Metrics,
    state: Mutex<State>,
    fetched: Condvar,
}

#[derive(Default)]
struct State {
    in_flight: HashSet<String>,
    used: HashSet<String>,
}

/// Why the cache could not serve: either the fetch itself failed (the deployment fails with
/// it) or the cache could not store (the caller fetches without the cache).
#[derive(Debug)]
pub enum CacheOutcome<E> {
    Fetch(E),
    Store(std::io::Error),
}

impl ArtifactsCache {
    /// The cache for `config`, or `None` when it is disabled or its directory is missing.
    /// Lookups are counted in `metrics`.
    pub fn open(config: &CacheConfig, default_path: &Path, metrics: Metrics) -> Option<Self> {
        if !config.enabled {
            return None;
        }
        let dir = config
            .path
            .clone()
            .unwrap_or_else(|| default_path.to_owned());
        if !dir.is_dir() {
            tracing::warn!(path = %dir.display(), "ArtifactsCache.Path does not exist; running without the cache");
            return None;
        }
        Some(Self {
            dir,
            max_size_bytes: config.max_size_bytes,
            metrics,
            state: Mutex::new(State::default()),
            fetched: Condvar::new(),
        })
    }

    /// Where `name` is (or would be) cached.
    pub fn path_for(&self, name: &str) -> PathBuf {
        let mut file = String::from("a-");
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                file.push(b as char);
            } else {
                file.push_str(&format!("%{b:02X}"));
            }
        }
        file.push_str(".mender");
        self.dir.join(file)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached file for `name`, fetching it with `fetch(tmp_dir, dest)` if absent. Only
    /// one caller fetches a given name at a time; the others wait and then use its result.
    /// `fetch` must create `dest` (a path in the cache directory) or fail.
    pub fn get_or_fetch<E>(
        &self,
        name: &str,
        fetch: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<PathBuf, CacheOutcome<E>> {
        let dest = self.path_for(name);
        {
            let mut st = self.lock();
            loop {
                if dest.is_file() {
                    self.metrics.artifact_cache_lookup(true);
                    st.used.insert(name.to_owned());
                    touch(&dest);
                    return Ok(dest);
                }
                if !st.in_flight.contains(name) {
                    self.metrics.artifact_cache_lookup(false);
                    st.in_flight.insert(name.to_owned());
                    break;
                }
                st = self.fetched.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        let result = fetch(&dest).map_err(CacheOutcome::Fetch);
        let mut st = self.lock();
        st.in_flight.remove(name);
        let out = match result {
            Ok(()) if dest.is_file() => {
                st.used.insert(name.to_owned());
                drop(st);
                self.make_room(Some(name));
                Ok(dest)
            }
            Ok(()) => Err(CacheOutcome::Store(std::io::Error::other(
                "the fetch stored nothing",
            ))),
            Err(e) => Err(e),
        };
        self.fetched.notify_all();
        out
    }

    /// Cached Artifacts, oldest first: (name-file, size, mtime).
    fn entries(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<_> = rd
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("a-") && n.ends_with(".mender")
            })
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                m.is_file().then(|| {
                    (
                        e.path(),
                        m.len(),
                        m.modified().unwrap_or(std::time::UNIX_EPOCH),
                    )
                })
            })
            .collect();
        v.sort_by_key(|(p, _, t)| (*t, p.clone()));
        v
    }

    /// Removes the oldest Artifacts until the cache fits `MaxSizeBytes` (keeping `keep`).
    fn make_room(&self, keep: Option<&str>) -> Vec<String> {
        if self.max_size_bytes == 0 {
            return Vec::new();
        }
        let keep = keep.map(|k| self.path_for(k));
        let entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, s, _)| s).sum();
        let mut removed = Vec::new();
        for (path, size, _) in entries {
            if total <= self.max_size_bytes {
                break;
            }
            if Some(&path) == keep.as_ref() {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= size;
                removed.push(
                    path.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        removed
    }

    /// End of a deployment: evict what it did not use, then the oldest past the size limit,
    /// and start counting use afresh.
    pub fn end_of_deployment(&self) -> Eviction {
        let used: HashSet<PathBuf> = {
            let mut st = self.lock();
            let used = st.used.iter().map(|n| self.path_for(n)).collect();
            st.used.clear();
            used
        };
        let mut ev = Eviction::default();
        for (path, _, _) in self.entries() {
            if !used.contains(&path) && std::fs::remove_file(&path).is_ok() {
                ev.unused.push(
                    path.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        ev.over_size = self.make_room(None);
        ev
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[allow(clippy::disallowed_methods)] // an mtime is wall-clock time: it orders eviction
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn cache(dir: &Path, max: u64) -> ArtifactsCache {
        let cfg = CacheConfig {
            enabled: true,
            path: Some(dir.to_owned()),
            max_size_bytes: max,
        };
        ArtifactsCache::open(&cfg, Path::new("/nonexistent"), Metrics::default()).unwrap()
    }

    #[test]
    fn disabled_or_missing_directory_means_no_cache() {
        let off = CacheConfig::default();
        assert!(ArtifactsCache::open(&off, Path::new("/tmp"), Metrics::default()).is_none());
        let missing = CacheConfig {
            enabled: true,
            path: Some("/nonexistent/cache".into()),
            max_size_bytes: 0,
        };
        assert!(ArtifactsCache::open(&missing, Path::new("/tmp"), Metrics::default()).is_none());
        let parsed: CacheConfig =
            serde_json::from_str(r#"{"Enabled":true,"Path":"/x","MaxSizeBytes":5}"#).unwrap();
        assert_eq!(parsed.max_size_bytes, 5);
    }

    #[test]
    fn names_become_one_safe_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 0);
        let p = c.path_for("../etc/passwd");
        assert_eq!(p.parent(), Some(dir.path()));
        assert_eq!(p.file_name().unwrap(), "a-..%2Fetc%2Fpasswd.mender");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // OS threads racing for the cache, no tokio clock here
    fn concurrent_askers_share_one_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let c = Arc::new(cache(dir.path(), 0));
        let fetches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (c, fetches) = (c.clone(), fetches.clone());
                std::thread::spawn(move || {
                    c.get_or_fetch::<()>("shared-v1", |dest| {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        std::fs::write(dest, b"artifact").unwrap();
                        Ok(())
                    })
                    .unwrap()
                })
            })
            .collect();
        let paths: Vec<PathBuf> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(paths.iter().all(|p| p == &paths[0]));
    }

    #[test]
    fn a_failed_fetch_lets_the_next_asker_try() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 0);
        assert!(matches!(
            c.get_or_fetch("x", |_| Err("down")),
            Err(CacheOutcome::Fetch("down"))
        ));
        let p = c.get_or_fetch::<()>("x", |d| {
            std::fs::write(d, b"ok").unwrap();
            Ok(())
        });
        assert!(p.is_ok());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // ages files by their wall-clock mtime
    fn eviction_removes_unused_then_oldest_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 25);
        let put = |name: &str, age_s: u64| {
            let p = c
                .get_or_fetch::<()>(name, |d| {
                    std::fs::write(d, [0u8; 10]).unwrap();
                    Ok(())
                })
                .unwrap();
            let f = std::fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age_s))
                .unwrap();
        };
        put("old", 300);
        put("mid", 200);
        // Storing a third 10-byte Artifact overflows 25 bytes: the oldest goes.
        put("new", 100);
        assert!(!c.path_for("old").exists());
        assert!(c.path_for("mid").exists() && c.path_for("new").exists());
        let ev = c.end_of_deployment();
        assert!(ev.unused.is_empty(), "{ev:?}");
        // Next deployment uses only "new": "mid" is evicted as unused.
        c.get_or_fetch::<()>("new", |_| unreachable!()).unwrap();
        let ev = c.end_of_deployment();
        assert_eq!(ev.unused, ["a-mid.mender"]);
        assert!(c.path_for("new").exists());
    }
}
