//! The Artifact's `manifest` member: one `<sha256>  <name>` line per checksummed part.
//!
//! Pure: parses bytes into a map and tracks which entries the reader has seen. Strict where
//! Mender's two readers disagree: lowercase hex, exactly two spaces, a name without blanks,
//! every line (the last included) ending in `\n`, and no name twice.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::error::ArtifactError;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The parsed `manifest`: name to expected digest, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactManifest {
    entries: BTreeMap<String, Digest>,
}

impl ArtifactManifest {
    pub fn parse(bytes: &[u8]) -> Result<Self, ArtifactError> {
        let bad = |line: usize, what: &str| {
            ArtifactError::format("manifest", format!("line {line}: {what}"))
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        if text.is_empty() {
            return Err(bad(0, "empty"));
        }
        let body = text.strip_suffix('\n').ok_or_else(|| {
            bad(
                text.lines().count(),
                "the last line does not end with a newline",
            )
        })?;
        let mut entries = BTreeMap::new();
        for (i, line) in body.split('\n').enumerate() {
            let n = i + 1;
            let (hex, name) = line
                .split_at_checked(64)
                .ok_or_else(|| bad(n, "expected '<64 hex digits>  <name>'"))?;
            let digest = parse_hex(hex)
                .ok_or_else(|| bad(n, "the checksum is not 64 lowercase hex digits"))?;
            let name = name
                .strip_prefix("  ")
                .ok_or_else(|| bad(n, "expected two spaces after the checksum"))?;
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(n, "the name is empty or holds blanks"));
            }
            if entries.insert(name.to_owned(), digest).is_some() {
                return Err(ArtifactError::Duplicate {
                    member: "manifest".into(),
                    name: name.to_owned(),
                });
            }
        }
        Ok(Self { entries })
    }

    pub fn get(&self, name: &str) -> Option<&Digest> {
        self.entries.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Digest)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks `actual` against the manifest's entry for `name`.
    pub fn check(&self, name: &str, actual: &Digest) -> Result<(), ArtifactError> {
        let expected = self.get(name).ok_or_else(|| ArtifactError::NotInManifest {
            member: name.to_owned(),
        })?;
        if expected != actual {
            return Err(ArtifactError::ChecksumMismatch {
                member: name.to_owned(),
                expected: to_hex(expected),
                actual: to_hex(actual),
            });
        }
        Ok(())
    }
}

fn parse_hex(s: &str) -> Option<Digest> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = nibble(b[2 * i])? << 4 | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

/// Lowercase hex, as `sha256sum` and the manifest write it.
pub fn to_hex(d: &[u8]) -> String {
    d.iter()
        .fold(String::with_capacity(d.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "96bcd965947569404798bcbdb614f103db5a004eb6e364cfc162c146890ea35b";

    #[test]
    fn a_mender_manifest_parses() {
        let text = format!("{V}  data/0000/payload\n{V}  header.tar.gz\n{V}  version\n");
        let m = ArtifactManifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.iter().count(), 3);
        assert_eq!(to_hex(m.get("version").unwrap()), V);
        assert!(m.check("version", m.get("version").unwrap()).is_ok());
        assert_eq!(
            m.check("version", &[0; 32]).unwrap_err().reason(),
            "checksum_mismatch"
        );
        assert_eq!(
            m.check("other", &[0; 32]).unwrap_err().reason(),
            "not_in_manifest"
        );
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let upper = V.to_uppercase();
        let cases = [
            (String::new(), "format"),
            (format!("{V}  version"), "format"),
            (format!("{V} version\n"), "format"),
            (format!("{V}   version\n"), "format"),
            (format!("{upper}  version\n"), "format"),
            (format!("{}  version\n", &V[1..]), "format"),
            (format!("{V}  with space\n"), "format"),
            (format!("{V}  version\n\n"), "format"),
            (format!("{V}  version\r\n"), "format"),
            (format!("{V}  version\n{V}  version\n"), "duplicate"),
        ];
        for (text, reason) in cases {
            let err = ArtifactManifest::parse(text.as_bytes()).unwrap_err();
            assert_eq!(err.reason(), reason, "{text:?}: {err}");
        }
    }
}
