//! The local API as a desired-state source: `PUT /v1/manifest` offers a Manifest through
//! [`crate::daemon::admission::Door::Api`]; the same listeners serve the status, the actions
//! and, on the Unix socket, the Update Module hand-off ([`super::handoff`]).
//!
//! The listeners are bound and the token files checked when the source is made
//! ([`ApiSource::open`]), so a wrong `Api` setting stops `baton run` before anything starts.

use tokio::net::{TcpListener, UnixListener};

use super::{Source, SourceContext, SourceError, StartError};
use crate::config::Config;
use crate::daemon::api::{self, auth::SocketOwner, auth::Tokens, listen, ApiState};
use crate::engine::api::BoxFuture;
use crate::metrics::Metrics;
use crate::wire::Identity;

pub struct ApiSource {
    unix: (UnixListener, SocketOwner),
    tcp: Option<TcpListener>,
    tokens: Tokens,
    metrics: Metrics,
    identity: Identity,
}

impl ApiSource {
    /// Checks the token files, then binds the Unix socket and, when configured, loopback TCP.
    pub async fn open(
        cfg: &Config,
        metrics: Metrics,
        identity: Identity,
    ) -> Result<Self, StartError> {
        let tokens = Tokens::load(&cfg.api).map_err(listen::ListenError::from)?;
        let unix = listen::unix(&cfg.api.socket, cfg.socket_mode())?;
        let tcp = match &cfg.api.tcp {
            Some(addr) => Some(listen::tcp(addr).await?),
            None => None,
        };
        tracing::info!(socket = %cfg.api.socket.display(), tcp = ?cfg.api.tcp, "baton run: listening");
        Ok(Self {
            unix,
            tcp,
            tokens,
            metrics,
            identity,
        })
    }
}

impl Source for ApiSource {
    fn name(&self) -> &'static str {
        "api"
    }

    fn run(self: Box<Self>, mut ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            let state = ApiState::new(
                ctx.handle.clone(),
                ctx.admission.clone(),
                self.metrics,
                self.identity,
                self.tokens,
            );
            if let Some(addr) = self.tcp.as_ref().and_then(|l| l.local_addr().ok()) {
                let _ = state.tcp_addr.set(addr);
            }
            // Serving starts at once: `/readyz` answers 503 until the reconciler is ready.
            ctx.started();
            api::serve(state, self.unix, self.tcp, ctx.shutdown.clone()).await;
            Ok(())
        })
    }
}
