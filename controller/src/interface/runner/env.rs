//! The environment an Interface runs with: an allow-list, never the controller's own.
//!
//! baton may hold secrets in its environment (a Server token, an API token) and, under
//! systemd, the control channels of its own service (`NOTIFY_SOCKET`, `WATCHDOG_*`,
//! `LISTEN_*`). An Interface that inherited `NOTIFY_SOCKET` could feed baton's watchdog or
//! declare the service ready; one that inherited a token could leak it in a log. So the
//! environment is built from scratch: a few variables every program expects (locale, time
//! zone, PATH, HOME), the directories Mender's own tools read (an Interface such as the
//! official `rootfs-image` calls `mender-update`, which must find the same data as baton),
//! and whatever the operator adds by name. systemd's control variables are refused even then.

use std::ffi::{OsStr, OsString};

/// PATH when baton itself has none: what systemd gives services.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Passed through by name when set in baton's environment.
pub const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    // Mender client paths: `mender-update` run by an Interface must see baton's sandbox.
    "MENDER_CONF_DIR",
    "MENDER_DATA_DIR",
    "MENDER_DATASTORE_DIR",
    // Orchestrator paths: `mender-update` reads the Topology's system_type from here.
    "MENDER_ORCHESTRATOR_CONF_DIR",
    "MENDER_ORCHESTRATOR_DATA_DIR",
    "MENDER_ORCHESTRATOR_DATASTORE_DIR",
    "MENDER_ORCHESTRATOR_TOPOLOGY_DIR",
    "MENDER_ORCHESTRATOR_TOPOLOGY_COMPONENTS_FILE",
    "MENDER_ORCHESTRATOR_MANIFEST_STORE_DIR",
    "MENDER_ORCHESTRATOR_ARTIFACTS_CACHE_DIR",
];

/// Passed through by prefix (`LC_ALL`, `LC_CTYPE`, ...).
pub const PASSED_PREFIXES: &[&str] = &["LC_"];

/// Never passed, even when the operator names them: they belong to baton's own service.
pub const REFUSED: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "CREDENTIALS_DIRECTORY",
    "MAINPID",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
];

/// The Interface environment derived from baton's (`parent`), sorted by name.
///
/// `extra` names more variables to pass (configuration); a name in [`REFUSED`] is dropped.
pub fn interface_env<I>(parent: I, extra: &[String]) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let allowed = |name: &OsStr| {
        let Some(name) = name.to_str() else {
            return false;
        };
        if REFUSED.contains(&name) {
            return false;
        }
        PASSED.contains(&name)
            || PASSED_PREFIXES.iter().any(|p| name.starts_with(p))
            || extra.iter().any(|e| e == name)
    };
    let mut env: Vec<(OsString, OsString)> =
        parent.into_iter().filter(|(k, _)| allowed(k)).collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env.sort();
    env.dedup_by(|a, b| a.0 == b.0);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.to_str().unwrap()).collect()
    }

    #[test]
    fn secrets_and_service_channels_are_dropped() {
        let parent = vars(&[
            ("PATH", "/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "de_DE.UTF-8"),
            ("TZ", "UTC"),
            ("BATON_API_TOKEN", "s3cret"),
            ("MENDER_SERVER_TOKEN", "s3cret"),
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("WATCHDOG_USEC", "30000000"),
            ("WATCHDOG_PID", "1"),
            ("LISTEN_FDS", "1"),
            ("INVOCATION_ID", "abc"),
            ("JOURNAL_STREAM", "8:1"),
            ("MENDER_DATASTORE_DIR", "/var/lib/mender"),
            (
                "MENDER_ORCHESTRATOR_TOPOLOGY_DIR",
                "/etc/mender-orchestrator",
            ),
            ("http_proxy", "http://user:pw@proxy:3128"),
        ]);
        let env = interface_env(parent, &[]);
        assert_eq!(
            names(&env),
            [
                "LANG",
                "LC_TIME",
                "MENDER_DATASTORE_DIR",
                "MENDER_ORCHESTRATOR_TOPOLOGY_DIR",
                "PATH",
                "TZ"
            ]
        );
        assert_eq!(env.iter().find(|(k, _)| k == "PATH").unwrap().1, "/bin");
    }

    #[test]
    fn path_defaults_when_absent() {
        let env = interface_env(vars(&[("HOME", "/root")]), &[]);
        assert_eq!(names(&env), ["HOME", "PATH"]);
        assert_eq!(env[1].1, DEFAULT_PATH);
    }

    #[test]
    fn operators_may_add_names_but_not_systemds() {
        let parent = vars(&[
            ("http_proxy", "http://proxy:3128"),
            ("NOTIFY_SOCKET", "/run/x"),
            ("OTHER", "1"),
        ]);
        let env = interface_env(parent, &["http_proxy".into(), "NOTIFY_SOCKET".into()]);
        assert_eq!(names(&env), ["PATH", "http_proxy"]);
    }

    #[test]
    fn non_unicode_names_are_dropped_and_values_kept_raw() {
        use std::os::unix::ffi::OsStringExt;
        let parent = vec![
            (OsString::from_vec(b"LC_\xff".to_vec()), OsString::from("x")),
            (
                OsString::from("LANG"),
                OsString::from_vec(b"C.\xff".to_vec()),
            ),
        ];
        let env = interface_env(parent, &[]);
        assert_eq!(names(&env), ["LANG", "PATH"]);
        assert_eq!(env[0].1.as_encoded_bytes(), b"C.\xff");
    }
}
