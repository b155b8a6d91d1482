//! `{"Type": "url", "Template": "https://.../{artifact_name}.mender"}`: one GET per name,
//! through the shared download machinery ([`super::http`]) and the cache.

use super::http::FixedUrl;
use super::{ArtifactLocator, ArtifactSource, Fetcher, Origin, Resolved, SourceError, SourceKind};

/// A URL template.
pub struct UrlSource {
    template: String,
}

impl UrlSource {
    pub fn new(template: &str) -> Self {
        Self {
            template: template.to_owned(),
        }
    }
}

/// `template` with `{artifact_name}` replaced by the URL-encoded name (every byte outside
/// RFC 3986's unreserved set is percent-encoded, so a name cannot add path segments or a
/// query).
pub fn url_for(template: &str, artifact_name: &str) -> String {
    template.replace("{artifact_name}", &encode(artifact_name))
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
pub(crate) fn encode(s: &str) -> String {
    let mut enc = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    enc
}

impl ArtifactSource for UrlSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Url
    }

    fn describe(&self, name: &str) -> String {
        super::http::shown(&url_for(&self.template, name))
    }

    fn find(
        &self,
        name: &str,
        _: &ArtifactLocator<'_>,
        fetch: &Fetcher,
    ) -> Result<Vec<Resolved>, SourceError> {
        let url = url_for(&self.template, name);
        let origin = Origin::Url(super::http::shown(&url));
        match fetch.fetch(name, name, SourceKind::Url, &mut FixedUrl(url), origin) {
            Ok(r) => Ok(vec![r]),
            Err(SourceError::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_url_encoded_into_the_template() {
        let t = "https://h/a/{artifact_name}.mender";
        assert_eq!(url_for(t, "rtos-v1"), "https://h/a/rtos-v1.mender");
        assert_eq!(
            url_for(t, "a b/../c?d#e"),
            "https://h/a/a%20b%2F..%2Fc%3Fd%23e.mender"
        );
        assert_eq!(
            url_for("http://x/{artifact_name}/{artifact_name}", "ü"),
            "http://x/%C3%BC/%C3%BC"
        );
    }
}
