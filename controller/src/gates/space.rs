//! The whole plan's disk need against the free space, before the first state.
//!
//! What baton itself writes during a deployment, per component of the plan:
//! - the payload as a files tree in the component's File API directory, whenever its
//!   Interface does not read the streams (known only during Download, so always counted):
//!   the payload's size when the Artifact was read to its end (every group after the first
//!   is, before the first state), else the Artifact's size (exact for an uncompressed
//!   payload, short of it for a compressed one: the engine reading the first group to its
//!   end would make it exact, see the report to the lead);
//! - the Artifact itself when it is not local yet, in the directory it is fetched into
//!   (once per Artifact).
//!
//! Each write is charged to the filesystem of its directory (the nearest existing ancestor's
//! device), and every filesystem must keep `MinFreeBytes` free afterwards (statvfs: the
//! blocks available to unprivileged users, as baton's Interfaces may not be root). Not
//! enough on any: refuse (reason `InsufficientSpace`) with the needed and free bytes,
//! nothing touched. What an Interface writes elsewhere (a partition, a flash chip) is the
//! Interface's business.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::seam::{BoxFuture, Gate, GateContext, GatePoint, Verdict};
use crate::model::Reason;

/// One write the deployment will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub dir: PathBuf,
    pub bytes: u64,
    /// What it is, for the message (`files tree of rtos R1`).
    pub what: String,
}

/// The writes of a plan (pure).
pub fn needs(ctx: &GateContext) -> Vec<Need> {
    let mut out = Vec::new();
    let mut fetched = BTreeSet::new();
    for c in &ctx.components {
        out.push(Need {
            dir: c.work_dir.clone(),
            bytes: c.payload_bytes.unwrap_or(c.artifact_bytes),
            what: format!("the payload of {} {}", c.component_type, c.id),
        });
        if let Some(dir) = &c.fetch_to {
            if fetched.insert(&c.artifact) {
                out.push(Need {
                    dir: dir.clone(),
                    bytes: c.artifact_bytes,
                    what: format!("the Artifact {}", c.to_artifact),
                });
            }
        }
    }
    out
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
}

impl SpaceGate {
    pub fn new(min_free_bytes: u64) -> Self {
        Self {
            reserve: min_free_bytes,
        }
    }

    async fn decide(&self, ctx: &GateContext) -> Verdict {
        let needs = needs(ctx);
        let dirs: Vec<PathBuf> = needs.iter().map(|n| n.dir.clone()).collect();
        let placed = tokio::task::spawn_blocking(move || {
            dirs.iter()
                .map(|d| filesystem_of(d).map_err(|e| format!("{}: {e}", d.display())))
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let placed = match placed {
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
    fn check<'a>(&'a self, point: GatePoint, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            match point {
                GatePoint::BeforeFirstState => self.decide(ctx).await,
                _ => Verdict::Proceed,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::seam::GateComponent;

    fn comp(
        id: &str,
        artifact: &str,
        bytes: u64,
        payload: Option<u64>,
        fetch: bool,
    ) -> GateComponent {
        GateComponent {
            component_type: "rtos".into(),
            id: id.into(),
            order: 1,
            to_artifact: artifact.into(),
            artifact: PathBuf::from(format!("/cache/{artifact}.mender")),
            artifact_bytes: bytes,
            payload_bytes: payload,
            work_dir: PathBuf::from("/data/work"),
            fetch_to: fetch.then(|| PathBuf::from("/data/downloads")),
        }
    }

    fn ctx(components: Vec<GateComponent>) -> GateContext {
        GateContext {
            deployment: "d".into(),
            manifest: "m".into(),
            components,
            install_started: false,
        }
    }

    #[test]
    fn the_needs_of_a_plan() {
        let n = needs(&ctx(vec![
            comp("A", "rtos-v2", 100, Some(250), true),
            comp("B", "rtos-v2", 100, None, true),
        ]));
        let got: Vec<(&str, u64)> = n
            .iter()
            .map(|n| (n.dir.to_str().unwrap(), n.bytes))
            .collect();
        // Two files trees (the read payload size, else the Artifact's), one fetch.
        assert_eq!(
            got,
            [
                ("/data/work", 250),
                ("/data/downloads", 100),
                ("/data/work", 100)
            ]
        );
    }

    #[test]
    fn each_filesystem_keeps_its_reserve() {
        let n = needs(&ctx(vec![
            comp("A", "a", 100, Some(300), true),
            comp("B", "b", 50, None, false),
        ]));
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
        let mut c = comp("A", "a", 1, None, false);
        c.work_dir = dir.path().join("work");
        let gate = SpaceGate::new(0);
        let small = ctx(vec![c.clone()]);
        assert_eq!(
            gate.check(GatePoint::BeforeFirstState, &small).await,
            Verdict::Proceed
        );
        c.artifact_bytes = u64::MAX / 2;
        let huge = ctx(vec![c]);
        assert_eq!(
            gate.check(GatePoint::BeforeCommit, &huge).await,
            Verdict::Proceed
        );
        match gate.check(GatePoint::BeforeFirstState, &huge).await {
            Verdict::Refuse {
                reason: Reason::InsufficientSpace,
                message,
            } => {
                assert!(
                    message.contains(&format!("needs {} bytes", u64::MAX / 2)),
                    "{message}"
                )
            }
            v => panic!("{v:?}"),
        }
    }
}
