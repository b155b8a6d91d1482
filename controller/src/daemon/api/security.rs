//! The API's security table: every route, over each transport, with each kind of token (or
//! peer), and the status the guard answers (`None`: the request reaches its handler).

use hyper::Method;

use super::auth::Tokens;
use super::guard::{check, Conn, Facts};
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
}

fn ask(method: &Method, path: &str, caller: Caller) -> Option<u16> {
    let tokens = Tokens::from_values(Some(WRITE), Some(READ));
    let (conn, auth) = match caller {
        Caller::UnixAllowed => (Conn::unix(true), None),
        Caller::UnixStranger => (Conn::unix(false), None),
        Caller::TcpNoToken => (Conn::TCP, None),
        Caller::TcpWrongToken => (Conn::TCP, Some("Bearer read-token-0123456788".to_string())),
        Caller::TcpRead => (Conn::TCP, Some(format!("Bearer {READ}"))),
        Caller::TcpWrite => (Conn::TCP, Some(format!("Bearer {WRITE}"))),
    };
    let facts = Facts {
        host: Some("localhost"),
        authorization: auth.as_deref(),
        content_length: None,
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
    ];
    // Columns: UnixAllowed, UnixStranger, TcpNoToken, TcpWrongToken, TcpRead, TcpWrite.
    let ok = None;
    let rows: Vec<(&Method, &str, [Option<u16>; 6])> = vec![
        // Probes: anyone who may connect, no token.
        (&get, "/healthz", [ok, Some(403), ok, ok, ok, ok]),
        (&get, "/readyz", [ok, Some(403), ok, ok, ok, ok]),
        // Reads: the read token is enough.
        (
            &get,
            "/metrics",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/status",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/components",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/history",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/manifest",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/identity",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/provides",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/inventory",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &get,
            "/v1/journal",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        // Changes: the write token only.
        (
            &put,
            "/v1/manifest",
            [ok, Some(403), Some(401), Some(401), Some(403), ok],
        ),
        (
            &post,
            "/v1/actions/retry",
            [ok, Some(403), Some(401), Some(401), Some(403), ok],
        ),
        (
            &post,
            "/v1/actions/rollback",
            [ok, Some(403), Some(401), Some(401), Some(403), ok],
        ),
        (
            &post,
            "/v1/actions/suspend",
            [ok, Some(403), Some(401), Some(401), Some(403), ok],
        ),
        (
            &post,
            "/v1/actions/resume",
            [ok, Some(403), Some(401), Some(401), Some(403), ok],
        ),
        // The hand-off: the Unix socket only, whatever the token.
        (
            &post,
            "/v1/deployments/install",
            [ok, Some(403), Some(401), Some(401), Some(403), Some(403)],
        ),
        (
            &post,
            "/v1/deployments/resume",
            [ok, Some(403), Some(401), Some(401), Some(403), Some(403)],
        ),
        (
            &post,
            "/v1/deployments/rollback",
            [ok, Some(403), Some(401), Some(401), Some(403), Some(403)],
        ),
        // Unknown paths and methods say nothing to a caller without a token.
        (
            &get,
            "/v1/nothing",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
        (
            &Method::DELETE,
            "/v1/manifest",
            [ok, Some(403), Some(401), Some(401), ok, ok],
        ),
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

fn facts<'a>(host: Option<&'a str>, auth: Option<&'a str>, len: Option<&'a str>) -> Facts<'a> {
    Facts {
        host,
        authorization: auth,
        content_length: len,
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
