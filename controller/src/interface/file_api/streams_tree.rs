//! The streams tree: payload files handed to a running `Download` through named pipes.
//!
//! The handshake is Mender's (see the long comment in the C++ client's
//! `update_module_download.cpp` and the Update Modules v3 File API):
//! 1. `stream-next` exists before the Interface starts ([`StreamsTreeSink::prepare`]);
//! 2. per file: open `stream-next` for writing (this waits for the Interface to open it for
//!    reading), create the FIFO `streams/<name>`, write one line `streams/<name>` (or
//!    `streams/<name> <size>` for `DownloadWithFileSizes`), close `stream-next`; then open
//!    `streams/<name>` and write the file's bytes into it;
//! 3. at the end, open and close `stream-next` at once: the Interface reads zero bytes.
//!
//! Opening a FIFO for writing blocks until a reader comes, and a reader may never come. So
//! every open is non-blocking and retried (`ENXIO` means "no reader yet") while watching the
//! Interface's call: if it ends before ever opening `stream-next`, it did not want to stream,
//! and the payload goes to the files tree instead; if it ends after that, or stops reading, the
//! download fails ("started downloading, but did not finish"). Writes watch the call too, so a
//! grandchild holding a pipe open without reading cannot hang the feeding thread.
//!
//! The sink runs on a blocking thread (the Artifact reader is synchronous) and drives the
//! async pipe writes with the runtime handle it was given.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::Mode;
use rustix::io::Errno;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::files_tree::{check_payload_name, pump, Delivery};
use super::parked::{self, Held};
use super::{fsx, FilesTreeSink, PayloadTree, TreeError};
use crate::artifact::{widen_pipe, PayloadSink};

/// The Interface's `Download` call, as the feeding thread sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceState {
    Running,
    Succeeded,
    Failed,
}

enum Phase {
    /// `stream-next` has not been opened by the Interface yet.
    Waiting,
    /// The Interface is reading streams.
    Streaming,
    /// The Interface ended without opening `stream-next`: baton stores the payload.
    Files(FilesTreeSink),
    Done,
}

enum Opened {
    Reader(pipe::Sender),
    Ended(InterfaceState),
}

/// Feeds payload files to a `Download` call through the streams tree, falling back to the
/// files tree when the Interface does not stream.
pub struct StreamsTreeSink {
    work_dir: PathBuf,
    parked: Option<PathBuf>,
    with_sizes: bool,
    whole_artifact: bool,
    interface: watch::Receiver<InterfaceState>,
    handle: Handle,
    phase: Phase,
    received: usize,
    failure: Option<TreeError>,
}

const FIRST_PAUSE: Duration = Duration::from_micros(500);
const MAX_PAUSE: Duration = Duration::from_millis(20);

impl StreamsTreeSink {
    /// Creates the FIFO `stream-next` and the directory `streams/` in `work_dir` (taken from
    /// `parked`, the component's parking directory, when they wait there). Call it before
    /// starting the Interface's `Download`, and send the call's end on `interface`'s sender.
    pub fn prepare(
        work_dir: &Path,
        parked: Option<&Path>,
        with_sizes: bool,
        whole_artifact: bool,
        interface: watch::Receiver<InterfaceState>,
        handle: Handle,
    ) -> Result<Self, TreeError> {
        let dir = fsx::open_dir(work_dir)
            .map_err(TreeError::io("opening the work directory", work_dir))?;
        // Not kept open: every descriptor baton holds is copied into each Interface it
        // spawns and closed again at its exec, and hundreds of `Download` calls run at once.
        let (_streams, _) = parked::take_dir(parked, &dir, work_dir, "streams", Held::Nothing)
            .map_err(TreeError::io("creating streams/ in", work_dir))?;
        parked::take_fifo(parked, &dir, work_dir, "stream-next")
            .map_err(TreeError::io("creating stream-next in", work_dir))?;
        Ok(Self {
            work_dir: work_dir.to_owned(),
            parked: parked.map(Path::to_owned),
            with_sizes,
            whole_artifact,
            interface,
            handle,
            phase: Phase::Waiting,
            received: 0,
            failure: None,
        })
    }

    /// Ends the download after the last file: the zero-length read of `stream-next`, or the
    /// files tree synced. Says which tree holds the payload.
    pub fn finish(&mut self) -> Result<PayloadTree, TreeError> {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Files(files) => files.finish().map(|()| PayloadTree::Files),
            Phase::Done => Ok(PayloadTree::Streams),
            phase @ (Phase::Waiting | Phase::Streaming) => match self.open_stream_next()? {
                // Dropping the writer at once is the zero-length read.
                Opened::Reader(_) => Ok(PayloadTree::Streams),
                Opened::Ended(state) => match phase {
                    Phase::Waiting if state == InterfaceState::Succeeded => {
                        self.fall_back_to_files()?;
                        self.finish()
                    }
                    _ => Err(self.ended(state, "before the end of the streams")),
                },
            },
        }
    }

    /// The typed error behind the last `io::Error` this sink returned, if it was the sink's.
    pub fn take_failure(&mut self) -> Option<TreeError> {
        match &mut self.phase {
            Phase::Files(files) => files.take_failure().or_else(|| self.failure.take()),
            _ => self.failure.take(),
        }
    }

    fn deliver(
        &mut self,
        name: &str,
        size: u64,
        content: &mut (dyn Read + Send),
    ) -> Result<(), Delivery> {
        check_payload_name(name, self.whole_artifact, self.received)?;
        self.received += 1;
        match &mut self.phase {
            Phase::Files(files) => return files.store(name, size, content),
            Phase::Done => {
                let why = format!("payload file {name} after the end");
                return Err(TreeError::StreamsIncomplete(why).into());
            }
            Phase::Waiting | Phase::Streaming => {}
        }
        let mut stream_next = match self.open_stream_next()? {
            Opened::Reader(tx) => tx,
            Opened::Ended(InterfaceState::Succeeded) if matches!(self.phase, Phase::Waiting) => {
                self.fall_back_to_files()?;
                let Phase::Files(files) = &mut self.phase else {
                    unreachable!("just set")
                };
                return files.store(name, size, content);
            }
            Opened::Ended(state) => {
                let when = format!("before reading stream-next for {name}");
                return Err(self.ended(state, &when).into());
            }
        };
        self.phase = Phase::Streaming;

        let stream = format!("streams/{name}");
        // Opened as `prepare` opened it, refusing a symlink in its place.
        fsx::open_dir(&self.work_dir)
            .and_then(|work| fsx::open_subdir(&work, "streams"))
            .and_then(|streams| {
                let mode = Mode::from_raw_mode(fsx::FILE_MODE);
                Ok(rustix::fs::mkfifoat(&streams, name, mode)?)
            })
            .map_err(|e| TreeError::Io {
                what: "creating",
                path: self.work_dir.join(&stream),
                source: e,
            })?;
        let line = match self.with_sizes {
            true => format!("{stream} {size}\n"),
            false => format!("{stream}\n"),
        };
        self.write(&mut stream_next, line.as_bytes(), "stream-next")?;
        // Closing stream-next lets the Interface see the end of the line; the FIFO it
        // names exists already.
        drop(stream_next);

        let mut tx = match self.open_for_writing(&self.work_dir.join(&stream))? {
            Opened::Reader(tx) => tx,
            Opened::Ended(state) => {
                return Err(self
                    .ended(state, &format!("without reading {stream}"))
                    .into())
            }
        };
        widen_pipe(&tx);
        pump(name, size, content, |chunk, sent| {
            self.write(&mut tx, chunk, &stream).map_err(|e| match e {
                TreeError::StreamsIncomplete(why) => {
                    TreeError::StreamsIncomplete(format!("{why} after {sent} of {size} bytes"))
                }
                other => other,
            })
        })
    }

    fn open_stream_next(&mut self) -> Result<Opened, TreeError> {
        self.open_for_writing(&self.work_dir.join("stream-next"))
    }

    /// Opens a FIFO for writing once the Interface has it open for reading, or reports that
    /// the Interface's call ended first.
    fn open_for_writing(&self, path: &Path) -> Result<Opened, TreeError> {
        let mut interface = self.interface.clone();
        let opened = self.handle.block_on(async {
            let mut pause = FIRST_PAUSE;
            loop {
                match pipe::OpenOptions::new().open_sender(path) {
                    Ok(tx) => return Ok(Opened::Reader(tx)),
                    Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => {}
                    Err(e) => return Err(e),
                }
                // Checked after a failed open: a reader that came and the call that ended
                // cannot both be missed.
                let state = *interface.borrow_and_update();
                if state != InterfaceState::Running {
                    return Ok(Opened::Ended(state));
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    changed = interface.changed() => if changed.is_err() {
                        return Ok(Opened::Ended(InterfaceState::Failed));
                    },
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        });
        opened.map_err(TreeError::io("opening", path))
    }

    /// Writes all of `bytes`, unless the Interface stops reading or its call ends.
    fn write(&self, tx: &mut pipe::Sender, bytes: &[u8], what: &str) -> Result<(), TreeError> {
        enum Stop {
            Closed(io::Error),
            Ended(InterfaceState),
        }
        let mut interface = self.interface.clone();
        let written = self.handle.block_on(async {
            tokio::select! {
                r = tx.write_all(bytes) => r.map_err(Stop::Closed),
                r = interface.wait_for(|s| *s != InterfaceState::Running) => {
                    Err(Stop::Ended(r.map(|s| *s).unwrap_or(InterfaceState::Failed)))
                }
            }
        });
        match written {
            Ok(()) => Ok(()),
            Err(Stop::Closed(e)) => Err(TreeError::StreamsIncomplete(format!(
                "the Interface closed {what} ({e})"
            ))),
            Err(Stop::Ended(state)) => Err(self.ended(state, &format!("while reading {what}"))),
        }
    }

    fn ended(&self, state: InterfaceState, when: &str) -> TreeError {
        match state {
            InterfaceState::Failed => TreeError::InterfaceEnded,
            _ => TreeError::StreamsIncomplete(format!("the Interface exited {when}")),
        }
    }

    /// The Interface never opened `stream-next`: take the streams tree away, as Mender does,
    /// and store the payload in the files tree.
    fn fall_back_to_files(&mut self) -> Result<(), TreeError> {
        let parked = self.parked.as_deref();
        park_streams_tree(&self.work_dir, parked)?;
        let files = FilesTreeSink::create(&self.work_dir, self.whole_artifact, parked)?;
        self.phase = Phase::Files(files);
        Ok(())
    }
}

impl PayloadSink for StreamsTreeSink {
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        self.deliver(name, size, content)
            .map_err(|e| e.into_io(&mut self.failure))
    }
}

/// Takes `stream-next` and `streams/` out of `work_dir`, to `parked` (emptied) or removed:
/// the streams tree is there during `Download` only.
pub(crate) fn park_streams_tree(work_dir: &Path, parked: Option<&Path>) -> Result<(), TreeError> {
    for name in ["stream-next", "streams"] {
        parked::put(parked, work_dir, name, Held::Nothing)
            .map_err(TreeError::io("removing", &work_dir.join(name)))?;
    }
    Ok(())
}
