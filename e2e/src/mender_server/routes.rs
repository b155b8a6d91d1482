//! The device API's routes.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{respond, Request};
use super::{issue, links, random_hex, rfc3339_in, Seen, Shared, State};

const DEVICES: &str = "/api/devices/v1";

/// Answers one request and records it.
pub(super) fn handle(shared: &Shared, req: &Request, out: &mut dyn Write) {
    let status = route(shared, req, out);
    shared.lock().seen.push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        authorization: req.header("authorization").map(str::to_owned),
        range: req.header("range").map(str::to_owned),
        status,
    });
}

fn json_answer(out: &mut dyn Write, status: u16, v: &Value) -> u16 {
    respond(out, status, "application/json", v.to_string().as_bytes());
    status
}

fn empty(out: &mut dyn Write, status: u16) -> u16 {
    respond(out, status, "application/json", b"");
    status
}

fn error(out: &mut dyn Write, status: u16, message: &str) -> u16 {
    json_answer(
        out,
        status,
        &json!({"error": message, "request_id": random_hex()}),
    )
}

/// The bearer token, if it is one the server issued and has not revoked.
fn authorized(st: &State, req: &Request) -> bool {
    req.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| st.valid_tokens.iter().any(|v| v == t))
}

fn route(shared: &Shared, req: &Request, out: &mut dyn Write) -> u16 {
    let path = req.path.as_str();
    let method = req.method.as_str();
    if let Some(rest) = path.strip_prefix("/links/") {
        return links::serve(shared, req, rest, out);
    }
    if let Some(name) = path.strip_prefix("/static/") {
        return links::serve_static(shared, req, name, out);
    }
    if method == "POST" && path == format!("{DEVICES}/authentication/auth_requests") {
        return authenticate(shared, req, out);
    }
    if !path.starts_with("/api/devices/") {
        return error(out, 404, "no such endpoint");
    }
    let mut st = shared.lock();
    if !authorized(&st, req) {
        return error(out, 401, "unauthorized");
    }
    let deployments = format!("{DEVICES}/deployments/device/deployments/");
    if path.ends_with("/deployments/device/deployments/next") {
        return next(shared, &mut st, req, out);
    }
    if let Some(rest) = path.strip_prefix(&deployments) {
        let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
        let known = st.deployment.as_ref().is_some_and(|d| d.id == id);
        if method != "PUT" || !known {
            return error(out, 404, "no such deployment");
        }
        let body = String::from_utf8_lossy(&req.body).into_owned();
        return match what {
            "status" => {
                let status = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["status"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if [
                    "success",
                    "failure",
                    "already-installed",
                    "noartifact",
                    "aborted",
                ]
                .contains(&status.as_str())
                {
                    if let Some(d) = st.deployment.as_mut() {
                        d.finished = true;
                    }
                }
                st.statuses.push((id.to_owned(), status));
                empty(out, 204)
            }
            "log" => {
                st.logs.push((id.to_owned(), body));
                empty(out, 204)
            }
            _ => error(out, 404, "no such deployment resource"),
        };
    }
    if path == format!("{DEVICES}/inventory/device/attributes")
        && ["PUT", "PATCH"].contains(&method)
    {
        return match serde_json::from_slice::<Value>(&req.body) {
            Ok(v) => {
                st.inventories.push(v);
                empty(out, 200)
            }
            Err(e) => error(out, 400, &format!("bad inventory: {e}")),
        };
    }
    if let Some(rest) = path.strip_prefix(&format!("{DEVICES}/deployments/artifacts")) {
        if st.faults.unauthorized_always {
            return error(out, 401, "unauthorized");
        }
        if st.faults.unauthorized_once {
            st.faults.unauthorized_once = false;
            let token = req
                .header("authorization")
                .unwrap_or("")
                .trim_start_matches("Bearer ");
            st.valid_tokens.retain(|t| t != token);
            return error(out, 401, "token expired");
        }
        return artifacts(shared, &mut st, req, rest, out);
    }
    error(out, 404, "no such endpoint")
}

/// `POST auth_requests`: the signature must verify with the key in the body.
fn authenticate(shared: &Shared, req: &Request, out: &mut dyn Write) -> u16 {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(out, 400, "the body is not JSON");
    };
    let (Some(pubkey), Some(signature)) = (body["pubkey"].as_str(), req.header("x-men-signature"))
    else {
        return error(out, 400, "pubkey and X-MEN-Signature are required");
    };
    if let Err(why) = verify_signature(&req.body, pubkey, signature) {
        return error(out, 401, &format!("signature: {why}"));
    }
    let mut st = shared.lock();
    st.auth_requests.push(body);
    if st.faults.reject_auth {
        return error(out, 401, "device not accepted");
    }
    let token = issue(&mut st);
    respond(out, 200, "application/jwt", token.as_bytes());
    200
}

/// RSA PKCS#1 v1.5 (or ECDSA) with SHA-256 over `body`, checked by `openssl dgst`.
fn verify_signature(body: &[u8], pubkey: &str, signature_b64: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = |n: &str| dir.path().join(n);
    let write = |n: &str, b: &[u8]| std::fs::write(p(n), b).map_err(|e| e.to_string());
    write("body", body)?;
    write("key.pem", pubkey.as_bytes())?;
    write("sig.b64", signature_b64.as_bytes())?;
    let run = |args: &[&str]| {
        Command::new("openssl")
            .current_dir(dir.path())
            .args(args)
            .output()
            .map_err(|e| format!("openssl: {e}"))
    };
    let d = run(&["base64", "-d", "-A", "-in", "sig.b64", "-out", "sig"])?;
    if !d.status.success() {
        return Err("not base64".into());
    }
    let v = run(&[
        "dgst",
        "-sha256",
        "-verify",
        "key.pem",
        "-signature",
        "sig",
        "body",
    ])?;
    if v.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&v.stdout).trim().to_owned())
    }
}

/// `next`: the deployment while it is not finished and the device type fits.
fn next(shared: &Shared, st: &mut State, req: &Request, out: &mut dyn Write) -> u16 {
    let device_type = req.param("device_type").or_else(|| {
        let v: Value = serde_json::from_slice(&req.body).ok()?;
        let provides = if v["device_provides"].is_object() {
            v["device_provides"].clone()
        } else {
            v
        };
        provides["device_type"].as_str().map(str::to_owned)
    });
    let Some(d) = st.deployment.clone().filter(|d| !d.finished) else {
        return empty(out, 204);
    };
    let Some(a) = st.artifacts.iter().find(|a| a.id == d.artifact_id).cloned() else {
        return empty(out, 204);
    };
    if device_type.is_some_and(|t| !a.device_types.contains(&t)) {
        return empty(out, 204);
    }
    let (uri, expire) = link(shared, st, &a.id);
    json_answer(
        out,
        200,
        &json!({
            "id": d.id,
            "artifact": {
                "id": a.id,
                "artifact_name": a.name,
                "device_types_compatible": a.device_types,
                "source": {"uri": uri, "expire": expire},
            }
        }),
    )
}

/// A signed link to Artifact `id`: (uri, expire).
fn link(shared: &Shared, st: &mut State, id: &str) -> (String, String) {
    let ttl = st.faults.link_ttl.unwrap_or(Duration::from_secs(3600));
    let signature = random_hex();
    let expires = Instant::now() + ttl;
    st.links.insert(signature.clone(), (id.to_owned(), expires));
    let base = shared.base.lock().unwrap().clone();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + ttl.as_secs();
    (
        format!("{base}/links/{id}?expires={unix}&signature={signature}"),
        rfc3339_in(ttl),
    )
}

fn listing(a: &super::Stored) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "description": "",
        "device_types_compatible": a.device_types,
        "info": {"format": "mender", "version": 3},
        "signed": false,
        "artifact_provides": a.provides,
        "artifact_depends": a.depends,
        "size": a.bytes.len(),
    })
}

/// The three Artifact calls.
fn artifacts(
    shared: &Shared,
    st: &mut State,
    req: &Request,
    rest: &str,
    out: &mut dyn Write,
) -> u16 {
    if req.method != "GET" {
        return error(out, 405, "GET only");
    }
    if rest.is_empty() {
        if st.faults.list_not_found {
            return error(out, 404, "not found");
        }
        let (Some(release), Some(device_type)) =
            (req.param("release_name"), req.param("device_type"))
        else {
            return error(out, 400, "release_name and device_type are required");
        };
        let found: Vec<Value> = st
            .artifacts
            .iter()
            .filter(|a| a.name == release && a.device_types.contains(&device_type))
            .take(100)
            .map(listing)
            .collect();
        return json_answer(out, 200, &Value::Array(found));
    }
    let rest = rest.trim_start_matches('/');
    let (id, download) = match rest.strip_suffix("/download") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(a) = st.artifacts.iter().find(|a| a.id == id).cloned() else {
        return error(out, 404, "no such Artifact");
    };
    if download {
        let (uri, expire) = link(shared, st, &a.id);
        json_answer(out, 200, &json!({"uri": uri, "expire": expire}))
    } else {
        json_answer(out, 200, &listing(&a))
    }
}
