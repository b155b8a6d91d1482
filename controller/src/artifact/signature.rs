//! Artifact signatures: `manifest.sig` over the raw `manifest` bytes, checked against the
//! configured public keys with Mender's meaning of `ArtifactVerifyKey(s)`.
//!
//! Accepted: RSA PKCS#1 v1.5 with SHA-256, and ECDSA P-256 with SHA-256 as raw 64-byte r||s
//! (what mender-artifact writes) or ASN.1 DER (what newer tools and PKCS#11 signers write).
//! Keys are PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or PKCS#1 `RSA PUBLIC KEY`.
//!
//! This room only ever *verifies* with *public* keys. The `rsa` crate's advisory
//! RUSTSEC-2023-0071 (Marvin, a timing side channel) concerns decryption and signing with a
//! private key, which baton never does outside the test kit.
//!
//! Policy: with no keys, signatures are not required and a present one is reported as
//! "signed, not verified" (the Mender client installs it with a warning). With keys, an
//! unsigned Artifact is refused, and any listed key may verify. A key file that is missing,
//! unreadable or not a supported public key fails closed: loading the policy fails.

use std::path::Path;

use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ArtifactError;

/// What the reader found out about the Artifact's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// No `manifest.sig` (accepted only when no keys are configured).
    Unsigned,
    /// A signature is present but no keys are configured, so it was not checked.
    SignedNotVerified,
    /// The signature verified with the key loaded from `key`.
    Verified { key: String },
}

impl std::fmt::Display for SignatureStatus {
    /// The wording `mender-artifact read` uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsigned => f.write_str("no signature"),
            Self::SignedNotVerified => f.write_str("signed but no key for verification provided"),
            Self::Verified { .. } => f.write_str("signed and verified correctly"),
        }
    }
}

/// One public key, with the file it came from (for messages).
#[derive(Debug, Clone)]
pub struct VerifyKey {
    origin: String,
    key: Key,
}

#[derive(Debug, Clone)]
enum Key {
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
}

impl VerifyKey {
    /// Reads a PEM public key file. Every failure names the file.
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        let text = std::fs::read_to_string(path).map_err(|e| ArtifactError::Key {
            path: path.to_owned(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_pem(&path.display().to_string(), &text).map_err(|message| ArtifactError::Key {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses a PEM public key; `origin` names it in messages.
    pub fn from_pem(origin: &str, pem: &str) -> Result<Self, String> {
        let label = pem
            .lines()
            .find_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or("not a PEM file (no -----BEGIN line)")?;
        let key = match label {
            "PUBLIC KEY" => {
                if let Ok(k) = rsa::RsaPublicKey::from_public_key_pem(pem) {
                    Key::Rsa(Box::new(k))
                } else if let Ok(k) = p256::PublicKey::from_public_key_pem(pem) {
                    Key::P256(p256::ecdsa::VerifyingKey::from(k))
                } else {
                    return Err(
                        "unsupported public key: expected RSA (at most 4096 bits) or ECDSA P-256"
                            .into(),
                    );
                }
            }
            "RSA PUBLIC KEY" => Key::Rsa(Box::new(
                rsa::RsaPublicKey::from_pkcs1_pem(pem)
                    .map_err(|e| format!("bad RSA public key: {e}"))?,
            )),
            l if l.contains("PRIVATE KEY") => {
                return Err(format!("is a private key ({l}); configure the public key"))
            }
            l => return Err(format!("unsupported PEM block {l:?}: expected PUBLIC KEY")),
        };
        Ok(Self {
            origin: origin.to_owned(),
            key,
        })
    }

    /// Where this key came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether `signature` is this key's signature over the message whose SHA-256 is
    /// `digest`.
    pub fn verifies(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        match &self.key {
            Key::Rsa(k) => k
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), digest, signature)
                .is_ok(),
            Key::P256(k) => {
                let sig = if signature.len() == 64 {
                    p256::ecdsa::Signature::from_slice(signature)
                } else {
                    p256::ecdsa::Signature::from_der(signature)
                };
                sig.is_ok_and(|s| k.verify_prehash(digest, &s).is_ok())
            }
        }
    }
}

/// Which keys must verify an Artifact: Mender's `ArtifactVerifyKey` / `ArtifactVerifyKeys`.
#[derive(Debug, Clone, Default)]
pub struct VerifyPolicy {
    pub keys: Vec<VerifyKey>,
}

impl VerifyPolicy {
    /// No keys: signatures are not required.
    pub fn none() -> Self {
        Self::default()
    }

    /// Loads every key; the first that fails makes the whole policy fail (fail closed).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Self, ArtifactError> {
        let keys = paths
            .iter()
            .map(|p| VerifyKey::load(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Decides on the signature (`manifest.sig` content, if any) of `manifest`.
    pub fn check(
        &self,
        manifest: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<SignatureStatus, ArtifactError> {
        match (signature, self.keys.is_empty()) {
            (None, true) => Ok(SignatureStatus::Unsigned),
            (None, false) => Err(ArtifactError::Unsigned),
            (Some(_), true) => Ok(SignatureStatus::SignedNotVerified),
            (Some(sig), false) => {
                let sig = decode_base64(sig)?;
                let digest: [u8; 32] = Sha256::digest(manifest).into();
                self.keys
                    .iter()
                    .find(|k| k.verifies(&digest, &sig))
                    .map(|k| SignatureStatus::Verified {
                        key: k.origin.clone(),
                    })
                    .ok_or(ArtifactError::SignatureInvalid {
                        keys: self.keys.len(),
                    })
            }
        }
    }
}

/// `manifest.sig` is standard base64 with padding. Go's decoder skips line breaks, so a
/// trailing newline is tolerated; anything else non-canonical is refused.
fn decode_base64(sig: &[u8]) -> Result<Vec<u8>, ArtifactError> {
    let text: Vec<u8> = sig
        .iter()
        .copied()
        .filter(|&b| b != b'\n' && b != b'\r')
        .collect();
    let text = std::str::from_utf8(&text)
        .map_err(|_| ArtifactError::format("manifest.sig", "not base64 text"))?;
    Base64::decode_vec(text).map_err(|_| ArtifactError::format("manifest.sig", "not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    fn ec_pair(seed: u8) -> (p256::ecdsa::SigningKey, VerifyKey) {
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let vk = VerifyKey {
            origin: format!("ec{seed}"),
            key: Key::P256(*sk.verifying_key()),
        };
        (sk, vk)
    }

    fn sign_raw(sk: &p256::ecdsa::SigningKey, msg: &[u8]) -> p256::ecdsa::Signature {
        let digest: [u8; 32] = Sha256::digest(msg).into();
        sk.sign_prehash(&digest).unwrap()
    }

    #[test]
    fn policy_table() {
        let (sk, vk) = ec_pair(7);
        let (_, other) = ec_pair(9);
        let msg = b"manifest bytes\n";
        let good = Base64::encode_string(&sign_raw(&sk, msg).to_bytes());
        let der = Base64::encode_string(sign_raw(&sk, msg).to_der().as_bytes());
        let moved = Base64::encode_string(&sign_raw(&sk, b"another manifest\n").to_bytes());
        let none = VerifyPolicy::none();
        let mine = VerifyPolicy {
            keys: vec![vk.clone()],
        };
        let theirs = VerifyPolicy {
            keys: vec![other.clone()],
        };
        let both = VerifyPolicy {
            keys: vec![other, vk],
        };
        let ok = |p: &VerifyPolicy, s: Option<&str>| p.check(msg, s.map(str::as_bytes));
        assert_eq!(ok(&none, None).unwrap(), SignatureStatus::Unsigned);
        assert_eq!(
            ok(&none, Some(&good)).unwrap(),
            SignatureStatus::SignedNotVerified
        );
        assert_eq!(ok(&mine, None).unwrap_err().reason(), "unsigned");
        assert!(matches!(
            ok(&mine, Some(&good)).unwrap(),
            SignatureStatus::Verified { .. }
        ));
        assert!(matches!(
            ok(&mine, Some(&der)).unwrap(),
            SignatureStatus::Verified { .. }
        ));
        assert!(matches!(
            ok(&mine, Some(&format!("{good}\n"))).unwrap(),
            SignatureStatus::Verified { .. }
        ));
        assert_eq!(
            ok(&theirs, Some(&good)).unwrap_err().reason(),
            "signature_invalid"
        );
        assert_eq!(
            ok(&both, Some(&good)).unwrap(),
            SignatureStatus::Verified { key: "ec7".into() }
        );
        assert_eq!(
            ok(&mine, Some(&moved)).unwrap_err().reason(),
            "signature_invalid"
        );
        assert_eq!(
            ok(&mine, Some("not base64!")).unwrap_err().reason(),
            "format"
        );
    }

    #[test]
    fn key_files_fail_closed_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello").unwrap();
        let private = dir.path().join("private.pem");
        std::fs::write(
            &private,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        for p in [missing, garbage, private] {
            let err = VerifyPolicy::load(&[&p]).unwrap_err();
            assert_eq!(err.reason(), "key");
            assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        }
    }
}
