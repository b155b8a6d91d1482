//! The local HTTP API (hyper, HTTP/1.1): resource-style paths over a Unix socket, and
//! optionally loopback TCP with bearer tokens of two scopes ([`auth`]; who may call what is
//! [`guard`]'s table).
//!
//! Limits that keep a misbehaving client from hurting the device: request headers must
//! arrive within [`HEADER_TIMEOUT`] and a body within [`BODY_TIMEOUT`] (408), a body is at
//! most 1 MiB (413), at most [`MAX_IN_FLIGHT`] requests are handled at once (others wait up
//! to [`QUEUE_WAIT`], then 503), and at most [`MAX_CONNECTIONS`] connections are open. The
//! API only reads the status board, writes the desired-state store, and sends commands to
//! the reconciler (reads of the engine included: they go through the reconciler's handle);
//! it never calls the engine itself.

pub mod auth;
mod body;
pub mod events;
pub mod guard;
pub mod listen;
mod routes;
#[cfg(test)]
mod security;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use guard::{Conn, Transport};

use super::admission::Admission;
use super::commands::Handle;
use crate::metrics::Metrics;
use auth::{SocketOwner, Tokens};

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_IN_FLIGHT: usize = 64;
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);
pub const MAX_CONNECTIONS: usize = 1024;

/// What handlers share.
pub struct ApiState {
    pub handle: Handle,
    pub admission: Arc<Admission>,
    pub metrics: Metrics,
    /// Whose System this daemon acts on (`GET /v1/identity`).
    pub identity: crate::wire::Identity,
    /// What TCP clients must present.
    pub tokens: Tokens,
    in_flight: Semaphore,
    connections: Arc<Semaphore>,
    /// Event streams open ([`events::MAX_STREAMS`]).
    streams: Arc<Semaphore>,
    /// The status page's login codes and sessions.
    sessions: ui::session::Sessions,
    /// The TCP listener's address, once bound (where the status page is served).
    pub tcp_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

impl ApiState {
    pub fn new(
        handle: Handle,
        admission: Arc<Admission>,
        metrics: Metrics,
        identity: crate::wire::Identity,
        tokens: Tokens,
    ) -> Arc<Self> {
        Arc::new(Self {
            handle,
            admission,
            metrics,
            identity,
            tokens,
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            streams: Arc::new(Semaphore::new(events::MAX_STREAMS)),
            sessions: ui::session::Sessions::default(),
            tcp_addr: std::sync::OnceLock::new(),
        })
    }
}

/// Serves the Unix socket (and TCP when given) until `shutdown`; then stops accepting and
/// gives open connections a moment to finish.
pub async fn serve(
    state: Arc<ApiState>,
    (unix, owner): (UnixListener, SocketOwner),
    tcp: Option<TcpListener>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let unix = Arc::new(unix);
    // Two acceptors: a burst of local clients is taken in on both workers.
    for _ in 0..2 {
        let (st, l, sd, tr) = (
            state.clone(),
            unix.clone(),
            shutdown.clone(),
            tracker.clone(),
        );
        tracker.spawn(async move {
            accept_loop(st, sd, tr, || async {
                let (s, _) = l.accept().await?;
                let allowed = auth::peer_of(&s, owner).is_some_and(|p| {
                    let ok = auth::peer_allowed(&p, owner);
                    if !ok {
                        tracing::warn!(
                            uid = p.uid,
                            gid = p.gid,
                            "API: a caller that is not root, the socket's owner or in its group"
                        );
                    }
                    ok
                });
                Ok((s, Conn::unix(allowed)))
            })
            .await
        });
    }
    if let Some(tcp) = tcp {
        let (st, sd, tr) = (state.clone(), shutdown.clone(), tracker.clone());
        let tcp = Arc::new(tcp);
        tracker.spawn(async move {
            accept_loop(st, sd, tr, || async {
                tcp.accept().await.map(|(s, _)| (s, Conn::TCP))
            })
            .await
        });
    }
    shutdown.cancelled().await;
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
}

async fn accept_loop<S, F, Fut>(
    state: Arc<ApiState>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    accept: F,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<(S, Conn)>>,
{
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = state.connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = accept() => match r {
                Ok((s, conn)) => { tracker.spawn(connection(state.clone(), s, conn, permit, shutdown.clone())); }
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    tracing::warn!(error = %e, "API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn connection<S>(
    state: Arc<ApiState>,
    stream: S,
    conn: Conn,
    _permit: tokio::sync::OwnedSemaphorePermit,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // An event stream's task closes the connection of a follower that stopped reading.
    let lifeline = events::Lifeline {
        abort: CancellationToken::new(),
        shutdown: shutdown.clone(),
    };
    let abort = lifeline.abort.clone();
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let state = state.clone();
        req.extensions_mut().insert(lifeline.clone());
        async move { Ok::<_, std::convert::Infallible>(routes::handle(state, req, conn).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r { tracing::debug!(error = %e, "API connection ended"); },
        _ = abort.cancelled() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
