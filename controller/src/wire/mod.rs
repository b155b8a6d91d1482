//! The local API's paths and the bodies it exchanges that are not the status document
//! (that one is `model::Status`): shared by the server (`daemon::api`) and the client
//! ([`crate::client`]) so the two cannot disagree. The engine's own answers (a
//! `DeploymentReport`, an `Observation`...) travel as `engine::api` defines them.
//!
//! Data only: no IO. [`events`] is what the status event stream carries, [`sse`] its
//! Server-Sent Events framing (written by the API, read by the client).

pub mod events;
pub mod sse;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::api::{Boundary, RunOptions};

/// Paths of the local API.
pub mod paths {
    pub const MANIFEST: &str = "/v1/manifest";
    pub const STATUS: &str = "/v1/status";
    pub const COMPONENTS: &str = "/v1/components";
    pub const HISTORY: &str = "/v1/history";
    pub const ACTIONS: &str = "/v1/actions/";
    pub const DEPLOYMENTS: &str = "/v1/deployments/";
    /// Every component's Identity and Provides (`baton show-provides`).
    pub const PROVIDES: &str = "/v1/provides";
    /// The System's Mender inventory lines (`baton show-inventory`).
    pub const INVENTORY: &str = "/v1/inventory";
    /// The deployment journal (`baton journal show`).
    pub const JOURNAL: &str = "/v1/journal";
    /// Whose System this daemon acts on: the handshake.
    pub const IDENTITY: &str = "/v1/identity";
    /// What deploying a Manifest would do now (`baton plan`): queries only.
    pub const PLAN: &str = "/v1/plan";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    /// The status event stream (Server-Sent Events, [`super::sse`]).
    pub const EVENTS: &str = "/v1/events";
    /// Owner consent for a gate that asks it (issue 17 answers it).
    pub const CONSENT: &str = "/v1/consent";
    /// One-time login codes for the status page (Unix socket only).
    pub const LOGIN_CODES: &str = "/v1/ui/login-codes";
    /// The status page, and where a login code is redeemed.
    pub const UI: &str = "/ui/";
    pub const UI_LOGIN: &str = "/ui/login";
}

/// Header of `GET /v1/status`: the id of the newest status event the document includes, to
/// follow `/v1/events?since=<id>` from (list, then watch).
pub const EVENT_ID_HEADER: &str = "x-baton-event-id";

/// `POST /v1/ui/login-codes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginCodeRequest {
    /// The session may also act (suspend, consent...), not only read.
    #[serde(default)]
    pub write: bool,
}

/// The answer: open `path` on the API's TCP listener within `expiresInSeconds`, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginCode {
    /// `/ui/login?code=...`
    pub path: String,
    pub expires_in_seconds: u64,
    pub write: bool,
    /// The API's TCP address (`Api.Tcp`), when it has one: the page is served there.
    pub tcp: Option<String>,
}

/// `GET /v1/identity`: the datastore the daemon acts on (canonical path) and its Topology,
/// so a CLI acts through a daemon only when it serves the CLI's datastore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub datastore: PathBuf,
    pub topology_file: PathBuf,
    /// The Topology's `system_type` when the daemon started, if it could read it.
    pub system_type: Option<String>,
    pub version: String,
}

/// The answer to an action (`POST /v1/actions/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReply {
    /// The desired generation after the action.
    pub generation: u64,
    pub message: String,
}

/// Header carrying the directory relative `artifact_path`s of an applied Manifest resolve
/// against (the client's file directory).
pub const BASE_DIR_HEADER: &str = "x-baton-base-dir";
/// Header carrying the desired generation on `GET /v1/manifest`.
pub const GENERATION_HEADER: &str = "x-baton-generation";
/// `PUT /v1/manifest`: the Manifest's detached signature (base64), for
/// `RequireSignedManifests` (see [`crate::signed_manifest`]).
pub const SIGNATURE_HEADER: &str = "x-baton-signature";

/// `PUT /v1/manifest?planHash=<hash>`: apply only if deploying the Manifest now would run
/// this reviewed plan (`baton plan`); else 409 `PlanChanged`, saying what changed.
pub const PLAN_HASH_QUERY: &str = "planHash";

/// `POST /v1/plan`: the Manifest to plan, as `InstallRequest` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRequest {
    /// The Manifest YAML, as in the file.
    pub manifest: String,
    /// The Manifest file's path (for diagnostics) and directory (for relative paths).
    pub origin: String,
    pub base_dir: Option<PathBuf>,
}

/// The answer to `PUT /v1/manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub generation: u64,
    pub name: String,
    pub sha256: String,
    /// False when the Manifest was already the desired one (the generation did not change).
    pub changed: bool,
}

/// Every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// CamelCase: `Invalid`, `Busy`, `InProgress`, `NothingInProgress`, `NotFound`, ...
    pub error: String,
    pub message: String,
    /// One line per problem, for `Invalid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Options of an engine verb, as `--stop-before` and `--exit-on-reboot` give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunOpts {
    pub stop_before: BTreeSet<Boundary>,
    pub exit_on_reboot: bool,
    /// `install --allow-downgrade` (see `engine::downgrade`).
    pub allow_downgrade: bool,
    /// `install --plan-hash`: the reviewed plan (see `baton plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<String>,
}

impl From<RunOpts> for RunOptions {
    fn from(o: RunOpts) -> Self {
        RunOptions {
            stop_before: o.stop_before,
            exit_on_reboot: o.exit_on_reboot,
            allow_downgrade: o.allow_downgrade,
            plan_hash: o.plan_hash,
        }
    }
}

impl From<&RunOptions> for RunOpts {
    fn from(o: &RunOptions) -> Self {
        RunOpts {
            stop_before: o.stop_before.clone(),
            exit_on_reboot: o.exit_on_reboot,
            allow_downgrade: o.allow_downgrade,
            plan_hash: o.plan_hash.clone(),
        }
    }
}

/// `POST /v1/deployments/install`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallRequest {
    /// The Manifest YAML, as in the file.
    pub manifest: String,
    /// The Manifest file's path (for diagnostics) and directory (for relative paths).
    pub origin: String,
    pub base_dir: Option<PathBuf>,
    #[serde(default)]
    pub options: RunOpts,
}

/// `POST /v1/deployments/resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeRequest {
    #[serde(default)]
    pub options: RunOpts,
    /// A person or the Update Module asked (true from the CLI).
    #[serde(default = "yes")]
    pub explicit: bool,
}

fn yes() -> bool {
    true
}

impl Default for ResumeRequest {
    fn default() -> Self {
        Self {
            options: RunOpts::default(),
            explicit: true,
        }
    }
}

/// `POST /v1/deployments/rollback`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRequest {
    #[serde(default)]
    pub options: RunOpts,
}

/// `POST /v1/consent`: the owner's answer to the open question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRequest {
    /// The question's id as status shows it; absent: whatever question is open.
    #[serde(default)]
    pub question: Option<u64>,
    /// `approve`, `deny` or `defer`.
    pub answer: String,
    /// `defer`: ask again after this many seconds (default [`DEFAULT_DEFER_SECONDS`]).
    #[serde(default)]
    pub for_seconds: Option<u64>,
}

/// How long `defer` waits when not told.
pub const DEFAULT_DEFER_SECONDS: u64 = 600;

/// The answer to `POST /v1/consent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentReply {
    pub question: crate::model::ConsentQuestion,
    pub answer: String,
}
