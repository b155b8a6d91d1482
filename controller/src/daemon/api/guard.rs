//! The checks every request passes before a handler sees it (pure).
//!
//! `Host` must name this machine (stops DNS rebinding from a browser); over TCP a bearer
//! token is required except for the health probes; a declared body over the limit is
//! refused before it is read.

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
    /// The Unix socket: its file mode is the access control.
    Unix,
    /// Loopback TCP: a bearer token is required.
    Tcp,
}

/// What the guard needs from a request.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub path: &'a str,
    pub host: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub content_length: Option<&'a str>,
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

/// Compares without stopping at the first difference, so timing tells nothing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a request; `token` is the bearer token TCP requests must carry.
pub fn check(f: &Facts<'_>, transport: Transport, token: Option<&str>) -> Result<(), Refusal> {
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
    let probe = matches!(
        f.path,
        crate::wire::paths::HEALTHZ | crate::wire::paths::READYZ
    );
    if transport == Transport::Tcp && !probe {
        let given = f
            .authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim);
        match (given, token) {
            (Some(g), Some(t)) if same(g.as_bytes(), t.as_bytes()) => {}
            _ => {
                return Err(refuse(
                    401,
                    "Unauthorized",
                    "a valid `Authorization: Bearer <token>` header is required over TCP",
                ))
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

    fn facts<'a>(
        path: &'a str,
        host: Option<&'a str>,
        auth: Option<&'a str>,
        len: Option<&'a str>,
    ) -> Facts<'a> {
        Facts {
            path,
            host,
            authorization: auth,
            content_length: len,
        }
    }

    #[test]
    fn table() {
        use Transport::*;
        let t = Some("s3cret");
        let cases: Vec<(Facts, Transport, Option<u16>)> = vec![
            (
                facts("/v1/status", Some("localhost"), None, None),
                Unix,
                None,
            ),
            (facts("/v1/status", None, None, None), Unix, Some(400)),
            (
                facts("/v1/status", Some("evil.example"), None, None),
                Unix,
                Some(403),
            ),
            (
                facts("/v1/status", Some("localhost"), None, None),
                Tcp,
                Some(401),
            ),
            (
                facts("/v1/status", Some("localhost"), Some("Bearer wrong"), None),
                Tcp,
                Some(401),
            ),
            (
                facts("/v1/status", Some("localhost"), Some("Bearer s3cret"), None),
                Tcp,
                None,
            ),
            (
                facts("/v1/status", Some("localhost"), Some("Basic s3cret"), None),
                Tcp,
                Some(401),
            ),
            (facts("/healthz", Some("localhost"), None, None), Tcp, None),
            (facts("/readyz", Some("localhost"), None, None), Tcp, None),
            (
                facts("/metrics", Some("localhost"), None, None),
                Tcp,
                Some(401),
            ),
            // The Host check comes first, even for probes.
            (
                facts("/healthz", Some("evil.example"), None, None),
                Tcp,
                Some(403),
            ),
            (
                facts("/v1/manifest", Some("localhost"), None, Some("1048576")),
                Unix,
                None,
            ),
            (
                facts("/v1/manifest", Some("localhost"), None, Some("1048577")),
                Unix,
                Some(413),
            ),
            (
                facts("/v1/manifest", Some("localhost"), None, Some("x")),
                Unix,
                Some(400),
            ),
        ];
        for (f, tr, want) in cases {
            let got = check(&f, tr, t).err().map(|r| r.status);
            assert_eq!(got, want, "{f:?} over {tr:?}");
        }
        // TCP without a configured token refuses everything but the probes.
        assert_eq!(
            check(
                &facts("/v1/status", Some("localhost"), Some("Bearer "), None),
                Tcp,
                None
            )
            .unwrap_err()
            .status,
            401
        );
    }
}
