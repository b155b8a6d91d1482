//! mender-auth over D-Bus (`io.mender.Authentication1`, published by the Mender client in
//! daemon mode, Go 3.x and C++ 4.x/5.x alike), with zbus.
//!
//! The system bus by default (`DBUS_SYSTEM_BUS_ADDRESS` honoured, as every D-Bus client
//! does), or a given address (tests). A connection is made for each token request and
//! dropped after it: resolution is rare, and a device without the Mender client pays
//! nothing until an Artifact is actually asked of the Mender Server. Every call is bounded
//! in time. The resolver runs on a blocking thread, so each request runs on a small
//! current-thread runtime of its own.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;

use super::auth::{AuthError, Jwt, MenderAuth, Secret};

const BUS_NAME: &str = "io.mender.AuthenticationManager";
const PATH: &str = "/io/mender/AuthenticationManager";
const INTERFACE: &str = "io.mender.Authentication1";
/// The Go client answers within 5 s or gives up itself.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// mender-auth on a bus.
pub struct DbusAuth {
    /// `None`: the system bus.
    address: Option<String>,
}

impl DbusAuth {
    /// On the system bus.
    pub fn system() -> Self {
        Self { address: None }
    }

    /// On the bus at `address` (a D-Bus address, e.g. `unix:path=/run/x/bus`).
    pub fn at(address: &str) -> Self {
        Self {
            address: Some(address.to_owned()),
        }
    }

    fn bus(&self) -> String {
        match &self.address {
            Some(a) => a.clone(),
            None => {
                std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "the system bus".into())
            }
        }
    }

    fn run<T>(&self, work: impl Future<Output = Result<T, AuthError>>) -> Result<T, AuthError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AuthError::NoMenderAuth(format!("cannot start a D-Bus client: {e}")))?;
        rt.block_on(work)
    }

    async fn connect(&self) -> Result<zbus::Connection, AuthError> {
        let builder = match &self.address {
            Some(a) => zbus::connection::Builder::address(a.as_str()),
            None => zbus::connection::Builder::system(),
        };
        let unreachable =
            |e: String| AuthError::NoMenderAuth(format!("cannot connect to {}: {e}", self.bus()));
        match tokio::time::timeout(CALL_TIMEOUT, builder.build()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!("no answer within {CALL_TIMEOUT:?}"))),
        }
    }

    async fn call<B>(&self, conn: &zbus::Connection, method: &str) -> Result<B, AuthError>
    where
        B: for<'d> zbus::wire::DynamicDeserialize<'d>,
    {
        let call = conn.call_method(Some(BUS_NAME), PATH, Some(INTERFACE), method, &());
        let reply = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.call_error(method, e)),
            Err(_) => {
                return Err(AuthError::NoMenderAuth(format!(
                    "{BUS_NAME}.{method} did not answer within {CALL_TIMEOUT:?}"
                )))
            }
        };
        reply.body().deserialize::<B>().map_err(|e| {
            AuthError::NoMenderAuth(format!("{BUS_NAME}.{method} answered out of protocol: {e}"))
        })
    }

    fn call_error(&self, method: &str, e: zbus::Error) -> AuthError {
        use zbus::fdo::Error as Fdo;
        match &e {
            zbus::Error::FDO(f) if matches!(**f, Fdo::ServiceUnknown(_) | Fdo::NameHasNoOwner(_)) => {
                AuthError::NoMenderAuth(format!("nobody owns {BUS_NAME} on {}", self.bus()))
            }
            zbus::Error::FDO(f) if matches!(**f, Fdo::AccessDenied(_)) => AuthError::Denied(format!(
                "the bus policy refuses {BUS_NAME}.{method} to this user (Mender's policy allows root only): {e}"
            )),
            _ => AuthError::NoMenderAuth(format!("{BUS_NAME}.{method}: {e}")),
        }
    }
}

fn jwt((token, server_url): (String, String)) -> Jwt {
    Jwt {
        token: Secret::new(token),
        server_url,
    }
}

impl MenderAuth for DbusAuth {
    fn get(&self) -> Result<Jwt, AuthError> {
        self.run(async {
            let conn = self.connect().await?;
            self.call::<(String, String)>(&conn, "GetJwtToken")
                .await
                .map(jwt)
        })
    }

    fn fetch(&self, wait: Duration) -> Result<Jwt, AuthError> {
        self.run(async {
            let conn = self.connect().await?;
            // Listen before asking: the signal may come before the method's answer.
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender(BUS_NAME)
                .path(PATH)
                .interface(INTERFACE)
                .member("JwtTokenStateChange")
                .build()
                .map_err(|e| AuthError::NoMenderAuth(format!("match rule: {e}")))?;
            let mut signals = zbus::MessageStream::for_match_rule(rule, &conn, None)
                .await
                .map_err(|e| self.call_error("JwtTokenStateChange", e))?;
            if !self.call::<bool>(&conn, "FetchJwtToken").await? {
                return Err(AuthError::NoToken(Duration::ZERO));
            }
            let next = async {
                while let Some(m) = signals.next().await {
                    if let Ok(m) = m {
                        if let Ok(pair) = m.body().deserialize::<(String, String)>() {
                            return Some(jwt(pair));
                        }
                    }
                }
                None
            };
            match tokio::time::timeout(wait, next).await {
                Ok(Some(j)) => Ok(j),
                _ => Err(AuthError::NoToken(wait)),
            }
        })
    }
}
