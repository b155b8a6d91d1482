//! Bundles made and opened: whole verification, layouts, refusals.

use std::path::{Path, PathBuf};

use super::create::by_artifact_path;
use super::*;
use crate::artifact::write::{ArtifactBuilder, Signer};
use crate::artifact::{Compression, Limits, VerifyKey, VerifyPolicy};
use crate::resource::load_manifest;

const MANIFEST: &str = "\
api_version: mender/v1
kind: manifest
name: system-v2
system_types_compatible: [car]
component_types:
  gateway:
    artifact_path: artifacts/gateway-v2.mender
    update_strategy: {order: 10}
  rtos:
    artifact_name: rtos-v3
    artifact_path: artifacts/rtos-v3.mender
    update_strategy: {order: 20}
";

fn component(name: &str, payload: &[u8]) -> ArtifactBuilder {
    ArtifactBuilder::new(name, "directory", "car").file("image.bin", payload.to_vec())
}

/// A Manifest file and its two Artifacts (signed by `signer`) in a fresh directory.
fn sources(dir: &Path, signer: Option<&Signer>) -> PathBuf {
    std::fs::create_dir(dir.join("artifacts")).unwrap();
    let write = |name: &str, b: &ArtifactBuilder| {
        let mut b = b.clone();
        b.signer = signer.cloned();
        std::fs::write(dir.join("artifacts").join(name), b.build()).unwrap()
    };
    write(
        "gateway-v2.mender",
        &component("gateway-v2", b"gateway image"),
    );
    write("rtos-v3.mender", &component("rtos-v3", b"rtos image"));
    let m = dir.join("system-v2.yaml");
    std::fs::write(&m, MANIFEST).unwrap();
    m
}

fn create(
    manifest: &Path,
    signer: Option<Signer>,
    out: &Path,
) -> Result<CreatedBundle, BundleError> {
    let loaded = load_manifest(manifest).unwrap();
    let resolve = by_artifact_path(&loaded);
    create_bundle(
        &BundleSpec {
            manifest: &loaded,
            compatible: vec![],
            signer,
            resolve: &resolve,
            policy: &VerifyPolicy::none(),
            limits: &Limits::default(),
        },
        out,
    )
}

fn policy(signer: &Signer) -> VerifyPolicy {
    let key = VerifyKey::from_pem("test-key", &signer.public_pem()).unwrap();
    VerifyPolicy { keys: vec![key] }
}

#[test]
fn a_signed_bundle_is_made_and_opened_whole() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::ec_from_seed(7);
    let m = sources(dir.path(), Some(&signer));
    let out = dir.path().join("bundle.mender");
    let made = create(&m, Some(signer.clone()), &out).unwrap();
    assert_eq!(made.name, "system-v2");
    assert_eq!(made.compatible, vec!["car"]);
    assert!(made.signed);
    assert_eq!(
        made.files
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        vec!["system-v2.yaml", "gateway-v2.mender", "rtos-v3.mender"]
    );
    assert_eq!(made.bytes, std::fs::metadata(&out).unwrap().len());

    let staging = dir.path().join("staging");
    let opened = open_bundle(&out, &policy(&signer), &Limits::default(), &staging).unwrap();
    assert_eq!(
        opened.manifest.bytes,
        MANIFEST.as_bytes(),
        "the Manifest byte for byte"
    );
    assert_eq!(opened.manifest.manifest.name, "system-v2");
    assert_eq!(opened.manifest.base_dir.as_deref(), Some(staging.as_path()));
    let names: Vec<(String, String)> = opened
        .artifacts
        .iter()
        .map(|(t, a)| (t.to_string(), a.header.name.clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("gateway".to_string(), "gateway-v2".to_string()),
            ("rtos".to_string(), "rtos-v3".to_string())
        ]
    );
    for a in opened.artifacts.values() {
        assert!(a.path.starts_with(&staging));
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(
                dir.path()
                    .join("artifacts")
                    .join(a.path.file_name().unwrap())
            )
            .unwrap()
        );
    }
    assert!(matches!(
        opened.header.unwrap().signature,
        crate::artifact::SignatureStatus::Verified { .. }
    ));
    // Verifying in one pass, without staging, gives the same answer.
    let report = verify_bundle(&out, &policy(&signer), &Limits::default()).unwrap();
    assert_eq!(report.manifest_name, "system-v2");
    assert_eq!(report.artifacts[&ct("rtos")].1.name, "rtos-v3");
    assert!(is_bundle(&report.header));
}

fn ct(s: &str) -> crate::model::ComponentType {
    crate::model::ComponentType::new(s).unwrap()
}

#[test]
fn a_corrupt_component_artifact_is_never_bundled() {
    let dir = tempfile::tempdir().unwrap();
    let m = sources(dir.path(), None);
    let rtos = dir.path().join("artifacts/rtos-v3.mender");
    let mut bytes = component("rtos-v3", b"rtos image")
        .compression(Compression::None)
        .build();
    let at = bytes.windows(10).position(|w| w == b"rtos image").unwrap();
    bytes[at] ^= 1;
    std::fs::write(&rtos, bytes).unwrap();
    let out = dir.path().join("bundle.mender");
    let e = create(&m, None, &out).unwrap_err();
    assert!(e.to_string().contains("rtos-v3.mender"), "{e}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file left"
    );
}

/// A bundle written by hand (as `mender-artifact write module-image -f ...` would), so
/// its own checksums are right whatever it carries.
fn by_hand(files: Vec<(&str, Vec<u8>)>, index: Option<serde_json::Value>) -> Vec<u8> {
    let mut b = ArtifactBuilder::new("by-hand", PAYLOAD_TYPE, "car");
    b.meta_data = index.map(|i| serde_json::json!({ INDEX_KEY: i }));
    for (n, d) in files {
        b = b.file(n, d);
    }
    b.build()
}

#[test]
fn one_corrupted_inner_artifact_refuses_the_whole_bundle_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rtos = component("rtos-v3", b"rtos image")
        .compression(Compression::None)
        .build();
    let at = rtos.windows(10).position(|w| w == b"rtos image").unwrap();
    rtos[at] ^= 1;
    let bundle = by_hand(
        vec![
            ("m.yaml", MANIFEST.as_bytes().to_vec()),
            ("gateway-v2.mender", component("gateway-v2", b"g").build()),
            ("rtos-v3.mender", rtos),
        ],
        None,
    );
    let path = dir.path().join("b.mender");
    std::fs::write(&path, bundle).unwrap();
    let staging = dir.path().join("staging");
    let e = open_bundle(&path, &VerifyPolicy::none(), &Limits::default(), &staging).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("rtos-v3.mender") && text.contains("checksum"),
        "{text}"
    );
    assert_eq!(e.reason(), crate::model::Reason::VerificationFailed);
    assert!(!staging.exists(), "the staging directory is removed");
    let e = verify_bundle(&path, &VerifyPolicy::none(), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("rtos-v3.mender"), "{e}");
    assert_eq!(e.reason(), crate::model::Reason::VerificationFailed);
}

#[test]
fn a_hand_made_bundle_is_matched_by_file_name_then_artifact_name() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = by_hand(
        vec![
            ("m.yaml", MANIFEST.as_bytes().to_vec()),
            ("gateway-v2.mender", component("gateway-v2", b"g").build()),
            ("other-name.mender", component("rtos-v3", b"r").build()),
        ],
        None,
    );
    let path = dir.path().join("b.mender");
    std::fs::write(&path, bundle).unwrap();
    let opened = open_bundle(
        &path,
        &VerifyPolicy::none(),
        &Limits::default(),
        &dir.path().join("s"),
    )
    .unwrap();
    let files: Vec<&str> = opened
        .artifacts
        .values()
        .map(|a| a.path.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(files, vec!["gateway-v2.mender", "other-name.mender"]);
}

#[test]
fn layouts_that_are_not_a_bundle_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let g = component("gateway-v2", b"g").build();
    let r = component("rtos-v3", b"r").build();
    let m = MANIFEST.as_bytes().to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (component("x", b"x").build(), "not a bundle"),
        (
            by_hand(vec![("g.mender", g.clone())], None),
            "has no Manifest",
        ),
        (
            by_hand(vec![("a.yaml", m.clone()), ("b.yml", m.clone())], None),
            "several Manifests",
        ),
        (
            by_hand(
                vec![("m.yaml", m.clone()), ("gateway-v2.mender", g.clone())],
                None,
            ),
            "no Artifact for component type rtos",
        ),
        (
            by_hand(
                vec![
                    ("m.yaml", m.clone()),
                    ("gateway-v2.mender", g.clone()),
                    ("rtos-v3.mender", r.clone()),
                    ("extra.mender", r.clone()),
                ],
                None,
            ),
            "serves no component type",
        ),
        (
            by_hand(
                vec![
                    ("m.yaml", m.clone()),
                    ("gateway-v2.mender", g.clone()),
                    ("rtos-v3.mender", g.clone()),
                ],
                Some(serde_json::json!({"manifest": "m.yaml",
                    "artifacts": {"gateway": "gateway-v2.mender", "rtos": "rtos-v3.mender"}})),
            ),
            "names Artifact \"rtos-v3\", the bundle carries \"gateway-v2\"",
        ),
        (
            by_hand(vec![("m.yaml", b"kind: manifest\n".to_vec())], None),
            "missing required field",
        ),
    ];
    for (i, (bytes, want)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.mender"));
        std::fs::write(&path, bytes).unwrap();
        let staging = dir.path().join(format!("s{i}"));
        let e =
            open_bundle(&path, &VerifyPolicy::none(), &Limits::default(), &staging).unwrap_err();
        assert!(e.to_string().contains(want), "case {i}: {e}");
        assert!(!staging.exists(), "case {i}");
        let e = verify_bundle(&path, &VerifyPolicy::none(), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains(want), "case {i} (one pass): {e}");
    }
}

#[test]
fn an_unsigned_bundle_or_inner_artifact_is_refused_when_keys_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let m = sources(dir.path(), None);
    let signer = Signer::ec_from_seed(9);
    let unsigned = dir.path().join("unsigned.mender");
    create(&m, None, &unsigned).unwrap();
    let e = open_bundle(
        &unsigned,
        &policy(&signer),
        &Limits::default(),
        &dir.path().join("a"),
    )
    .unwrap_err();
    assert_eq!(e.reason(), crate::model::Reason::SignatureInvalid, "{e}");
    // The bundle is signed but its component Artifacts are not: the same policy refuses.
    let signed = dir.path().join("signed.mender");
    create(&m, Some(signer.clone()), &signed).unwrap();
    let e = open_bundle(
        &signed,
        &policy(&signer),
        &Limits::default(),
        &dir.path().join("b"),
    )
    .unwrap_err();
    assert_eq!(e.reason(), crate::model::Reason::SignatureInvalid, "{e}");
    assert!(e.to_string().contains("gateway-v2.mender"), "{e}");
}

#[test]
fn a_staged_bundle_serves_its_artifacts_by_component_type_and_a_failed_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = sources(dir.path(), None);
    let out = dir.path().join("bundle.mender");
    create(&m, None, &out).unwrap();
    assert!(looks_like_artifact(&out) && !looks_like_artifact(&m));

    let root = dir.path().join("bundles");
    let policy = VerifyPolicy::none();
    let opened = stage_bundle(BundleInput::File(&out), &root, &policy, &Limits::default()).unwrap();
    assert_eq!(opened.dir.parent(), Some(root.as_path()));
    let staged = staged_artifacts(&root, &opened.dir).unwrap();
    assert_eq!(
        staged[&ct("rtos")],
        std::fs::canonicalize(&opened.dir)
            .unwrap()
            .join("rtos-v3.mender")
    );
    // Only a staging right under the root counts: a Manifest's own directory never does.
    assert!(staged_artifacts(&root, dir.path()).is_none());

    // The same bundle as the Mender client unpacks it: files/ and header/meta-data.
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for f in ["gateway-v2.mender", "rtos-v3.mender"] {
        std::fs::copy(opened.dir.join(f), files.join(f)).unwrap();
    }
    std::fs::copy(&m, files.join("system-v2.yaml")).unwrap();
    let meta = dir.path().join("meta-data");
    let header = opened.header.clone().unwrap();
    std::fs::write(&meta, serde_json::to_vec(&header.meta_data).unwrap()).unwrap();
    let input = BundleInput::Unpacked {
        files: &files,
        meta_data: Some(&meta),
    };
    let unpacked = stage_bundle(input, &root, &policy, &Limits::default()).unwrap();
    assert!(unpacked.header.is_none());
    assert_eq!(unpacked.manifest.manifest, opened.manifest.manifest);
    assert_eq!(staged_artifacts(&root, &unpacked.dir).unwrap().len(), 2);

    // One inner Artifact corrupted: refused, and nothing more is staged.
    let mut bytes = component("rtos-v3", b"rtos image")
        .compression(Compression::None)
        .build();
    let at = bytes.windows(10).position(|w| w == b"rtos image").unwrap();
    bytes[at] ^= 1;
    std::fs::write(files.join("rtos-v3.mender"), bytes).unwrap();
    let before = std::fs::read_dir(&root).unwrap().count();
    let e = stage_bundle(input, &root, &policy, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("rtos-v3.mender"), "{e}");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), before);
}
