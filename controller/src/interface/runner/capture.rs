//! Draining an Interface's stdout or stderr: keep the first bytes, count the rest.
//!
//! A pipe that is not drained blocks its writer, so both streams are read to the end
//! concurrently whatever they hold. Only the first `cap` bytes are kept (memory stays bounded
//! under a 10 MB flood); the rest is read into a scratch buffer and counted. Kept lines are
//! logged at debug as they arrive, lossily decoded, in the caller's span.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

/// What was read from one stream.
#[derive(Debug, Default)]
pub(super) struct Captured {
    pub bytes: Vec<u8>,
    pub dropped: u64,
}

/// A stream being drained in its own task.
pub(super) struct Capture {
    shared: Arc<Mutex<Captured>>,
    eof: watch::Receiver<bool>,
    _task: AbortOnDropHandle<()>,
}

impl Capture {
    pub(super) fn spawn<R>(reader: R, cap: usize, stream: &'static str) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let shared = Arc::new(Mutex::new(Captured::default()));
        let (eof_tx, eof) = watch::channel(false);
        let task = drain(reader, cap, stream, shared.clone(), eof_tx).in_current_span();
        Self {
            shared,
            eof,
            _task: AbortOnDropHandle::new(tokio::spawn(task)),
        }
    }

    /// Resolves at end of file (or a read error, which ends the stream just the same).
    pub(super) async fn eof(&mut self) {
        // An Err means the task is gone, which also means no more bytes will come.
        let _ = self.eof.wait_for(|&done| done).await;
    }

    /// Stops draining and returns what was kept.
    pub(super) fn finish(self) -> Captured {
        std::mem::take(&mut *self.shared.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

async fn drain<R>(
    mut reader: R,
    cap: usize,
    stream: &'static str,
    shared: Arc<Mutex<Captured>>,
    eof: watch::Sender<bool>,
) where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut logged = 0usize; // bytes of `bytes` already logged as complete lines
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut c = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let keep = n.min(cap - c.bytes.len());
        c.bytes.extend_from_slice(&buf[..keep]);
        if keep < n && c.dropped == 0 {
            tracing::debug!(stream, cap, "Interface output beyond the cap is dropped");
        }
        c.dropped += (n - keep) as u64;
        while let Some(nl) = c.bytes[logged..].iter().position(|&b| b == b'\n') {
            log_line(stream, &c.bytes[logged..logged + nl]);
            logged += nl + 1;
        }
    }
    let c = shared.lock().unwrap_or_else(PoisonError::into_inner);
    if logged < c.bytes.len() {
        log_line(stream, &c.bytes[logged..]);
    }
    drop(c);
    let _ = eof.send(true);
}

fn log_line(stream: &'static str, line: &[u8]) {
    tracing::debug!(stream, line = %String::from_utf8_lossy(line), "Interface output");
}
