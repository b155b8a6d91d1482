//! The `mender-server` source in-process (baton's library, as the engine calls it) against
//! the fake Mender Server and a fake mender-auth on a private bus: the failures that need a
//! short clock (no token after the wait, a slow link), the metrics, one download for
//! component types that share an Artifact, and the cache. TLS: `artifact_tls.rs`.

use std::path::Path;
use std::time::Duration;

use baton::artifact::cache::{ArtifactsCache, CacheConfig};
use baton::artifact::source::mender_server::dbus::DbusAuth;
use baton::artifact::source::mender_server::MenderServerSource;
use baton::artifact::source::rate::MinRate;
use baton::artifact::source::{ArtifactLocator, ArtifactSource, HttpOptions, Resolver};
use baton::artifact::testkit::ArtifactBuilder;
use baton::artifact::{Limits, VerifyPolicy};
use baton::metrics::Metrics;
use baton::model::{ComponentType, Provides};
use e2e::dbus::{AuthScript, FakeAuth, PrivateBus};
use e2e::mender_server::FakeServer;

pub fn artifact(name: &str, types: &[&str], size: usize) -> Vec<u8> {
    let mut b = ArtifactBuilder::new(name, "mock", types[0]);
    b.device_types = types.iter().map(|t| t.to_string()).collect();
    b.file(
        "f",
        (0..size).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(),
    )
    .compression(baton::artifact::Compression::None)
    .build()
}

pub fn fast() -> HttpOptions {
    HttpOptions {
        stall_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        retries: 1,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        ..HttpOptions::default()
    }
}

/// A private bus, or `None` when it cannot run here (see [`e2e::dbus::private_bus`]).
pub fn bus() -> Option<PrivateBus> {
    e2e::dbus::private_bus()
}

pub fn source(bus: &PrivateBus) -> Box<dyn ArtifactSource> {
    Box::new(
        MenderServerSource::new(Box::new(DbusAuth::at(bus.address())))
            .token_wait(Duration::from_secs(1)),
    )
}

pub fn resolver(
    sources: Vec<Box<dyn ArtifactSource>>,
    staging: &Path,
    http: HttpOptions,
    cache: Option<ArtifactsCache>,
    metrics: &Metrics,
) -> Resolver {
    Resolver::with_sources(
        sources,
        VerifyPolicy::none(),
        Limits::default(),
        http,
        staging,
        cache,
        metrics.clone(),
    )
    .unwrap()
}

pub fn locator<'a>(
    name: &'a str,
    ct: &'a ComponentType,
    provides: &'a [Provides],
) -> ArtifactLocator<'a> {
    ArtifactLocator {
        artifact_name: Some(name),
        component_type: Some(ct),
        provides,
        ..Default::default()
    }
}

fn metric(m: &Metrics, series: &str) -> f64 {
    m.render()
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(-1.0)
}

#[test]
fn no_token_after_the_wait_then_a_token_by_signal() {
    let Some(bus) = bus() else { return };
    let server = FakeServer::start();
    server.upload(artifact("mcu-v2", &["mcu"], 3000));
    let auth = FakeAuth::start(bus.address(), AuthScript::default());
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::default();
    let r = resolver(vec![source(&bus)], dir.path(), fast(), None, &metrics);
    let ct = ComponentType::new("mcu").unwrap();
    let e = r.resolve(&locator("mcu-v2", &ct, &[])).unwrap_err();
    assert!(
        e.to_string()
            .contains("mender-auth gave no token within 1s"),
        "{e}"
    );
    assert!(e.to_string().contains("release \"mcu-v2\""), "{e}");
    assert_eq!(auth.calls(), ["GetJwtToken", "FetchJwtToken"]);
    assert_eq!(
        metric(
            &metrics,
            "baton_artifact_fetch_failures_total{reason=\"DownloadFailed\",source=\"mender-server\"}"
        ),
        1.0
    );
    // An empty token, then one by JwtTokenStateChange.
    auth.script(|s| s.on_fetch = vec![Some((server.issue_token(), server.url()))]);
    let found = r.resolve(&locator("mcu-v2", &ct, &[])).unwrap();
    assert_eq!(found[0].header.name, "mcu-v2");
    assert_eq!(
        metric(
            &metrics,
            "baton_artifact_read_bytes_total{source=\"mender-server\"}"
        ),
        std::fs::metadata(&found[0].path).unwrap().len() as f64
    );
    // A release the server does not have: counted as ArtifactNotFound.
    let e = r.resolve(&locator("mcu-v3", &ct, &[])).unwrap_err();
    assert_eq!(e.condition_reason().as_str(), "ArtifactNotFound", "{e}");
    assert_eq!(
        metric(
            &metrics,
            "baton_artifact_fetch_failures_total{reason=\"ArtifactNotFound\",source=\"mender-server\"}"
        ),
        1.0
    );
}

#[test]
fn a_slow_link_fails_within_the_minimum_rate() {
    let Some(bus) = bus() else { return };
    let server = FakeServer::start();
    server.upload(artifact("mcu-v2", &["mcu"], 200_000));
    let _auth = FakeAuth::start(
        bus.address(),
        AuthScript {
            current: (server.issue_token(), server.url()),
            on_fetch: vec![],
        },
    );
    server.faults(|f| f.slow = Some(2_000));
    let dir = tempfile::tempdir().unwrap();
    let http = HttpOptions {
        min_rate: MinRate {
            bytes: 64 << 10,
            window: Duration::from_secs(1),
        },
        retries: 0,
        ..fast()
    };
    let r = resolver(
        vec![source(&bus)],
        dir.path(),
        http,
        None,
        &Metrics::default(),
    );
    let ct = ComponentType::new("mcu").unwrap();
    let e = r.resolve(&locator("mcu-v2", &ct, &[])).unwrap_err();
    assert!(e.to_string().contains("too slow"), "{e}");
    assert_eq!(e.condition_reason().as_str(), "DownloadFailed");
}

#[test]
fn component_types_sharing_an_artifact_download_it_once_with_or_without_the_cache() {
    let Some(bus) = bus() else { return };
    let server = FakeServer::start();
    server.upload(artifact("shared-v1", &["mcu", "dsp"], 5000));
    let _auth = FakeAuth::start(
        bus.address(),
        AuthScript {
            current: (server.issue_token(), server.url()),
            on_fetch: vec![],
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let (mcu, dsp) = (
        ComponentType::new("mcu").unwrap(),
        ComponentType::new("dsp").unwrap(),
    );
    let r = resolver(
        vec![source(&bus)],
        &dir.path().join("s1"),
        fast(),
        None,
        &Metrics::default(),
    );
    let a = r.resolve(&locator("shared-v1", &mcu, &[])).unwrap();
    let b = r.resolve(&locator("shared-v1", &dsp, &[])).unwrap();
    assert_eq!(a[0].path, b[0].path);
    assert_eq!(server.seen_under("/links/").len(), 1);
    // With the cache, across resolvers (a later deployment): still one download.
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir(&cache_dir).unwrap();
    let cache = || {
        ArtifactsCache::open(
            &CacheConfig {
                enabled: true,
                path: Some(cache_dir.clone()),
                max_size_bytes: 0,
            },
            &cache_dir,
            Metrics::default(),
        )
    };
    for _ in 0..2 {
        let r = resolver(
            vec![source(&bus)],
            &dir.path().join("s2"),
            fast(),
            cache(),
            &Metrics::default(),
        );
        let got = r.resolve(&locator("shared-v1", &dsp, &[])).unwrap();
        assert!(got[0].path.starts_with(&cache_dir), "{:?}", got[0].path);
    }
    assert_eq!(server.seen_under("/links/").len(), 2);
}
