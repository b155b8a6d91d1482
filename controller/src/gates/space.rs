//! The whole plan's disk need against the free space, before the first state.
//!
//! What baton itself writes during a deployment, per component of the plan: the payload as
//! a files tree in the component's File API directory, under the datastore, whenever its
//! Interface does not read the streams (known only during Download, so always counted). Its
//! size is taken as the Artifact's (exact for an uncompressed payload, short of it for a
//! compressed one). The Artifacts themselves are local by then: planning fetched them (into
//! the cache or the datastore's downloads) and verified them before the engine asks.
//!
//! Each write is charged to the filesystem of its directory (the nearest existing ancestor's
//! device), and every filesystem must keep `MinFreeBytes` free afterwards (statvfs: the
//! blocks available to unprivileged users, as baton's Interfaces may not be root). Not
//! enough on any: refuse (reason `InsufficientSpace`) with the needed and free bytes,
//! nothing touched. What an Interface writes elsewhere (a partition, a flash chip) is the
//! Interface's business.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::seam::{BoxFuture, Gate, GateContext, GatePoint, Verdict};
use crate::model::Reason;

/// One write the deployment will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub dir: PathBuf,
    pub bytes: u64,
    /// What it is, for the message (`the payload of rtos R1`).
    pub what: String,
}

/// The writes of a plan (pure): one files tree per component, in `datastore`, the size of
/// its Artifact (`sizes`, by file; a file not found there counts 0).
pub fn needs(ctx: &GateContext, datastore: &Path, sizes: &Sizes) -> Vec<Need> {
    ctx.components
        .iter()
        .map(|c| {
            let t = &c.component.component_type;
            let bytes = ctx
                .artifacts
                .iter()
                .find(|(of, _)| of == t)
                .and_then(|(_, file)| sizes.get(file))
                .copied()
                .unwrap_or(0);
            Need {
                dir: datastore.to_path_buf(),
                bytes,
                what: format!("the payload of {t} {}", c.component.id),
            }
        })
        .collect()
}

/// A filesystem that lacks room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// A directory on it, as the plan named it.
    pub dir: PathBuf,
    pub needed: u64,
    pub free: u64,
    pub reserve: u64,
    pub what: Vec<String>,
}

impl Shortfall {
    pub fn describe(&self) -> String {
        format!(
            "the filesystem of {} needs {} bytes ({}) and keeps {} free (MinFreeBytes) but has {} free",
            self.dir.display(),
            self.needed,
            self.what.join(", "),
            self.reserve,
            self.free
        )
    }
}

/// Each filesystem's needs against its free bytes (pure): `placed[i]` is the filesystem of
/// `needs[i]`, as (device, free bytes).
pub fn shortfalls(needs: &[Need], placed: &[(u64, u64)], reserve: u64) -> Vec<Shortfall> {
    let mut by_fs: BTreeMap<u64, Shortfall> = BTreeMap::new();
    for (need, (dev, free)) in needs.iter().zip(placed) {
        let s = by_fs.entry(*dev).or_insert_with(|| Shortfall {
            dir: need.dir.clone(),
            needed: 0,
            free: *free,
            reserve,
            what: vec![],
        });
        s.needed = s.needed.saturating_add(need.bytes);
        s.what.push(need.what.clone());
    }
    by_fs
        .into_values()
        .filter(|s| s.needed.saturating_add(s.reserve) > s.free)
        .collect()
}

/// The device and the free bytes of the filesystem `dir` is (or will be) on.
pub fn filesystem_of(dir: &Path) -> std::io::Result<(u64, u64)> {
    let mut at = dir;
    let meta = loop {
        match std::fs::metadata(at) {
            Ok(m) => break m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match at.parent() {
                Some(p) => at = p,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    };
    let v = rustix::fs::statvfs(at)?;
    Ok((meta.dev(), v.f_bavail.saturating_mul(v.f_frsize)))
}

/// The disk check (`BeforeFirstState`).
pub struct SpaceGate {
    reserve: u64,
    /// Where the deployment's File API directories are written.
    datastore: PathBuf,
}

/// Each file's size.
pub type Sizes = BTreeMap<PathBuf, u64>;

/// The size of each file, and the filesystem (device, free bytes) of `dir` (IO).
fn look(files: &[PathBuf], dir: &Path) -> Result<(Sizes, (u64, u64)), String> {
    let sizes = files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .map(|m| (f.clone(), m.len()))
                .map_err(|e| format!("{}: {e}", f.display()))
        })
        .collect::<Result<_, _>>()?;
    let fs = filesystem_of(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((sizes, fs))
}

impl SpaceGate {
    pub fn new(min_free_bytes: u64, datastore: PathBuf) -> Self {
        Self {
            reserve: min_free_bytes,
            datastore,
        }
    }

    async fn decide(&self, ctx: &GateContext) -> Verdict {
        let files: Vec<PathBuf> = ctx.artifacts.iter().map(|(_, f)| f.clone()).collect();
        let datastore = self.datastore.clone();
        let looked = tokio::task::spawn_blocking(move || look(&files, &datastore))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let placed = looked.map(|(sizes, fs)| {
            let needs = needs(ctx, &self.datastore, &sizes);
            let placed = vec![fs; needs.len()];
            (needs, placed)
        });
        let (needs, placed) = match placed {
            Ok(p) => p,
            Err(e) => {
                return Verdict::Refuse {
                    reason: Reason::InsufficientSpace,
                    message: format!("cannot tell the free space: {e}; nothing installed"),
                }
            }
        };
        let short = shortfalls(&needs, &placed, self.reserve);
        if short.is_empty() {
            return Verdict::Proceed;
        }
        Verdict::Refuse {
            reason: Reason::InsufficientSpace,
            message: format!(
                "not enough space: {}; nothing was touched",
                short
                    .iter()
                    .map(Shortfall::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

impl Gate for SpaceGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            match ctx.point {
                GatePoint::BeforeFirstState => self.decide(ctx).await,
                _ => Verdict::Proceed,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::{ComponentRef, PlannedChange};
    use crate::gates::seam::{at, context};

    fn change(t: &str, id: &str, artifact: &str) -> PlannedChange {
        PlannedChange {
            component: ComponentRef {
                component_type: t.into(),
                id: id.into(),
            },
            order: 1,
            to_artifact: artifact.into(),
        }
    }

    fn ctx(changes: Vec<PlannedChange>, artifacts: &[(&str, &str)]) -> GateContext {
        GateContext {
            components: changes,
            artifacts: artifacts
                .iter()
                .map(|(t, f)| (t.to_string(), PathBuf::from(f)))
                .collect(),
            ..context("d", "m")
        }
    }

    #[test]
    fn the_needs_of_a_plan() {
        let c = ctx(
            vec![
                change("rtos", "A", "rtos-v2"),
                change("rtos", "B", "rtos-v2"),
                change("gateway", "G", "gw-v2"),
            ],
            &[
                ("rtos", "/cache/rtos-v2.mender"),
                ("gateway", "/x/gw.mender"),
            ],
        );
        let sizes = BTreeMap::from([(PathBuf::from("/cache/rtos-v2.mender"), 250)]);
        let n = needs(&c, Path::new("/data"), &sizes);
        let got: Vec<(&str, u64, &str)> = n
            .iter()
            .map(|n| (n.dir.to_str().unwrap(), n.bytes, n.what.as_str()))
            .collect();
        // A files tree per component, the size of its type's Artifact (unknown: 0).
        assert_eq!(
            got,
            [
                ("/data", 250, "the payload of rtos A"),
                ("/data", 250, "the payload of rtos B"),
                ("/data", 0, "the payload of gateway G")
            ]
        );
    }

    #[test]
    fn each_filesystem_keeps_its_reserve() {
        let need = |dir: &str, bytes, what: &str| Need {
            dir: PathBuf::from(dir),
            bytes,
            what: what.into(),
        };
        let n = [
            need("/data/work", 300, "the payload of rtos A"),
            need("/data/downloads", 100, "the Artifact a"),
            need("/data/work", 50, "the payload of rtos B"),
        ];
        // work on fs 1 (free 400), downloads on fs 2 (free 1000).
        let placed = [(1, 400), (2, 1000), (1, 400)];
        assert!(shortfalls(&n, &placed, 50).is_empty(), "350 + 50 fits 400");
        let s = shortfalls(&n, &placed, 51);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].needed, s[0].free, s[0].reserve), (350, 400, 51));
        let m = s[0].describe();
        assert!(
            m.contains("/data/work needs 350 bytes (the payload of rtos A, the payload of rtos B)"),
            "{m}"
        );
        assert!(
            m.contains("keeps 51 free (MinFreeBytes) but has 400 free"),
            "{m}"
        );
    }

    #[test]
    fn a_real_filesystem_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let (dev, free) = filesystem_of(&dir.path().join("not/yet/made")).unwrap();
        assert_eq!(dev, std::fs::metadata(dir.path()).unwrap().dev());
        assert!(free > 0);
    }

    #[tokio::test]
    async fn the_gate_refuses_what_does_not_fit_before_the_first_state() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("a.mender");
        std::fs::write(&artifact, b"payload").unwrap();
        let c = ctx(
            vec![change("rtos", "A", "a")],
            &[("rtos", artifact.to_str().unwrap())],
        );
        let fits = SpaceGate::new(0, dir.path().join("datastore"));
        assert_eq!(
            fits.check(&at(GatePoint::BeforeFirstState, &c)).await,
            Verdict::Proceed
        );
        // A reserve no filesystem here has.
        let full = SpaceGate::new(u64::MAX / 2, dir.path().join("datastore"));
        assert_eq!(
            full.check(&at(GatePoint::BeforeCommit, &c)).await,
            Verdict::Proceed
        );
        match full.check(&at(GatePoint::BeforeFirstState, &c)).await {
            Verdict::Refuse {
                reason: Reason::InsufficientSpace,
                message,
            } => {
                assert!(message.contains("needs 7 bytes"), "{message}")
            }
            v => panic!("{v:?}"),
        }
        // An Artifact that cannot be looked at refuses too: nothing was touched.
        std::fs::remove_file(&artifact).unwrap();
        assert!(matches!(
            fits.check(&at(GatePoint::BeforeFirstState, &c)).await,
            Verdict::Refuse {
                reason: Reason::InsufficientSpace,
                ..
            }
        ));
    }
}
