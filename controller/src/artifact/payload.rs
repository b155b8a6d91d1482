//! The seam between the Artifact reader and whoever consumes a payload.

use std::io::{self, Read};

/// Receives the payload files of an Artifact, one at a time, in Artifact order.
///
/// The reader hashes every byte as the sink reads it; whatever the sink leaves unread is
/// drained and hashed by the reader afterwards, so a sink may stop early without weakening
/// verification. The final verdict (every checksum matched) comes from the reader, after
/// the last file: a sink must treat what it received as unverified until then.
pub trait PayloadSink {
    /// One payload file: its name inside `data/0000/`, its size in bytes, and its content.
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()>;
}
