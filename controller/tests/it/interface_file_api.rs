//! The File API tree and the files tree, on a real filesystem.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use baton::artifact::PayloadSink;
use baton::interface::file_api::{
    remove_component_dir, CurrentArtifact, FileApiDir, FilesTreeSink, HeaderFiles, TreeError,
    WHOLE_ARTIFACT_NAME,
};
use baton::model::ComponentId;

fn header() -> HeaderFiles {
    HeaderFiles {
        artifact_group: "grp1".into(),
        artifact_name: "rtos-v2".into(),
        payload_type: "rtos-interface".into(),
        header_info: br#"{"payloads":[{"type":"rtos-interface"}],"artifact_provides":{"artifact_name":"rtos-v2"}}"#.to_vec(),
        type_info: br#"{"type":"rtos-interface"}"#.to_vec(),
        meta_data: b"null".to_vec(),
    }
}

fn current() -> CurrentArtifact {
    CurrentArtifact {
        artifact_name: Some("rtos-v1".into()),
        artifact_group: None,
        device_type: "rtos".into(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn id(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

#[test]
fn the_tree_holds_what_the_protocol_lists_private_to_baton() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("work/deployment-7");
    let dir = FileApiDir::create(&root, &id("R123"), &current(), &header()).unwrap();
    let p = dir.path();
    assert_eq!(p, root.join("R123"));

    let read = |rel: &str| std::fs::read(p.join(rel)).unwrap();
    assert_eq!(read("version"), b"1\n");
    assert_eq!(read("current_artifact_name"), b"rtos-v1\n");
    assert_eq!(read("current_artifact_group"), b"");
    assert_eq!(read("current_device_type"), b"rtos\n");
    assert_eq!(read("header/artifact_group"), b"grp1");
    assert_eq!(read("header/artifact_name"), b"rtos-v2");
    assert_eq!(read("header/payload_type"), b"rtos-interface");
    assert_eq!(read("header/header-info"), header().header_info);
    assert_eq!(read("header/type-info"), header().type_info);
    assert_eq!(read("header/meta-data"), b"null");
    assert_eq!(std::fs::read_dir(p.join("tmp")).unwrap().count(), 0);

    let mut entries: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "current_artifact_group",
            "current_artifact_name",
            "current_device_type",
            "header",
            "tmp",
            "version"
        ]
    );
    for d in ["", "header", "tmp"] {
        assert_eq!(mode(&p.join(d)), 0o700, "{d}/");
    }
    for f in [
        "version",
        "current_device_type",
        "header/type-info",
        "header/meta-data",
    ] {
        assert_eq!(mode(&p.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&root), 0o700, "a created root is private too");
    assert_eq!(FileApiDir::open(&root, &id("R123")).unwrap(), dir);
}

#[test]
fn an_existing_tree_or_symlink_is_never_reused_or_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    FileApiDir::create(&root, &id("R1"), &current(), &header()).unwrap();
    let err = FileApiDir::create(&root, &id("R1"), &current(), &header()).unwrap_err();
    assert!(matches!(err, TreeError::Exists { .. }), "{err}");
    assert_eq!(err.reason(), "FileApiExists");

    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("R2")).unwrap();
    let err = FileApiDir::create(&root, &id("R2"), &current(), &header()).unwrap_err();
    assert!(matches!(err, TreeError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn a_tree_without_version_is_incomplete_and_removal_is_total() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let dir = FileApiDir::create(&root, &id("R1"), &current(), &header()).unwrap();
    std::fs::write(dir.path().join("tmp/scratch"), b"x").unwrap();
    std::fs::remove_file(dir.path().join("version")).unwrap();
    let err = FileApiDir::open(&root, &id("R1")).unwrap_err();
    assert!(matches!(err, TreeError::Incomplete { .. }), "{err}");

    remove_component_dir(&root, &id("R1")).unwrap();
    assert!(!root.join("R1").exists());
    remove_component_dir(&root, &id("R1")).unwrap();

    let dir = FileApiDir::create(&root, &id("R1"), &current(), &header()).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("tmp/link")).unwrap();
    dir.remove().unwrap();
    assert!(!root.join("R1").exists());
    assert_eq!(
        std::fs::read(outside.join("keep")).unwrap(),
        b"keep",
        "removal must not follow links"
    );
}

fn feed(sink: &mut dyn PayloadSink, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    for (name, bytes) in files {
        sink.file(name, bytes.len() as u64, &mut &bytes[..])?;
    }
    Ok(())
}

#[test]
fn the_files_tree_stores_each_payload_file_privately() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = FilesTreeSink::create(tmp.path(), false).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    feed(
        &mut sink,
        &[("a.bin", b"alpha"), ("empty", b""), ("big.img", &big)],
    )
    .unwrap();
    sink.finish().unwrap();
    let files = tmp.path().join("files");
    assert_eq!(mode(&files), 0o700);
    assert_eq!(std::fs::read(files.join("a.bin")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(files.join("empty")).unwrap(), b"");
    assert_eq!(std::fs::read(files.join("big.img")).unwrap(), big);
    assert_eq!(mode(&files.join("big.img")), 0o600);
}

#[test]
fn the_files_tree_refuses_escaping_names_lies_about_size_and_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = FilesTreeSink::create(tmp.path(), false).unwrap();
    for bad in ["../escape", "a/b", "..", ""] {
        let err = sink.file(bad, 1, &mut &b"x"[..]).unwrap_err();
        assert!(err.to_string().contains("not a plain file name"), "{err}");
        assert!(matches!(sink.take_failure(), Some(TreeError::BadName(_))));
    }
    assert!(!tmp.path().join("escape").exists());

    sink.file("short", 10, &mut &b"12345"[..]).unwrap_err();
    assert!(matches!(
        sink.take_failure(),
        Some(TreeError::SizeMismatch {
            declared: 10,
            got: 5,
            ..
        })
    ));
    sink.file("long", 2, &mut &b"12345"[..]).unwrap_err();
    assert!(
        matches!(sink.take_failure(), Some(TreeError::SizeMismatch { declared: 2, got, .. }) if got > 2)
    );

    sink.file("once", 1, &mut &b"1"[..]).unwrap();
    sink.file("once", 1, &mut &b"2"[..]).unwrap_err();
    assert!(matches!(sink.take_failure(), Some(TreeError::Io { .. })));
    assert_eq!(std::fs::read(tmp.path().join("files/once")).unwrap(), b"1");
}

#[test]
fn a_whole_artifact_is_one_file_with_its_fixed_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = FilesTreeSink::create(tmp.path(), true).unwrap();
    sink.file("payload.bin", 1, &mut &b"x"[..]).unwrap_err();
    assert!(matches!(
        sink.take_failure(),
        Some(TreeError::NotWholeArtifact(_))
    ));
    sink.file(WHOLE_ARTIFACT_NAME, 3, &mut &b"tar"[..]).unwrap();
    sink.file(WHOLE_ARTIFACT_NAME, 3, &mut &b"tar"[..])
        .unwrap_err();
    assert!(matches!(
        sink.take_failure(),
        Some(TreeError::NotWholeArtifact(_))
    ));
    let mut content = String::new();
    std::fs::File::open(tmp.path().join("files").join(WHOLE_ARTIFACT_NAME))
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert_eq!(content, "tar");
}
