//! The API's security table: every route, over each transport, with each kind of token,
//! session (or peer), and the status the guard answers (`None`: the request reaches its
//! handler).

use hyper::Method;

use super::auth::{Scope, Tokens};
use super::guard::{check, Conn, Facts, SessionCredential};
use super::routes::{access, route};

const WRITE: &str = "write-token-0123456789";
const READ: &str = "read-token-0123456789";

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Caller {
    /// On the Unix socket, a peer the credential check lets in (root, owner, group).
    UnixAllowed,
    /// On the Unix socket, anyone else.
    UnixStranger,
    TcpNoToken,
    TcpWrongToken,
    TcpRead,
    TcpWrite,
    /// A status page session of read scope (a cookie, no token).
    SessionRead,
    /// A status page session of write scope, with its CSRF token and no foreign Origin.
    SessionWrite,
    /// The same session's cookie, sent without the CSRF token (what a forged request has).
    SessionWriteNoCsrf,
}

fn ask(method: &Method, path: &str, caller: Caller) -> Option<u16> {
    let tokens = Tokens::from_values(Some(WRITE), Some(READ));
    let session = |scope, csrf_ok| Some(SessionCredential { scope, csrf_ok });
    let (conn, auth, session) = match caller {
        Caller::UnixAllowed => (Conn::unix(true), None, None),
        Caller::UnixStranger => (Conn::unix(false), None, None),
        Caller::TcpNoToken => (Conn::TCP, None, None),
        Caller::TcpWrongToken => (
            Conn::TCP,
            Some("Bearer read-token-0123456788".to_string()),
            None,
        ),
        Caller::TcpRead => (Conn::TCP, Some(format!("Bearer {READ}")), None),
        Caller::TcpWrite => (Conn::TCP, Some(format!("Bearer {WRITE}")), None),
        Caller::SessionRead => (Conn::TCP, None, session(Scope::Read, true)),
        Caller::SessionWrite => (Conn::TCP, None, session(Scope::Write, true)),
        Caller::SessionWriteNoCsrf => (Conn::TCP, None, session(Scope::Write, false)),
    };
    let facts = Facts {
        host: Some("localhost"),
        authorization: auth.as_deref(),
        content_length: None,
        session,
    };
    check(&facts, access(route(method, path)), conn, &tokens)
        .err()
        .map(|r| r.status)
}

#[test]
fn route_by_transport_by_token() {
    use Caller::*;
    let (get, put, post) = (Method::GET, Method::PUT, Method::POST);
    let callers = [
        UnixAllowed,
        UnixStranger,
        TcpNoToken,
        TcpWrongToken,
        TcpRead,
        TcpWrite,
        SessionRead,
        SessionWrite,
        SessionWriteNoCsrf,
    ];
    let ok = None;
    let (e401, e403) = (Some(401), Some(403));
    // Columns: UnixAllowed, UnixStranger, TcpNoToken, TcpWrongToken, TcpRead, TcpWrite,
    // SessionRead, SessionWrite, SessionWriteNoCsrf.
    let probe = [ok, e403, ok, ok, ok, ok, ok, ok, ok];
    let read = [ok, e403, e401, e401, ok, ok, ok, ok, ok];
    let write = [ok, e403, e401, e401, e403, ok, e403, ok, e403];
    let unix_only = [ok, e403, e401, e401, e403, e403, e403, e403, e403];
    let rows: Vec<(&Method, &str, [Option<u16>; 9])> = vec![
        // Probes: anyone who may connect, no token.
        (&get, "/healthz", probe),
        (&get, "/readyz", probe),
        // The status page's files hold nothing of the System; a login code is its own
        // credential (the handler checks it).
        (&get, "/ui", probe),
        (&get, "/ui/", probe),
        (&get, "/ui/app.js", probe),
        (&get, "/ui/style.css", probe),
        (&get, "/ui/login", probe),
        // Reads: the read token, or a session of either scope, is enough.
        (&get, "/metrics", read),
        (&get, "/v1/status", read),
        (&get, "/v1/components", read),
        (&get, "/v1/history", read),
        (&get, "/v1/manifest", read),
        (&get, "/v1/identity", read),
        (&get, "/v1/provides", read),
        (&get, "/v1/inventory", read),
        (&get, "/v1/journal", read),
        (&get, "/v1/events", read),
        (&get, "/ui/session", read),
        (&post, "/ui/logout", read),
        // Changes: the write token, or a write session with its CSRF token.
        (&put, "/v1/manifest", write),
        // A plan changes nothing, but may fetch every Artifact a Manifest names.
        (&post, "/v1/plan", write),
        (&post, "/v1/actions/retry", write),
        (&post, "/v1/actions/rollback", write),
        (&post, "/v1/actions/suspend", write),
        (&post, "/v1/actions/resume", write),
        (&post, "/v1/actions/force", write),
        (&post, "/v1/consent", write),
        // The hand-off and login codes: the Unix socket only, whatever the token.
        (&post, "/v1/deployments/install", unix_only),
        (&post, "/v1/deployments/resume", unix_only),
        (&post, "/v1/deployments/rollback", unix_only),
        (&post, "/v1/ui/login-codes", unix_only),
        // Unknown paths and methods say nothing to a caller without a token.
        (&get, "/v1/nothing", read),
        (&get, "/ui/nothing", read),
        (&Method::DELETE, "/v1/manifest", read),
        (&post, "/v1/events", read),
    ];
    for (method, path, want) in rows {
        for (caller, want) in callers.iter().zip(want) {
            assert_eq!(
                ask(method, path, *caller),
                want,
                "{method} {path} as {caller:?}"
            );
        }
    }
}

/// A token given with a session cookie decides alone: a wrong token is not saved by the
/// cookie, and a read token does not borrow a write session's scope.
#[test]
fn a_token_outranks_a_session() {
    let tokens = Tokens::from_values(Some(WRITE), Some(READ));
    let session = Some(SessionCredential {
        scope: Scope::Write,
        csrf_ok: true,
    });
    let put = |auth: &str| {
        let facts = Facts {
            host: Some("localhost"),
            authorization: Some(auth),
            content_length: None,
            session,
        };
        check(
            &facts,
            access(route(&Method::PUT, "/v1/manifest")),
            Conn::TCP,
            &tokens,
        )
        .err()
        .map(|r| (r.status, r.code))
    };
    assert_eq!(
        put("Bearer wrong-wrong-wrong-wrong"),
        Some((401, "Unauthorized"))
    );
    assert_eq!(put(&format!("Bearer {READ}")), Some((403, "ReadOnlyToken")));
    assert_eq!(put(&format!("Bearer {WRITE}")), None);
}

fn facts<'a>(host: Option<&'a str>, auth: Option<&'a str>, len: Option<&'a str>) -> Facts<'a> {
    Facts {
        host,
        authorization: auth,
        content_length: len,
        session: None,
    }
}

/// What came before the scopes, each case kept: the Host check first (even for probes),
/// the bearer scheme, the declared length.
#[test]
fn host_scheme_and_length() {
    use super::guard::Access::*;
    let t = Tokens::from_values(Some("s3cret-s3cret-s3cret"), None);
    let unix = Conn::unix(true);
    let tcp = Conn::TCP;
    let cases = [
        (facts(Some("localhost"), None, None), Read, unix, None),
        (facts(None, None, None), Read, unix, Some(400)),
        (
            facts(Some("evil.example"), None, None),
            Read,
            unix,
            Some(403),
        ),
        (facts(Some("localhost"), None, None), Read, tcp, Some(401)),
        (
            facts(Some("localhost"), Some("Bearer wrong"), None),
            Read,
            tcp,
            Some(401),
        ),
        (
            facts(Some("localhost"), Some("Bearer s3cret-s3cret-s3cret"), None),
            Read,
            tcp,
            None,
        ),
        (
            facts(Some("localhost"), Some("Basic s3cret-s3cret-s3cret"), None),
            Read,
            tcp,
            Some(401),
        ),
        (facts(Some("localhost"), None, None), Probe, tcp, None),
        (
            facts(Some("evil.example"), None, None),
            Probe,
            tcp,
            Some(403),
        ),
        (
            facts(Some("localhost"), None, Some("1048576")),
            Write,
            unix,
            None,
        ),
        (
            facts(Some("localhost"), None, Some("1048577")),
            Write,
            unix,
            Some(413),
        ),
        (
            facts(Some("localhost"), None, Some("x")),
            Write,
            unix,
            Some(400),
        ),
        // A refused peer is refused before its body is looked at.
        (
            facts(Some("localhost"), None, Some("1048577")),
            Write,
            Conn::unix(false),
            Some(403),
        ),
    ];
    for (f, a, conn, want) in cases {
        assert_eq!(
            check(&f, a, conn, &t).err().map(|r| r.status),
            want,
            "{f:?} {a:?} {conn:?}"
        );
    }
    // TCP without any configured token refuses everything but the probes.
    let none = Tokens::default();
    assert_eq!(
        check(
            &facts(Some("localhost"), Some("Bearer "), None),
            Read,
            tcp,
            &none
        )
        .unwrap_err()
        .status,
        401
    );
    assert!(check(&facts(Some("localhost"), None, None), Probe, tcp, &none).is_ok());
}
