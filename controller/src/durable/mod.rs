//! What the engine and the controller both need to persist safely, and nothing else.
//!
//! - [`write_atomic`] / [`sync_dir`]: a file replaced so that after a power cut it holds the
//!   old or the new content, never a mix or nothing (temporary file, fsync, rename, fsync of
//!   the directory).
//! - [`persist`]: small JSON files replaced that way, and read back with a broken one set
//!   aside instead of crash-looping.
//! - [`DatastoreLock`]: the datastore's `flock`, so one baton acts on a System at a time.
//! - [`fault`]: the named crash points of the fault-injection tests (debug builds with the
//!   `fault-injection` feature only). Their names are a contract with `e2e/`: never rename
//!   one.
//!
//! A leaf room: it imports only std, `model` and small crates, never a room that uses it.

mod atomic;
pub mod fault;
mod lock;
pub mod persist;

pub use atomic::{replace_cache, sync_dir, write_atomic};
pub use lock::{DatastoreLock, LockError};
pub use persist::PersistError;
