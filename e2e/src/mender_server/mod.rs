//! A fake Mender Server for tests, written from the published device API (docs.mender.io
//! "Device APIs"; no server code copied): exactly the calls Debian's Mender client 3.4 makes
//! in daemon mode, and the three Artifact calls baton's `mender-server` source makes.
//!
//! - Device authentication: `POST /api/devices/v1/authentication/auth_requests` with the
//!   client's signed request (`X-MEN-Signature`: RSA PKCS#1 v1.5 SHA-256 over the body,
//!   checked with `openssl` against the public key in the body); the answer is the token.
//! - Deployments: `next` (GET v1, POST v1 and v2), status `PUT`, log `PUT`.
//! - Inventory: `PUT` or `PATCH /api/devices/v1/inventory/device/attributes`.
//! - Artifacts: the list by `release_name` and `device_type`, one by id, and its download
//!   link: a signed link (`/links/{id}?expires=&signature=`) that needs no token, refuses
//!   one (as object storage does), expires, and honours `Range`.
//!
//! Faults switch on and off ([`Faults`]): a 401 once, expired links, a truncated body,
//! corrupted bytes, 404 on the list, slow links, refused device authentication. Everything
//! asked is recorded ([`Seen`], statuses, logs, inventories, authentication requests).
//! Plain HTTP by default (the Go client accepts an `http://` ServerURL); TLS with an
//! optional client-certificate check for the TLS tests.

mod http;
mod links;
mod routes;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use http::{decode, Request};

/// One stored Artifact (a Release is every Artifact of one name).
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub name: String,
    pub device_types: Vec<String>,
    /// `artifact_depends` as the server lists it (including `device_type`).
    pub depends: Value,
    pub provides: Value,
    pub bytes: Arc<Vec<u8>>,
}

/// The deployment offered to the device.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub artifact_id: String,
    pub finished: bool,
}

/// Switchable misbehaviour.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next Artifact API call answers 401 and revokes the token it carried.
    pub unauthorized_once: bool,
    /// Every Artifact API call answers 401 (a token the server never accepts).
    pub unauthorized_always: bool,
    /// The next N link downloads answer 403 "Request has expired".
    pub expire_links: usize,
    /// How long a link stays valid (default: an hour).
    pub link_ttl: Option<Duration>,
    /// The next link download announces the whole body and sends only half of it.
    pub truncate_once: bool,
    /// The link of that truncated download expires with it (the resume needs a new one).
    pub truncated_link_expires: bool,
    /// Every link download has one byte flipped in its middle.
    pub corrupt: bool,
    /// The list call answers 404.
    pub list_not_found: bool,
    /// Link downloads send this many bytes per second.
    pub slow: Option<u64>,
    /// Device authentication answers 401 (the device is not accepted).
    pub reject_auth: bool,
}

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    artifacts: Vec<Stored>,
    deployment: Option<Deployment>,
    valid_tokens: Vec<String>,
    token_prefix: String,
    issued: usize,
    /// Link signature -> (Artifact id, expiry).
    links: HashMap<String, (String, Instant)>,
    faults: Faults,
    seen: Vec<Seen>,
    statuses: Vec<(String, String)>,
    logs: Vec<(String, String)>,
    inventories: Vec<Value>,
    auth_requests: Vec<Value>,
}

struct Shared {
    state: Mutex<State>,
    base: Mutex<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    listener: http::Listener,
    shared: Arc<Shared>,
}

impl FakeServer {
    /// Over plain HTTP on 127.0.0.1.
    pub fn start() -> FakeServer {
        Self::start_with(None)
    }

    /// Over TLS with `cert`/`key`; client certificates required (and checked against
    /// `client_ca`) when it is given.
    pub fn start_tls(cert: &Path, key: &Path, client_ca: Option<&Path>) -> FakeServer {
        Self::start_with(Some(http::tls_config(cert, key, client_ca)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> FakeServer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                token_prefix: "fake-jwt".into(),
                ..State::default()
            }),
            base: Mutex::new(String::new()),
        });
        let handler_state = shared.clone();
        let handler: http::Handler =
            Arc::new(move |req, out| routes::handle(&handler_state, req, out));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = http::Listener::start(handler, tls);
        *shared.base.lock().unwrap() = format!("{scheme}://127.0.0.1:{}", listener.addr.port());
        FakeServer { listener, shared }
    }

    /// `http://127.0.0.1:<port>` (or `https://`).
    pub fn url(&self) -> String {
        self.shared.base.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.listener.addr.port()
    }

    /// Stores an Artifact (its name, compatible types and depends read from its header, as
    /// the server does at upload) and returns its id.
    pub fn upload(&self, bytes: Vec<u8>) -> String {
        let stored = describe(bytes);
        let id = stored.id.clone();
        self.shared.lock().artifacts.push(stored);
        id
    }

    /// Stores `manifest_artifact` and offers it to the device as a deployment; returns the
    /// deployment's id.
    pub fn deploy(&self, manifest_artifact: Vec<u8>) -> String {
        let artifact_id = self.upload(manifest_artifact);
        let id = format!("deployment-{}", random_hex());
        self.shared.lock().deployment = Some(Deployment {
            id: id.clone(),
            artifact_id,
            finished: false,
        });
        id
    }

    /// Changes the faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.shared.lock().faults);
    }

    /// Tokens the server issues start with this (a test looks for it where it must never be).
    pub fn set_token_prefix(&self, prefix: &str) {
        self.shared.lock().token_prefix = prefix.to_owned();
    }

    /// A new valid token, as device authentication would issue (for a fake mender-auth).
    pub fn issue_token(&self) -> String {
        issue(&mut self.shared.lock())
    }

    /// Makes every token issued so far invalid.
    pub fn revoke_tokens(&self) {
        self.shared.lock().valid_tokens.clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    /// The requests whose path starts with `prefix`.
    pub fn seen_under(&self, prefix: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with(prefix))
            .collect()
    }

    /// (deployment id, status) in the order reported.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.shared.lock().statuses.clone()
    }

    /// (deployment id, the log document as sent).
    pub fn logs(&self) -> Vec<(String, String)> {
        self.shared.lock().logs.clone()
    }

    /// Each inventory submission: the list of `{"name", "value"}` attributes.
    pub fn inventories(&self) -> Vec<Value> {
        self.shared.lock().inventories.clone()
    }

    /// Each device authentication request's body, after its signature verified.
    pub fn auth_requests(&self) -> Vec<Value> {
        self.shared.lock().auth_requests.clone()
    }

    pub fn deployment(&self) -> Option<Deployment> {
        self.shared.lock().deployment.clone()
    }

    /// Polls `check` every 100 ms until it returns `Some`, or `timeout` passes.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn issue(st: &mut State) -> String {
    st.issued += 1;
    let token = format!("{}-{}-{}", st.token_prefix, st.issued, random_hex());
    st.valid_tokens.push(token.clone());
    token
}

/// 128 random bits in hex, from the standard library's randomly keyed hasher.
pub fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// What the server reads from an uploaded Artifact's header.
fn describe(bytes: Vec<u8>) -> Stored {
    use baton::artifact::{ArtifactReader, Limits, VerifyPolicy};
    let reader = ArtifactReader::open(&bytes[..], &VerifyPolicy::none(), &Limits::default())
        .expect("an uploaded Artifact must have a valid header");
    let h = reader.header();
    let mut depends = serde_json::Map::new();
    depends.insert("device_type".into(), json!(h.device_types));
    if !h.depends_artifact_names.is_empty() {
        depends.insert("artifact_name".into(), json!(h.depends_artifact_names));
    }
    if !h.depends_groups.is_empty() {
        depends.insert("artifact_group".into(), json!(h.depends_groups));
    }
    for (k, v) in &h.depends {
        depends.insert(k.clone(), json!(v.values()));
    }
    let provides: serde_json::Map<String, Value> = h
        .provides
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.values().join(","))))
        .collect();
    Stored {
        id: random_hex(),
        name: h.name.clone(),
        device_types: h.device_types.clone(),
        depends: Value::Object(depends),
        provides: Value::Object(provides),
        bytes: Arc::new(bytes),
    }
}

/// RFC 3339 (UTC, seconds) for a time `from_now` ahead.
fn rfc3339_in(from_now: Duration) -> String {
    let secs = (std::time::SystemTime::now() + from_now)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = super::rfc3339_in(std::time::Duration::ZERO);
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
