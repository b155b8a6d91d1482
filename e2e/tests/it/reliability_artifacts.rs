//! Hostile and broken Artifacts through a real deployment (reliability.md §9 rows 10, 11,
//! 13 and 18): corrupted bytes and truncations, the signature policy, a partial bundle,
//! tar path traversal. Whatever the fault, no component may reach ArtifactInstall with an
//! Artifact that does not verify; refused Manifests touch nothing at all, failures after
//! the first state roll every touched component back in the documented order.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use baton::artifact::testkit::{ArtifactBuilder, Signer, TarEntry};
use e2e::fixture::{killed, Component, System};
use e2e::reliability::{check_protocol, noise, CallLog, CompSpec, Tally};
use e2e::stderr;

const OLD: [&str; 3] = ["gateway-v1", "ecu-v1", "mcu-v1"];
const NEW: [&str; 3] = ["gateway-v2", "ecu-v2", "mcu-v2"];

/// A Manifest for `s` naming the `v2` Artifacts of gateway (order 10), ecu (20) and mcu
/// (30) by name, except `by_path`'s, named by the path `artifact` (the file under test).
fn manifest_with_path(s: &System, name: &str, by_path: &str, artifact: &Path) -> PathBuf {
    s.release("v2");
    let mut text = format!(
        "api_version: mender/v1\nkind: manifest\nname: {name}\n\
         system_types_compatible: [scratch]\ncomponent_types:\n"
    );
    for (ty, order) in [("gateway", 10), ("ecu", 20), ("mcu", 30)] {
        let source = if ty == by_path {
            format!("artifact_path: {}", artifact.display())
        } else {
            format!("artifact_name: {ty}-v2")
        };
        text += &format!("  {ty}:\n    {source}\n    update_strategy:\n      order: {order}\n");
    }
    let path = s.root().join(format!("{name}.yaml"));
    fs::write(&path, text).unwrap();
    path
}

/// [`manifest_with_path`] with the mcu's Artifact, in the last order group, by path.
fn manifest_with_mcu(s: &System, name: &str, mcu: &Path) -> PathBuf {
    manifest_with_path(s, name, "mcu", mcu)
}

fn install(s: &System, manifest: &Path) -> (Output, serde_json::Value) {
    let out = s.run(&["install", "-o", "json", manifest.to_str().unwrap()]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, report)
}

/// Refused before any state: exit 1, a rejection whose problems mention `why`, no
/// deployment call on any component, the System unchanged.
fn refused_untouched(s: &System, out: &Output, report: &serde_json::Value, why: &str, what: &str) {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(out));
    assert_eq!(report["end"]["result"], "rejected", "{what}: {report}");
    let problems = report["end"]["problems"].to_string();
    assert!(problems.contains(why), "{what}: {problems} lacks {why:?}");
    for c in ["gw", "e1", "m1"] {
        let calls = s.protocol_calls(c);
        assert!(calls.is_empty(), "{what}: {c} was called: {calls:?}");
    }
    assert_eq!(s.versions(), OLD, "{what}");
}

/// The outer tar's members: (name, offset of the 512-byte header, offset of the data, size).
fn members(tar: &[u8]) -> Vec<(String, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let h = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_string();
        let size_text = String::from_utf8_lossy(&h[124..136]);
        let size =
            usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap();
        out.push((name, at, at + 512, size));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn a_corrupted_or_truncated_artifact_is_refused_before_any_state() {
    let good = ArtifactBuilder::new("mcu-v2", "mock", "mcu")
        .file("firmware.bin", noise(40 << 10, 7))
        .file("config.txt", "x".repeat(100))
        .build();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, header, data, size) in members(&good) {
        for (where_, at) in [
            ("header block", header + 1),
            ("first byte", data),
            ("middle", data + size / 2),
            ("last byte", data + size - 1),
        ] {
            let mut b = good.clone();
            b[at] ^= 0x20;
            cases.push((format!("{name}: {where_} flipped"), b));
        }
    }
    assert_eq!(
        cases.len(),
        16,
        "version, manifest, header, data: 4 flips each"
    );
    for len in (4096..good.len())
        .step_by(4096)
        .chain([good.len() - 1, 100])
    {
        cases.push((format!("truncated to {len} bytes"), good[..len].to_vec()));
    }
    let mut tally = Tally::new();
    for (what, bytes) in &cases {
        tally.case(|| {
            let s = System::three_groups();
            let bad = s.root().join("mcu-v2.mender");
            fs::write(&bad, bytes).unwrap();
            let m = manifest_with_mcu(&s, "scratch-v2", &bad);
            let (out, report) = install(&s, &m);
            refused_untouched(&s, &out, &report, "mcu", what);
        });
    }
    // The control: the same Artifact intact deploys.
    tally.case(|| {
        let s = System::three_groups();
        let ok = s.root().join("mcu-v2.mender");
        fs::write(&ok, &good).unwrap();
        let (out, _) = install(&s, &manifest_with_mcu(&s, "scratch-v2", &ok));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(s.versions(), NEW);
    });
}

/// The first order group's Artifacts are verified as they stream in Download, not read
/// twice beforehand (`engine::bundle`): a corrupted one fails its Download, and every
/// Download of the group ends before any ArtifactInstall, so nothing installs it.
#[test]
fn a_corrupted_artifact_of_the_first_group_fails_its_download_and_installs_nothing() {
    let good = ArtifactBuilder::new("gateway-v2", "mock", "gateway")
        .file("firmware.bin", noise(40 << 10, 9))
        .build();
    let (_, _, data, size) = members(&good)
        .into_iter()
        .find(|(name, ..)| name.starts_with("data/"))
        .expect("a data member");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (where_, at) in [("middle", data + size / 2), ("last byte", data + size - 1)] {
        let mut b = good.clone();
        b[at] ^= 0x20;
        cases.push((format!("data: {where_} flipped"), b));
    }
    cases.push((
        "truncated inside the data".into(),
        good[..data + size / 2].to_vec(),
    ));
    let mut tally = Tally::new();
    for (what, bytes) in &cases {
        tally.case(|| {
            let s = System::three_groups();
            let bad = s.root().join("gateway-bad.mender");
            fs::write(&bad, bytes).unwrap();
            let m = manifest_with_path(&s, "scratch-v2", "gateway", &bad);
            let (out, report) = install(&s, &m);
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
            assert_eq!(
                report["end"]["failed_at"], "Download gateway gw",
                "{what}: {report}"
            );
            // The mock notes a call when it ends; its Download was cut off when the feed
            // failed, so only the clean-up after it shows.
            let gw = s.protocol_calls("gw");
            assert!(
                gw.iter()
                    .all(|c| ["Download", "ArtifactFailure", "Cleanup"].contains(&c.as_str())),
                "{what}: gw went past Download with a corrupted Artifact: {gw:?}"
            );
            assert_eq!(gw.last().map(String::as_str), Some("Cleanup"), "{what}");
            for c in ["e1", "m1"] {
                let calls = s.protocol_calls(c);
                assert!(calls.is_empty(), "{what}: {c} was called: {calls:?}");
            }
            assert_eq!(s.versions(), OLD, "{what}");
        });
    }
}

/// Writes signed `v2` Artifacts for every component type of `s`.
fn signed_release(s: &System, signer: Option<&Signer>) -> PathBuf {
    for t in ["gateway", "ecu", "mcu"] {
        let mut b = ArtifactBuilder::new(&format!("{t}-v2"), "mock", t)
            .file("payload.bin", format!("{t}-v2\n"));
        if let Some(k) = signer {
            b = b.signed(k.clone());
        }
        fs::write(s.artifacts_dir().join(format!("{t}-v2.mender")), b.build()).unwrap();
    }
    s.release("v2")
}

fn configure(s: &System, key: &str, value: serde_json::Value) {
    let mut setting = serde_json::Map::new();
    setting.insert(key.into(), value);
    s.configure(setting.into());
}

fn key_file(s: &System, name: &str, pem: &str) -> PathBuf {
    let p = s.root().join(name);
    fs::write(&p, pem).unwrap();
    p
}

#[test]
fn the_signature_policy_is_enforced_on_every_artifact() {
    let ours = Signer::ec_from_seed(11);
    let next = Signer::ec_from_seed(12);
    let theirs = Signer::ec_from_seed(13);
    let mut tally = Tally::new();
    // (what, signer of the Artifacts, keys configured, expected: None = success, or why)
    type Case<'a> = (
        &'a str,
        Option<&'a Signer>,
        Vec<&'a Signer>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        ("signed with the key", Some(&ours), vec![&ours], None),
        (
            "unsigned",
            None,
            vec![&ours],
            Some("expecting a signed Artifact"),
        ),
        (
            "signed with another key",
            Some(&theirs),
            vec![&ours],
            Some("does not verify"),
        ),
        (
            "either of two keys (rotation)",
            Some(&next),
            vec![&ours, &next],
            None,
        ),
    ];
    for (what, signer, keys, want) in cases {
        tally.case(|| {
            let s = System::three_groups();
            let paths: Vec<PathBuf> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| key_file(&s, &format!("key{i}.pem"), &k.public_pem()))
                .collect();
            configure(&s, "ArtifactVerifyKeys", serde_json::json!(paths));
            signed_release(&s, signer);
            // The mcu's by path, so its refusal says why (the directory source only ever
            // finds Artifacts that verify, and reports the others as not found).
            let mcu = s.artifacts_dir().join("mcu-v2.mender");
            let (out, report) = install(&s, &manifest_with_mcu(&s, "scratch-v2", &mcu));
            match want {
                None => {
                    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
                    assert_eq!(s.versions(), NEW, "{what}");
                }
                Some(why) => refused_untouched(&s, &out, &report, why, what),
            }
        });
    }
    // manifest.sig moved over from another Artifact signed with the right key.
    tally.case(|| {
        let s = System::three_groups();
        let k = key_file(&s, "key.pem", &ours.public_pem());
        configure(&s, "ArtifactVerifyKey", serde_json::json!(k));
        signed_release(&s, Some(&ours));
        let donor = ArtifactBuilder::new("mcu-v1", "mock", "mcu")
            .file("payload.bin", "other")
            .signed(ours.clone())
            .parts();
        let mut parts = ArtifactBuilder::new("mcu-v2", "mock", "mcu")
            .file("payload.bin", "evil")
            .signed(ours.clone())
            .parts();
        parts.signature = donor.signature;
        let bad = s.root().join("transplant.mender");
        fs::write(&bad, parts.assemble()).unwrap();
        let (out, report) = install(&s, &manifest_with_mcu(&s, "scratch-v2", &bad));
        refused_untouched(
            &s,
            &out,
            &report,
            "does not verify",
            "transplanted manifest.sig",
        );
    });
    // Keys that cannot be used: every verb fails closed, naming the key, touching nothing.
    for (what, pem, why) in [
        ("a missing key file", None, "cannot read"),
        (
            "a corrupt key file",
            Some("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n".to_string()),
            "unsupported public key",
        ),
        (
            "a private key",
            Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string()),
            "is a private key",
        ),
    ] {
        tally.case(|| {
            let s = System::three_groups();
            let k = s.root().join("key.pem");
            if let Some(pem) = &pem {
                fs::write(&k, pem).unwrap();
            }
            configure(&s, "ArtifactVerifyKey", serde_json::json!(k));
            let m = signed_release(&s, Some(&ours));
            for verb in [vec!["install", m.to_str().unwrap()], vec!["resume"]] {
                let out = s.run(&verb);
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "{what} {verb:?}: {}",
                    stderr(&out)
                );
                let err = stderr(&out);
                assert!(
                    err.contains(why) && err.contains("key.pem"),
                    "{what} {verb:?}: {err}"
                );
            }
            for c in ["gw", "e1", "m1"] {
                assert!(s.calls(c).is_empty(), "{what}: {c} was called");
            }
        });
    }
}

fn specs() -> Vec<CompSpec> {
    [("gw", 10, "No"), ("e1", 20, "Yes"), ("m1", 30, "No")]
        .iter()
        .map(|(n, o, r)| CompSpec {
            name: n.to_string(),
            order: *o,
            reboot: r.to_string(),
            supports_rollback: true,
        })
        .collect()
}

/// A System whose calls are logged in one order; e1 needs a peripheral reboot.
fn logged_three_groups() -> (System, CallLog) {
    let s = System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("e1", "ecu", 20).reboot("Yes"),
        Component::new("m1", "mcu", 30),
    ]);
    let real = s.wrap_mock();
    let log = CallLog::install(&s.mock(), &real, &s.root().join("calls.global"));
    (s, log)
}

#[test]
fn a_partial_bundle_is_never_partly_installed() {
    let mut tally = Tally::new();
    // An Artifact that cannot be found: refused, nothing touched.
    tally.case(|| {
        let s = System::three_groups();
        let m = manifest_with_mcu(&s, "scratch-v2", &s.root().join("gone.mender"));
        let (out, report) = install(&s, &m);
        refused_untouched(&s, &out, &report, "mcu", "a missing Artifact");
    });
    // A component that fails after the first states: every touched one rolls back, in
    // reverse order, and the report names it.
    for (who, state) in [
        ("m1", "Download"),
        ("m1", "ArtifactInstall"),
        ("e1", "ArtifactVerifyReboot"),
        ("m1", "ArtifactCommit"),
    ] {
        tally.case(|| {
            let (s, log) = logged_three_groups();
            s.mark(who, &format!("{state}.FAIL"));
            let m = s.release("v2");
            let (out, report) = install(&s, &m);
            let what = format!("{state} of {who} fails");
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
            assert_eq!(report["end"]["result"], "rolledBack", "{what}: {report}");
            let ty = if who == "m1" { "mcu" } else { "ecu" };
            assert_eq!(
                report["end"]["failed_at"],
                format!("{state} {ty} {who}"),
                "{what}"
            );
            assert_eq!(s.versions(), OLD, "{what}");
            check_protocol(&specs(), &log.events())
                .unwrap_or_else(|bad| panic!("{what}: {}", bad.join("\n")));
        });
    }
    // The Artifact disappears while the host reboots (a USB stick pulled): a clean rollback.
    tally.case(|| {
        let s = System::new(vec![
            Component::new("gw", "gateway", 10).reboot("Automatic"),
            Component::new("e1", "ecu", 20),
            Component::new("m1", "mcu", 30),
        ]);
        let usb = s.root().join("usb-mcu-v2.mender");
        fs::write(
            &usb,
            ArtifactBuilder::new("mcu-v2", "mock", "mcu")
                .file("payload.bin", "mcu-v2")
                .build(),
        )
        .unwrap();
        let m = manifest_with_mcu(&s, "scratch-v2", &usb);
        let out = s.run(&["install", m.to_str().unwrap()]);
        assert!(killed(out.status), "the host reboot takes baton down");
        fs::remove_file(&usb).unwrap();
        // The rollback reboots the host again (the gateway's rollback reboot).
        let mut out = s.run(&["resume", "-o", "json"]);
        for _ in 0..5 {
            if !killed(out.status) {
                break;
            }
            out = s.run(&["resume", "-o", "json"]);
        }
        // 0: a resume that finishes a rollback an earlier call began succeeded (Mender's
        // convention); the report says what happened.
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["end"]["result"], "rolledBack", "{report}");
        assert!(
            report["end"]["failed_at"]
                .as_str()
                .unwrap()
                .contains("mcu m1"),
            "{report}"
        );
        assert_eq!(s.versions(), OLD);
        assert_eq!(s.run(&["resume"]).status.code(), Some(2));
    });
}

#[test]
fn tar_traversal_and_special_entries_are_refused_and_nothing_lands_outside() {
    let payload = b"mcu-v2 firmware".to_vec();
    let link = |typeflag: u8, target: &str| TarEntry {
        typeflag,
        link: target.into(),
        ..TarEntry::file("payload.bin", Vec::new())
    };
    let cases: Vec<(&str, TarEntry)> = vec![
        (
            "../ in the name",
            TarEntry::file("../payload.bin", payload.clone()),
        ),
        (
            "an absolute name",
            TarEntry::file("/tmp/payload.bin", payload.clone()),
        ),
        ("a symlink out", link(b'2', "/etc")),
        ("a hard link to /etc/shadow", link(b'1', "/etc/shadow")),
        (
            "a FIFO",
            TarEntry {
                typeflag: b'6',
                ..TarEntry::file("payload.bin", Vec::new())
            },
        ),
        (
            "a setuid file",
            TarEntry {
                mode: 0o4755,
                ..TarEntry::file("payload.bin", payload.clone())
            },
        ),
        (
            "PAX and ustar sizes that disagree",
            TarEntry {
                pax_size: Some(4),
                ..TarEntry::file("payload.bin", payload.clone())
            },
        ),
        (
            "a NUL in the name",
            TarEntry::file("pay\0load.bin", payload.clone()),
        ),
        (
            "a 5000-byte name",
            TarEntry::file("x".repeat(5000), payload.clone()),
        ),
    ];
    let mut tally = Tally::new();
    for (what, entry) in cases {
        tally.case(|| {
            let s = System::three_groups();
            let mut b =
                ArtifactBuilder::new("mcu-v2", "mock", "mcu").file("payload.bin", payload.clone());
            b.data_entries = Some(vec![entry.clone()]);
            let bad = s.root().join("crafted.mender");
            fs::write(&bad, b.build()).unwrap();
            let before = listing(s.root());
            let m = manifest_with_mcu(&s, "scratch-v2", &bad);
            let (out, report) = install(&s, &m);
            refused_untouched(&s, &out, &report, "mcu", what);
            // Nothing new anywhere in the scratch root but baton's own bookkeeping.
            let new: Vec<String> = listing(s.root())
                .into_iter()
                .filter(|p| !before.contains(p))
                .filter(|p| {
                    // baton's datastore, the release files, the mock's own state.
                    !p.contains("/store/")
                        && !p.ends_with(".yaml")
                        && !p.contains("/artifacts/")
                        && !p.contains("/components/")
                })
                .collect();
            assert!(new.is_empty(), "{what}: created {new:?}");
            assert!(!Path::new("/tmp/payload.bin").exists() || what != "an absolute name");
        });
    }
}

fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}
