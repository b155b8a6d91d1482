//! `{"Type": "mender-server"}`: a component's Artifact is the Release of that
//! `artifact_name` on the Mender Server the Mender client is connected to, as in Mender
//! Orchestrator.
//!
//! For one component type, in order:
//! 1. the device's token and the server's URL from the Mender client's mender-auth over
//!    D-Bus ([`auth`], [`dbus`]): the client must run in daemon mode; baton never
//!    authenticates itself and never stores the token;
//! 2. the Release's Artifacts for `device_type` = the component type ([`api`]);
//! 3. the one whose depends every component of the type meets ([`select`]);
//! 4. a signed link to it, downloaded with the shared machinery (Range resume, stall
//!    timeout, minimum rate, size cap, bounded retries, the cache), without the token; a
//!    link the storage refuses is replaced by a new one, a bounded number of times.
//!
//! Every failure is a [`ServerError`] naming the component type and the Release, raised
//! before any component is touched. Nothing here runs, and no bus is opened, until an
//! Artifact is actually asked of the server: a device without the Mender client that
//! names Artifacts by path or through other sources never notices this source.

mod api;
pub mod auth;
pub mod dbus;
pub mod select;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::{
    ArtifactLocator, ArtifactSource, Fetcher, Origin, Resolved, ServerError, ServerFailure,
    SourceError, SourceKind,
};
use api::{Api, SignedLink};
use auth::{MenderAuth, Session};

/// How long `FetchJwtToken` may take to bring a token by default.
pub const TOKEN_WAIT: Duration = Duration::from_secs(30);

/// The Mender Server, reached through mender-auth.
pub struct MenderServerSource {
    auth: Box<dyn MenderAuth>,
    token_wait: Duration,
    /// Artifacts downloaded into the staging directory, by id: component types that share
    /// an Artifact fetch it once (the cache does the same when it is on).
    staged: Mutex<HashMap<String, PathBuf>>,
}

impl MenderServerSource {
    /// Through mender-auth on the system bus.
    pub fn system() -> Self {
        Self::new(Box::new(dbus::DbusAuth::system()))
    }

    pub fn new(auth: Box<dyn MenderAuth>) -> Self {
        Self {
            auth,
            token_wait: TOKEN_WAIT,
            staged: Mutex::new(HashMap::new()),
        }
    }

    /// How long to wait for a token after `FetchJwtToken`.
    pub fn token_wait(mut self, wait: Duration) -> Self {
        self.token_wait = wait;
        self
    }

    fn staged(&self, id: &str, fetch: &Fetcher, origin: &Origin) -> Option<Resolved> {
        let path = self
            .staged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()?;
        if !path.is_file() {
            return None;
        }
        let header = fetch.header(&path).ok()?;
        Some(Resolved {
            path,
            header,
            origin: origin.clone(),
        })
    }
}

impl ArtifactSource for MenderServerSource {
    fn kind(&self) -> SourceKind {
        SourceKind::MenderServer
    }

    fn describe(&self, name: &str) -> String {
        format!("the Mender Server (release {name:?})")
    }

    fn find(
        &self,
        name: &str,
        loc: &ArtifactLocator<'_>,
        fetch: &Fetcher,
    ) -> Result<Vec<Resolved>, SourceError> {
        let Some(component_type) = loc.component_type else {
            return Err(SourceError::Config {
                message: "the Mender Server source needs the component type".into(),
            });
        };
        let ct = component_type.as_str();
        let fail = |f: ServerFailure| ServerError::failed(ct, name, f);
        let session =
            Session::open(self.auth.as_ref(), self.token_wait).map_err(|e| fail(e.into()))?;
        let mut api = Api::new(fetch.client(), session);
        let listed = api.list(name, ct).map_err(fail)?;
        let chosen = select::choose(&listed, name, ct, loc.provides).map_err(fail)?;
        let id = chosen.id.clone();
        let origin = Origin::MenderServer {
            release: name.to_owned(),
            id: id.clone(),
        };
        let limit = fetch.client().options().max_bytes;
        if chosen.size.is_some_and(|s| s > limit) {
            let source = SourceError::TooLarge {
                url: format!("Artifact {id}"),
                limit,
            };
            return Err(fail(ServerFailure::Download {
                id,
                source: Box::new(source),
            }));
        }
        if fetch.cache().is_none() {
            if let Some(r) = self.staged(&id, fetch, &origin) {
                return Ok(vec![r]);
            }
        }
        tracing::info!(component_type = ct, release = name, artifact = %id, "fetching the Artifact from the Mender Server");
        let uri = api.link(&id).map_err(fail)?;
        let mut link = SignedLink {
            api: &mut api,
            id: id.clone(),
            uri,
            renewals: 0,
            component_type: ct.to_owned(),
            release: name.to_owned(),
        };
        // One Release holds an Artifact per device type under one name: the cache keys it
        // by name and id.
        let key = format!("{name}#{id}");
        let found = fetch
            .fetch(&key, name, SourceKind::MenderServer, &mut link, origin)
            .map_err(|e| match e {
                SourceError::Server(_) => e,
                other => fail(ServerFailure::Download {
                    id: id.clone(),
                    source: Box::new(other),
                }),
            })?;
        if fetch.cache().is_none() {
            self.staged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, found.path.clone());
        }
        Ok(vec![found])
    }
}
