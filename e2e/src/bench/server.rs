//! A component Artifact fetched from the Mender Server: baton's `mender-server` source
//! (token from a mender-auth on a private bus, the Release listed, a signed link, the
//! download verified as it arrives) against `curl` downloading the same bytes from the same
//! kind of link to `/dev/null`, both from the fake server (`e2e::mender_server`) on loopback.
//!
//! baton is timed in-process around one resolution (there is no baton verb that only
//! fetches), from the first D-Bus call to the verified file in the staging directory; curl
//! as a whole process, its link asked for before the clock starts. Runs alternate.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use baton::artifact::source::mender_server::dbus::DbusAuth;
use baton::artifact::source::mender_server::MenderServerSource;
use baton::artifact::source::{ArtifactLocator, HttpOptions, Resolver};
use baton::artifact::{Limits, VerifyPolicy};
use baton::model::ComponentType;

use super::floor::Floor;
use super::measure::{need, repeat, time_command, time_runs};
use super::payload::{self, Kind};
use super::report::{Figure, Row, Section, Target, Unit};
use super::stats::Summary;
use crate::dbus::{AuthScript, FakeAuth, PrivateBus};
use crate::mender_server::FakeServer;

#[derive(Debug, Clone)]
pub struct Options {
    pub mib: u64,
    pub runs: usize,
    /// Where the payload, the Artifact and baton's downloads go (tmpfs).
    pub dir: PathBuf,
}

/// The Mender Server issue's target: within 1.1x of curl.
pub const VS_CURL: f64 = 1.1;

/// The link speed of the second row, in bytes per second: below what SHA-256 verifies
/// (about 1.3 GB/s here), as any real network link is.
pub const LINK_BYTES_PER_SECOND: u64 = 200_000_000;

const RELEASE: &str = "bench-component-v1";
const COMPONENT_TYPE: &str = "bench-mcu";

pub fn section(opts: &Options) -> Section {
    let mut s = Section::new("Fetching from the Mender Server").intro(format!(
        "A {mib} MiB component Artifact ({payload}, no compression) fetched from a fake Mender \
         Server on loopback by baton's `mender-server` source (the token over D-Bus from a \
         mender-auth on a private bus, the Release listed, a signed link, the download \
         written to tmpfs and verified as it arrives: signature policy, header, every payload \
         checksum), against `curl -o /dev/null` of the same bytes from the same kind of link. \
         baton is timed in-process around one resolution, curl as a whole process; runs \
         alternate, median of {runs} after one warm-up. The target is the issue's: within \
         {VS_CURL}x of curl. On loopback the transfer outruns SHA-256, so baton is bound \
         by verification (see Artifact verification); the second row throttles the \
         server's links to {link} MB/s, slower than hashing as a real link is, where \
         verifying as the bytes arrive costs nothing after the last one. The throttled \
         server paces its links by the clock in small pieces, as a real link does (an \
         earlier version sent 20 MB bursts with a 100 ms pause after each, which charged a \
         client that drains a burst slower than memcpy the difference on top of every \
         pause). The loopback row's floor is SHA-256 of the same bytes alone (`openssl dgst \
         -sha256` of the data member): on this link curl is faster than any verifier can \
         be, so the 1.1x target is out of reach there by construction; the floor ratio \
         says how close to the least possible baton is.",
        link = LINK_BYTES_PER_SECOND / 1_000_000,
        mib = opts.mib,
        payload = Kind::Random.describe(),
        runs = opts.runs,
    ));
    let rows = measure(opts).map(|(loopback, throttled, floor)| {
        [
            (format!("{} MiB, loopback", opts.mib), loopback, Some(floor)),
            (
                format!(
                    "{} MiB, links at {} MB/s",
                    opts.mib,
                    LINK_BYTES_PER_SECOND / 1_000_000
                ),
                throttled,
                None,
            ),
        ]
    });
    match rows {
        Ok(rows) => {
            for (scenario, (baton, curl), floor) in rows {
                let mut row = Row::new(scenario, figure("baton", &baton))
                    .against(figure("curl to /dev/null", &curl))
                    .target(Target::ratio_at_most(VS_CURL));
                if let Some(floor) = floor {
                    row = row.floor(figure("openssl dgst -sha256", &floor));
                }
                s.rows.push(row);
            }
        }
        Err(e) => s.rows.push(Row::new("every scenario", Err(e))),
    }
    s
}

fn figure(what: &str, v: &[f64]) -> Result<Figure, String> {
    Summary::of(v)
        .map(|s| Figure::new(what, s, Unit::Seconds))
        .ok_or_else(|| "no measurement".into())
}

/// Seconds per run, baton's and curl's.
type Pair = (Vec<f64>, Vec<f64>);

/// (on loopback, with throttled links, SHA-256 of the payload alone).
fn measure(opts: &Options) -> Result<(Pair, Pair, Vec<f64>), String> {
    need(&["mender-artifact", "curl", "dbus-daemon", "openssl"])?;
    let dir = tempfile::Builder::new()
        .prefix("baton-bench-server-")
        .tempdir_in(&opts.dir)
        .map_err(|e| e.to_string())?;
    let raw = dir.path().join("payload");
    let art = dir.path().join("component.mender");
    payload::write_file(&raw, opts.mib << 20, Kind::Random).map_err(|e| e.to_string())?;
    let mut w = Command::new("mender-artifact");
    w.args(["write", "module-image", "-T", "mock", "-t", COMPONENT_TYPE])
        .args(["-n", RELEASE, "--compression", "none", "-f"])
        .arg(&raw)
        .arg("-o")
        .arg(&art);
    time_command(&mut w)?;
    std::fs::remove_file(&raw).map_err(|e| e.to_string())?;
    let floor = Floor::of(&art, dir.path())?;
    let server = FakeServer::start();
    let id = server.upload(std::fs::read(&art).map_err(|e| e.to_string())?);
    std::fs::remove_file(&art).map_err(|e| e.to_string())?;
    let bus = PrivateBus::start()?;
    let token = server.issue_token();
    let _auth = FakeAuth::start(
        bus.address(),
        AuthScript {
            current: (token.clone(), server.url()),
            on_fetch: vec![],
        },
    );
    let staging = dir.path().join("staging");
    let ct = ComponentType::new(COMPONENT_TYPE).map_err(|e| e.to_string())?;
    let baton_once = || -> Result<f64, String> {
        let resolver = Resolver::with_sources(
            vec![Box::new(MenderServerSource::new(Box::new(DbusAuth::at(
                bus.address(),
            ))))],
            VerifyPolicy::none(),
            Limits::default(),
            HttpOptions::default(),
            &staging,
            None,
            baton::metrics::Metrics::default(),
        )
        .map_err(|e| e.to_string())?;
        let loc = ArtifactLocator {
            artifact_name: Some(RELEASE),
            component_type: Some(&ct),
            ..Default::default()
        };
        let start = Instant::now();
        let found = resolver.resolve(&loc).map_err(|e| e.to_string())?;
        let took = start.elapsed().as_secs_f64();
        std::fs::remove_file(&found[0].path).map_err(|e| e.to_string())?;
        Ok(took)
    };
    let curl_once = || -> Result<f64, String> {
        let link = link(&server, &token, &id)?;
        let mut c = Command::new("curl");
        c.args(["-sS", "--fail", "-o", "/dev/null", &link]);
        time_command(&mut c).map(|d| d.as_secs_f64())
    };
    // Alternating, after one warm-up round.
    let rounds = |runs: usize| -> Result<Pair, String> {
        let pairs = repeat(1, runs, || Ok((baton_once()?, curl_once()?)))?;
        Ok(pairs.into_iter().unzip())
    };
    let loopback = rounds(opts.runs)?;
    let hashed = time_runs(1, opts.runs, || floor.command())?;
    floor.remove();
    server.faults(|f| f.slow = Some(LINK_BYTES_PER_SECOND));
    let throttled = rounds(opts.runs)?;
    Ok((loopback, throttled, hashed))
}

/// A fresh signed link to Artifact `id`, asked with curl as the device would.
fn link(server: &FakeServer, token: &str, id: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!(
            "{}/api/devices/v1/deployments/artifacts/{id}/download",
            server.url()
        ))
        .output()
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the link answer is not JSON: {e}"))?;
    v["uri"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no uri in the link answer".into())
}
