//! The local API's client: what `baton apply/status/history/get`, and the engine verbs when a
//! daemon serves this datastore, use to talk to `baton run` over its Unix socket.
//!
//! One connection per request (the socket is local; simplicity wins). [`Client::connect`]
//! answers `None` when no daemon listens; [`handshake::find`] also checks that the daemon
//! acts on the caller's datastore, and [`RemoteDeployer`] is the engine's `Deployer` over
//! the socket, so a verb is written once whichever engine answers. Every error answer of
//! the API becomes [`ClientError::Api`] with its body.
//!
//! Never imports `daemon`: only [`crate::wire`] and `engine::api`.

mod events;
pub mod handshake;
mod remote;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

use crate::engine::api::{DeploymentReport, Inventory, JournalView, Observation, PlanReport};
use crate::model::{ComponentStatus, HistoryEntry, Status};
use crate::wire::{
    paths, ActionReply, Applied, ConsentReply, ConsentRequest, ErrorBody, Identity, InstallRequest,
    LoginCode, LoginCodeRequest, PlanRequest, ResumeRequest, RollbackRequest, BASE_DIR_HEADER,
    GENERATION_HEADER, PLAN_HASH_QUERY, SIGNATURE_HEADER,
};

pub use events::EventStream;
pub use remote::RemoteDeployer;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach baton at {socket}: {source}")]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to baton: {0}")]
    Http(#[from] hyper::Error),
    #[error("{}", api_message(.status, .body))]
    Api { status: u16, body: ErrorBody },
    #[error("baton answered something unexpected: {0}")]
    Decode(String),
}

fn api_message(status: &u16, body: &ErrorBody) -> String {
    let mut s = format!("{} ({status} {})", body.message, body.error);
    for p in &body.problems {
        s.push('\n');
        s.push_str(p);
    }
    s
}

impl ClientError {
    /// The API's error code, when the daemon answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for the daemon listening on `socket`, or `None` when none answers there.
    pub async fn connect(socket: &Path) -> Option<Client> {
        let c = Client {
            socket: socket.to_path_buf(),
        };
        match tokio::time::timeout(Duration::from_secs(5), c.get_raw(paths::HEALTHZ)).await {
            Ok(Ok((StatusCode::OK, _, _))) => Some(c),
            _ => None,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), ClientError> {
        let resp = self.open(method, path, headers, body).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, bytes))
    }

    /// Sends a request; the answer's body is still to be read.
    async fn open(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost");
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(sender.send_request(req).await?)
    }

    async fn get_raw(
        &self,
        path: &str,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), ClientError> {
        self.send(Method::GET, path, &[], Vec::new()).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let (status, _, bytes) = self.send(method, path, headers, body).await?;
        decode(status, &bytes)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).expect("requests serialize");
        self.call(Method::POST, path, &[], body).await
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get(paths::STATUS).await
    }

    pub async fn components(&self) -> Result<Vec<ComponentStatus>, ClientError> {
        self.get(paths::COMPONENTS).await
    }

    pub async fn history(&self) -> Result<Vec<HistoryEntry>, ClientError> {
        self.get(paths::HISTORY).await
    }

    /// Whose System the daemon acts on.
    pub async fn identity(&self) -> Result<Identity, ClientError> {
        self.get(paths::IDENTITY).await
    }

    /// Every component's Identity and Provides (from the last observation while the daemon
    /// deploys).
    pub async fn provides(&self) -> Result<Observation, ClientError> {
        self.get(paths::PROVIDES).await
    }

    /// The System's inventory (same rule as [`Client::provides`]).
    pub async fn inventory(&self) -> Result<Inventory, ClientError> {
        self.get(paths::INVENTORY).await
    }

    /// The deployment journal as the daemon's engine holds it.
    pub async fn journal(&self) -> Result<JournalView, ClientError> {
        self.get(paths::JOURNAL).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, &[], Vec::new()).await
    }

    /// Makes a Manifest the desired state; `base_dir` is where relative paths resolve.
    pub async fn apply(
        &self,
        manifest: &[u8],
        base_dir: Option<&Path>,
    ) -> Result<Applied, ClientError> {
        self.apply_signed(manifest, base_dir, None).await
    }

    /// [`Client::apply`] with the Manifest's detached signature (`RequireSignedManifests`).
    pub async fn apply_signed(
        &self,
        manifest: &[u8],
        base_dir: Option<&Path>,
        signature: Option<&[u8]>,
    ) -> Result<Applied, ClientError> {
        self.apply_reviewed(manifest, base_dir, signature, None)
            .await
    }

    /// [`Client::apply_signed`], refused unless deploying the Manifest now would run the
    /// reviewed plan `plan_hash` (`baton plan`).
    pub async fn apply_reviewed(
        &self,
        manifest: &[u8],
        base_dir: Option<&Path>,
        signature: Option<&[u8]>,
        plan_hash: Option<&str>,
    ) -> Result<Applied, ClientError> {
        let path = match plan_hash {
            Some(h) => format!("{}?{PLAN_HASH_QUERY}={}", paths::MANIFEST, query_value(h)),
            None => paths::MANIFEST.to_string(),
        };
        let mut headers: Vec<(&str, String)> = base_dir
            .map(|d| vec![(BASE_DIR_HEADER, d.display().to_string())])
            .unwrap_or_default();
        if let Some(sig) = signature {
            let sig = String::from_utf8_lossy(sig).trim().to_string();
            headers.push((SIGNATURE_HEADER, sig));
        }
        self.call(Method::PUT, &path, &headers, manifest.to_vec())
            .await
    }

    /// What deploying a Manifest would do now (`baton plan`).
    pub async fn plan(&self, req: &PlanRequest) -> Result<PlanReport, ClientError> {
        self.post(paths::PLAN, req).await
    }

    /// The desired Manifest and its generation; `None` before any was applied.
    pub async fn desired_manifest(&self) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        let (status, headers, bytes) = self.get_raw(paths::MANIFEST).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(decode::<()>(status, &bytes).unwrap_err());
        }
        let generation = headers
            .get(GENERATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Some((generation, bytes.to_vec())))
    }

    /// `POST /v1/consent`: the owner's answer.
    pub async fn consent(&self, req: &ConsentRequest) -> Result<ConsentReply, ClientError> {
        self.post(paths::CONSENT, req).await
    }

    /// `retry`, `rollback`, `suspend`, `resume` or `force`.
    pub async fn action(&self, name: &str) -> Result<ActionReply, ClientError> {
        self.call(
            Method::POST,
            &format!("{}{name}", paths::ACTIONS),
            &[],
            Vec::new(),
        )
        .await
    }

    pub async fn install(&self, req: &InstallRequest) -> Result<DeploymentReport, ClientError> {
        self.post(&format!("{}install", paths::DEPLOYMENTS), req)
            .await
    }

    pub async fn resume(&self, req: &ResumeRequest) -> Result<DeploymentReport, ClientError> {
        self.post(&format!("{}resume", paths::DEPLOYMENTS), req)
            .await
    }

    pub async fn rollback(&self, req: &RollbackRequest) -> Result<DeploymentReport, ClientError> {
        self.post(&format!("{}rollback", paths::DEPLOYMENTS), req)
            .await
    }

    /// A one-time login code for the status page (`baton ui-url`).
    pub async fn login_code(&self, write: bool) -> Result<LoginCode, ClientError> {
        self.post(paths::LOGIN_CODES, &LoginCodeRequest { write })
            .await
    }

    /// The Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, _, bytes) = self.get_raw(paths::METRICS).await?;
        if !status.is_success() {
            return Err(decode::<()>(status, &bytes).unwrap_err());
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A query value, percent-encoded but for the characters a plan hash is made of.
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'-' | b'.' | b'_' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, ClientError> {
    if status.is_success() {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    } else {
        let body = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
            error: status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', ""),
            message: String::from_utf8_lossy(bytes).trim().to_string(),
            problems: Vec::new(),
        });
        Err(ClientError::Api {
            status: status.as_u16(),
            body,
        })
    }
}
