//! `baton bundle create` and `baton artifact verify` on bundles, against Debian's
//! mender-artifact: a bundle baton writes is one Mender's tool reads and validates, and a
//! bundle Mender's tool writes by hand is one baton reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use baton::artifact::testkit::{ArtifactBuilder, Signer};
use baton::artifact::Compression;
use e2e::fixture::keys::Keys;
use e2e::{baton_bin, need, ok, run};

const MANIFEST: &str = "\
api_version: mender/v1
kind: manifest
name: system-v2
system_types_compatible: [car, truck]
component_types:
  gateway:
    artifact_path: artifacts/gateway-v2.mender
    update_strategy: {order: 10}
  rtos:
    artifact_name: rtos-v3
    artifact_path: artifacts/rtos-v3.mender
    update_strategy: {order: 20}
";

/// A Manifest and its two component Artifacts, signed with `signer`.
fn sources(dir: &Path, signer: &Signer) -> PathBuf {
    std::fs::create_dir_all(dir.join("artifacts")).unwrap();
    for (file, name) in [
        ("gateway-v2.mender", "gateway-v2"),
        ("rtos-v3.mender", "rtos-v3"),
    ] {
        let b = ArtifactBuilder::new(name, "directory", "car")
            .file("image.bin", format!("{name} image").into_bytes())
            .signed(signer.clone());
        std::fs::write(dir.join("artifacts").join(file), b.build()).unwrap();
    }
    let m = dir.join("system-v2.yaml");
    std::fs::write(&m, MANIFEST).unwrap();
    m
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_signed_bundle_is_read_and_validated_by_mender_artifact_and_verified_by_baton() {
    if !need::have(need::tools(&["mender-artifact", "openssl"])) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let k = Keys::generate(dir.path());
    let signer = Signer::from_pem(&std::fs::read_to_string(&k.rsa).unwrap()).unwrap();
    let m = sources(dir.path(), &signer);
    let bundle = dir.path().join("bundle.mender");
    let out = ok(Command::new(baton_bin())
        .args(["bundle", "create", "-f"])
        .arg(&m)
        .arg("-k")
        .arg(&k.rsa)
        .arg("-o")
        .arg(&bundle));
    assert!(
        text(&out).contains("Bundle 'system-v2' written"),
        "{}",
        text(&out)
    );

    ok(Command::new("mender-artifact")
        .arg("validate")
        .arg("-k")
        .arg(&k.rsa_pub)
        .arg(&bundle));
    let read = ok(Command::new("mender-artifact").args(["read"]).arg(&bundle));
    let shown = text(&read);
    for want in [
        "Name: system-v2",
        "mender-orchestrator-manifest",
        "[car truck]",
        "data-partition.mender-orchestrator-manifest.version: system-v2",
        "system-v2.yaml",
        "gateway-v2.mender",
        "rtos-v3.mender",
        "baton_bundle",
    ] {
        assert!(shown.contains(want), "{want:?} not in:\n{shown}");
    }

    let verify = run(Command::new(baton_bin())
        .args(["artifact", "verify"])
        .arg(&bundle)
        .arg("-k")
        .arg(&k.rsa_pub));
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(0), "{shown}");
    assert!(shown.contains("Bundle file"), "{shown}");
    assert!(
        shown.contains("rtos: rtos-v3.mender (rtos-v3, signature: signed and verified"),
        "{shown}"
    );
}

#[test]
fn a_bundle_made_by_mender_artifact_with_one_corrupted_artifact_is_refused() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::ec_from_seed(3);
    let m = sources(dir.path(), &signer);
    let write = |out: &Path| {
        ok(Command::new("mender-artifact")
            .args([
                "write",
                "module-image",
                "-T",
                "mender-orchestrator-manifest",
            ])
            .args([
                "-t",
                "car",
                "-n",
                "by-hand",
                "--software-filesystem",
                "data-partition",
            ])
            .arg("-f")
            .arg(&m)
            .arg("-f")
            .arg(dir.path().join("artifacts/gateway-v2.mender"))
            .arg("-f")
            .arg(dir.path().join("artifacts/rtos-v3.mender"))
            .arg("-o")
            .arg(out));
    };
    let good = dir.path().join("good.mender");
    write(&good);
    let verify = |file: &Path| {
        run(Command::new(baton_bin())
            .args(["artifact", "verify"])
            .arg(file))
    };
    let out = verify(&good);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("gateway: gateway-v2.mender"),
        "{}",
        text(&out)
    );

    // The RTOS Artifact corrupted in its payload; the bundle's own checksums are right.
    let mut bytes = ArtifactBuilder::new("rtos-v3", "directory", "car")
        .file("image.bin", b"rtos-v3 image".to_vec())
        .compression(Compression::None)
        .build();
    let at = bytes
        .windows(13)
        .position(|w| w == b"rtos-v3 image")
        .unwrap();
    bytes[at] ^= 1;
    std::fs::write(dir.path().join("artifacts/rtos-v3.mender"), bytes).unwrap();
    let bad = dir.path().join("bad.mender");
    write(&bad);
    let out = verify(&bad);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("rtos-v3.mender") && shown.contains("checksum_mismatch"),
        "{shown}"
    );
}
