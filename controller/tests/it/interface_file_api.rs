//! The File API tree and the files tree, on a real filesystem.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use baton::artifact::PayloadSink;
use baton::interface::file_api::{
    remove_component_dir, retire_tree, CurrentArtifact, FileApiDir, FilesTreeSink, HeaderFiles,
    TreeError, WHOLE_ARTIFACT_NAME,
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

/// Every entry below `dir`: relative path, kind, mode and (files) content, sorted.
fn snapshot(dir: &Path) -> Vec<(String, &'static str, u32, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, &'static str, u32, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.push((rel, "dir", mode(&p), Vec::new()));
                walk(base, &p, out);
            } else if meta.is_file() {
                out.push((rel, "file", mode(&p), std::fs::read(&p).unwrap()));
            } else {
                out.push((rel, "other", mode(&p), Vec::new()));
            }
        }
    }
    let mut out = vec![(String::new(), "dir", mode(dir), Vec::new())];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().ino()
}

/// The next version's header and current files: some longer, some shorter than before.
fn next() -> (CurrentArtifact, HeaderFiles) {
    (
        CurrentArtifact {
            artifact_name: Some("rtos-v2".into()),
            artifact_group: Some("grp1".into()),
            device_type: "rtos".into(),
        },
        HeaderFiles {
            artifact_name: "rtos-v3-with-a-much-longer-name".into(),
            header_info: b"{}".to_vec(),
            meta_data: br#"{"k":"v"}"#.to_vec(),
            ..header()
        },
    )
}

/// What a deployment leaves in a tree: scratch files, a payload tree, stray names, modes an
/// Interface changed, a symlink out of the tree.
fn leave_traces(tree: &Path, outside: &Path) {
    std::fs::write(tree.join("tmp/scratch"), b"x").unwrap();
    std::fs::create_dir(tree.join("tmp/sub")).unwrap();
    std::fs::write(tree.join("tmp/sub/f"), b"y").unwrap();
    std::os::unix::fs::symlink(outside, tree.join("tmp/link")).unwrap();
    std::fs::create_dir(tree.join("files")).unwrap();
    std::fs::write(tree.join("files/payload"), b"payload").unwrap();
    std::fs::write(tree.join("stream-next"), b"").unwrap();
    std::fs::create_dir(tree.join("streams")).unwrap();
    std::fs::write(tree.join("header/extra"), b"e").unwrap();
    std::fs::write(tree.join("left-behind"), b"l").unwrap();
    let chmod = |rel: &str, m: u32| {
        std::fs::set_permissions(tree.join(rel), std::fs::Permissions::from_mode(m)).unwrap()
    };
    chmod("header/type-info", 0o644);
    chmod("tmp", 0o755);
}

#[test]
fn a_reused_spare_tree_is_exactly_the_tree_a_fresh_one_would_be() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"k").unwrap();
    let spare = tmp.path().join("spare-trees/rtos/R1");
    let old = FileApiDir::create(
        &tmp.path().join("work/d1"),
        &id("R1"),
        &current(),
        &header(),
    )
    .unwrap();
    leave_traces(old.path(), &outside);
    let ino = inode(&old.path().join("header/artifact_name"));

    retire_tree(old.path(), &spare, None).unwrap();
    assert!(!old.path().exists(), "the deployment's tree is gone");
    let err = FileApiDir::open(spare.parent().unwrap(), &id("R1")).unwrap_err();
    assert!(
        matches!(err, TreeError::Incomplete { .. }),
        "a spare is never a finished tree: {err}"
    );
    assert_eq!(
        std::fs::read(outside.join("keep")).unwrap(),
        b"k",
        "nothing outside the tree is touched"
    );

    let (cur, head) = next();
    let reused =
        FileApiDir::create_reusing(&tmp.path().join("work/d2"), &id("R1"), &cur, &head, &spare)
            .unwrap();
    assert!(!spare.exists(), "the spare was taken");
    assert_eq!(
        inode(&reused.path().join("header/artifact_name")),
        ino,
        "rewritten in place, not made anew"
    );
    let fresh = FileApiDir::create(&tmp.path().join("fresh"), &id("R1"), &cur, &head).unwrap();
    assert_eq!(snapshot(reused.path()), snapshot(fresh.path()));
    assert_eq!(
        FileApiDir::open(&tmp.path().join("work/d2"), &id("R1")).unwrap(),
        reused
    );
}

#[test]
fn a_spare_tree_that_is_not_what_it_should_be_gives_way_to_a_fresh_one() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"do not write").unwrap();
    let (cur, head) = next();
    let fresh = FileApiDir::create(&tmp.path().join("fresh"), &id("R1"), &cur, &head).unwrap();
    type Spoil = fn(&Path, &Path);
    let spoils: [(&str, Spoil); 3] = [
        (
            "a header file made a symlink out of the tree",
            |spare, outside| {
                std::fs::remove_file(spare.join("header/artifact_name")).unwrap();
                std::os::unix::fs::symlink(outside, spare.join("header/artifact_name")).unwrap();
            },
        ),
        ("tmp/ made a file", |spare, _| {
            std::fs::remove_dir(spare.join("tmp")).unwrap();
            std::fs::write(spare.join("tmp"), b"t").unwrap();
        }),
        ("the spare itself a file", |spare, _| {
            std::fs::remove_dir_all(spare).unwrap();
            std::fs::write(spare, b"s").unwrap();
        }),
    ];
    for (i, (what, spoil)) in spoils.into_iter().enumerate() {
        let spare = tmp.path().join(format!("spare-{i}/R1"));
        let old = FileApiDir::create(
            &tmp.path().join(format!("old-{i}")),
            &id("R1"),
            &current(),
            &header(),
        )
        .unwrap();
        retire_tree(old.path(), &spare, None).unwrap();
        spoil(&spare, &outside);
        let root = tmp.path().join(format!("new-{i}"));
        let made = FileApiDir::create_reusing(&root, &id("R1"), &cur, &head, &spare).unwrap();
        assert_eq!(snapshot(made.path()), snapshot(fresh.path()), "{what}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"do not write", "{what}");
        assert!(!spare.exists(), "{what}: the spoiled spare is gone");
    }
}

#[test]
fn a_tree_is_reused_only_where_none_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let spare = tmp.path().join("spare/R1");
    let old =
        FileApiDir::create(&tmp.path().join("old"), &id("R1"), &current(), &header()).unwrap();
    retire_tree(old.path(), &spare, None).unwrap();
    FileApiDir::create(&root, &id("R1"), &current(), &header()).unwrap();
    let err =
        FileApiDir::create_reusing(&root, &id("R1"), &current(), &header(), &spare).unwrap_err();
    assert!(matches!(err, TreeError::Exists { .. }), "{err}");
    assert!(spare.is_dir(), "the spare stays for later");
    // Retiring a tree that is not there (nothing to keep) is not an error.
    retire_tree(
        &tmp.path().join("nothing/R9"),
        &tmp.path().join("spare/R9"),
        None,
    )
    .unwrap();
    assert!(!tmp.path().join("spare/R9").exists());
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
    let mut sink = FilesTreeSink::create(tmp.path(), false, None).unwrap();
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
    let mut sink = FilesTreeSink::create(tmp.path(), false, None).unwrap();
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
    let mut sink = FilesTreeSink::create(tmp.path(), true, None).unwrap();
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
