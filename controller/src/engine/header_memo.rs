//! Headers of downloaded Artifacts, kept from one preview to the next.
//!
//! The reconciler previews the desired Manifest at every resync to see whether the System
//! drifted. A preview needs each Artifact's header (its Provides decide "installed"), and an
//! Artifact named by `artifact_name` from a URL or the Mender Server comes as a whole
//! download: without this memo a converged device fetched all its component Artifacts again
//! at every resync. A preview reuses the header it read last time for the same component
//! type, Artifact name and observed Provides; anything else (a new name, a component that
//! changed, a file or directory source, which costs no download) is resolved as before.
//! Installs never use the memo: they resolve, download and verify everything.
//!
//! Only the last preview's headers are kept, so the memo holds at most one header per
//! component type.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::artifact::source::Origin;
use crate::artifact::ArtifactHeader;
use crate::model::{ComponentType, Provides};

/// Names one preview's lookup: the component type, the Artifact name, and what the
/// components of that type reported (an update or drift changes it, and the lookup again).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct MemoKey {
    component_type: String,
    artifact_name: String,
    provides: Vec<BTreeMap<String, String>>,
}

impl MemoKey {
    pub fn new(t: &ComponentType, artifact_name: &str, provides: &[Provides]) -> Self {
        Self {
            component_type: t.as_str().to_string(),
            artifact_name: artifact_name.to_string(),
            provides: provides.iter().map(|p| p.0.clone()).collect(),
        }
    }
}

/// Whether an Artifact from `origin` cost a download (and is worth remembering).
pub(super) fn downloaded(origin: &Origin) -> bool {
    matches!(
        origin,
        Origin::Url(_) | Origin::MenderServer { .. } | Origin::Cache(_)
    )
}

#[derive(Default)]
pub(super) struct HeaderMemo {
    last: Mutex<BTreeMap<MemoKey, ArtifactHeader>>,
}

impl HeaderMemo {
    /// What the last preview read for `key`.
    pub fn get(&self, key: &MemoKey) -> Option<ArtifactHeader> {
        self.last.lock().expect("memo lock").get(key).cloned()
    }

    /// This preview's headers replace the last one's.
    pub fn replace(&self, now: BTreeMap<MemoKey, ArtifactHeader>) {
        *self.last.lock().expect("memo lock") = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provides(name: &str) -> Provides {
        Provides([("artifact_name".to_string(), name.to_string())].into())
    }

    #[test]
    fn a_header_is_found_only_for_the_same_type_name_and_provides() {
        let t = ComponentType::new("rtos").unwrap();
        let key = MemoKey::new(&t, "rtos-v2", &[provides("rtos-v1")]);
        let memo = HeaderMemo::default();
        let header =
            crate::artifact::testkit::sample_header("rtos-v2", "rtos-interface", &["rtos"]);
        memo.replace([(key.clone(), header.clone())].into());
        assert_eq!(memo.get(&key), Some(header));
        let drifted = MemoKey::new(&t, "rtos-v2", &[provides("rtos-v0")]);
        assert_eq!(memo.get(&drifted), None);
        let other_name = MemoKey::new(&t, "rtos-v3", &[provides("rtos-v1")]);
        assert_eq!(memo.get(&other_name), None);
        memo.replace(BTreeMap::new());
        assert_eq!(
            memo.get(&key),
            None,
            "only the last preview's headers are kept"
        );
    }

    #[test]
    fn only_downloads_are_remembered() {
        assert!(downloaded(&Origin::Url("https://a/b.mender".into())));
        assert!(downloaded(&Origin::MenderServer {
            release: "r".into(),
            id: "1".into()
        }));
        assert!(downloaded(&Origin::Cache("url".into())));
        assert!(!downloaded(&Origin::Path));
        assert!(!downloaded(&Origin::Directory("/srv".into())));
    }
}
