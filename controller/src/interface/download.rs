//! The `Download` state: an Interface call and the Artifact reader, run together.
//!
//! The Interface reads payload files from named pipes while the Artifact reader, on a
//! blocking thread, writes them (see [`crate::interface::file_api::StreamsTreeSink`]). The
//! two ends watch each other:
//! - the call ends first: the feeding thread learns it at once; if the Interface never opened
//!   `stream-next` and exited 0, the payload goes to the files tree, otherwise the feed stops;
//! - the feed fails first (a corrupt Artifact, an Interface that stopped reading): the call is
//!   cancelled, its process group terminated (SIGTERM, grace, SIGKILL), and the feed's error
//!   reported.
//!
//! Errors name their first cause: the Interface's own failure when it ended first, the
//! payload tree's or the feed's otherwise.

use std::fmt;
use std::path::Path;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::artifact::PayloadSink;
use crate::interface::file_api::{park_streams_tree, InterfaceState, StreamsTreeSink, TreeError};
use crate::interface::protocol::{Call, State};
use crate::interface::runner::{CallContext, CallReport, InterfaceError, Invocation, Runner};

pub use crate::interface::file_api::PayloadTree;

/// How the Interface wants its payload, from its `NeedsUnpackedArtifact` and
/// `ProvidePayloadFileSizes` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadMode {
    /// `ProvidePayloadFileSizes: Yes`: call `DownloadWithFileSizes`, add sizes to
    /// `stream-next` lines.
    pub with_sizes: bool,
    /// `NeedsUnpackedArtifact: No`: one file, `artifact.mender`, holding the whole Artifact.
    pub whole_artifact: bool,
}

impl DownloadMode {
    /// The state to call.
    pub const fn state(self) -> State {
        if self.with_sizes {
            State::DownloadWithFileSizes
        } else {
            State::Download
        }
    }
}

/// A finished download.
#[derive(Debug)]
pub struct DownloadOutcome<V> {
    /// What the feed returned (the Artifact reader's verdict).
    pub value: V,
    pub tree: PayloadTree,
    pub report: CallReport,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError<E> {
    #[error(transparent)]
    Interface(InterfaceError),
    #[error("{ctx}: {error}")]
    Tree {
        ctx: Box<CallContext>,
        error: TreeError,
    },
    #[error("{ctx}: the Artifact feed failed: {error}")]
    Feed { ctx: Box<CallContext>, error: E },
    #[error("{ctx}: the Artifact feed panicked")]
    FeedPanicked { ctx: Box<CallContext> },
}

impl<E> DownloadError<E> {
    /// A bounded label for metrics and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            DownloadError::Interface(e) => e.reason(),
            DownloadError::Tree { error, .. } => error.reason(),
            DownloadError::Feed { .. } => "ArtifactFeedFailed",
            DownloadError::FeedPanicked { .. } => "ArtifactFeedPanicked",
        }
    }
}

enum FeedFailure<E> {
    Tree(TreeError),
    Feed(E),
    Panicked,
}

/// Runs `Download` (or `DownloadWithFileSizes`) for `inv`, whose work directory is the
/// component's File API directory, while `feed` hands the payload to the sink it is given.
/// `parked` is the component's parking directory, where its streams tree and `files/` wait
/// between deployments (none: they are made and removed each time).
///
/// `feed` runs on a blocking thread; it is where the engine opens the Artifact reader and
/// streams the payload (or the whole Artifact) into the sink. Its `Ok` value is returned in
/// the outcome. The sink drives its pipe writes through the current runtime's handle, which
/// works on either runtime flavor because this future keeps the runtime polled meanwhile. Afterwards the streams tree is gone; the files tree, if used, stays for the
/// later states.
pub async fn download<V, E, F>(
    runner: &Runner,
    inv: &Invocation,
    mode: DownloadMode,
    parked: Option<&Path>,
    feed: F,
) -> Result<DownloadOutcome<V>, DownloadError<E>>
where
    F: FnOnce(&mut dyn PayloadSink) -> Result<V, E> + Send + 'static,
    V: Send + 'static,
    E: Send + 'static,
{
    let state = mode.state();
    let ctx = || {
        Box::new(CallContext {
            interface: inv.interface.clone(),
            component_type: inv.component_type.clone(),
            component: inv.component.clone(),
            call: Call::State(state),
        })
    };
    let (state_tx, state_rx) = watch::channel(InterfaceState::Running);
    let sink = StreamsTreeSink::prepare(
        &inv.work_dir,
        parked,
        mode.with_sizes,
        mode.whole_artifact,
        state_rx,
        tokio::runtime::Handle::current(),
    )
    .map_err(|error| DownloadError::Tree { ctx: ctx(), error })?;
    let mut feeder = tokio::task::spawn_blocking(move || {
        let mut sink = sink;
        match feed(&mut sink) {
            Ok(value) => sink
                .finish()
                .map(|tree| (value, tree))
                .map_err(FeedFailure::Tree),
            Err(e) => Err(sink
                .take_failure()
                .map_or(FeedFailure::Feed(e), FeedFailure::Tree)),
        }
    });

    let cancel = CancellationToken::new();
    let call = runner.run_state_cancellable(inv, state, &cancel);
    tokio::pin!(call);
    let (called, fed) = tokio::select! {
        called = &mut call => {
            let ended = if called.is_ok() { InterfaceState::Succeeded } else { InterfaceState::Failed };
            let _ = state_tx.send(ended);
            (called, joined(feeder.await))
        }
        fed = &mut feeder => {
            let fed = joined(fed);
            if fed.is_err() {
                cancel.cancel();
            }
            (call.await, fed)
        }
    };

    let result = match (called, fed) {
        (Ok(report), Ok((value, tree))) => Ok(DownloadOutcome {
            value,
            tree,
            report,
        }),
        (Err(e), Ok(_)) => Err(DownloadError::Interface(e)),
        // The call ended on its own first: its failure is the cause of the feed's.
        (Err(e), Err(_)) if !cancel.is_cancelled() => Err(DownloadError::Interface(e)),
        (_, Err(failure)) => Err(match failure {
            FeedFailure::Tree(error) => DownloadError::Tree { ctx: ctx(), error },
            FeedFailure::Feed(error) => DownloadError::Feed { ctx: ctx(), error },
            FeedFailure::Panicked => DownloadError::FeedPanicked { ctx: ctx() },
        }),
    };
    park_streams_tree(&inv.work_dir, parked)
        .map_err(|error| DownloadError::Tree { ctx: ctx(), error })?;
    result
}

fn joined<T, E>(
    r: Result<Result<T, FeedFailure<E>>, tokio::task::JoinError>,
) -> Result<T, FeedFailure<E>> {
    r.unwrap_or(Err(FeedFailure::Panicked))
}

impl fmt::Display for PayloadTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadTree::Streams => "streams",
            PayloadTree::Files => "files",
        })
    }
}
