//! Status page sessions: one-time login codes and the sessions they open.
//!
//! `baton ui-url` asks the daemon over the Unix socket for a code ([`Sessions::mint`]): random,
//! single use, valid for [`CODE_TTL`]. Opening the URL redeems it ([`Sessions::redeem`]) for a
//! session of the same scope: a random id in an `HttpOnly`, `SameSite=Strict` cookie, valid
//! for [`SESSION_TTL`], and a CSRF token the page reads from `/ui/session` and sends back as
//! `X-Baton-CSRF` with every change. At most [`MAX_CODES`] codes and [`MAX_SESSIONS`]
//! sessions live at once (the oldest goes first); everything lives in memory, so a restart
//! of the daemon ends every session.
//!
//! Only SHA-256 digests of codes and session ids are kept, and a presented one is compared
//! with every kept digest in constant time. Neither is ever logged. Times are tokio's, so
//! tests pause them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use hyper::header::{HeaderMap, COOKIE, HOST, ORIGIN};
use tokio::time::Instant;

use super::super::auth::{digest, same, Digest32, Scope};
use super::super::guard::SessionCredential;

/// How long a login code may wait to be used.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// Login codes waiting at once.
pub const MAX_CODES: usize = 8;
/// How long a session lasts (then: `baton ui-url` again).
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Sessions open at once.
pub const MAX_SESSIONS: usize = 16;
/// The session cookie's name.
pub const COOKIE_NAME: &str = "baton_session";
/// The header a change made from the page carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-baton-csrf";

struct Code {
    digest: Digest32,
    scope: Scope,
    expires: Instant,
}

struct Session {
    digest: Digest32,
    scope: Scope,
    csrf: Digest32,
    csrf_plain: String,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    codes: VecDeque<Code>,
    sessions: VecDeque<Session>,
}

/// The codes and sessions of one daemon.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

/// A new login code (no `Debug`: it must never reach a log).
pub struct Minted {
    pub code: String,
    pub expires_in: Duration,
}

/// A session a code opened: the cookie's value and how long it lasts (no `Debug`, as above).
pub struct Opened {
    pub id: String,
    pub scope: Scope,
    pub max_age: Duration,
}

/// `n` random bytes from the kernel, as hex.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        filled +=
            rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The index of the entry whose digest is `d`, every entry compared.
fn find_in<T>(items: &VecDeque<T>, d: &Digest32, of: impl Fn(&T) -> &Digest32) -> Option<usize> {
    let mut found = None;
    for (i, it) in items.iter().enumerate() {
        if same(of(it), d) {
            found = Some(i);
        }
    }
    found
}

impl Sessions {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        g.codes.retain(|c| c.expires > now);
        g.sessions.retain(|s| s.expires > now);
        g
    }

    /// A new single-use login code for a session of `scope`.
    pub fn mint(&self, scope: Scope) -> std::io::Result<Minted> {
        let code = random_hex(16)?;
        let mut g = self.inner();
        if g.codes.len() == MAX_CODES {
            g.codes.pop_front();
        }
        g.codes.push_back(Code {
            digest: digest(code.as_bytes()),
            scope,
            expires: Instant::now() + CODE_TTL,
        });
        Ok(Minted {
            code,
            expires_in: CODE_TTL,
        })
    }

    /// Uses up `code` (if it is live) for a new session.
    pub fn redeem(&self, code: &str) -> std::io::Result<Option<Opened>> {
        let (id, csrf) = (random_hex(32)?, random_hex(32)?);
        let mut g = self.inner();
        let Some(i) = find_in(&g.codes, &digest(code.as_bytes()), |c| &c.digest) else {
            return Ok(None);
        };
        let scope = g.codes.remove(i).map(|c| c.scope).unwrap_or(Scope::Read);
        if g.sessions.len() == MAX_SESSIONS {
            g.sessions.pop_front();
        }
        g.sessions.push_back(Session {
            digest: digest(id.as_bytes()),
            scope,
            csrf: digest(csrf.as_bytes()),
            csrf_plain: csrf,
            expires: Instant::now() + SESSION_TTL,
        });
        Ok(Some(Opened {
            id,
            scope,
            max_age: SESSION_TTL,
        }))
    }

    /// The live session named `id`: its scope and CSRF token.
    pub fn find(&self, id: &str) -> Option<(Scope, String)> {
        let g = self.inner();
        let i = find_in(&g.sessions, &digest(id.as_bytes()), |s| &s.digest)?;
        g.sessions.get(i).map(|s| (s.scope, s.csrf_plain.clone()))
    }

    /// Ends the session named `id` (logout).
    pub fn end(&self, id: &str) {
        let mut g = self.inner();
        if let Some(i) = find_in(&g.sessions, &digest(id.as_bytes()), |s| &s.digest) {
            g.sessions.remove(i);
        }
    }

    /// The session a request presents, if its cookie names a live one; `csrf_ok` when it
    /// also carries the session's CSRF token and, if it says where it comes from, comes
    /// from this same origin.
    pub fn credential(&self, headers: &HeaderMap) -> Option<SessionCredential> {
        let id = cookie(headers)?;
        let g = self.inner();
        let i = find_in(&g.sessions, &digest(id.as_bytes()), |s| &s.digest)?;
        let s = g.sessions.get(i)?;
        let token_ok = headers
            .get(CSRF_HEADER)
            .is_some_and(|t| same(&digest(t.as_bytes()), &s.csrf));
        Some(SessionCredential {
            scope: s.scope,
            csrf_ok: token_ok && same_origin(headers),
        })
    }
}

/// The session id in the request's cookies.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
}

/// No `Origin`, or `http://<the Host header>`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) => o.strip_prefix("http://") == Some(h),
        _ => false,
    }
}

/// The `Set-Cookie` value that opens `s`, and the one that ends a session.
pub fn set_cookie(s: &Opened) -> String {
    format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        s.id,
        s.max_age.as_secs()
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test(start_paused = true)]
    async fn a_code_opens_one_session_once_and_only_while_fresh() {
        let s = Sessions::default();
        let code = s.mint(Scope::Write).unwrap().code;
        assert_eq!(code.len(), 32);
        assert!(s.redeem("not-a-code").unwrap().is_none());
        let opened = s
            .redeem(&code)
            .unwrap()
            .expect("a fresh code opens a session");
        assert_eq!(opened.scope, Scope::Write);
        assert!(s.redeem(&code).unwrap().is_none(), "single use");
        let (scope, csrf) = s.find(&opened.id).unwrap();
        assert_eq!((scope, csrf.len()), (Scope::Write, 64));

        let late = s.mint(Scope::Read).unwrap().code;
        tokio::time::advance(CODE_TTL + Duration::from_secs(1)).await;
        assert!(s.redeem(&late).unwrap().is_none(), "expired");

        tokio::time::advance(SESSION_TTL).await;
        assert!(s.find(&opened.id).is_none(), "the session ended");
    }

    #[tokio::test(start_paused = true)]
    async fn codes_and_sessions_are_bounded_oldest_first() {
        let s = Sessions::default();
        let codes: Vec<String> = (0..=MAX_CODES)
            .map(|_| s.mint(Scope::Read).unwrap().code)
            .collect();
        assert!(
            s.redeem(&codes[0]).unwrap().is_none(),
            "the oldest code went"
        );
        let ids: Vec<String> = codes[1..]
            .iter()
            .map(|c| s.redeem(c).unwrap().unwrap().id)
            .collect();
        for _ in 0..(MAX_SESSIONS - ids.len() + 1) {
            let c = s.mint(Scope::Read).unwrap().code;
            s.redeem(&c).unwrap().unwrap();
        }
        assert!(s.find(&ids[0]).is_none(), "the oldest session went");
        assert!(s.find(&ids[1]).is_some());
        s.end(&ids[1]);
        assert!(s.find(&ids[1]).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_s_session_and_its_csrf_check() {
        let s = Sessions::default();
        let code = s.mint(Scope::Write).unwrap().code;
        let o = s.redeem(&code).unwrap().unwrap();
        let (_, csrf) = s.find(&o.id).unwrap();
        let cookie = format!("theme=dark; {COOKIE_NAME}={}", o.id);
        let host = "127.0.0.1:7373";
        let cred = |extra: &[(&'static str, &str)]| {
            let mut pairs = vec![("cookie", cookie.as_str()), ("host", host)];
            pairs.extend_from_slice(extra);
            s.credential(&headers(&pairs)).map(|c| (c.scope, c.csrf_ok))
        };
        assert_eq!(cred(&[]), Some((Scope::Write, false)));
        assert_eq!(cred(&[(CSRF_HEADER, &csrf)]), Some((Scope::Write, true)));
        assert_eq!(
            cred(&[(CSRF_HEADER, &csrf), ("origin", "http://127.0.0.1:7373")]),
            Some((Scope::Write, true))
        );
        for origin in ["http://evil.example", "null", "https://127.0.0.1:7373"] {
            assert_eq!(
                cred(&[(CSRF_HEADER, &csrf), ("origin", origin)]),
                Some((Scope::Write, false)),
                "{origin}"
            );
        }
        assert_eq!(cred(&[(CSRF_HEADER, "0000")]), Some((Scope::Write, false)));
        assert_eq!(
            s.credential(&headers(&[("cookie", "baton_session=guess")])),
            None
        );
        assert!(set_cookie(&o).contains("HttpOnly; SameSite=Strict"));
    }
}
