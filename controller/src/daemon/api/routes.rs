//! Which handler answers a request, and the handlers.
//!
//! [`route`] is pure (method and path to a [`Route`]); the handlers turn requests into
//! desired-state writes, reconciler commands or status reads, and every error into an
//! [`ErrorBody`] with a fitting HTTP status.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::body::Body;
use super::guard::{self, Access, Conn, Facts, Refusal, BODY_LIMIT};
use super::{events, ui, ApiState, BODY_TIMEOUT, QUEUE_WAIT};
use crate::daemon::admission::Door;
use crate::daemon::commands::{Action, ActionError, Answer, HandoffError, Query};
use crate::daemon::sources::{self, handoff, Offer, OfferError};
use crate::engine::api::{plan_changed_since, EngineError};
use crate::gates::consent::{self, AnswerError};
use crate::model::Origin;
use crate::resource::{self, Diagnostics};
use crate::wire::{
    paths, ConsentReply, ConsentRequest, ErrorBody, InstallRequest, PlanRequest, ResumeRequest,
    RollbackRequest, BASE_DIR_HEADER, DEFAULT_DEFER_SECONDS, EVENT_ID_HEADER, GENERATION_HEADER,
    PLAN_HASH_QUERY, SIGNATURE_HEADER,
};

type Resp = Response<Body>;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
    Metrics,
    GetManifest,
    PutManifest,
    Status,
    Components,
    History,
    /// A read the engine answers without waiting for a deployment.
    Read(Query),
    Identity,
    /// What deploying a Manifest would do now (`baton plan`).
    Plan,
    Action(Action),
    /// `POST /v1/consent`: the owner answers the open question.
    Consent,
    Install,
    Resume,
    Rollback,
    /// `GET /v1/events`: the status event stream.
    Events,
    /// The status page and its sessions.
    Ui(ui::Page),
    /// The path exists, the method does not.
    MethodNotAllowed,
    NotFound,
}

pub fn route(method: &Method, path: &str) -> Route {
    use Route::*;
    let (get, put, post) = (
        method == Method::GET,
        method == Method::PUT,
        method == Method::POST,
    );
    let pick = |ok: bool, r: Route| if ok { r } else { MethodNotAllowed };
    match path {
        paths::HEALTHZ => pick(get, Healthz),
        paths::READYZ => pick(get, Readyz),
        paths::METRICS => pick(get, Metrics),
        paths::MANIFEST if get => GetManifest,
        paths::MANIFEST => pick(put, PutManifest),
        paths::STATUS => pick(get, Status),
        paths::COMPONENTS => pick(get, Components),
        paths::HISTORY => pick(get, History),
        paths::EVENTS => pick(get, Events),
        paths::CONSENT => pick(post, Consent),
        paths::PROVIDES => pick(get, Read(Query::Provides)),
        paths::INVENTORY => pick(get, Read(Query::Inventory)),
        paths::JOURNAL => pick(get, Read(Query::Journal)),
        paths::IDENTITY => pick(get, Identity),
        paths::PLAN => pick(post, Plan),
        p if p.starts_with("/ui") || p == paths::LOGIN_CODES => {
            ui::route(method, p).unwrap_or(NotFound)
        }
        p => {
            if let Some(a) = p.strip_prefix(paths::ACTIONS) {
                match crate::daemon::commands::Action::parse(a) {
                    Some(a) => pick(post, Action(a)),
                    None => NotFound,
                }
            } else if let Some(v) = p.strip_prefix(paths::DEPLOYMENTS) {
                match v {
                    "install" => pick(post, Install),
                    "resume" => pick(post, Resume),
                    "rollback" => pick(post, Rollback),
                    _ => NotFound,
                }
            } else {
                NotFound
            }
        }
    }
}

/// What a route needs of its caller (see [`guard::check`]). A path that does not exist
/// needs what reading needs, so a caller without a token learns nothing about paths.
pub fn access(r: Route) -> Access {
    match r {
        Route::Healthz | Route::Readyz => Access::Probe,
        Route::Metrics
        | Route::GetManifest
        | Route::Status
        | Route::Components
        | Route::History
        | Route::Events
        | Route::Read(_)
        | Route::Identity
        | Route::MethodNotAllowed
        | Route::NotFound => Access::Read,
        // A plan changes nothing on the System, but may fetch every Artifact it names.
        Route::PutManifest | Route::Plan | Route::Action(_) | Route::Consent => Access::Write,
        Route::Install | Route::Resume | Route::Rollback => Access::UnixOnly,
        Route::Ui(p) => ui::access(p),
    }
}

pub(super) fn error(status: u16, code: &str, message: impl Into<String>) -> Resp {
    error_with(status, code, message, Vec::new())
}

fn error_with(status: u16, code: &str, message: impl Into<String>, problems: Vec<String>) -> Resp {
    let body = ErrorBody {
        error: code.into(),
        message: message.into(),
        problems,
    };
    json_status(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &body,
    )
}

pub(super) fn json<T: Serialize>(v: &T) -> Resp {
    json_status(StatusCode::OK, v)
}

fn json_status<T: Serialize>(status: StatusCode, v: &T) -> Resp {
    let mut body = serde_json::to_vec(v).expect("API bodies serialize");
    body.push(b'\n');
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn refused(r: Refusal) -> Resp {
    error(r.status, r.code, r.message)
}

/// Answers one request.
pub async fn handle(state: Arc<ApiState>, req: Request<Incoming>, conn: Conn) -> Resp {
    let st = state.clone();
    // The common case takes a permit at once; only a full house starts a timer.
    let _permit = match st.in_flight.try_acquire() {
        Ok(p) => p,
        Err(_) => match tokio::time::timeout(QUEUE_WAIT, st.in_flight.acquire()).await {
            Ok(Ok(p)) => p,
            _ => return error(503, "Busy", "too many requests in flight; try again"),
        },
    };
    let h = |n| {
        req.headers()
            .get(n)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let facts = Facts {
        host: h(hyper::header::HOST),
        authorization: h(hyper::header::AUTHORIZATION),
        content_length: h(hyper::header::CONTENT_LENGTH),
        session: state.sessions.credential(req.headers()),
    };
    let r = route(req.method(), req.uri().path());
    if let Err(refusal) = guard::check(&facts, access(r), conn, &state.tokens) {
        tracing::debug!(method = %req.method(), path = req.uri().path(), transport = ?conn.transport, code = refusal.code, "API request refused");
        return refused(refusal);
    }
    tracing::debug!(method = %req.method(), path = req.uri().path(), route = ?r, "API request");
    match r {
        Route::Healthz => text(StatusCode::OK, "text/plain", "ok\n"),
        Route::Readyz => {
            if state.handle.is_ready() {
                text(StatusCode::OK, "text/plain", "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "recovering\n",
                )
            }
        }
        Route::Metrics => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        Route::Status => {
            // The newest event id before the document: every event up to it is in the
            // document, so a follower from it misses nothing.
            let last = state.handle.board.events().last_id();
            let mut r = Response::new(Body::full(state.handle.board.json()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut()
                .insert(EVENT_ID_HEADER, HeaderValue::from(last));
            r
        }
        // No in-flight slot is held while it streams: the permit goes when this returns.
        Route::Events => events::answer(&state, &req).unwrap_or_else(refused),
        Route::Ui(p) => ui::answer(&state, p, req, conn).await,
        Route::Components => json(&state.handle.board.get().components),
        Route::History => json(&state.handle.board.get().history),
        Route::Identity => json(&state.identity),
        Route::Read(q) => match state.handle.query(q).await {
            Ok(Answer::Provides(o)) => json(&o),
            Ok(Answer::Inventory(i)) => json(&i),
            Ok(Answer::Journal(j)) => json(&j),
            Err(e @ EngineError::NoObservation(_)) => error(503, "NoObservation", e.to_string()),
            Err(e @ EngineError::Topology(_)) => error(422, "TopologyInvalid", e.to_string()),
            Err(e) => error(500, "EngineError", e.to_string()),
        },
        Route::GetManifest => match state.handle.desired.current() {
            None => error(404, "NoDesiredState", "no Manifest has been applied"),
            Some(d) => {
                let mut r = text(StatusCode::OK, "application/yaml", d.manifest.bytes.clone());
                r.headers_mut()
                    .insert(GENERATION_HEADER, HeaderValue::from(d.generation));
                r
            }
        },
        Route::Plan => match body_json::<PlanRequest>(req).await {
            Err(r) => r,
            Ok(p) => match resource::parse_manifest(&p.origin, p.manifest.as_bytes()) {
                Err(d) => invalid(&d),
                Ok(mut m) => {
                    m.base_dir = p.base_dir.filter(|d| d.is_absolute());
                    match state.handle.plan(m).await {
                        Ok(report) => json(&report),
                        Err(e) => plan_error(e),
                    }
                }
            },
        },
        Route::PutManifest => put_manifest(state, req).await,
        Route::Action(a) => match state.handle.action(a).await {
            Ok(reply) => json(&reply),
            Err(e @ ActionError::NothingToRollBackTo) => {
                error(409, "NothingToRollBackTo", e.to_string())
            }
            Err(e) => error(500, "ActionFailed", e.to_string()),
        },
        Route::Consent => match body_json::<ConsentRequest>(req).await {
            Err(r) => r,
            Ok(c) => consent(&state, c),
        },
        // The hand-off: only ever here from the Unix socket (the guard refuses it over TCP),
        // so its options (`--allow-downgrade` included) are the local operator's.
        Route::Install => match body_json::<InstallRequest>(req).await {
            Err(r) => r,
            Ok(i) => {
                let (admission, handle) = (state.admission.clone(), state.handle.clone());
                match handoff::install(admission, handle, i).await {
                    Ok(report) => json(&report),
                    Err(handoff::InstallError::Refused(r)) => invalid(&r.diagnostics),
                    Err(handoff::InstallError::Handoff(e)) => handoff_error(e),
                }
            }
        },
        Route::Resume => match body_json::<ResumeRequest>(req).await {
            Err(r) => r,
            Ok(r) => answer_handoff(handoff::resume(&state.handle, r).await),
        },
        Route::Rollback => match body_json::<RollbackRequest>(req).await {
            Err(r) => r,
            Ok(r) => answer_handoff(handoff::rollback(&state.handle, r).await),
        },
        Route::MethodNotAllowed => error(
            405,
            "MethodNotAllowed",
            "this path does not take that method",
        ),
        Route::NotFound => error(404, "NotFound", "no such path; see crds/api.md"),
    }
}

/// The owner's answer, through the same desk as Kanto's.
fn consent(state: &ApiState, c: ConsentRequest) -> Resp {
    let answer = match (c.answer.as_str(), c.for_seconds) {
        ("approve", None) => consent::Answer::Approve,
        ("deny", None) => consent::Answer::Deny,
        ("defer", s) => {
            consent::Answer::Defer(Duration::from_secs(s.unwrap_or(DEFAULT_DEFER_SECONDS)))
        }
        ("approve" | "deny", Some(_)) => {
            return error(400, "BadRequest", "forSeconds goes with `defer` only")
        }
        (other, _) => {
            return error(
                400,
                "BadRequest",
                format!("answer `{other}`: expected approve, deny or defer"),
            )
        }
    };
    match state.handle.gates.desk().answer(c.question, answer, "api") {
        Ok(q) => json(&ConsentReply {
            question: q,
            answer: c.answer,
        }),
        Err(e @ AnswerError::NoQuestion) => error(409, "NoQuestion", e.to_string()),
        Err(e @ AnswerError::NotOpen { .. }) => error(409, "NotOpen", e.to_string()),
        Err(e @ AnswerError::AlreadyAnswered(_)) => error(409, "AlreadyAnswered", e.to_string()),
    }
}

fn invalid(d: &Diagnostics) -> Resp {
    error_with(
        422,
        "Invalid",
        "the Manifest is invalid",
        d.0.iter().map(|x| x.to_string()).collect(),
    )
}

fn plan_error(e: EngineError) -> Resp {
    match e {
        e @ (EngineError::InProgress { .. } | EngineError::Busy(_)) => {
            error(409, "InProgress", e.to_string())
        }
        e @ EngineError::Topology(_) => error(422, "TopologyInvalid", e.to_string()),
        e => error(500, "EngineError", e.to_string()),
    }
}

/// `PUT /v1/manifest?planHash=H`: the refusal when deploying `m` now would not run the
/// reviewed plan `H`; `None` when it would.
async fn plan_changed(
    state: &ApiState,
    m: crate::resource::LoadedManifest,
    reviewed: &str,
) -> Option<Resp> {
    let report = match state.handle.plan(m).await {
        Ok(r) => r,
        Err(e) => return Some(plan_error(e)),
    };
    let Some(now) = &report.plan else {
        let problems = report.problems.iter().map(|p| p.to_string()).collect();
        return Some(error_with(
            409,
            "PlanChanged",
            "the Manifest cannot be planned now: it is not the plan reviewed",
            problems,
        ));
    };
    let changed = plan_changed_since(&state.identity.datastore, reviewed, now)?;
    Some(error_with(409, "PlanChanged", changed.message, Vec::new()))
}

fn answer_handoff(r: Result<crate::engine::api::DeploymentReport, HandoffError>) -> Resp {
    match r {
        Ok(report) => json(&report),
        Err(e) => handoff_error(e),
    }
}

fn handoff_error(e: HandoffError) -> Resp {
    let (status, code) = match &e {
        HandoffError::Busy { .. } => (409, "Busy"),
        HandoffError::ShuttingDown => (503, "ShuttingDown"),
        HandoffError::Held { reason, .. } => (409, reason.as_str()),
        HandoffError::Engine(EngineError::InProgress { .. }) => (409, "InProgress"),
        HandoffError::Engine(EngineError::NothingInProgress) => (409, "NothingInProgress"),
        HandoffError::Engine(EngineError::NotAllowed(_)) => (409, "NotAllowed"),
        HandoffError::Engine(EngineError::Topology(_)) => (422, "TopologyInvalid"),
        HandoffError::Engine(EngineError::Lock(_)) => (409, "Locked"),
        HandoffError::Engine(_) => (500, "EngineError"),
    };
    error(status, code, e.to_string())
}

/// Reads the whole body within the limits.
async fn body_bytes(req: Request<Incoming>) -> Result<Bytes, Resp> {
    let limited = Limited::new(req.into_body(), BODY_LIMIT as usize);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Err(_) => Err(error(408, "Timeout", "the body did not arrive in time")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            413,
            "TooLarge",
            format!("the body is larger than {BODY_LIMIT} bytes"),
        )),
        Ok(Err(e)) => Err(error(
            400,
            "BadRequest",
            format!("cannot read the body: {e}"),
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

pub(super) async fn body_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Resp> {
    let bytes = body_bytes(req).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(400, "BadRequest", format!("invalid JSON body: {e}")))
}

async fn put_manifest(state: Arc<ApiState>, req: Request<Incoming>) -> Resp {
    let base_dir = req
        .headers()
        .get(BASE_DIR_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|p| p.starts_with('/'))
        .map(std::path::PathBuf::from);
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| v.as_bytes().to_vec());
    let reviewed = query_param(req.uri().query(), PLAN_HASH_QUERY);
    let bytes = match body_bytes(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(reviewed) = reviewed {
        // The same admission as the offer below, then the plan compared, before anything
        // becomes desired.
        let (st, b, sig, dir) = (
            state.clone(),
            bytes.clone(),
            signature.clone(),
            base_dir.clone(),
        );
        let admitted = tokio::task::spawn_blocking(move || {
            st.admission
                .admit(Door::Api, "api", &b, sig.as_deref(), dir)
        })
        .await;
        match admitted {
            Ok(Ok(m)) => {
                if let Some(refusal) = plan_changed(&state, m, &reviewed).await {
                    return refusal;
                }
            }
            Ok(Err(r)) => return invalid(&r.diagnostics),
            Err(e) => return error(500, "Internal", e.to_string()),
        }
    }
    let st = state.clone();
    // Admission reads the Topology and the store fsyncs: off the async workers. Nothing in
    // the request but the Manifest, its signature and its base directory reaches the
    // admission: no header or field can switch a protection off.
    let r = tokio::task::spawn_blocking(move || {
        sources::offer(
            &st.admission,
            &st.handle,
            Offer {
                door: Door::Api,
                origin: Origin::Api,
                shown_as: "api",
                bytes: &bytes,
                signature: signature.as_deref(),
                base_dir,
            },
        )
    })
    .await;
    match r {
        Ok(Ok(applied)) => {
            let status = if applied.changed {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_status(status, &applied)
        }
        Ok(Err(OfferError::Refused(r))) => invalid(&r.diagnostics),
        Ok(Err(OfferError::Store(e))) => error(500, "StoreFailed", e.to_string()),
        Err(e) => error(500, "Internal", e.to_string()),
    }
}

/// The value of `name` in a query string (`a=1&b=2`), percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let (_, v) = query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)?;
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let q = Some("x=1&planHash=sha256%3Aab&y");
        assert_eq!(query_param(q, "planHash").as_deref(), Some("sha256:ab"));
        assert_eq!(query_param(q, "x").as_deref(), Some("1"));
        assert_eq!(query_param(q, "z"), None);
        assert_eq!(query_param(None, "x"), None);
        assert_eq!(query_param(Some("a=%zz"), "a").as_deref(), Some("%zz"));
    }

    #[test]
    fn routes() {
        let (g, p, po, d) = (Method::GET, Method::PUT, Method::POST, Method::DELETE);
        for (m, path, want) in [
            (&g, "/healthz", Route::Healthz),
            (&g, "/readyz", Route::Readyz),
            (&g, "/metrics", Route::Metrics),
            (&g, "/v1/manifest", Route::GetManifest),
            (&p, "/v1/manifest", Route::PutManifest),
            (&d, "/v1/manifest", Route::MethodNotAllowed),
            (&g, "/v1/status", Route::Status),
            (&po, "/v1/status", Route::MethodNotAllowed),
            (&g, "/v1/components", Route::Components),
            (&g, "/v1/history", Route::History),
            (&g, "/v1/provides", Route::Read(Query::Provides)),
            (&g, "/v1/inventory", Route::Read(Query::Inventory)),
            (&g, "/v1/journal", Route::Read(Query::Journal)),
            (&po, "/v1/journal", Route::MethodNotAllowed),
            (&g, "/v1/identity", Route::Identity),
            (&po, "/v1/plan", Route::Plan),
            (&g, "/v1/plan", Route::MethodNotAllowed),
            (&po, "/v1/actions/retry", Route::Action(Action::Retry)),
            (&po, "/v1/actions/rollback", Route::Action(Action::Rollback)),
            (&po, "/v1/actions/suspend", Route::Action(Action::Suspend)),
            (&po, "/v1/actions/resume", Route::Action(Action::Resume)),
            (&po, "/v1/actions/force", Route::Action(Action::Force)),
            (&po, "/v1/consent", Route::Consent),
            (&g, "/v1/consent", Route::MethodNotAllowed),
            (&g, "/v1/actions/retry", Route::MethodNotAllowed),
            (&po, "/v1/actions/reboot", Route::NotFound),
            (&po, "/v1/deployments/install", Route::Install),
            (&po, "/v1/deployments/resume", Route::Resume),
            (&po, "/v1/deployments/rollback", Route::Rollback),
            (&g, "/v1/deployments/install", Route::MethodNotAllowed),
            (&po, "/v1/deployments/x", Route::NotFound),
            (&g, "/v1/events", Route::Events),
            (&po, "/v1/events", Route::MethodNotAllowed),
            (&g, "/ui/", Route::Ui(ui::Page::Index)),
            (&po, "/v1/ui/login-codes", Route::Ui(ui::Page::LoginCode)),
            (&g, "/ui/nothing", Route::NotFound),
            (&g, "/", Route::NotFound),
            (&g, "/v1/status/", Route::NotFound),
        ] {
            assert_eq!(route(m, path), want, "{m} {path}");
        }
    }
}
