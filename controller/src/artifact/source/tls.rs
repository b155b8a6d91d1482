//! TLS for every HTTPS connection baton makes (the URL source, the Mender Server and its
//! signed links): the trust roots and the client certificate. What the configuration names
//! is read at start, so a bad file fails there; the system's roots are read when the first
//! connection needs them (about 6 ms and a few hundred KiB that most commands, and an idle
//! daemon, never use).
//!
//! - Trust: the system's roots (the OS store OpenSSL and the Mender client use, read with
//!   `rustls-native-certs`) plus `ServerCertificate`, as Mender adds it: a private server's
//!   certificate is trusted *in addition*, never instead. Only when the OS has no store and
//!   no `ServerCertificate` is set does baton fall back to Mozilla's roots, built in.
//! - `HttpsClient {Certificate, Key}`: presented as the client certificate on every
//!   connection. What baton cannot honour is refused at start with an error naming the key,
//!   never accepted and ignored: half a pair, a PKCS#11 URI, an `SSLEngine`.
//!
//! Plain HTTP (the Mender client's local forwarder on loopback) needs none of this and is
//! used as given.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::SourceError;
use crate::config::HttpsClient;

/// `HttpsClient`: a client certificate (chain) and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

fn config_error(message: String) -> SourceError {
    SourceError::Config { message }
}

impl ClientCertificate {
    /// From the configuration: none when `HttpsClient` is empty; an error for anything baton
    /// would otherwise have to ignore.
    pub fn from_config(c: &HttpsClient) -> Result<Option<Self>, SourceError> {
        if let Some(engine) = &c.ssl_engine {
            return Err(config_error(format!(
                "HttpsClient.SSLEngine {engine:?}: OpenSSL engines are not supported by baton; \
                 give HttpsClient.Key as a PEM key file instead"
            )));
        }
        match (&c.certificate, &c.key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(config_error(
                "HttpsClient.Certificate is set but HttpsClient.Key is not: both are needed".into(),
            )),
            (None, Some(_)) => Err(config_error(
                "HttpsClient.Key is set but HttpsClient.Certificate is not: both are needed".into(),
            )),
            (Some(_), Some(key)) if key.starts_with("pkcs11:") => Err(config_error(format!(
                "HttpsClient.Key {key:?}: PKCS#11 URIs are not supported by baton; give a PEM \
                 key file"
            ))),
            (Some(cert), Some(key)) => Ok(Some(Self {
                certificate: cert.clone(),
                key: PathBuf::from(key),
            })),
        }
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|e| config_error(format!("{what} {}: {e}", path.display())))
}

/// Every certificate in a PEM file; an error naming `what` when there is none.
fn certificates(path: &Path, what: &str) -> Result<Vec<Certificate<'static>>, SourceError> {
    let pem = read(path, what)?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, SourceError> {
    let pem = read(path, "HttpsClient.Key")?;
    let key = ureq::tls::parse_pem(&pem).find_map(|i| match i {
        Ok(PemItem::PrivateKey(k)) => Some(k),
        _ => None,
    });
    key.ok_or_else(|| {
        config_error(format!(
            "HttpsClient.Key {}: no PEM private key in it (PKCS#1, PKCS#8 or SEC1)",
            path.display()
        ))
    })
}

/// The OS store's roots (empty on an image without one).
fn system_roots() -> Vec<Certificate<'static>> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        tracing::debug!(errors = ?found.errors, "no system trust roots");
    }
    found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect()
}

/// `ServerCertificate` and `HttpsClient`, read and checked.
#[derive(Clone)]
pub struct TlsSettings {
    server_roots: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
}

impl TlsSettings {
    /// Reads `ServerCertificate` and the client certificate and key: a bad file fails here.
    pub fn load(
        server_certificate: Option<&Path>,
        client: Option<&ClientCertificate>,
    ) -> Result<Self, SourceError> {
        let server_roots = match server_certificate {
            Some(path) => certificates(path, "ServerCertificate")?,
            None => Vec::new(),
        };
        let client = match client {
            Some(c) => {
                let chain = certificates(&c.certificate, "HttpsClient.Certificate")?;
                let key = private_key(&c.key)?;
                Some(ClientCert::new_with_certs(&chain, key))
            }
            None => None,
        };
        Ok(Self {
            server_roots,
            client,
        })
    }

    /// The TLS configuration every source's HTTPS connections use: the system roots (read
    /// now) plus `ServerCertificate` (Mozilla's roots built into baton when both are empty),
    /// and the client certificate if any.
    pub fn config(&self) -> TlsConfig {
        let mut roots = system_roots();
        roots.extend(self.server_roots.iter().cloned());
        TlsConfig::builder()
            .root_certs(if roots.is_empty() {
                RootCerts::WebPki
            } else {
                RootCerts::new_with_certs(&roots)
            })
            .client_cert(self.client.clone())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https_client(cert: Option<&str>, key: Option<&str>, engine: Option<&str>) -> HttpsClient {
        HttpsClient {
            certificate: cert.map(PathBuf::from),
            key: key.map(str::to_owned),
            ssl_engine: engine.map(str::to_owned),
        }
    }

    #[test]
    fn what_baton_cannot_honour_is_refused_naming_the_key() {
        assert_eq!(
            ClientCertificate::from_config(&HttpsClient::default()).unwrap(),
            None
        );
        let cases = [
            (Some("/c.pem"), None, None, "HttpsClient.Key is not"),
            (None, Some("/k.pem"), None, "HttpsClient.Certificate is not"),
            (
                Some("/c.pem"),
                Some("pkcs11:token=x;object=y"),
                None,
                "PKCS#11",
            ),
            (
                Some("/c.pem"),
                Some("/k.pem"),
                Some("pkcs11"),
                "HttpsClient.SSLEngine",
            ),
        ];
        for (cert, key, engine, words) in cases {
            let e = ClientCertificate::from_config(&https_client(cert, key, engine)).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
            assert_eq!(e.reason(), "config");
        }
        let ok =
            ClientCertificate::from_config(&https_client(Some("/c.pem"), Some("/k.pem"), None))
                .unwrap()
                .unwrap();
        assert_eq!(ok.key, PathBuf::from("/k.pem"));
    }

    #[test]
    fn unreadable_or_empty_pem_files_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let load = TlsSettings::load;
        let e = load(Some(&empty), None).err().unwrap();
        assert!(e.to_string().contains("ServerCertificate"), "{e}");
        let e = load(Some(&dir.path().join("absent.pem")), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("absent.pem"), "{e}");
        let client = ClientCertificate {
            certificate: empty.clone(),
            key: empty.clone(),
        };
        let e = load(None, Some(&client)).err().unwrap();
        assert!(e.to_string().contains("HttpsClient.Certificate"), "{e}");
    }
}
