//! Which names in the watched directory are Manifests to read (pure).
//!
//! Editors and copy tools write under temporary names and rename at the end; those names,
//! and dotfiles, are never read, so a half-written file is never taken for a Manifest.

/// Whether a file name in the watched directory should be read.
pub fn is_candidate(name: &str) -> bool {
    const TEMP_SUFFIXES: [&str; 5] = [".tmp", "~", ".swp", ".swx", ".part"];
    // A Manifest's detached signature is read with it, never as a Manifest.
    if name.ends_with(super::sidecar::SUFFIX) {
        return false;
    }
    !(name.is_empty()
        || name.starts_with('.')
        || name.starts_with('#')
        || TEMP_SUFFIXES.iter().any(|s| name.ends_with(s))
        || name == super::APPLIED
        || name == super::REJECTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_and_dotfiles_are_ignored() {
        for (name, read) in [
            ("manifest.yaml", true),
            ("v2", true),
            ("system-v2.yml", true),
            (".manifest.yaml", false),
            (".#manifest.yaml", false),
            ("#manifest.yaml#", false),
            ("manifest.yaml~", false),
            ("manifest.yaml.tmp", false),
            ("manifest.yaml.swp", false),
            ("manifest.yaml.part", false),
            ("manifest.yaml.sig", false),
            ("applied", false),
            ("rejected", false),
            ("", false),
        ] {
            assert_eq!(is_candidate(name), read, "{name}");
        }
    }
}
