//! The signed links: object storage's side. A link needs no token and refuses one (S3
//! answers 400 to a request that carries two credentials), expires, honours `Range`, and
//! misbehaves on demand (expired, truncated, corrupted, slow).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http::{reason, respond, Request};
use super::Shared;

/// `GET /links/{id}?expires=&signature=`.
pub(super) fn serve(shared: &Shared, req: &Request, id: &str, out: &mut dyn Write) -> u16 {
    let mut st = shared.lock();
    if req.header("authorization").is_some() {
        let msg = b"only one authentication mechanism is allowed: the link is signed";
        respond(out, 400, "text/plain", msg);
        return 400;
    }
    let signature = req.param("signature").unwrap_or_default();
    let Some((linked, expires)) = st.links.get(&signature).cloned() else {
        respond(out, 403, "text/plain", b"bad signature");
        return 403;
    };
    if linked != id {
        respond(
            out,
            403,
            "text/plain",
            b"the signature is for another object",
        );
        return 403;
    }
    if Instant::now() >= expires || st.faults.expire_links > 0 {
        st.faults.expire_links = st.faults.expire_links.saturating_sub(1);
        respond(out, 403, "text/plain", b"Request has expired");
        return 403;
    }
    let Some(a) = st.artifacts.iter().find(|a| a.id == id).cloned() else {
        respond(out, 404, "text/plain", b"no such object");
        return 404;
    };
    let truncate = std::mem::take(&mut st.faults.truncate_once);
    if truncate && st.faults.truncated_link_expires {
        st.links.insert(signature.clone(), (linked, Instant::now()));
    }
    let corrupt = st.faults.corrupt;
    let slow = st.faults.slow;
    drop(st);
    send(req, &a.bytes, truncate, corrupt, slow, out)
}

/// `GET /static/{name}`: the first Artifact of that name, for URL-source tests.
pub(super) fn serve_static(shared: &Shared, req: &Request, name: &str, out: &mut dyn Write) -> u16 {
    let name = super::decode(name.trim_end_matches(".mender"));
    let found = shared
        .lock()
        .artifacts
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.bytes.clone());
    match found {
        Some(bytes) => send(req, &bytes, false, false, None, out),
        None => {
            respond(out, 404, "text/plain", b"no such file");
            404
        }
    }
}

/// The first byte a `Range: bytes=N-` (or `N-M`) asks for.
fn range_start(req: &Request) -> Option<usize> {
    let spec = req.header("range")?.strip_prefix("bytes=")?;
    spec.split('-').next()?.trim().parse().ok()
}

fn send(
    req: &Request,
    bytes: &Arc<Vec<u8>>,
    truncate: bool,
    corrupt: bool,
    slow: Option<u64>,
    out: &mut dyn Write,
) -> u16 {
    let total = bytes.len();
    let from = range_start(req).unwrap_or(0);
    if from > total {
        let _ = write!(
            out,
            "HTTP/1.1 416 {}\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            reason(416)
        );
        return 416;
    }
    let status = if from > 0 { 206 } else { 200 };
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
        reason(status),
        total - from
    );
    if from > 0 {
        let _ = write!(out, "Content-Range: bytes {from}-{}/{total}\r\n", total - 1);
    }
    let _ = write!(out, "Connection: close\r\n\r\n");
    let end = if truncate {
        from + (total - from) / 2
    } else {
        total
    };
    let flip = corrupt.then_some(total / 2);
    // A slow link is paced by the clock, as a real link is: small pieces, each sent when
    // the link would have carried it. A client that fell behind gets what a link's buffers
    // would hold (`SLACK` worth), not a burst of everything it missed.
    let chunk = match slow {
        Some(rate) => (rate / 100).clamp(1, 256 << 10) as usize,
        None => 1 << 20,
    };
    const SLACK: Duration = Duration::from_millis(20);
    let mut due = Instant::now();
    let mut at = from;
    while at < end {
        let to = (at + chunk).min(end);
        let piece = &bytes[at..to];
        let result = match flip.filter(|f| (at..to).contains(f)) {
            Some(f) => {
                let mut copy = piece.to_vec();
                copy[f - at] ^= 0x5a;
                out.write_all(&copy)
            }
            None => out.write_all(piece),
        };
        if result.is_err() {
            break;
        }
        at = to;
        if let Some(rate) = slow {
            due += Duration::from_secs_f64(piece.len() as f64 / rate.max(1) as f64);
            let now = Instant::now();
            if now > due + SLACK {
                due = now - SLACK;
            }
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    let _ = out.flush();
    status
}
