//! The device API calls for Artifacts (hosted and enterprise Mender Server, tag
//! "Deployments_Device API"), each with the device's token:
//!
//! - `GET /api/devices/v1/deployments/artifacts?release_name=&device_type=`: the Release's
//!   Artifacts for a device type;
//! - `GET /api/devices/v1/deployments/artifacts/{id}/download`: a signed link
//!   `{"uri", "expire"}`.
//!
//! A 401 refreshes the token once ([`Session`]); transport errors and 5xx are retried a few
//! times with backoff, then the server is "unreachable". Bodies are capped.

use backon::BlockingRetryable;
use serde::Deserialize;

use super::super::http::{shown, HttpClient, Link};
use super::super::url::encode;
use super::super::{ServerError, ServerFailure, SourceError};
use super::auth::{AuthError, Session};
use super::select::ServerArtifact;

/// Attempts after the first, for an API call (downloads have their own, longer policy).
const API_RETRIES: usize = 2;
/// The largest API answer read (a list of 100 Artifacts is a few tens of KiB).
const MAX_BODY: u64 = 4 << 20;
/// How often one download may ask for a new link before giving up.
pub(super) const MAX_RENEWALS: usize = 3;

impl From<AuthError> for ServerFailure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::NoMenderAuth(detail) => ServerFailure::NoMenderAuth { detail },
            AuthError::Denied(detail) => ServerFailure::AuthDenied { detail },
            AuthError::NoToken(waited) => ServerFailure::NoToken { waited },
        }
    }
}

#[derive(Deserialize)]
struct DownloadLink {
    uri: String,
}

/// How one request ended.
enum Answer {
    Body(Vec<u8>),
    Status(u16),
}

/// The device API, for one component type and Release.
pub(super) struct Api<'a> {
    client: &'a HttpClient,
    session: Session<'a>,
}

impl<'a> Api<'a> {
    pub(super) fn new(client: &'a HttpClient, session: Session<'a>) -> Self {
        Self { client, session }
    }

    /// `GET path`, with the token; a 401 refreshes it once.
    fn get(&mut self, path: &str) -> Result<Answer, ServerFailure> {
        loop {
            let base = self
                .session
                .jwt()
                .server_url
                .trim_end_matches('/')
                .to_owned();
            let url = format!("{base}{path}");
            let auth = format!("Bearer {}", self.session.jwt().token.expose());
            let agent = self.client.agent();
            let once = || -> Result<Answer, (bool, String)> {
                let resp = agent
                    .get(&url)
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .call()
                    .map_err(|e| (true, e.to_string()))?;
                let status = resp.status().as_u16();
                match status {
                    200 => resp
                        .into_body()
                        .with_config()
                        .limit(MAX_BODY)
                        .read_to_vec()
                        .map(Answer::Body)
                        .map_err(|e| (true, format!("reading the answer: {e}"))),
                    429 | 500..=599 => Err((true, format!("HTTP status {status}"))),
                    _ => Ok(Answer::Status(status)),
                }
            };
            #[allow(clippy::disallowed_methods)]
            // a blocking call on the resolver's thread: it sleeps between attempts
            let answer = once
                .retry(self.client.backoff(API_RETRIES))
                .sleep(std::thread::sleep)
                .when(|(transient, _)| *transient)
                .call();
            match answer {
                Ok(Answer::Status(401)) => {
                    if !self.session.refresh()? {
                        return Err(ServerFailure::Unauthorized);
                    }
                }
                Ok(a) => return Ok(a),
                Err((_, detail)) => {
                    return Err(ServerFailure::Unreachable {
                        detail: format!("{}: {detail}", shown(&url)),
                    })
                }
            }
        }
    }

    fn json<T: for<'d> Deserialize<'d>>(path: &str, body: &[u8]) -> Result<T, ServerFailure> {
        serde_json::from_slice(body).map_err(|e| ServerFailure::Protocol {
            what: format!("{} with unexpected JSON: {e}", shown(path)),
        })
    }

    /// The Release's Artifacts for `device_type`; a 404 or an empty list is "not found".
    pub(super) fn list(
        &mut self,
        release: &str,
        device_type: &str,
    ) -> Result<Vec<ServerArtifact>, ServerFailure> {
        let path = format!(
            "/api/devices/v1/deployments/artifacts?release_name={}&device_type={}",
            encode(release),
            encode(device_type)
        );
        match self.get(&path)? {
            Answer::Body(b) => Self::json(&path, &b),
            Answer::Status(404) => Ok(vec![]),
            Answer::Status(s) => Err(ServerFailure::Protocol {
                what: format!("HTTP status {s} to {}", shown(&path)),
            }),
        }
    }

    /// A fresh signed link to Artifact `id`.
    pub(super) fn link(&mut self, id: &str) -> Result<String, ServerFailure> {
        let path = format!(
            "/api/devices/v1/deployments/artifacts/{}/download",
            encode(id)
        );
        match self.get(&path)? {
            Answer::Body(b) => Self::json::<DownloadLink>(&path, &b).map(|l| l.uri),
            Answer::Status(s) => Err(ServerFailure::Protocol {
                what: format!("HTTP status {s} to {}", shown(&path)),
            }),
        }
    }
}

/// A signed link to one Artifact, renewed through the API when the storage refuses it.
pub(super) struct SignedLink<'a, 'b> {
    pub api: &'b mut Api<'a>,
    pub id: String,
    pub uri: String,
    pub renewals: usize,
    pub component_type: String,
    pub release: String,
}

impl Link for SignedLink<'_, '_> {
    fn url(&self) -> &str {
        &self.uri
    }

    fn renewable(&self) -> bool {
        true
    }

    fn renew(&mut self) -> Result<(), SourceError> {
        let fail = |f| ServerError::failed(&self.component_type, &self.release, f);
        if self.renewals >= MAX_RENEWALS {
            return Err(fail(ServerFailure::LinkExpired {
                renewals: self.renewals,
            }));
        }
        self.renewals += 1;
        self.uri = self.api.link(&self.id).map_err(fail)?;
        Ok(())
    }
}
