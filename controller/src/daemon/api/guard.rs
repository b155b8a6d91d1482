//! The checks every request passes before a handler sees it (pure).
//!
//! `Host` must name this machine (stops DNS rebinding from a browser). On the Unix socket
//! the peer must be root, the socket's owner or in its group. Over TCP a bearer token is
//! required except for the health probes: the read token reads, the write token also
//! changes the desired state, and the Update Module hand-off is refused whatever the token
//! (it is served on the Unix socket only). A declared body over the limit is refused before
//! it is read. The table test in `security.rs` shows every combination.
//!
//! Over TCP a status page session (a cookie, [`super::ui`]) stands in for a token of its
//! scope when no `Authorization` header is given; a change made with a session also needs
//! the session's CSRF token in a header and no foreign `Origin` (`csrf_ok`), since a
//! browser sends the cookie by itself.

use super::auth::{Scope, Tokens};

/// Largest request body: a Manifest is at most 1 MiB, and so is anything else.
pub const BODY_LIMIT: u64 = 1024 * 1024;

/// Why a request is refused: HTTP status, error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

/// How the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket: its file mode and the peer's credentials are the access control.
    Unix,
    /// Loopback TCP: a bearer token is required.
    Tcp,
}

/// One connection: its transport, and for the Unix socket whether the peer may call
/// ([`super::auth::peer_allowed`]; always true over TCP, where the token decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub transport: Transport,
    pub peer_allowed: bool,
}

impl Conn {
    pub const TCP: Conn = Conn {
        transport: Transport::Tcp,
        peer_allowed: true,
    };
    pub fn unix(peer_allowed: bool) -> Conn {
        Conn {
            transport: Transport::Unix,
            peer_allowed,
        }
    }
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `/healthz`, `/readyz`: anyone who may connect (no token over TCP).
    Probe,
    /// Reads what baton says: over TCP the read or the write token.
    Read,
    /// Changes the desired state or the controller's rules: over TCP the write token.
    Write,
    /// The Update Module hand-off: the Unix socket only, never TCP, whatever the token.
    UnixOnly,
}

/// What the guard needs from a request.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub host: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub content_length: Option<&'a str>,
    /// A live status page session named by the request's cookie.
    pub session: Option<SessionCredential>,
}

/// A status page session presented with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCredential {
    pub scope: Scope,
    /// The request carries the session's CSRF token and no foreign `Origin`.
    pub csrf_ok: bool,
}

/// Host names a local client may use (any port).
pub fn host_allowed(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1] or [::1]:port
        match rest.split_once(']') {
            Some((inside, tail)) if tail.is_empty() || is_port(tail) => return inside == "::1",
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, port)) if is_port(&format!(":{port}")) => n,
            Some(_) => return false,
            None => host,
        }
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1"
    )
}

fn is_port(tail: &str) -> bool {
    tail.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a request for a route of `access` on `conn`: the Host first (even for probes),
/// then who is calling, then the declared body length.
pub fn check(f: &Facts<'_>, access: Access, conn: Conn, tokens: &Tokens) -> Result<(), Refusal> {
    match f.host {
        None => return Err(refuse(400, "MissingHost", "a Host header is required")),
        Some(h) if !host_allowed(h) => {
            return Err(refuse(
                403,
                "ForbiddenHost",
                "the Host header must be localhost, 127.0.0.1 or [::1]",
            ))
        }
        Some(_) => {}
    }
    match conn.transport {
        Transport::Unix if !conn.peer_allowed => {
            return Err(refuse(
                403,
                "ForbiddenPeer",
                "only root, the socket's owner and members of its group may call baton",
            ))
        }
        Transport::Unix => {}
        Transport::Tcp if access == Access::Probe => {}
        Transport::Tcp => {
            // An `Authorization` header decides alone (a wrong token is not saved by a
            // cookie); without one, a session.
            let (scope, session) = match (f.authorization, f.session) {
                (Some(a), _) => {
                    let given = a.strip_prefix("Bearer ").map(str::trim);
                    (tokens.scope(given), None)
                }
                (None, Some(s)) => (Some(s.scope), Some(s)),
                (None, None) => (None, None),
            };
            match (access, scope, session) {
                (_, None, _) => {
                    return Err(refuse(
                        401,
                        "Unauthorized",
                        "a valid `Authorization: Bearer <token>` header (or a status page session) is required over TCP",
                    ))
                }
                (Access::UnixOnly, Some(_), _) => {
                    return Err(refuse(
                        403,
                        "UnixSocketOnly",
                        "this path (the Update Module hand-off, login codes) is served on the Unix socket only",
                    ))
                }
                (Access::Write, Some(Scope::Read), None) => {
                    return Err(refuse(
                        403,
                        "ReadOnlyToken",
                        "the read token cannot change anything; this needs Api.TokenFile's token",
                    ))
                }
                (Access::Write, Some(Scope::Read), Some(_)) => {
                    return Err(refuse(
                        403,
                        "ReadOnlySession",
                        "this session can only read; open the URL of `baton ui-url --write` to act",
                    ))
                }
                (Access::Write, Some(Scope::Write), Some(s)) if !s.csrf_ok => {
                    return Err(refuse(
                        403,
                        "CsrfRejected",
                        "a change from the status page needs its X-Baton-CSRF header and a same-origin request",
                    ))
                }
                _ => {}
            }
        }
    }
    if let Some(len) = f.content_length {
        match len.trim().parse::<u64>() {
            Ok(n) if n > BODY_LIMIT => {
                return Err(refuse(
                    413,
                    "TooLarge",
                    format!("the body is larger than {BODY_LIMIT} bytes"),
                ))
            }
            Ok(_) => {}
            Err(_) => return Err(refuse(400, "BadRequest", "invalid Content-Length")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for (h, ok) in [
            ("localhost", true),
            ("LOCALHOST:7373", true),
            ("127.0.0.1", true),
            ("127.0.0.1:80", true),
            ("[::1]", true),
            ("[::1]:7373", true),
            ("baton", false),
            ("evil.example", false),
            ("localhost.evil.example", false),
            ("127.0.0.1.nip.io", false),
            ("[::2]", false),
            ("[::1]x", false),
            ("localhost:", false),
            ("localhost:abc", false),
            ("10.0.0.1", false),
            ("", false),
        ] {
            assert_eq!(host_allowed(h), ok, "{h}");
        }
    }
}
