//! The device's token, from the Mender client's mender-auth: `GetJwtToken`, and when it is
//! empty or the server refuses it, `FetchJwtToken` and a bounded wait for
//! `JwtTokenStateChange`, once.
//!
//! The token lives in a [`Secret`]: it has no `Display`, its `Debug` is redacted, and only
//! the code that builds an `Authorization` header reads it. It is never written anywhere.

use std::time::Duration;

/// A credential: never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value, for the `Authorization` header only.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What mender-auth hands out: the device's token and the URL to reach the server with it
/// (the client's local forwarder, plain HTTP on loopback, used as given).
#[derive(Debug, Clone)]
pub struct Jwt {
    pub token: Secret,
    pub server_url: String,
}

impl Jwt {
    fn usable(&self) -> bool {
        !self.token.is_empty() && !self.server_url.is_empty()
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Nobody owns `io.mender.AuthenticationManager`, or there is no system bus.
    #[error("{0}")]
    NoMenderAuth(String),
    /// The bus refused the call (its policy).
    #[error("{0}")]
    Denied(String),
    #[error("no token within {0:?}")]
    NoToken(Duration),
}

/// mender-auth, over D-Bus in production ([`super::dbus::DbusAuth`]).
pub trait MenderAuth: Send + Sync {
    /// `GetJwtToken`: an empty token means none is available yet.
    fn get(&self) -> Result<Jwt, AuthError>;
    /// `FetchJwtToken`, then the `JwtTokenStateChange` signal within `wait` (an empty token
    /// in it means fetching failed).
    fn fetch(&self, wait: Duration) -> Result<Jwt, AuthError>;
}

/// One resolution's use of the token: fetched when missing, refreshed at most once.
pub(super) struct Session<'a> {
    auth: &'a dyn MenderAuth,
    wait: Duration,
    jwt: Jwt,
    refreshed: bool,
}

impl<'a> Session<'a> {
    pub(super) fn open(auth: &'a dyn MenderAuth, wait: Duration) -> Result<Self, AuthError> {
        let mut jwt = auth.get()?;
        let mut refreshed = false;
        if !jwt.usable() {
            jwt = fetched(auth, wait)?;
            refreshed = true;
        }
        Ok(Self {
            auth,
            wait,
            jwt,
            refreshed,
        })
    }

    pub(super) fn jwt(&self) -> &Jwt {
        &self.jwt
    }

    /// The server refused the token: a fresh one, unless this session already fetched one
    /// (then `Ok(false)`: give up).
    pub(super) fn refresh(&mut self) -> Result<bool, AuthError> {
        if self.refreshed {
            return Ok(false);
        }
        self.jwt = fetched(self.auth, self.wait)?;
        self.refreshed = true;
        Ok(true)
    }
}

fn fetched(auth: &dyn MenderAuth, wait: Duration) -> Result<Jwt, AuthError> {
    let jwt = auth.fetch(wait)?;
    if jwt.usable() {
        Ok(jwt)
    } else {
        Err(AuthError::NoToken(wait))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// mender-auth as a script: what `get` answers, then what each `fetch` answers.
    pub(crate) struct Scripted {
        pub get: Result<(&'static str, &'static str), AuthError>,
        pub fetches: Mutex<Vec<Result<(&'static str, &'static str), AuthError>>>,
        pub calls: Mutex<Vec<&'static str>>,
    }

    fn jwt((token, url): (&str, &str)) -> Jwt {
        Jwt {
            token: Secret::new(token.into()),
            server_url: url.into(),
        }
    }

    impl MenderAuth for Scripted {
        fn get(&self) -> Result<Jwt, AuthError> {
            self.calls.lock().unwrap().push("get");
            self.get.clone().map(jwt)
        }
        fn fetch(&self, _: Duration) -> Result<Jwt, AuthError> {
            self.calls.lock().unwrap().push("fetch");
            let mut f = self.fetches.lock().unwrap();
            if f.is_empty() {
                return Err(AuthError::NoToken(Duration::ZERO));
            }
            f.remove(0).map(jwt)
        }
    }

    pub(crate) fn scripted(
        get: Result<(&'static str, &'static str), AuthError>,
        fetches: Vec<Result<(&'static str, &'static str), AuthError>>,
    ) -> Scripted {
        Scripted {
            get,
            fetches: Mutex::new(fetches),
            calls: Mutex::new(vec![]),
        }
    }

    const URL: &str = "http://127.0.0.1:1";

    #[test]
    fn an_empty_token_is_fetched_then_the_session_refreshes_no_more() {
        let a = scripted(Ok(("", "")), vec![Ok(("t1", URL)), Ok(("t2", URL))]);
        let mut s = Session::open(&a, Duration::from_secs(1)).unwrap();
        assert_eq!(s.jwt().token.expose(), "t1");
        assert!(!s.refresh().unwrap(), "one fetch per resolution");
        assert_eq!(*a.calls.lock().unwrap(), ["get", "fetch"]);
    }

    #[test]
    fn a_refused_token_is_refreshed_once() {
        let a = scripted(Ok(("t0", URL)), vec![Ok(("t1", URL))]);
        let mut s = Session::open(&a, Duration::from_secs(1)).unwrap();
        assert!(s.refresh().unwrap());
        assert_eq!(s.jwt().token.expose(), "t1");
        assert!(!s.refresh().unwrap());
    }

    #[test]
    fn no_token_after_the_wait_and_no_mender_auth_are_errors() {
        let a = scripted(Ok(("", URL)), vec![Ok(("", ""))]);
        assert_eq!(
            Session::open(&a, Duration::from_secs(2)).err(),
            Some(AuthError::NoToken(Duration::from_secs(2)))
        );
        let a = scripted(Err(AuthError::NoMenderAuth("no owner".into())), vec![]);
        assert!(matches!(
            Session::open(&a, Duration::from_secs(2)),
            Err(AuthError::NoMenderAuth(_))
        ));
    }

    #[test]
    fn a_secret_never_shows() {
        let j = jwt(("very-secret-token", URL));
        let shown = format!("{j:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert!(shown.contains(URL));
    }
}
