//! The seam between the Artifact reader and whoever consumes a payload.

use std::io::{self, Read};
use std::os::fd::AsFd;

/// The capacity asked for a pipe that carries Artifact bytes from one party to another.
const PIPE_BYTES: usize = 1 << 20;

/// Asks the kernel for a 1 MiB pipe behind `fd`, for a pipe that carries Artifact bytes (a
/// download to its verifier, a payload to a streaming Interface). The default holds 64 KiB,
/// so each side woke the other every 64 KiB; larger, each runs in long stretches. Pipe pages
/// are allocated only as they fill. Refused (an unprivileged user over its pipe quota), the
/// default stays, which works, with more hand-overs.
pub fn widen_pipe(fd: impl AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_BYTES);
}

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
