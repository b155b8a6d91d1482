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
//!
//! What is fetched is a [`Link`]: a fixed URL, or a signed link that expires (the Mender
//! Server's). A link the server refuses (401, 403, 410) is renewed and the download goes on
//! from where it was, with a Range request on the new link; the expiry time the server
//! announces is not trusted, because a device's clock may be wrong. Requests here carry no
//! credential: a signed link carries its own, and object storage refuses a token.
//!
//! The bytes may also be handed, in order, to a `tee` as they arrive (the caller verifies
//! the Artifact while it downloads); if the transfer has to start over, the tee is told so
//! by [`Downloaded::streamed`] being false, and a failing tee stops the download.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};

use super::rate::{MinRate, RateCheck};
use super::tls::{ClientCertificate, TlsSettings};
use super::{SourceError, SourceKind};
use crate::metrics::Metrics;

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
    /// Mender's `ServerCertificate`: a PEM CA or server certificate trusted in addition to
    /// the system's roots (see [`super::tls`]).
    pub server_certificate: Option<PathBuf>,
    /// Mender's `HttpsClient`: presented on every TLS connection.
    pub client_certificate: Option<ClientCertificate>,
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
            server_certificate: None,
            client_certificate: None,
        }
    }
}

/// What a download fetches.
pub trait Link {
    /// The URL to GET now.
    fn url(&self) -> &str;
    /// Whether a refused link can be replaced by a new one.
    fn renewable(&self) -> bool {
        false
    }
    /// The server refused the link (it expired): get a new one, or fail for good.
    fn renew(&mut self) -> Result<(), SourceError> {
        Err(SourceError::Http {
            url: shown(self.url()),
            message: "the link cannot be renewed".into(),
            transient: false,
        })
    }
}

/// A URL that does not change.
pub struct FixedUrl(pub String);

impl Link for FixedUrl {
    fn url(&self) -> &str {
        &self.0
    }
}

/// `url` without its query and fragment, for messages: a signed link's query is a
/// credential.
pub fn shown(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

/// An HTTP(S) client: the TLS settings read when the sources are built, the agent made (and
/// the system's roots read) at its first request. Clones share the agent.
#[derive(Clone)]
pub struct HttpClient {
    agent: Arc<OnceLock<ureq::Agent>>,
    tls: Arc<TlsSettings>,
    opts: HttpOptions,
}

impl HttpClient {
    /// Reads `ServerCertificate` and `HttpsClient` now: a bad file fails here, at start.
    pub fn new(opts: &HttpOptions) -> Result<Self, SourceError> {
        let tls = TlsSettings::load(
            opts.server_certificate.as_deref(),
            opts.client_certificate.as_ref(),
        )?;
        Ok(Self {
            agent: Arc::default(),
            tls: Arc::new(tls),
            opts: opts.clone(),
        })
    }

    pub fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(5)
                .timeout_connect(Some(self.opts.connect_timeout))
                .timeout_per_read(Some(self.opts.stall_timeout))
                .tls_config(self.tls.config())
                .build();
            ureq::Agent::new_with_config(config)
        })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// The retry policy of downloads (and, shorter, of API calls).
    pub fn backoff(&self, retries: usize) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.opts.backoff_base)
            .with_max_delay(self.opts.backoff_cap)
            .with_max_times(retries)
            .with_jitter()
    }

    /// Downloads `link` to `dest` (which must not exist) through `<dest>.part` in the same
    /// directory, counting the bytes as read from `kind`, handing them to `tee` too.
    pub fn download(
        &self,
        link: &mut dyn Link,
        dest: &Path,
        kind: SourceKind,
        metrics: &Metrics,
        tee: Option<&mut dyn Write>,
    ) -> Result<Downloaded, SourceError> {
        let part = dest.with_extension("part");
        let _ = std::fs::remove_file(&part);
        let mut file = create_private(&part).map_err(|e| SourceError::io(&part, e))?;
        let mut have = 0u64;
        let mut get = Transfer {
            client: self,
            part: &part,
            file: &mut file,
            have: &mut have,
            kind,
            metrics,
            tee,
            streamed: true,
        };
        #[allow(clippy::disallowed_methods)] // a blocking download on its own thread: it sleeps between attempts
        let result = (|| get.attempt_renewing(link))
            .retry(self.backoff(self.opts.retries))
            .sleep(std::thread::sleep)
            .when(SourceError::is_transient)
            .notify(|e, after| {
                tracing::warn!(error = %e, retry_in = ?after, "Artifact download attempt failed")
            })
            .call();
        let streamed = get.tee.is_some() && get.streamed;
        let done = result.and_then(|()| {
            file.sync_all().map_err(|e| SourceError::io(&part, e))?;
            std::fs::rename(&part, dest).map_err(|e| SourceError::io(dest, e))?;
            if let Some(dir) = dest.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| SourceError::io(dir, e))?;
            }
            Ok(Downloaded {
                bytes: have,
                streamed,
            })
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        done
    }
}

/// What a finished download did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: u64,
    /// Every byte reached the tee, once and in order (false when there was no tee, or the
    /// transfer started over).
    pub streamed: bool,
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

/// One download in progress: the file and how much of it is there.
struct Transfer<'a, 't> {
    client: &'a HttpClient,
    part: &'a Path,
    file: &'a mut File,
    have: &'a mut u64,
    kind: SourceKind,
    metrics: &'a Metrics,
    tee: Option<&'t mut (dyn Write + 't)>,
    /// Whether the tee has seen every byte so far, in order.
    streamed: bool,
}

/// How one attempt ended, before the retry policy sees it.
enum Attempt {
    Failed(SourceError),
    /// 401 or 403 on the link (or 410 on a link that can be renewed).
    Refused(u16),
}

impl Transfer<'_, '_> {
    /// One attempt; a refused link is renewed (as often as the link allows) and asked again
    /// at once, from where the file is.
    fn attempt_renewing(&mut self, link: &mut dyn Link) -> Result<(), SourceError> {
        loop {
            match self.attempt(link.url(), link.renewable()) {
                Ok(()) => return Ok(()),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Refused(_)) if link.renewable() => {
                    tracing::info!(url = %shown(link.url()), after = *self.have, "the download link was refused (expired?): asking for a new one");
                    link.renew()?;
                }
                Err(Attempt::Refused(status)) => {
                    return Err(SourceError::Http {
                        url: shown(link.url()),
                        message: format!("HTTP status {status}"),
                        transient: false,
                    })
                }
            }
        }
    }

    fn attempt(&mut self, url: &str, renewable: bool) -> Result<(), Attempt> {
        let opts = &self.client.opts;
        let http = |message: String, transient: bool| {
            Attempt::Failed(SourceError::Http {
                url: shown(url),
                message,
                transient,
            })
        };
        let io = |e| Attempt::Failed(SourceError::io(self.part, e));
        let too_large = || {
            Attempt::Failed(SourceError::TooLarge {
                url: shown(url),
                limit: opts.max_bytes,
            })
        };
        let mut req = self.client.agent().get(url);
        if *self.have > 0 {
            req = req.header("Range", format!("bytes={}-", self.have));
        }
        let resp = req.call().map_err(|e| http(e.to_string(), true))?;
        let status = resp.status().as_u16();
        match status {
            200 => {
                if *self.have > 0 {
                    // The server ignored the Range request: start the file over.
                    self.file.set_len(0).map_err(io)?;
                    std::io::Seek::rewind(self.file).map_err(io)?;
                    *self.have = 0;
                    // What the tee saw is now the start of another transfer.
                    self.streamed = false;
                }
            }
            206 => {
                let range = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !range.starts_with(&format!("bytes {}-", self.have)) {
                    return Err(http(
                        format!(
                            "unexpected Content-Range {range:?} for bytes={}-",
                            self.have
                        ),
                        false,
                    ));
                }
            }
            401 | 403 => return Err(Attempt::Refused(status)),
            410 if renewable => return Err(Attempt::Refused(status)),
            404 | 410 => {
                return Err(Attempt::Failed(SourceError::NotFound {
                    name: shown(url),
                    tried: vec![shown(url)],
                }))
            }
            408 | 429 | 500..=599 => return Err(http(format!("HTTP status {status}"), true)),
            _ => return Err(http(format!("HTTP status {status}"), false)),
        }
        let announced = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| self.have.saturating_add(n) > opts.max_bytes) {
            return Err(too_large());
        }
        let mut body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 256 << 10];
        let mut rate = RateCheck::start(opts.min_rate);
        let mut got = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(http(format!("after {} bytes: {e}", self.have), true)),
            };
            if self.have.saturating_add(n as u64) > opts.max_bytes {
                return Err(too_large());
            }
            self.file.write_all(&buf[..n]).map_err(io)?;
            if self.streamed {
                if let Some(tee) = self.tee.as_mut() {
                    if let Err(e) = tee.write_all(&buf[..n]) {
                        return Err(Attempt::Failed(SourceError::Http {
                            url: shown(url),
                            message: format!("stopped after {} bytes: {e}", self.have),
                            transient: false,
                        }));
                    }
                }
            }
            *self.have += n as u64;
            got += n as u64;
            self.metrics
                .artifact_bytes_read(self.kind.label(), n as u64);
            rate.add(n as u64)
                .map_err(|why| http(format!("after {} bytes: {why}", self.have), true))?;
        }
        if announced.is_some_and(|n| got < n) {
            return Err(http(
                format!("the body ended after {} bytes", self.have),
                true,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_a_signed_query() {
        assert_eq!(
            shown("https://s3.example/bucket/a?X-Amz-Signature=secret&x=1"),
            "https://s3.example/bucket/a"
        );
        assert_eq!(shown("http://h/a#frag"), "http://h/a");
        assert_eq!(shown("http://h/a"), "http://h/a");
    }

    #[test]
    fn a_fixed_url_is_not_renewed() {
        let mut l = FixedUrl("http://h/x?sig=s".into());
        assert!(!l.renewable());
        let e = l.renew().unwrap_err();
        assert!(!e.to_string().contains("sig="), "{e}");
    }
}
