//! The downgrade ledger on disk: `<datastore>/accepted.json`, replaced durably.
//!
//! Read before a deployment when `DowngradeProtection` is on (an unreadable ledger then
//! refuses the deployment: protection fails closed), written after every successful one
//! whatever the option says, so that turning it on later finds the history.

use std::io;
use std::path::{Path, PathBuf};

use super::downgrade::Ledger;
use crate::durable::write_atomic;

const FILE: &str = "accepted.json";

#[derive(Debug, thiserror::Error)]
#[error("the downgrade ledger {path}: {why}")]
pub struct LedgerError {
    path: PathBuf,
    why: String,
}

/// The ledger in `datastore`; empty when there is none yet.
pub fn load(datastore: &Path) -> Result<Ledger, LedgerError> {
    let path = datastore.join(FILE);
    let err = |why: String| LedgerError {
        path: path.clone(),
        why,
    };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            err(format!(
                "unusable ({e}); move it aside to start a new history"
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ledger::default()),
        Err(e) => Err(err(e.to_string())),
    }
}

pub fn save(datastore: &Path, ledger: &Ledger) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec_pretty(ledger).expect("the ledger serializes");
    write_atomic(datastore, FILE, &bytes).map_err(|e| LedgerError {
        path: datastore.join(FILE),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::downgrade::Change;

    #[test]
    fn saved_ledgers_load_and_a_broken_one_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(d.path()).unwrap(), Ledger::default());
        let mut l = Ledger::default();
        let c = Change {
            component: "ecu/e1".into(),
            from: None,
            to: "ecu-v1".into(),
        };
        l.record("v1", &[c], &[]);
        save(d.path(), &l).unwrap();
        assert_eq!(load(d.path()).unwrap(), l);
        // A ledger written before compaction existed still loads.
        std::fs::write(
            d.path().join(FILE),
            r#"{"manifests":{"names":{"v1":1}},"components":{}}"#,
        )
        .unwrap();
        assert_eq!(load(d.path()).unwrap().manifests.names["v1"], 1);
        std::fs::write(d.path().join(FILE), "{").unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("accepted.json") && e.contains("unusable"), "{e}");
    }
}
