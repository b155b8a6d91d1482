//! Artifacts: bytes read by the kind of source they came from, cache lookups, failures to
//! resolve one by source and reason, and verification failures by reason.

use std::io::{self, Read};

use prometheus::{IntCounter, IntCounterVec};

use super::labels;
use super::{Def, Metrics};
use crate::artifact::source::{SourceError, SourceKind};
use crate::artifact::ArtifactError;
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

    pub(super) fn init(&self) {
        for s in SourceKind::ALL {
            self.read_bytes_total.with_label_values(&[s.label()]);
        }
        for s in SourceKind::ALL {
            for r in SourceError::REASONS {
                self.fetch_failures_total
                    .with_label_values(&[s.label(), r.as_str()]);
            }
        }
        for r in labels::CACHE_RESULTS {
            self.cache_lookups_total.with_label_values(&[r]);
        }
        for r in labels::VERIFICATION_REASONS {
            self.verification_failures_total.with_label_values(&[r]);
        }
    }
}

impl Metrics {
    /// `n` bytes of an Artifact were read from a source of kind `source`.
    pub fn artifact_bytes_read(&self, source: SourceKind, n: u64) {
        self.artifact
            .read_bytes_total
            .with_label_values(&[source.label()])
            .inc_by(n);
    }

    /// `r`, counting every byte read through it as read from `source`.
    pub fn count_reads<R: Read>(&self, source: SourceKind, r: R) -> CountedRead<R> {
        CountedRead {
            inner: r,
            counter: self
                .artifact
                .read_bytes_total
                .with_label_values(&[source.label()]),
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

    /// No Artifact could be resolved: the kind of source that failed, and why.
    pub fn artifact_fetch_failed(&self, source: SourceKind, reason: Reason) {
        self.artifact
            .fetch_failures_total
            .with_label_values(&[source.label(), reason.as_str()])
            .inc();
    }

    /// The strict reader refused an Artifact.
    pub fn artifact_rejected(&self, e: &ArtifactError) {
        if let Some(reason) = labels::verification_reason(e) {
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
    use super::super::testing::value;
    use super::*;
    use crate::artifact::source::{HttpOptions, Resolver, SourceSpec};
    use crate::artifact::{Limits, VerifyPolicy};

    #[test]
    fn bytes_read_through_a_counted_reader_are_counted_by_source() {
        let m = Metrics::new();
        let mut r = m.count_reads(SourceKind::Cache, &b"0123456789"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        m.artifact_bytes_read(SourceKind::Url, 5);
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
        let m = Metrics::new();
        m.artifact_cache_lookup(true);
        m.artifact_cache_lookup(true);
        m.artifact_cache_lookup(false);
        m.artifact_rejected(&ArtifactError::Unsigned);
        m.artifact_rejected(&ArtifactError::Sink {
            name: "rootfs".into(),
            source: io::Error::other("Interface went away"),
        });
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

    #[test]
    fn a_files_source_is_told_by_where_it_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("artifacts");
        let downloads = tmp.path().join("downloads");
        std::fs::create_dir_all(&dir).unwrap();
        let resolver = Resolver::new(
            vec![
                SourceSpec::Url {
                    template: "http://127.0.0.1:9/{artifact_name}".into(),
                },
                SourceSpec::Directory { path: dir.clone() },
            ],
            VerifyPolicy::default(),
            Limits::default(),
            HttpOptions::default(),
            &downloads,
            None,
            Metrics::new(),
        )
        .unwrap();
        let at = resolver.locations();
        assert_eq!(at.kind_of(&dir.join("a.mender")), SourceKind::Directory);
        assert_eq!(at.kind_of(&downloads.join("d-1.mender")), SourceKind::Url);
        assert_eq!(
            at.kind_of(&downloads.join("server-1-0.mender")),
            SourceKind::MenderServer
        );
        assert_eq!(
            at.kind_of(&dir.join("sub").join("a.mender")),
            SourceKind::Path,
            "a directory source is not searched recursively"
        );
        assert_eq!(at.kind_of(&tmp.path().join("x.mender")), SourceKind::Path);
    }
}
