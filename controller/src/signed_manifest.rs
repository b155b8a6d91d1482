//! Detached signatures on Manifests that arrive through the watched directory or the local
//! API (`RequireSignedManifests`).
//!
//! A Manifest file dropped in the watched directory is authenticated by `<file>.sig` next
//! to it (dropped first: a Manifest without its signature is refused, not waited for); a
//! Manifest sent to the API by the signature in the request. The signature is what
//! Artifacts use for their `manifest.sig`: standard base64 of an RSA PKCS#1 v1.5 SHA-256 or
//! ECDSA P-256 signature (raw r||s or DER) over the raw Manifest bytes, checked with the same
//! `ArtifactVerifyKey(s)`. So
//! `openssl dgst -sha256 -sign key.pem manifest.yaml | base64 -w0 > manifest.yaml.sig`
//! signs one, with the key that signs the Artifacts or another listed key (rotation, or a
//! separate Manifest key as Uptane's Director/Image split suggests).
//!
//! The Update Module path is unchanged: there the Manifest is the payload of a Mender
//! Artifact, authenticated by that Artifact's own signature, which the Mender client checks.
//! This room never reads files itself: callers hand it the bytes.

use std::path::{Path, PathBuf};

use crate::artifact::{ArtifactError, SignatureStatus, VerifyPolicy};

/// Whether Manifests from the directory and the API must be signed, and by which keys.
#[derive(Debug, Clone, Default)]
pub struct ManifestPolicy {
    pub required: bool,
    pub keys: VerifyPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestSignatureError {
    #[error("the Manifest is not signed, and RequireSignedManifests is on")]
    Unsigned,
    #[error("the Manifest's signature does not verify with any of the {keys} configured key(s)")]
    Invalid { keys: usize },
    #[error("the Manifest's signature is not valid base64")]
    Malformed,
    #[error("RequireSignedManifests is on but no ArtifactVerifyKey(s) is configured")]
    NoKeys,
}

impl ManifestSignatureError {
    /// A bounded label for metrics and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsigned => "ManifestUnsigned",
            Self::Invalid { .. } => "ManifestSignatureInvalid",
            Self::Malformed => "ManifestSignatureMalformed",
            Self::NoKeys => "ManifestSignatureNoKeys",
        }
    }
}

impl ManifestPolicy {
    /// Decides on a Manifest's raw `bytes` and its detached `signature`, if any. With the
    /// option off, nothing is checked.
    pub fn check(
        &self,
        bytes: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<SignatureStatus, ManifestSignatureError> {
        if !self.required {
            return Ok(SignatureStatus::Unsigned);
        }
        if self.keys.keys.is_empty() {
            return Err(ManifestSignatureError::NoKeys);
        }
        self.keys.check(bytes, signature).map_err(|e| match e {
            ArtifactError::Unsigned => ManifestSignatureError::Unsigned,
            ArtifactError::SignatureInvalid { keys } => ManifestSignatureError::Invalid { keys },
            _ => ManifestSignatureError::Malformed,
        })
    }
}

/// The detached signature of the Manifest file at `path`: `<path>.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testkit::Signer;
    use crate::artifact::VerifyKey;

    fn policy(signers: &[&Signer]) -> ManifestPolicy {
        let keys = signers
            .iter()
            .map(|s| VerifyKey::from_pem("test", &s.public_pem()).unwrap())
            .collect();
        ManifestPolicy {
            required: true,
            keys: VerifyPolicy { keys },
        }
    }

    #[test]
    fn the_policy_table() {
        let ours = Signer::ec_from_seed(1);
        let theirs = Signer::ec_from_seed(2);
        let next = Signer::ec_from_seed(3);
        let m = b"api_version: mender/v1\nkind: manifest\nname: v2\n";
        let other = b"api_version: mender/v1\nkind: manifest\nname: v1\n";
        let p = policy(&[&ours, &next]);
        let verified =
            |r: Result<SignatureStatus, _>| matches!(r, Ok(SignatureStatus::Verified { .. }));
        assert!(verified(p.check(m, Some(&ours.sign(m)))));
        // Either configured key verifies (rotation).
        assert!(verified(p.check(m, Some(&next.sign(m)))));
        // A trailing newline (base64 -w0 > file, or an editor) is tolerated.
        let mut nl = ours.sign(m);
        nl.push(b'\n');
        assert!(verified(p.check(m, Some(&nl))));
        assert_eq!(p.check(m, None), Err(ManifestSignatureError::Unsigned));
        assert_eq!(
            p.check(m, Some(&theirs.sign(m))),
            Err(ManifestSignatureError::Invalid { keys: 2 })
        );
        // A signature moved over from another Manifest.
        assert_eq!(
            p.check(m, Some(&ours.sign(other))),
            Err(ManifestSignatureError::Invalid { keys: 2 })
        );
        assert_eq!(
            p.check(m, Some(b"not base64!")),
            Err(ManifestSignatureError::Malformed)
        );
        // One changed byte in the Manifest.
        let mut changed = m.to_vec();
        changed[30] ^= 1;
        assert!(p.check(&changed, Some(&ours.sign(m))).is_err());
        // Off: nothing checked.
        let off = ManifestPolicy::default();
        assert_eq!(off.check(m, None), Ok(SignatureStatus::Unsigned));
        // On without keys: closed.
        let no_keys = ManifestPolicy {
            required: true,
            keys: VerifyPolicy::none(),
        };
        assert_eq!(
            no_keys.check(m, Some(&ours.sign(m))),
            Err(ManifestSignatureError::NoKeys)
        );
    }

    #[test]
    fn the_signature_sits_next_to_the_file() {
        assert_eq!(
            signature_path(Path::new("/w/system-v2.yaml")),
            PathBuf::from("/w/system-v2.yaml.sig")
        );
    }
}
