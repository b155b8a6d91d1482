//! Opening the API's listeners: the Unix socket (default) and optional loopback TCP.
//!
//! The socket's directory is created, a stale socket from a dead baton is replaced, and the
//! mode is set before anyone can use it (bound in a private directory, then moved into
//! place); its owner and group, as the file then says, are who may call ([`super::auth`]).
//! TCP must be a loopback address and needs a token ([`super::auth::Tokens`]); anything
//! else refuses to start rather than expose the API.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use super::auth::{SocketOwner, TokenError};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("API socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Api.Tcp `{addr}`: {why}")]
    Tcp { addr: String, why: String },
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Binds the Unix socket at `path` with `mode` (e.g. 0o660); says who owns it.
pub fn unix(path: &Path, mode: u32) -> Result<(UnixListener, SocketOwner), ListenError> {
    let err = |source| ListenError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // Only the controller lock holder gets here, so a socket file left behind is stale.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(err)?,
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; refusing to replace it",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    // Bound inside a private directory, given its mode, then renamed into place: nobody can
    // connect before the mode is right, and the process umask (shared by every thread, so by
    // Interfaces being spawned meanwhile) is never touched.
    let private = private_dir_next_to(path).map_err(err)?;
    let staged = private.join("sock");
    let bound = UnixListener::bind(&staged).and_then(|l| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&staged, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    let listener = bound.map_err(err)?;
    let meta = std::fs::metadata(path).map_err(err)?;
    Ok((
        listener,
        SocketOwner {
            uid: meta.uid(),
            gid: meta.gid(),
        },
    ))
}

/// A new directory of mode 0700 next to `path`.
fn private_dir_next_to(path: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let private = dir.join(format!(".{name}.{}.bind", std::process::id()));
    // A leftover of a crashed start of this same pid number: ours to replace.
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    Ok(private)
}

/// Checks that `addr` is a loopback address.
pub fn loopback(addr: &str) -> Result<SocketAddr, ListenError> {
    let parsed: SocketAddr = addr.parse().map_err(|e| ListenError::Tcp {
        addr: addr.into(),
        why: format!("not an address:port ({e})"),
    })?;
    if !parsed.ip().is_loopback() {
        return Err(ListenError::Tcp {
            addr: addr.into(),
            why: "only a loopback address (127.0.0.1, [::1]) is allowed: the API has no TLS".into(),
        });
    }
    Ok(parsed)
}

/// Binds loopback TCP.
pub async fn tcp(addr: &str) -> Result<TcpListener, ListenError> {
    let a = loopback(addr)?;
    TcpListener::bind(a).await.map_err(|e| ListenError::Tcp {
        addr: addr.into(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_tcp() {
        assert!(loopback("127.0.0.1:7373").is_ok());
        assert!(loopback("[::1]:7373").is_ok());
        for bad in [
            "0.0.0.0:7373",
            "10.1.2.3:80",
            "[::]:7373",
            "localhost:7373",
            "127.0.0.1",
        ] {
            assert!(loopback(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_socket_gets_its_mode_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/baton.sock");
        let (l, owner) = unix(&path, 0o660).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(
            owner,
            SocketOwner {
                uid: rustix::process::geteuid().as_raw(),
                gid: meta.gid(),
            }
        );
        drop(l);
        // The file stays after the listener is gone; binding again replaces it.
        assert!(path.exists());
        let _l = unix(&path, 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A regular file in the way is never removed.
        let other = dir.path().join("file");
        std::fs::write(&other, "x").unwrap();
        assert!(unix(&other, 0o660).is_err());
        assert!(other.exists());
    }
}
