//! Artifacts: bytes read by the kind of source they came from, cache lookups, failures to
//! resolve one by source and reason, and verification failures by reason.

use std::io::{self, Read};

use prometheus::{IntCounter, IntCounterVec};

use super::labels;
use super::{Def, Metrics, Vocabulary};
use crate::model::Reason;

#[derive(Clone)]
pub(super) struct Families {
    read_bytes_total: IntCounterVec,
    cache_lookups_total: IntCounterVec,
    fetch_failures_total: IntCounterVec,
    verification_failures_total: IntCounterVec,
}

impl Families {
    pub(super) fn new(d: &Def) -> Self {
        Self {
            read_bytes_total: d.counters(
                "baton_artifact_read_bytes_total",
                "Artifact bytes read (downloaded, or streamed to Interfaces), by the kind of source",
                &["source"],
            ),
            cache_lookups_total: d.counters(
                "baton_artifact_cache_lookups_total",
                "ArtifactsCache lookups: hit (no download) or miss (downloaded)",
                &["result"],
            ),
            fetch_failures_total: d.counters(
                "baton_artifact_fetch_failures_total",
                "Artifacts that could not be resolved (found, fetched and their header checked), by the kind of source and reason",
                &["source", "reason"],
            ),
            verification_failures_total: d.counters(
                "baton_artifact_verification_failures_total",
                "Artifacts refused by the strict reader, by reason",
                &["reason"],
            ),
        }
    }

    pub(super) fn init(&self, v: &Vocabulary) {
        for s in &v.artifact_sources {
            self.read_bytes_total.with_label_values(&[s]);
        }
        for s in &v.artifact_sources {
            for r in &v.fetch_failure_reasons {
                self.fetch_failures_total
                    .with_label_values(&[s, r.as_str()]);
            }
        }
        for r in labels::CACHE_RESULTS {
            self.cache_lookups_total.with_label_values(&[r]);
        }
        for r in &v.verification_reasons {
            self.verification_failures_total.with_label_values(&[r]);
        }
    }
}

impl Metrics {
    /// `n` bytes of an Artifact were read from a source of kind `source`
    /// (`SourceKind::label`).
    pub fn artifact_bytes_read(&self, source: &'static str, n: u64) {
        self.artifact
            .read_bytes_total
            .with_label_values(&[source])
            .inc_by(n);
    }

    /// `r`, counting every byte read through it as read from `source`.
    pub fn count_reads<R: Read>(&self, source: &'static str, r: R) -> CountedRead<R> {
        CountedRead {
            inner: r,
            counter: self.artifact.read_bytes_total.with_label_values(&[source]),
        }
    }

    /// The cache had the Artifact (`hit`) or had to download it.
    pub fn artifact_cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.artifact
            .cache_lookups_total
            .with_label_values(&[result])
            .inc();
    }

    /// No Artifact could be resolved: the kind of source that failed (`SourceKind::label`),
    /// and why.
    pub fn artifact_fetch_failed(&self, source: &'static str, reason: Reason) {
        self.artifact
            .fetch_failures_total
            .with_label_values(&[source, reason.as_str()])
            .inc();
    }

    /// The strict reader refused an Artifact for `reason` (`ArtifactError::verification_failure`;
    /// `None` when the Artifact is not to blame, and nothing is counted).
    pub fn artifact_rejected(&self, reason: Option<&'static str>) {
        if let Some(reason) = reason {
            self.artifact
                .verification_failures_total
                .with_label_values(&[reason])
                .inc();
        }
    }
}

/// A reader that counts the bytes read through it (one atomic add per read).
pub struct CountedRead<R> {
    inner: R,
    counter: IntCounter,
}

impl<R: Read> Read for CountedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.inc_by(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{value, vocabulary};
    use super::*;

    #[test]
    fn bytes_read_through_a_counted_reader_are_counted_by_source() {
        let m = Metrics::new(vocabulary());
        let mut r = m.count_reads("cache", &b"0123456789"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        m.artifact_bytes_read("url", 5);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(
            get("baton_artifact_read_bytes_total{source=\"cache\"}"),
            Some(10.0)
        );
        assert_eq!(
            get("baton_artifact_read_bytes_total{source=\"url\"}"),
            Some(5.0)
        );
        assert_eq!(
            get("baton_artifact_read_bytes_total{source=\"path\"}"),
            Some(0.0)
        );
    }

    #[test]
    fn cache_lookups_and_refusals_count_but_a_failing_interface_is_no_refusal() {
        let m = Metrics::new(vocabulary());
        m.artifact_cache_lookup(true);
        m.artifact_cache_lookup(true);
        m.artifact_cache_lookup(false);
        m.artifact_rejected(Some("unsigned"));
        m.artifact_rejected(None);
        let text = m.render();
        let get = |s: &str| value(&text, s);
        assert_eq!(
            get("baton_artifact_cache_lookups_total{result=\"hit\"}"),
            Some(2.0)
        );
        assert_eq!(
            get("baton_artifact_cache_lookups_total{result=\"miss\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_artifact_verification_failures_total{reason=\"unsigned\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("baton_artifact_verification_failures_total{reason=\"checksum_mismatch\"}"),
            Some(0.0)
        );
        assert_eq!(
            get("baton_artifact_verification_failures_total{reason=\"sink\"}"),
            None
        );
    }
}
