//! The `Kanto` configuration key: Kanto's Update Manager settings in baton's style (PascalCase,
//! whole seconds), and their checked form, [`KantoSettings`].
//!
//! ```json
//! "Kanto": {"Broker": "tcp://127.0.0.1:1883", "Domain": "device", "ThingsEnabled": false,
//!           "OwnerConsentCommands": ["DOWNLOAD"], "OwnerConsentTimeoutSeconds": 1800,
//!           "PhaseTimeoutSeconds": 600, "ReportFeedbackIntervalSeconds": 60,
//!           "Username": "", "Password": "", "KeepAliveSeconds": 20}
//! ```
//!
//! Defaults are Kanto's (`config/config_internal.go`, `mqtt/config.go`), so a Kanto user's
//! values carry over one for one (`phaseTimeout: "10m"` is `PhaseTimeoutSeconds: 600`).
//!
//! TLS (`CaCert`, `Cert`, `Key`, or a `ssl://`, `tls://`, `mqtts://`, `mqtt+ssl://`, `tcps://`,
//! `wss://` broker) is refused with a clear error: the MQTT client's TLS feature brings a
//! certificate verifier with open advisories (rustls-webpki 0.102) and an unmaintained PEM
//! parser. Kanto's brokers are local (the device's own Mosquitto), where Kanto itself ships
//! plain TCP. Pure data, no IO.

use std::time::Duration;

use super::wire::ConsentCommand;
pub use crate::config::KantoConfig;

/// A `Kanto` value that cannot be used. Names the key and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kanto.{key}: {message}")]
pub struct KantoConfigError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> KantoConfigError {
    KantoConfigError {
        key,
        message: message.into(),
    }
}

/// The checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KantoSettings {
    pub host: String,
    pub port: u16,
    pub domain: String,
    pub things_enabled: bool,
    /// Sorted, no duplicates.
    pub owner_consent: Vec<ConsentCommand>,
    pub owner_consent_timeout: Duration,
    pub phase_timeout: Duration,
    /// `None`: no RUNNING feedback.
    pub report_feedback_interval: Option<Duration>,
    pub credentials: Option<(String, String)>,
    pub keep_alive: Duration,
}

const TLS_SCHEMES: [&str; 6] = ["ssl", "tls", "mqtts", "mqtt+ssl", "tcps", "wss"];

impl KantoConfig {
    /// Checks every value; the first problem is returned.
    pub fn settings(&self) -> Result<KantoSettings, KantoConfigError> {
        let (host, port) = parse_broker(&self.broker)?;
        for (key, value) in [
            ("CaCert", &self.ca_cert),
            ("Cert", &self.cert),
            ("Key", &self.key),
        ] {
            if !value.is_empty() {
                return Err(bad(key, format!("TLS is not supported by baton's MQTT client; remove `{key}` and connect to the local broker over tcp://")));
            }
        }
        if self.domain.is_empty() || self.domain.contains(['/', '+', '#']) {
            return Err(bad(
                "Domain",
                format!(
                    "`{}` must be a non-empty name without '/', '+' or '#'",
                    self.domain
                ),
            ));
        }
        let owner_consent = consent_commands(&self.owner_consent_commands)?;
        let positive = |key: &'static str, secs: u64| {
            if secs == 0 {
                Err(bad(key, "must be at least 1 second"))
            } else {
                Ok(Duration::from_secs(secs))
            }
        };
        if self.keep_alive_seconds > u64::from(u16::MAX) {
            return Err(bad(
                "KeepAliveSeconds",
                format!("must be at most {} (MQTT's limit)", u16::MAX),
            ));
        }
        let credentials = match (self.username.is_empty(), self.password.is_empty()) {
            (true, true) => None,
            (true, false) => return Err(bad("Password", "is set without a Username")),
            _ => Some((self.username.clone(), self.password.clone())),
        };
        Ok(KantoSettings {
            host,
            port,
            domain: self.domain.clone(),
            things_enabled: self.things_enabled,
            owner_consent,
            owner_consent_timeout: positive(
                "OwnerConsentTimeoutSeconds",
                self.owner_consent_timeout_seconds,
            )?,
            phase_timeout: positive("PhaseTimeoutSeconds", self.phase_timeout_seconds)?,
            report_feedback_interval: (self.report_feedback_interval_seconds > 0)
                .then(|| Duration::from_secs(self.report_feedback_interval_seconds)),
            credentials,
            keep_alive: Duration::from_secs(self.keep_alive_seconds),
        })
    }
}

/// `OwnerConsentCommands` read as Kanto reads them (any case), sorted, without duplicates.
/// Also read by baton's consent gate, which asks before these phases too.
pub fn consent_commands(words: &[String]) -> Result<Vec<ConsentCommand>, KantoConfigError> {
    let mut owner_consent = Vec::new();
    for word in words {
        let c = ConsentCommand::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(word))
            .ok_or_else(|| {
                bad(
                    "OwnerConsentCommands",
                    format!("unknown command `{word}` (expected DOWNLOAD, UPDATE or ACTIVATE)"),
                )
            })?;
        owner_consent.push(c);
    }
    owner_consent.sort();
    owner_consent.dedup();
    Ok(owner_consent)
}

/// `tcp://host[:port]`, `mqtt://host[:port]`, `[::1]` for IPv6.
fn parse_broker(url: &str) -> Result<(String, u16), KantoConfigError> {
    let expected = "expected tcp://HOST:PORT";
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("Broker", format!("`{url}`: {expected}")))?;
    let scheme = scheme.to_ascii_lowercase();
    if TLS_SCHEMES.contains(&scheme.as_str()) {
        return Err(bad("Broker", format!("`{url}`: TLS is not supported by baton's MQTT client; connect to the local broker over tcp://")));
    }
    if scheme != "tcp" && scheme != "mqtt" {
        return Err(bad(
            "Broker",
            format!("`{url}`: unsupported scheme `{scheme}`; {expected}"),
        ));
    }
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?']) {
        return Err(bad(
            "Broker",
            format!("`{url}`: {expected} (credentials go in Username and Password)"),
        ));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("Broker", format!("`{url}`: unclosed '['")))?;
        (h, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("Broker", format!("`{url}`: no host; {expected}")));
    }
    let port = match port {
        None => 1883,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("Broker", format!("`{url}`: port `{p}` is not 1..65535")))?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut KantoConfig)) -> Result<KantoSettings, KantoConfigError> {
        let mut c = KantoConfig::default();
        f(&mut c);
        c.settings()
    }

    #[test]
    fn defaults_are_kantos() {
        let s = KantoConfig::default().settings().unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", 1883));
        assert_eq!(s.domain, "device");
        assert!(s.things_enabled);
        assert!(s.owner_consent.is_empty());
        assert_eq!(s.owner_consent_timeout, Duration::from_secs(1800));
        assert_eq!(s.phase_timeout, Duration::from_secs(600));
        assert_eq!(s.report_feedback_interval, Some(Duration::from_secs(60)));
        assert_eq!(s.keep_alive, Duration::from_secs(20));
        assert_eq!(s.credentials, None);
    }

    #[test]
    fn the_key_reads_in_pascal_case_and_refuses_unknown_keys() {
        let c: KantoConfig = serde_json::from_str(
            r#"{"Broker":"tcp://127.0.0.1:18830","Domain":"car","ThingsEnabled":false,
                "OwnerConsentCommands":["download","UPDATE","Download"],"ReportFeedbackIntervalSeconds":0,
                "Username":"u","Password":"p"}"#,
        )
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 18830));
        assert_eq!(s.domain, "car");
        assert!(!s.things_enabled);
        assert_eq!(
            s.owner_consent,
            vec![ConsentCommand::Download, ConsentCommand::Update]
        );
        assert_eq!(s.report_feedback_interval, None);
        assert_eq!(s.credentials, Some(("u".into(), "p".into())));
        assert!(serde_json::from_str::<KantoConfig>(r#"{"phaseTimeout":"10m"}"#).is_err());
    }

    #[test]
    fn brokers() {
        for (url, host, port) in [
            ("tcp://h:1", "h", 1),
            ("mqtt://h", "h", 1883),
            ("TCP://h:2/", "h", 2),
            ("tcp://[::1]:1884", "::1", 1884),
            ("tcp://[::1]", "::1", 1883),
        ] {
            let s = with(|c| c.broker = url.into()).unwrap();
            assert_eq!((s.host.as_str(), s.port), (host, port), "{url}");
        }
        for url in [
            "h:1",
            "tcp://",
            "tcp://h:0",
            "tcp://h:x",
            "ws://h",
            "tcp://u:p@h",
            "tcp://[::1",
        ] {
            let e = with(|c| c.broker = url.into()).unwrap_err();
            assert_eq!(e.key, "Broker", "{url}");
        }
    }

    #[test]
    fn tls_is_refused_with_the_key_named() {
        for scheme in TLS_SCHEMES {
            let e = with(|c| c.broker = format!("{scheme}://h:8883")).unwrap_err();
            assert!(e.to_string().contains("TLS is not supported"), "{e}");
        }
        let e = with(|c| c.ca_cert = "/etc/ca.pem".into()).unwrap_err();
        assert_eq!(e.key, "CaCert");
        let e = with(|c| c.key = "/etc/k.pem".into()).unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("Kanto.Key"));
    }

    #[test]
    fn other_bad_values_name_their_key() {
        for (f, key) in [
            (
                Box::new(|c: &mut KantoConfig| c.domain = String::new())
                    as Box<dyn FnOnce(&mut KantoConfig)>,
                "Domain",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.domain = "a/b".into()),
                "Domain",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.owner_consent_commands = vec!["ROLLBACK".into()]),
                "OwnerConsentCommands",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.phase_timeout_seconds = 0),
                "PhaseTimeoutSeconds",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.owner_consent_timeout_seconds = 0),
                "OwnerConsentTimeoutSeconds",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.keep_alive_seconds = 70_000),
                "KeepAliveSeconds",
            ),
            (
                Box::new(|c: &mut KantoConfig| c.password = "p".into()),
                "Password",
            ),
        ] {
            assert_eq!(with(f).unwrap_err().key, key);
        }
    }
}
