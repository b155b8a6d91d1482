//! `baton artifact inspect|verify` as a user runs them: exit codes, reasons, JSON.

use std::process::Command;

use baton::artifact::testkit::{ArtifactBuilder, Signer};
use baton::artifact::Compression;
use e2e::{baton_bin, run};

fn artifact(dir: &std::path::Path, name: &str, b: &ArtifactBuilder) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b.build()).unwrap();
    p
}

#[test]
fn verify_exit_codes_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::ec_from_seed(4);
    let key = dir.path().join("pub.pem");
    std::fs::write(&key, signer.public_pem()).unwrap();
    let b = ArtifactBuilder::new("cli-v1", "t", "d").file("f", b"payload".to_vec());
    let good = artifact(dir.path(), "good.mender", &b);
    let signed = artifact(dir.path(), "signed.mender", &b.clone().signed(signer));
    let mut bytes = b.clone().compression(Compression::None).build();
    let at = bytes.windows(7).position(|w| w == b"payload").unwrap();
    bytes[at] ^= 1;
    let bad = dir.path().join("bad.mender");
    std::fs::write(&bad, bytes).unwrap();
    let missing_key = dir.path().join("nope.pem");
    let absent = dir.path().join("absent.mender");

    let cases: Vec<(Vec<&std::ffi::OsStr>, i32, &str)> = vec![
        (vec![good.as_os_str()], 0, "validated successfully"),
        (
            vec![signed.as_os_str(), "--key".as_ref(), key.as_os_str()],
            0,
            "signed and verified",
        ),
        (vec![signed.as_os_str()], 0, "signed but no key"),
        (
            vec![good.as_os_str(), "--key".as_ref(), key.as_os_str()],
            1,
            "(unsigned)",
        ),
        (vec![bad.as_os_str()], 1, "(checksum_mismatch)"),
        (
            vec![signed.as_os_str(), "-k".as_ref(), missing_key.as_os_str()],
            1,
            "nope.pem",
        ),
        (vec![absent.as_os_str()], 1, "(io)"),
    ];
    for (args, code, text) in cases {
        let out = run(Command::new(baton_bin())
            .args(["artifact", "verify"])
            .args(&args));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        assert!(all.contains(text), "{args:?}: {all}");
    }
}

#[test]
fn inspect_prints_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut b =
        ArtifactBuilder::new("cli-v2", "rtos-interface", "rtos").file("f.bin", vec![1u8; 1234]);
    b.group = Some("grp".into());
    let file = artifact(dir.path(), "a.mender", &b);
    let out = run(Command::new(baton_bin())
        .args(["artifact", "inspect"])
        .arg(&file));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Name: cli-v2",
        "Provides group: grp",
        "Compatible types: [rtos]",
        "rootfs-image.rtos-interface.version: cli-v2",
        "size: 1234",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    let out = run(Command::new(baton_bin())
        .args(["artifact", "inspect", "-o", "json"])
        .arg(&file));
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "cli-v2");
    assert_eq!(v["payload_files"][0]["size"], 1234);
    assert_eq!(v["signature"]["status"], "unsigned");
    assert_eq!(v["verified"], true);
}
