//! Decoding ahead on a second thread, so that a compressed payload costs what decompressing
//! it costs: one thread decompresses, the other parses the data tar, hashes and feeds the
//! sink, and neither waits for the other while the channel between them has room.
//!
//! With one thread doing both in turn, verifying a 256 MiB gzip payload took the inflater's
//! time plus SHA-256's; now it takes the larger of the two. The decoder moves to the helper
//! thread (not the hashing) because it fills the channel's buffers in place, so no byte is
//! copied more often than before, and the sink, which may hold anything, stays on the
//! caller's thread.
//!
//! Memory stays bounded whatever the payload's size: at most [`DEPTH`] + 2 buffers of
//! [`CHUNK`] bytes exist at once (queued, being filled, being read; the helper allocates one
//! only when none has come back for reuse). The helper stops at the
//! first error, which reaches the reader after every byte decoded before it, in order, and
//! as soon as the reader is dropped: an early rejection does not decode the rest.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes per buffer: large enough that the hand-over costs nothing per byte and decoders
/// write long runs, small for a device.
pub(crate) const CHUNK: usize = 128 << 10;
/// Buffers queued between the threads: enough to ride out the decoder's uneven pace.
pub(crate) const DEPTH: usize = 4;

/// What the decoding thread hands over, in order.
enum Message {
    /// Decoded bytes: the first `.1` bytes of the buffer.
    Data(Vec<u8>, usize),
    /// The decoder failed; nothing follows.
    Failed(io::Error),
    /// The decoder reached its end; nothing follows.
    End,
}

/// Runs `body` with a reader of the bytes of the source that `make` builds on a scoped
/// thread and reads ahead there (a decoder need not be `Send`: it never leaves that thread).
/// If `make` fails, its error is what the reader reads. Returns once `body` has returned and
/// the thread has stopped.
pub(crate) fn with_read_ahead<S, T>(
    make: impl FnOnce() -> io::Result<S> + Send,
    body: impl FnOnce(&mut ReadAhead) -> T,
) -> T
where
    S: Read,
{
    let (full_tx, full_rx) = sync_channel(DEPTH);
    // Room for every buffer that can exist, so handing one back never blocks.
    let (empty_tx, empty_rx) = sync_channel(DEPTH + 2);
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("artifact-decode".into())
            .spawn_scoped(scope, move || match make() {
                Ok(source) => decode(source, &full_tx, &empty_rx),
                Err(e) => {
                    let _ = full_tx.send(Message::Failed(e));
                }
            });
        let mut reader = ReadAhead {
            full: full_rx,
            empty: empty_tx,
            current: Vec::new(),
            len: 0,
            pos: 0,
            ended: None,
        };
        if let Err(e) = started {
            reader.ended = Some(Err(io::Error::new(
                e.kind(),
                format!("cannot start the decoding thread: {e}"),
            )));
        }
        body(&mut reader)
        // The reader drops here, before the scope joins the thread: a thread blocked on a
        // full channel then wakes up to a closed one and stops.
    })
}

/// The decoding thread: fills buffers until the source ends or fails, or the reader is gone.
fn decode(mut source: impl Read, full: &SyncSender<Message>, empty: &Receiver<Vec<u8>>) {
    loop {
        let mut buf = empty.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
        let (len, done) = fill(&mut source, &mut buf);
        if len > 0 && full.send(Message::Data(buf, len)).is_err() {
            return; // The reader is gone: nobody wants the rest.
        }
        if let Some(done) = done {
            let _ = full.send(match done {
                Ok(()) => Message::End,
                Err(e) => Message::Failed(e),
            });
            return;
        }
    }
}

/// Reads until `buf` is full, the source ends or it fails: the count read, and, when the
/// source is done, how it finished after those bytes (`Ok` at its end, or its error).
pub(crate) fn fill(source: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Result<()>>) {
    let mut len = 0;
    while len < buf.len() {
        match source.read(&mut buf[len..]) {
            Ok(0) => return (len, Some(Ok(()))),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (len, Some(Err(e))),
        }
    }
    (len, None)
}

/// The reading end: the source's bytes in order, then its end or its error.
pub(crate) struct ReadAhead {
    full: Receiver<Message>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
    /// How the source finished, once the reader has seen it: `Ok` for its end, or its error
    /// (handed out once; later reads say the stream is over).
    ended: Option<io::Result<()>>,
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.len {
                let n = out.len().min(self.len - self.pos);
                out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if out.is_empty() {
                return Ok(0);
            }
            match self.ended.as_mut() {
                Some(Ok(())) => return Ok(0),
                Some(failed) => {
                    let e = std::mem::replace(failed, Err(ended_after_error()));
                    return e.map(|()| 0);
                }
                None => {}
            }
            let spent = std::mem::take(&mut self.current);
            if spent.capacity() > 0 {
                // Full only if the decoder is gone; then the buffer is simply freed.
                let _ = self.empty.try_send(spent);
            }
            (self.len, self.pos) = (0, 0);
            match self.full.recv() {
                Ok(Message::Data(buf, len)) => (self.current, self.len) = (buf, len),
                Ok(Message::End) => self.ended = Some(Ok(())),
                Ok(Message::Failed(e)) => self.ended = Some(Err(e)),
                // The thread ended without a word: it panicked (the scope re-raises it).
                Err(_) => self.ended = Some(Err(ended_after_error())),
            }
        }
    }
}

fn ended_after_error() -> io::Error {
    io::Error::other("the decoding thread has stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out `data` in reads of the given sizes (cycling), interrupted now and then,
    /// then fails if `fail` says so.
    struct Uneven<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        turn: usize,
        fail: Option<io::ErrorKind>,
    }

    impl Read for Uneven<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return match self.fail {
                    Some(kind) => Err(io::Error::new(kind, "decoder says no")),
                    None => Ok(0),
                };
            }
            self.turn += 1;
            if self.turn % 7 == 3 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let want = self.sizes[self.turn % self.sizes.len()].max(1);
            let n = want.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 253) as u8).collect()
    }

    proptest! {
        #[test]
        fn every_byte_arrives_in_order_then_the_end_or_the_error(
            n in prop_oneof![0usize..3000, (CHUNK - 5)..(CHUNK + 5), 0usize..(3 * CHUNK)],
            sizes in prop::collection::vec(1usize..70_000, 1..5),
            reads in prop::collection::vec(1usize..50_000, 1..5),
            fails in any::<bool>(),
        ) {
            let data = pattern(n);
            let source = Uneven {
                data: &data,
                sizes,
                turn: 0,
                fail: fails.then_some(io::ErrorKind::InvalidData),
            };
            let (got, end) = with_read_ahead(|| Ok(source), |r| {
                let mut got = Vec::new();
                let mut turn = 0;
                let end = loop {
                    let mut buf = vec![0u8; reads[turn % reads.len()]];
                    turn += 1;
                    match r.read(&mut buf) {
                        Ok(0) => break Ok(()),
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                        Err(e) => break Err(e),
                    }
                };
                (got, end)
            });
            prop_assert_eq!(got, data);
            match end {
                Ok(()) => prop_assert!(!fails),
                Err(e) => {
                    prop_assert!(fails);
                    prop_assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                    prop_assert_eq!(e.to_string(), "decoder says no");
                }
            }
        }
    }

    #[test]
    fn after_the_error_the_stream_stays_over() {
        let source = Uneven {
            data: b"abc",
            sizes: vec![3],
            turn: 0,
            fail: Some(io::ErrorKind::InvalidData),
        };
        with_read_ahead(
            || Ok(source),
            |r| {
                let mut buf = [0u8; 8];
                assert_eq!(r.read(&mut buf).unwrap(), 3);
                assert_eq!(
                    r.read(&mut buf).unwrap_err().kind(),
                    io::ErrorKind::InvalidData
                );
                assert!(r.read(&mut buf).is_err(), "an error is not an end");
            },
        );
    }

    #[test]
    fn a_source_that_cannot_be_built_is_an_error_to_read() {
        let r = with_read_ahead(
            || -> io::Result<&[u8]> { Err(io::Error::new(io::ErrorKind::InvalidData, "bad")) },
            |r| r.read(&mut [0u8; 8]),
        );
        let e = r.unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::InvalidData, "bad".into())
        );
    }

    #[test]
    fn a_reader_that_stops_early_stops_the_decoder() {
        // An endless source, read one byte of: the decoder stops after a bounded amount.
        struct Endless<'a>(&'a AtomicUsize);
        impl Read for Endless<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.0.fetch_add(out.len(), Ordering::Relaxed);
                out.fill(7);
                Ok(out.len())
            }
        }
        let decoded = AtomicUsize::new(0);
        with_read_ahead(
            || Ok(Endless(&decoded)),
            |r| {
                let mut one = [0u8; 1];
                r.read_exact(&mut one).unwrap();
                assert_eq!(one, [7]);
            },
        );
        let bound = (DEPTH + 2) * CHUNK;
        let seen = decoded.load(Ordering::Relaxed);
        assert!(seen <= bound, "decoded {seen} bytes, bound {bound}");
    }
}
