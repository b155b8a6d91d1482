//! Whose System is it? A verb acts through a daemon only when that daemon serves the same
//! datastore: two batons on one machine (two datastores, one default runtime directory)
//! must never act on each other's System.
//!
//! The daemon says which datastore it acts on (`GET /v1/identity`, its canonical path);
//! [`find`] compares it with the caller's.

use std::path::{Path, PathBuf};

use super::Client;
use crate::wire::Identity;

/// The daemon (if any) listening on a socket, as seen from a datastore.
#[derive(Debug)]
pub enum Daemon {
    /// It serves this datastore: act through it.
    Same(Client),
    /// It serves another datastore: leave it alone.
    Other { socket: PathBuf, theirs: Identity },
    /// Nobody answers there.
    None,
}

/// The canonical form of a datastore path, to compare two of them (the path itself when it
/// does not exist yet: then no daemon can be serving it).
pub fn canonical(datastore: &Path) -> PathBuf {
    std::fs::canonicalize(datastore).unwrap_or_else(|_| datastore.to_path_buf())
}

/// Whether the daemon at `socket` serves `datastore`.
pub async fn find(socket: &Path, datastore: &Path) -> Daemon {
    let Some(client) = Client::connect(socket).await else {
        return Daemon::None;
    };
    match client.identity().await {
        Ok(theirs) if theirs.datastore == canonical(datastore) => Daemon::Same(client),
        Ok(theirs) => Daemon::Other {
            socket: socket.to_path_buf(),
            theirs,
        },
        // A daemon that cannot say whose System it serves is not trusted with ours.
        Err(e) => Daemon::Other {
            socket: socket.to_path_buf(),
            theirs: Identity {
                datastore: PathBuf::from(format!("(unknown: {e})")),
                topology_file: PathBuf::new(),
                system_type: None,
                version: String::new(),
            },
        },
    }
}
