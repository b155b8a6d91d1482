//! systemd's notify protocol without libsystemd: `READY=1`, `STOPPING=1`, `WATCHDOG=1` and
//! `STATUS=` as datagrams to `$NOTIFY_SOCKET` (a path, or an abstract name starting with
//! `@`). Without the variable every call is a no-op, so baton runs the same outside systemd.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Env;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// Where systemd listens, and how often it wants to hear from us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    target: Target,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (the watchdog is ours only
    /// when `WATCHDOG_PID` is unset or names this process).
    pub fn from_env(env: &dyn Env) -> Option<Self> {
        let socket = env.var("NOTIFY_SOCKET").filter(|s| !s.is_empty())?;
        let target = match socket.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(socket)),
        };
        let ours = env
            .var("WATCHDOG_PID")
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = env
            .var("WATCHDOG_USEC")
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Some(Self { target, watchdog })
    }

    /// How often to send `WATCHDOG=1`: half of systemd's timeout, as sd_watchdog_enabled(3)
    /// recommends.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Sends one message (e.g. `READY=1\nSTATUS=...`). Errors are returned, not fatal.
    /// Never blocks: a receiver that stopped reading must not stall the reconciler.
    pub fn notify(&self, message: &str) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        match &self.target {
            Target::Path(p) => sock.send_to(message.as_bytes(), p).map(|_| ()),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(message.as_bytes(), &addr).map(|_| ())
            }
        }
    }

    /// [`Notifier::notify`], logging a failure.
    pub fn tell(&self, message: &str) {
        if let Err(e) = self.notify(message) {
            tracing::warn!(error = %e, message, "cannot notify systemd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Vars(BTreeMap<&'static str, String>);
    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    #[test]
    fn messages_reach_a_path_socket_and_the_watchdog_is_halved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let env = Vars(BTreeMap::from([
            ("NOTIFY_SOCKET", path.display().to_string()),
            ("WATCHDOG_USEC", "3000000".to_string()),
        ]));
        let n = Notifier::from_env(&env).unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(1500)));
        n.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
    }

    #[test]
    fn abstract_sockets_and_a_watchdog_meant_for_another_process() {
        let name = format!("baton-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        use std::os::linux::net::SocketAddrExt;
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let env = Vars(BTreeMap::from([
            ("NOTIFY_SOCKET", format!("@{name}")),
            ("WATCHDOG_USEC", "1000000".to_string()),
            ("WATCHDOG_PID", "1".to_string()),
        ]));
        let n = Notifier::from_env(&env).unwrap();
        assert_eq!(n.watchdog_interval(), None);
        n.notify("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn without_systemd_there_is_no_notifier() {
        assert!(Notifier::from_env(&Vars(BTreeMap::new())).is_none());
    }
}
