//! Shared by the Artifact end-to-end tests: the real tools, keys, and the baton binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Signing keys in the formats Debian's mender-artifact 3.9 accepts, and their public keys.
pub struct Keys {
    pub rsa: PathBuf,
    pub rsa_pub: PathBuf,
    pub ec: PathBuf,
    pub ec_pub: PathBuf,
}

pub fn keys(dir: &Path) -> Keys {
    let k = Keys {
        rsa: dir.join("rsa.pem"),
        rsa_pub: dir.join("rsa-pub.pem"),
        ec: dir.join("ec.pem"),
        ec_pub: dir.join("ec-pub.pem"),
    };
    ok(Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&k.rsa)
        .arg("2048"));
    ok(Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&k.rsa)
        .arg("-out")
        .arg(&k.rsa_pub));
    ok(Command::new("openssl")
        .args([
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
        ])
        .arg(&k.ec));
    ok(Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&k.ec)
        .arg("-out")
        .arg(&k.ec_pub));
    k
}

/// The baton binary of this workspace (built by `cargo build --workspace --bins`).
pub fn baton_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("baton");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "the baton binary is not built under {}: run `cargo build --workspace --bins` first",
        target.display()
    );
}
