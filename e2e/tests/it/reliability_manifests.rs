//! Hostile Manifests through the real binary (reliability.md §9 rows 12, 16, 17):
//! mix-and-match, rollback and replay of old Manifests under `DowngradeProtection`,
//! oversized inputs, YAML attacks. Each is refused with a reason before any component is
//! touched, or, for the System's own rollback, allowed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use baton::artifact::testkit::ArtifactBuilder;
use e2e::fixture::System;
use e2e::reliability::Tally;
use e2e::stderr;

const OLD: [&str; 3] = ["gateway-v1", "ecu-v1", "mcu-v1"];

/// One Manifest entry: component type, order, and `artifact_name`/`artifact_path` lines.
fn entry(t: &str, order: u8, locator: &str) -> String {
    format!("  {t}:\n    {locator}\n    update_strategy:\n      order: {order}\n")
}

fn manifest(s: &System, name: &str, system_types: &str, entries: &[String]) -> PathBuf {
    let text = format!(
        "api_version: mender/v1\nkind: manifest\nname: {name}\nsystem_types_compatible: {system_types}\ncomponent_types:\n{}",
        entries.concat()
    );
    let path = s.root().join(format!("{name}.yaml"));
    fs::write(&path, text).unwrap();
    path
}

fn standard(version: &str) -> Vec<String> {
    vec![
        entry("gateway", 10, &format!("artifact_name: gateway-{version}")),
        entry("ecu", 20, &format!("artifact_name: ecu-{version}")),
        entry("mcu", 30, &format!("artifact_name: mcu-{version}")),
    ]
}

fn install(s: &System, m: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["install", "-o", "json"];
    args.extend_from_slice(extra);
    args.push(m.to_str().unwrap());
    let out = s.run(&args);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, report)
}

/// Refused before any state, for a reason containing `why` (in the report, or on stderr
/// when the Manifest does not even parse).
fn refused(s: &System, m: &Path, why: &str, what: &str) {
    let before: Vec<Vec<String>> = ["gw", "e1", "m1"]
        .iter()
        .map(|c| s.protocol_calls(c))
        .collect();
    let versions = s.versions();
    let (out, report) = install(s, m, &[]);
    assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
    let said = format!("{}{}", report["end"]["problems"], stderr(&out));
    assert!(said.contains(why), "{what}: {said} lacks {why:?}");
    let after: Vec<Vec<String>> = ["gw", "e1", "m1"]
        .iter()
        .map(|c| s.protocol_calls(c))
        .collect();
    assert_eq!(before, after, "{what}: a component was called");
    assert_eq!(s.versions(), versions, "{what}");
}

#[test]
fn mix_and_match_is_refused() {
    let s = System::three_groups();
    s.release("v2");
    let art = |f: &str| s.artifacts_dir().join(f);
    // An Artifact whose header carries another name than the Manifest says.
    let evil = s.root().join("evil.mender");
    fs::write(
        &evil,
        ArtifactBuilder::new("mcu-evil", "mock", "mcu")
            .file("payload.bin", "evil")
            .build(),
    )
    .unwrap();
    // An Artifact that depends on a Provides value the component does not have.
    let picky = s.root().join("picky.mender");
    let mut b = ArtifactBuilder::new("mcu-v2", "mock", "mcu").file("payload.bin", "x");
    b.depends.insert(
        "rootfs-image.mock.version".into(),
        baton::artifact::ProvideValue::One("mcu-v0".into()),
    );
    fs::write(&picky, b.build()).unwrap();
    let mut gw_ecu = standard("v2");
    gw_ecu.pop();
    let with_mcu = |locator: String| {
        let mut e = gw_ecu.clone();
        e.push(entry("mcu", 30, &locator));
        e
    };
    let cases: Vec<(&str, Vec<String>, &str, &str)> = vec![
        (
            "the header's name is not the Manifest's",
            with_mcu(format!(
                "artifact_name: mcu-v2\n    artifact_path: {}",
                evil.display()
            )),
            "[scratch]",
            "names Artifact 'mcu-v2' but the file holds 'mcu-evil'",
        ),
        (
            "another component type's Artifact",
            with_mcu(format!("artifact_path: {}", art("ecu-v2.mender").display())),
            "[scratch]",
            "is not in the Artifact's compatible types",
        ),
        (
            "Artifact depends the component does not meet",
            with_mcu(format!("artifact_path: {}", picky.display())),
            "[scratch]",
            "depends on rootfs-image.mock.version",
        ),
        (
            "another System type",
            standard("v2"),
            "[truck]",
            "does not contain the Topology's system_type",
        ),
        (
            "a component type the Topology lacks",
            [
                standard("v2"),
                vec![entry("radio", 40, "artifact_name: radio-v2")],
            ]
            .concat(),
            "[scratch]",
            "component type `radio` is not in the Topology",
        ),
        (
            "a component type missing",
            gw_ecu.clone(),
            "[scratch]",
            "no entry for component type `mcu`",
        ),
        (
            "a component type listed twice",
            [
                standard("v2"),
                vec![entry("mcu", 30, "artifact_name: mcu-v9")],
            ]
            .concat(),
            "[scratch]",
            "duplicate",
        ),
    ];
    let mut tally = Tally::new();
    for (what, entries, types, why) in cases {
        tally.case(|| {
            let m = manifest(&s, "mix", types, &entries);
            refused(&s, &m, why, what);
            assert_eq!(s.versions(), OLD);
        });
    }
}

fn protect(s: &System, on: bool) {
    s.configure(serde_json::json!({ "DowngradeProtection": on }));
}

fn deployed(s: &System, m: &Path, extra: &[&str], want: &str, what: &str) {
    let (out, report) = install(s, m, extra);
    assert_eq!(
        report["end"]["result"],
        want,
        "{what}: {report} {}",
        stderr(&out)
    );
}

#[test]
fn old_manifests_are_refused_under_downgrade_protection_and_own_rollbacks_are_not() {
    let s = System::three_groups();
    protect(&s, true);
    let v: Vec<PathBuf> = (2..=4).map(|i| s.release(&format!("v{i}"))).collect();
    let mut tally = Tally::new();
    tally.case(|| {
        deployed(&s, &v[0], &[], "success", "v2");
        deployed(&s, &v[1], &[], "success", "v3");
        assert!(s.datastore().join("accepted.json").exists());
    });
    // A replay of an accepted Manifest, and an older component under a new name.
    tally.case(|| {
        refused(
            &s,
            &v[0],
            "'scratch-v2' is older than 'scratch-v3'",
            "replayed v2",
        )
    });
    tally.case(|| {
        let mut e = standard("v3");
        e[1] = entry("ecu", 20, "artifact_name: ecu-v2");
        let m = manifest(&s, "scratch-v3b", "[scratch]", &e);
        refused(
            &s,
            &m,
            "ecu/e1 would be put on 'ecu-v2' (from 'ecu-v3')",
            "old ecu, new name",
        );
    });
    tally.case(|| {
        let m = manifest(&s, "scratch-v1", "[scratch]", &standard("v1"));
        s.release("v1");
        refused(
            &s,
            &m,
            "would be put on 'ecu-v1'",
            "the factory release under a new name",
        );
    });
    // The current Manifest again is no downgrade.
    tally.case(|| deployed(&s, &v[1], &[], "success", "v3 again"));
    // A failed deployment's own rollback is not refused, and the release may come again.
    tally.case(|| {
        s.mark("m1", "ArtifactCommit.FAIL");
        deployed(&s, &v[2], &[], "rolledBack", "v4 failing");
        s.unmark_all();
        deployed(&s, &v[2], &[], "success", "v4 after the fix");
    });
    // The explicit way back, and the high-water mark kept after it.
    tally.case(|| {
        deployed(
            &s,
            &v[0],
            &["--allow-downgrade"],
            "success",
            "back to v2 on purpose",
        );
        refused(
            &s,
            &v[1],
            "'scratch-v3' is older than 'scratch-v4'",
            "v3 after going back",
        );
        deployed(&s, &v[2], &[], "success", "v4 again");
    });
    // Off: anything goes.
    tally.case(|| {
        protect(&s, false);
        deployed(&s, &v[0], &[], "success", "v2 with protection off");
    });
    // A broken ledger fails closed while protection is on.
    tally.case(|| {
        protect(&s, true);
        fs::write(s.datastore().join("accepted.json"), "{").unwrap();
        refused(&s, &v[2], "accepted.json", "an unreadable ledger");
    });
}

#[test]
fn oversized_manifests_are_refused_without_being_read() {
    let s = System::three_groups();
    let mut tally = Tally::new();
    // 50 MiB on disk: refused on its size.
    tally.case(|| {
        let big = s.root().join("big.yaml");
        let f = fs::File::create(&big).unwrap();
        f.set_len(50 << 20).unwrap();
        refused(&s, &big, "1048576", "a 50 MiB file");
    });
    // An endless stream (a FIFO fed from /dev/zero): baton stops at the cap.
    tally.case(|| {
        let fifo = s.root().join("endless.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let mut feeder = std::process::Command::new("sh")
            .args(["-c", &format!("cat /dev/zero > '{}'", fifo.display())])
            .spawn()
            .unwrap();
        refused(&s, &fifo, "1048576", "an endless FIFO");
        let _ = feeder.kill();
        let _ = feeder.wait();
    });
    // 10 000 component types: over the node budget.
    tally.case(|| {
        let entries: Vec<String> = (0..10_000)
            .map(|i| entry(&format!("t{i}"), 1, &format!("artifact_name: a{i}")))
            .collect();
        let m = manifest(&s, "wide", "[scratch]", &entries);
        refused(&s, &m, "nodes", "10 000 component types");
    });
}

#[test]
fn yaml_attacks_are_refused_by_the_binary() {
    let s = System::three_groups();
    let mut tally = Tally::new();
    let laughs = {
        let mut t = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..9 {
            let p = i - 1;
            t.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        t
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("billion laughs", laughs.into_bytes(), "alias"),
        (
            "100 000 levels of nesting",
            "[".repeat(100_000).into_bytes(),
            "nested too deeply",
        ),
        (
            "two documents",
            b"kind: manifest\n---\nkind: manifest\n".to_vec(),
            "document",
        ),
        (
            "an application tag",
            b"kind: !custom manifest\n".to_vec(),
            "tag",
        ),
        ("invalid UTF-8", b"kind: manif\xffest\n".to_vec(), "UTF-8"),
    ];
    for (what, bytes, why) in cases {
        tally.case(|| {
            let p = s.root().join("hostile.yaml");
            fs::write(&p, &bytes).unwrap();
            refused(&s, &p, why, what);
        });
    }
}
