//! Downloading an Artifact over HTTP or HTTPS: resumable, bounded, patient but not forever.
//!
//! One GET per attempt; after a broken transfer the next attempt asks for the rest with a
//! `Range` request (a server that answers 200 instead starts the file over). A read that
//! waits longer than the stall timeout, or a window that brings fewer bytes than the minimum
//! rate ([`super::rate`]), breaks the attempt; attempts are bounded and spaced
//! by exponential backoff (`backon`). The body may never exceed `max_bytes`, whatever the
//! server announces. The file is written into a caller-given private directory with
//! `O_EXCL`, synced, then renamed into place: a reader never sees a partial Artifact under
//! the final name.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};

use super::rate::{MinRate, RateCheck};
use super::SourceError;

/// How downloads behave. Defaults suit a device on a slow, flaky link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// No byte for this long breaks the attempt (slow-retrieval defence).
    pub stall_timeout: Duration,
    /// Fewer bytes than this per window breaks the attempt (a trickle never stalls).
    pub min_rate: MinRate,
    pub connect_timeout: Duration,
    /// The largest Artifact accepted, in bytes.
    pub max_bytes: u64,
    /// Attempts after the first.
    pub retries: usize,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A PEM CA or server certificate trusted *instead of* the built-in Mozilla roots
    /// (Mender's `ServerCertificate`, for a private server).
    pub ca_certificate: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(60),
            min_rate: MinRate::DEFAULT,
            connect_timeout: Duration::from_secs(30),
            max_bytes: 17 << 30,
            retries: 8,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            ca_certificate: None,
        }
    }
}

/// `template` with `{artifact_name}` replaced by the URL-encoded name (every byte outside
/// RFC 3986's unreserved set is percent-encoded, so a name cannot add path segments or a
/// query).
pub fn url_for(template: &str, artifact_name: &str) -> String {
    let mut enc = String::new();
    for b in artifact_name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    template.replace("{artifact_name}", &enc)
}

fn agent(opts: &HttpOptions) -> Result<ureq::Agent, SourceError> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = &opts.ca_certificate {
        let pem = std::fs::read(ca).map_err(|e| SourceError::Config {
            message: format!("{}: {e}", ca.display()),
        })?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(SourceError::Config {
                message: format!("{}: no PEM certificate", ca.display()),
            });
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(5)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.stall_timeout))
        .tls_config(tls.build())
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// Downloads `url` to `dest` (which must not exist) through `<dest>.part` in the same
/// directory. Returns the number of bytes.
pub fn download(url: &str, dest: &Path, opts: &HttpOptions) -> Result<u64, SourceError> {
    let agent = agent(opts)?;
    let part = dest.with_extension("part");
    let _ = std::fs::remove_file(&part);
    let mut file = create_private(&part).map_err(|e| SourceError::io(&part, e))?;
    let mut have = 0u64;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(opts.backoff_base)
        .with_max_delay(opts.backoff_cap)
        .with_max_times(opts.retries)
        .with_jitter();
    #[allow(clippy::disallowed_methods)] // a blocking download on its own thread: it sleeps between attempts
    let result = (|| attempt(&agent, url, &part, &mut file, &mut have, opts))
        .retry(backoff)
        .sleep(std::thread::sleep)
        .when(SourceError::is_transient)
        .notify(|e, after| {
            tracing::warn!(url, error = %e, retry_in = ?after, "Artifact download attempt failed")
        })
        .call();
    let done = result.and_then(|()| {
        file.sync_all().map_err(|e| SourceError::io(&part, e))?;
        std::fs::rename(&part, dest).map_err(|e| SourceError::io(dest, e))?;
        if let Some(dir) = dest.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| SourceError::io(dir, e))?;
        }
        Ok(have)
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    done
}

/// Creates a new file, mode 0600, refusing an existing one (or a symlink planted there).
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    file: &mut File,
    have: &mut u64,
    opts: &HttpOptions,
) -> Result<(), SourceError> {
    let http = |message: String, transient: bool| SourceError::Http {
        url: url.to_owned(),
        message,
        transient,
    };
    let mut req = agent.get(url);
    if *have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let resp = req.call().map_err(|e| http(e.to_string(), true))?;
    let status = resp.status().as_u16();
    match status {
        200 => {
            if *have > 0 {
                // The server ignored the Range request: start the file over.
                file.set_len(0).map_err(|e| SourceError::io(part, e))?;
                std::io::Seek::rewind(file).map_err(|e| SourceError::io(part, e))?;
                *have = 0;
            }
        }
        206 => {
            let range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !range.starts_with(&format!("bytes {have}-")) {
                return Err(http(
                    format!("unexpected Content-Range {range:?} for bytes={have}-"),
                    false,
                ));
            }
        }
        404 | 410 => {
            return Err(SourceError::NotFound {
                name: url.to_owned(),
                tried: vec![url.to_owned()],
            })
        }
        408 | 429 | 500..=599 => return Err(http(format!("HTTP status {status}"), true)),
        _ => return Err(http(format!("HTTP status {status}"), false)),
    }
    let announced = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| have.saturating_add(n) > opts.max_bytes) {
        return Err(SourceError::TooLarge {
            url: url.to_owned(),
            limit: opts.max_bytes,
        });
    }
    let mut body = resp.into_body().into_with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 64 << 10];
    let mut rate = RateCheck::start(opts.min_rate);
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(http(format!("after {have} bytes: {e}"), true)),
        };
        if have.saturating_add(n as u64) > opts.max_bytes {
            return Err(SourceError::TooLarge {
                url: url.to_owned(),
                limit: opts.max_bytes,
            });
        }
        file.write_all(&buf[..n])
            .map_err(|e| SourceError::io(part, e))?;
        *have += n as u64;
        crate::metrics::Metrics::global().artifact_bytes_read(super::SourceKind::Url, n as u64);
        rate.add(n as u64)
            .map_err(|why| http(format!("after {have} bytes: {why}"), true))?;
    }
    if announced.is_some_and(|n| *have < n) {
        return Err(http(format!("the body ended after {have} bytes"), true));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_url_encoded_into_the_template() {
        let t = "https://h/a/{artifact_name}.mender";
        assert_eq!(url_for(t, "rtos-v1"), "https://h/a/rtos-v1.mender");
        assert_eq!(
            url_for(t, "a b/../c?d#e"),
            "https://h/a/a%20b%2F..%2Fc%3Fd%23e.mender"
        );
        assert_eq!(
            url_for("http://x/{artifact_name}/{artifact_name}", "ü"),
            "http://x/%C3%BC/%C3%BC"
        );
    }
}
