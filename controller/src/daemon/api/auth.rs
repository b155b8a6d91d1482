//! Who may call the API: bearer tokens of two scopes over TCP, and on the Unix socket the
//! peer's credentials against the socket's owner and group.
//!
//! Token files are checked when `baton run` starts: owned by the user baton runs as, not
//! readable or writable by group or others, at least 16 characters; anything else refuses
//! to start, naming the file. Only the SHA-256 digests of the tokens are kept, and a
//! presented token is compared digest to digest, with both configured tokens always
//! compared: the time taken says nothing about where a guess differs or how long the token
//! is.
//!
//! The Unix socket's file mode (`Api.SocketMode`, default 0660) already limits who can
//! connect; the peer check makes that explicit and survives a looser mode or a passed file
//! descriptor: root, the socket's owner (the user baton runs as) and members of the socket's
//! group (primary or supplementary) may call; anyone else gets 403 on every request.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Api;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read what baton says about the System (status, history, components, the desired
    /// Manifest, metrics).
    Read,
    /// Everything `Read` may, and change the desired state (apply, actions).
    Write,
}

/// Why a token file is refused (`path` is empty when the setting itself is missing).
#[derive(Debug, thiserror::Error)]
pub struct TokenError {
    pub key: &'static str,
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.as_os_str().is_empty() {
            write!(f, "{}: {}", self.key, self.why)
        } else {
            write!(f, "{} {}: {}", self.key, self.path.display(), self.why)
        }
    }
}

/// A token as kept: its digest.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Digest32([u8; 32]);

impl std::fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest32(..)")
    }
}

pub(super) fn digest(token: &[u8]) -> Digest32 {
    Digest32(Sha256::digest(token).into())
}

/// Equal without stopping at the first difference.
pub(super) fn same(a: &Digest32, b: &Digest32) -> bool {
    a.0.iter().zip(&b.0).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    write: Option<Digest32>,
    read: Option<Digest32>,
}

impl Tokens {
    /// Tokens from their values (tests; [`Tokens::load`] reads the files).
    pub fn from_values(write: Option<&str>, read: Option<&str>) -> Self {
        Self {
            write: write.map(|t| digest(t.as_bytes())),
            read: read.map(|t| digest(t.as_bytes())),
        }
    }

    /// Reads and checks `Api.TokenFile` and `Api.ReadTokenFile`. TCP needs at least one.
    pub fn load(api: &Api) -> Result<Self, TokenError> {
        let write = match &api.token_file {
            Some(p) => Some(read_token_file("Api.TokenFile", p)?),
            None => None,
        };
        let read = match &api.read_token_file {
            Some(p) => Some(read_token_file("Api.ReadTokenFile", p)?),
            None => None,
        };
        if let (Some(w), Some(r), Some(p)) = (&write, &read, &api.read_token_file) {
            if w == r {
                return Err(TokenError {
                    key: "Api.ReadTokenFile",
                    path: p.clone(),
                    why:
                        "holds the same token as Api.TokenFile: the read token must not grant write"
                            .into(),
                });
            }
        }
        if api.tcp.is_some() && write.is_none() && read.is_none() {
            return Err(TokenError {
                key: "Api.TokenFile",
                path: PathBuf::new(),
                why: "Api.Tcp needs Api.TokenFile (write) or Api.ReadTokenFile (read): a file holding a bearer token".into(),
            });
        }
        Ok(Self::from_values(write.as_deref(), read.as_deref()))
    }

    /// The scope `presented` grants, if any.
    pub fn scope(&self, presented: Option<&str>) -> Option<Scope> {
        let presented = presented?;
        let d = digest(presented.as_bytes());
        // Both compared, always: which one matched (or that none did) takes the same time.
        let write = self.write.as_ref().is_some_and(|w| same(&d, w));
        let read = self.read.as_ref().is_some_and(|r| same(&d, r));
        match (write, read) {
            (true, _) => Some(Scope::Write),
            (false, true) => Some(Scope::Read),
            (false, false) => None,
        }
    }
}

/// Reads a token file after checking who may read it. Opened once and examined through the
/// open file, so what is checked is what is read.
pub fn read_token_file(key: &'static str, path: &Path) -> Result<String, TokenError> {
    let err = |why: String| TokenError {
        key,
        path: path.to_path_buf(),
        why,
    };
    let f = File::open(path).map_err(|e| err(e.to_string()))?;
    let meta = f.metadata().map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("is not a regular file".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(err(format!(
            "is owned by uid {}, not by the user baton runs as (uid {me}): chown it",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "mode {mode:04o} lets group or others read or change it: chmod 600 {}",
            path.display()
        )));
    }
    let mut text = String::new();
    f.take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| err(e.to_string()))?;
    let t = text.trim();
    if t.len() < 16 {
        return Err(err("the token must be at least 16 characters".into()));
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(
            "the token must be one word (no spaces or control characters)".into(),
        ));
    }
    Ok(t.to_string())
}

/// The Unix socket's owner and group, as the file says after binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOwner {
    pub uid: u32,
    pub gid: u32,
}

/// Who connected to the Unix socket (SO_PEERCRED, and the supplementary groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Whether `peer` may call (pure).
pub fn peer_allowed(peer: &Peer, owner: SocketOwner) -> bool {
    peer.uid == 0
        || peer.uid == owner.uid
        || peer.gid == owner.gid
        || peer.groups.contains(&owner.gid)
}

/// The peer of a Unix connection. The supplementary groups come from `/proc/<pid>/status`
/// (SO_PEERCRED carries only the primary group), read only when the primary ids do not
/// already decide, and only while that process still has the uid SO_PEERCRED gave.
pub fn peer_of(stream: &tokio::net::UnixStream, owner: SocketOwner) -> Option<Peer> {
    let cred = stream.peer_cred().ok()?;
    let mut peer = Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        groups: Vec::new(),
    };
    if !peer_allowed(&peer, owner) {
        if let Some(pid) = cred.pid() {
            peer.groups = groups_of(pid, peer.uid).unwrap_or_default();
        }
    }
    Some(peer)
}

fn groups_of(pid: i32, uid: u32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().filter_map(|n| n.parse::<u32>().ok()))
    };
    // The process must still be the one that connected (real and effective uid).
    let uids: Vec<u32> = field("Uid:")?.collect();
    if uids.get(1) != Some(&uid) {
        return None;
    }
    Some(field("Groups:")?.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_token_grants_its_scope_and_nothing_else_does() {
        let t = Tokens::from_values(
            Some("write-token-0123456789"),
            Some("read-token-0123456789"),
        );
        assert_eq!(t.scope(Some("write-token-0123456789")), Some(Scope::Write));
        assert_eq!(t.scope(Some("read-token-0123456789")), Some(Scope::Read));
        for wrong in [
            "",
            "write-token-012345678",
            "write-token-01234567890",
            "read-token-0123456788",
            "WRITE-TOKEN-0123456789",
        ] {
            assert_eq!(t.scope(Some(wrong)), None, "{wrong:?}");
        }
        assert_eq!(t.scope(None), None);
        let none = Tokens::default();
        assert_eq!(none.scope(Some("")), None);
        assert_eq!(none.scope(Some("anything")), None);
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn token_files_must_be_private_long_enough_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(dir.path(), "w", "0123456789abcdef0123\n", 0o600);
        assert_eq!(
            read_token_file("Api.TokenFile", &ok).unwrap(),
            "0123456789abcdef0123"
        );
        assert!(read_token_file("k", &write(dir.path(), "r", "0123456789abcdef", 0o400)).is_ok());
        for (mode, name) in [(0o644, "world"), (0o640, "group"), (0o602, "writable")] {
            let p = write(dir.path(), name, "0123456789abcdef0123", mode);
            let e = read_token_file("Api.TokenFile", &p)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("Api.TokenFile") && e.contains(&p.display().to_string()),
                "{e}"
            );
            assert!(e.contains("chmod 600"), "{e}");
        }
        let short = write(dir.path(), "short", "short\n", 0o600);
        assert!(read_token_file("k", &short).unwrap_err().why.contains("16"));
        let spaced = write(dir.path(), "spaced", "0123456789 abcdef0123", 0o600);
        assert!(read_token_file("k", &spaced).is_err());
        assert!(read_token_file("k", &dir.path().join("absent")).is_err());
        assert!(read_token_file("k", dir.path()).is_err());

        let api = |w: Option<&Path>, r: Option<&Path>, tcp: bool| Api {
            socket: dir.path().join("s"),
            socket_mode: "0660".into(),
            tcp: tcp.then(|| "127.0.0.1:7373".into()),
            token_file: w.map(Path::to_path_buf),
            read_token_file: r.map(Path::to_path_buf),
        };
        let other = write(dir.path(), "other", "another-token-0123456789", 0o600);
        let t = Tokens::load(&api(Some(&ok), Some(&other), true)).unwrap();
        assert_eq!(t.scope(Some("another-token-0123456789")), Some(Scope::Read));
        let same = write(dir.path(), "same", "0123456789abcdef0123", 0o600);
        let e = Tokens::load(&api(Some(&ok), Some(&same), true)).unwrap_err();
        assert_eq!(e.key, "Api.ReadTokenFile");
        let missing = Tokens::load(&api(None, None, true))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("Api.TokenFile: Api.Tcp needs"),
            "{missing}"
        );
        assert!(Tokens::load(&api(None, Some(&other), true)).is_ok());
        assert!(Tokens::load(&api(None, None, false)).is_ok());
    }

    #[test]
    fn a_token_file_of_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            return; // only root can give a file away
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t", "0123456789abcdef0123", 0o600);
        std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
        let e = read_token_file("Api.TokenFile", &p).unwrap_err();
        assert!(e.why.contains("uid 65534"), "{e}");
    }

    #[test]
    fn who_may_call_on_the_socket() {
        let owner = SocketOwner { uid: 100, gid: 200 };
        let peer = |uid, gid, groups: &[u32]| Peer {
            uid,
            gid,
            groups: groups.to_vec(),
        };
        for (p, ok) in [
            (peer(0, 0, &[]), true),
            (peer(100, 5, &[]), true),
            (peer(7, 200, &[]), true),
            (peer(7, 8, &[9, 200]), true),
            (peer(7, 8, &[9]), false),
            (peer(7, 8, &[]), false),
        ] {
            assert_eq!(peer_allowed(&p, owner), ok, "{p:?}");
        }
    }
}
