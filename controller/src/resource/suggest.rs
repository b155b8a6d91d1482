//! "Did you mean …?": the closest known name to a misspelt one.
//!
//! Used for unknown fields in resources and unknown keys in the configuration. Pure.

/// The known name closest to `wrong`, if any is close enough to be a plausible typo.
pub fn closest<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = wrong.to_lowercase();
    let mut best: Option<(&'a str, f64)> = None;
    for k in known {
        // `loglevel` for `LogLevel`, `system-type` for `system_type`: same word, other spelling.
        let (nk, nw) = (normalise(k), normalise(wrong));
        let score = if nk == nw {
            2.0
        } else if nw.len() >= 3 && (nk.starts_with(&nw) || nw.starts_with(&nk)) {
            // `warn` for `warning`, `BaseSecond` for `BaseSeconds`: a truncated word.
            1.5
        } else {
            strsim::normalized_damerau_levenshtein(&lower, &k.to_lowercase())
        };
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((k, score));
        }
    }
    best.filter(|(_, s)| *s >= 0.6).map(|(k, _)| k)
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_field_and_nonsense_finds_none() {
        let known = ["component_type", "interface", "interface_args"];
        assert_eq!(closest("interfce", known), Some("interface"));
        assert_eq!(closest("componet_type", known), Some("component_type"));
        assert_eq!(closest("interface-args", known), Some("interface_args"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(closest("loglevel", ["LogLevel", "Api"]), Some("LogLevel"));
        assert_eq!(closest("x", []), None);
        assert_eq!(closest("warn", ["warning", "error"]), Some("warning"));
    }
}
