//! The status page: HTML, CSS and a little JavaScript embedded in the binary, served at
//! `/ui/` on the API's listeners, and the sessions a browser reaches the API with.
//!
//! The page itself holds nothing of the System: it is the same static text for everyone
//! (so it needs no credential), and its script reads `/ui/session`, `/v1/status` and
//! `/v1/events` with the browser's session cookie. Without a session it shows how to get
//! one (`baton ui-url`), and nothing else. A session is opened by a one-time login code
//! ([`session`]), minted over the Unix socket only; over TCP the guard then treats the
//! cookie as a token of the session's scope, with a CSRF token for changes. Every answer
//! here forbids framing, sniffing and referrers; the page's Content-Security-Policy allows
//! only its own script, style and API.

pub mod session;

use std::sync::Arc;

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use super::auth::Scope;
use super::body::Body;
use super::guard::{Access, Conn, Transport};
use super::routes::{body_json, error, json, Route};
use super::ApiState;
use crate::wire::{paths, LoginCode, LoginCodeRequest};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// What the page's files may do in a browser.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/ui`: to `/ui/`.
    Root,
    Index,
    Script,
    Style,
    /// `/ui/login?code=`: redeems a login code.
    Login,
    /// `/ui/session`: the caller's scope and CSRF token.
    Session,
    /// `POST /ui/logout`.
    Logout,
    /// `POST /v1/ui/login-codes` (Unix socket only).
    LoginCode,
}

/// The route of a page path (`None`: not one of ours).
pub fn route(method: &Method, path: &str) -> Option<Route> {
    let get = method == Method::GET;
    let post = method == Method::POST;
    let (page, ok) = match path {
        "/ui" => (Page::Root, get),
        paths::UI => (Page::Index, get),
        "/ui/app.js" => (Page::Script, get),
        "/ui/style.css" => (Page::Style, get),
        paths::UI_LOGIN => (Page::Login, get),
        "/ui/session" => (Page::Session, get),
        "/ui/logout" => (Page::Logout, post),
        paths::LOGIN_CODES => (Page::LoginCode, post),
        _ => return None,
    };
    Some(if ok {
        Route::Ui(page)
    } else {
        Route::MethodNotAllowed
    })
}

/// What a page path needs of its caller. The files hold nothing of the System, and a login
/// code is its own credential; the session's answer needs one; codes are made for local
/// callers only.
pub fn access(p: Page) -> Access {
    match p {
        Page::Root | Page::Index | Page::Script | Page::Style | Page::Login => Access::Probe,
        Page::Session | Page::Logout => Access::Read,
        Page::LoginCode => Access::UnixOnly,
    }
}

fn with_headers(mut r: Response<Body>, content_type: &'static str) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

fn file(text: &'static str, content_type: &'static str) -> Response<Body> {
    with_headers(Response::new(Body::full(text)), content_type)
}

fn see_other(to: &'static str, cookie: Option<String>) -> Response<Body> {
    let mut r = with_headers(Response::new(Body::full("")), "text/plain");
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    r
}

fn scope_word(s: Scope) -> &'static str {
    match s {
        Scope::Read => "read",
        Scope::Write => "write",
    }
}

/// Answers a page path (the guard has let it through).
pub async fn answer(
    state: &Arc<ApiState>,
    page: Page,
    req: Request<hyper::body::Incoming>,
    conn: Conn,
) -> Response<Body> {
    match page {
        Page::Root => see_other(paths::UI, None),
        Page::Index => file(INDEX, "text/html; charset=utf-8"),
        Page::Script => file(SCRIPT, "text/javascript; charset=utf-8"),
        Page::Style => file(STYLE, "text/css; charset=utf-8"),
        Page::Login => {
            let code = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("code="))
                .unwrap_or("");
            match state.sessions.redeem(code) {
                Ok(Some(opened)) => {
                    tracing::info!(
                        scope = scope_word(opened.scope),
                        "API: a status page session opened"
                    );
                    see_other(paths::UI, Some(session::set_cookie(&opened)))
                }
                Ok(None) => see_other("/ui/#login-expired", None),
                Err(e) => error(500, "Internal", format!("no randomness: {e}")),
            }
        }
        Page::Session => {
            let (scope, csrf, via) = who(state, &req, conn);
            let mut r = json(&serde_json::json!({
                "scope": scope.map(scope_word),
                "csrf": csrf,
                "via": via,
            }));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Page::Logout => {
            if let Some(id) = session::cookie(req.headers()) {
                state.sessions.end(&id);
            }
            let mut r = json(&serde_json::json!({"message": "logged out"}));
            if let Ok(c) = HeaderValue::from_str(&session::clear_cookie()) {
                r.headers_mut().insert(SET_COOKIE, c);
            }
            r
        }
        Page::LoginCode => {
            let ask: LoginCodeRequest = match body_json(req).await {
                Ok(a) => a,
                Err(r) => return r,
            };
            let scope = if ask.write { Scope::Write } else { Scope::Read };
            match state.sessions.mint(scope) {
                Ok(m) => {
                    tracing::info!(
                        scope = scope_word(scope),
                        "API: a status page login code was made"
                    );
                    json(&LoginCode {
                        path: format!("{}?code={}", paths::UI_LOGIN, m.code),
                        expires_in_seconds: m.expires_in.as_secs(),
                        write: ask.write,
                        tcp: state.tcp_addr.get().map(|a| a.to_string()),
                    })
                }
                Err(e) => error(500, "Internal", format!("no randomness: {e}")),
            }
        }
    }
}

/// The caller's scope (`None`: none, e.g. a probe) and, for a session, its CSRF token.
fn who<B>(
    state: &ApiState,
    req: &Request<B>,
    conn: Conn,
) -> (Option<Scope>, Option<String>, &'static str) {
    if conn.transport == Transport::Unix {
        return (Some(Scope::Write), None, "socket");
    }
    if let Some(a) = req.headers().get(hyper::header::AUTHORIZATION) {
        let token = a.to_str().ok().and_then(|a| a.strip_prefix("Bearer "));
        return (state.tokens.scope(token.map(str::trim)), None, "token");
    }
    match session::cookie(req.headers()).and_then(|id| state.sessions.find(&id)) {
        Some((scope, csrf)) => (Some(scope), Some(csrf), "session"),
        None => (None, None, "none"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_routes_and_what_they_need() {
        let (g, p) = (Method::GET, Method::POST);
        for (m, path, want) in [
            (&g, "/ui", Some(Route::Ui(Page::Root))),
            (&g, "/ui/", Some(Route::Ui(Page::Index))),
            (&g, "/ui/app.js", Some(Route::Ui(Page::Script))),
            (&g, "/ui/style.css", Some(Route::Ui(Page::Style))),
            (&g, "/ui/login", Some(Route::Ui(Page::Login))),
            (&g, "/ui/session", Some(Route::Ui(Page::Session))),
            (&p, "/ui/logout", Some(Route::Ui(Page::Logout))),
            (&g, "/ui/logout", Some(Route::MethodNotAllowed)),
            (&p, "/v1/ui/login-codes", Some(Route::Ui(Page::LoginCode))),
            (&g, "/v1/ui/login-codes", Some(Route::MethodNotAllowed)),
            (&g, "/ui/other", None),
            (&g, "/v1/status", None),
        ] {
            assert_eq!(route(m, path), want, "{m} {path}");
        }
    }

    #[test]
    fn the_page_holds_nothing_of_the_system_and_loads_nothing_from_elsewhere() {
        // Static text: no template markers, and every URL it names is its own.
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(!text.contains("{{"), "a template marker");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "an outside URL"
            );
        }
        assert!(INDEX.contains("baton ui-url"), "the login hint");
        assert!(INDEX.contains(r#"<script src="app.js""#));
    }
}
