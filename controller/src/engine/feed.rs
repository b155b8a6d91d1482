//! Feeding an Artifact to an Interface's Download: the whole file verified as it streams
//! (`feed_whole`), and the payload bytes counted for progress (`CountingSink`).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::progress::{Progress, ProgressSink};
use super::report::ComponentRef;
use crate::artifact::{self, Limits, PayloadSink, VerifyPolicy};
use crate::interface::file_api::WHOLE_ARTIFACT_NAME;
use crate::metrics::Metrics;

/// Streams the whole Artifact file to the sink as `artifact.mender`, verifying it in the
/// same pass: a second thread reads and verifies, and hands the raw bytes over a pipe.
pub(super) fn feed_whole(
    path: &Path,
    metrics: &Metrics,
    source: &'static str,
    policy: &VerifyPolicy,
    limits: &Limits,
    sink: &mut dyn PayloadSink,
) -> Result<artifact::Verified, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let file = metrics.count_reads(source, file);
    let (mut rx, tx) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (policy, limits) = (policy.clone(), limits.clone());
    let verifier = std::thread::spawn(move || {
        let mut tx = tx;
        artifact::verify_whole(file, &policy, &limits, &mut tx).map(|(_, v)| v)
    });
    let sent = sink.file(WHOLE_ARTIFACT_NAME, size, &mut rx);
    // Whatever the sink left unread: the verifier must still see the end of its input.
    let _ = io::copy(&mut rx, &mut io::sink());
    drop(rx);
    let verdict = verifier
        .join()
        .map_err(|_| "the Artifact verifier panicked".to_string())?;
    sent.map_err(|e| e.to_string())?;
    verdict
        .inspect_err(|e| metrics.artifact_rejected(e.verification_failure()))
        .map_err(|e| e.to_string())
}

/// Counts payload bytes handed to an Interface and reports them now and then.
pub(super) struct CountingSink<'a> {
    pub inner: &'a mut dyn PayloadSink,
    pub sent: u64,
    pub who: ComponentRef,
    pub progress: Arc<dyn ProgressSink>,
    pub last: Instant,
}

impl PayloadSink for CountingSink<'_> {
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        let CountingSink {
            inner,
            sent,
            who,
            progress,
            last,
        } = self;
        let mut reader = CountingRead {
            inner: content,
            sent,
            who,
            progress: &**progress,
            last,
        };
        let r = inner.file(name, size, &mut reader);
        progress.emit(Progress::Bytes {
            component: who.clone(),
            bytes: *sent,
            total: None,
        });
        r
    }
}

struct CountingRead<'a> {
    inner: &'a mut (dyn Read + Send),
    sent: &'a mut u64,
    who: &'a ComponentRef,
    progress: &'a dyn ProgressSink,
    last: &'a mut Instant,
}

impl Read for CountingRead<'_> {
    #[allow(clippy::disallowed_methods)] // a progress throttle; nothing waits on it
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.sent += n as u64;
        if self.last.elapsed() >= Duration::from_millis(250) {
            *self.last = Instant::now();
            self.progress.emit(Progress::Bytes {
                component: self.who.clone(),
                bytes: *self.sent,
                total: None,
            });
        }
        Ok(n)
    }
}
