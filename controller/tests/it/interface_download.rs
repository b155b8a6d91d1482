//! The Download state end to end: a fake Artifact feed, real FIFOs, real shell Interfaces.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::interface_support::*;
use baton::artifact::PayloadSink;
use baton::interface::file_api::{
    retire_tree, CurrentArtifact, FileApiDir, HeaderFiles, TreeError, WHOLE_ARTIFACT_NAME,
};
use baton::interface::protocol::State;
use baton::interface::{
    download, DownloadError, DownloadMode, InterfaceError, Invocation, PayloadTree, Runner,
};
use baton::model::ComponentId;
use sha2::{Digest, Sha256};

const LONG: Duration = Duration::from_secs(30);
const STREAMS: DownloadMode = DownloadMode {
    with_sizes: false,
    whole_artifact: false,
};
const WITH_SIZES: DownloadMode = DownloadMode {
    with_sizes: true,
    whole_artifact: false,
};

type Files = Vec<(String, Vec<u8>)>;

/// Payload files of known content, one larger than a pipe's buffer.
fn payload() -> Files {
    let big: Vec<u8> = (0..1_000_003u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        ("rtos-v2.bin".into(), b"firmware image v2\n".to_vec()),
        ("empty.cfg".into(), Vec::new()),
        ("big.img".into(), big),
    ]
}

/// The engine's side, faked: hands `files` to the sink and counts them.
fn feed(files: Files) -> impl FnOnce(&mut dyn PayloadSink) -> io::Result<usize> + Send + 'static {
    move |sink| {
        for (name, bytes) in &files {
            sink.file(name, bytes.len() as u64, &mut &bytes[..])?;
        }
        Ok(files.len())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    work: PathBuf,
}

/// A File API directory for component R1 and a mock component behind it.
fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let state = mock_component(&root, "R1", "rtos-v1");
    let header = HeaderFiles {
        artifact_name: "rtos-v2".into(),
        payload_type: "mock".into(),
        ..HeaderFiles::default()
    };
    let current = CurrentArtifact {
        device_type: "rtos".into(),
        ..CurrentArtifact::default()
    };
    let dir = FileApiDir::create(
        &root.join("work"),
        &ComponentId::new("R1").unwrap(),
        &current,
        &header,
    )
    .unwrap();
    Setup {
        work: dir.path().to_owned(),
        _tmp: tmp,
        root,
        state,
    }
}

fn mock(s: &Setup) -> Invocation {
    mock_invocation(&s.work, &s.state)
}

fn runner() -> Runner {
    quick_runner(LONG)
}

fn streams_log(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("streams.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `dir` holds exactly these bytes under these names.
fn assert_holds(dir: &Path, files: &Files) {
    for (name, bytes) in files {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
}

fn expected_log(tree: &str, files: &Files) -> Vec<String> {
    files
        .iter()
        .map(|(n, b)| format!("{tree} {n} {} {}", b.len(), sha256_hex(b)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_reads_every_stream_and_gets_every_byte() {
    let s = setup();
    let out = download(&runner(), &mock(&s), STREAMS, None, feed(payload()))
        .await
        .unwrap();
    assert_eq!(out.value, 3);
    assert_eq!(out.tree, PayloadTree::Streams);
    assert_eq!(streams_log(&s.state), expected_log("streams", &payload()));
    assert_holds(&s.state.join("download"), &payload());
    // The streams tree exists during Download only; no files tree was needed.
    assert!(!s.work.join("stream-next").exists() && !s.work.join("streams").exists());
    assert!(!s.work.join("files").exists());
    let log = std::fs::read_to_string(s.state.join("calls.log")).unwrap();
    assert_eq!(log, "Download rtos rtos-v2 ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interface_that_ignores_the_streams_gets_the_files_tree() {
    let s = setup();
    std::fs::write(s.state.join("download-mode"), "files\n").unwrap();
    let out = download(&runner(), &mock(&s), STREAMS, None, feed(payload()))
        .await
        .unwrap();
    assert_eq!(out.tree, PayloadTree::Files);
    assert_holds(&s.work.join("files"), &payload());
    assert!(!s.work.join("stream-next").exists() && !s.work.join("streams").exists());
    // The mock finds the files tree in ArtifactInstall.
    runner()
        .run_state(&mock(&s), State::ArtifactInstall)
        .await
        .unwrap();
    let mut log = streams_log(&s.state);
    log.sort();
    let mut expected = expected_log("files", &payload());
    expected.sort();
    assert_eq!(log, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_payload_still_ends_with_a_zero_length_read() {
    let s = setup();
    let out = download(&runner(), &mock(&s), STREAMS, None, feed(Vec::new()))
        .await
        .unwrap();
    assert_eq!(out.tree, PayloadTree::Streams);
    assert_eq!(streams_log(&s.state), Vec::<String>::new());

    let s = setup();
    std::fs::write(s.state.join("download-mode"), "files\n").unwrap();
    let out = download(&runner(), &mock(&s), STREAMS, None, feed(Vec::new()))
        .await
        .unwrap();
    assert_eq!(out.tree, PayloadTree::Files);
    assert_eq!(std::fs::read_dir(s.work.join("files")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_halfway_is_started_but_did_not_finish() {
    for files in [
        payload(),
        vec![("small".to_string(), b"0123456789".to_vec())],
    ] {
        let s = setup();
        std::fs::write(s.state.join("download-mode"), "half\n").unwrap();
        let err = download(&runner(), &mock(&s), WITH_SIZES, None, feed(files))
            .await
            .unwrap_err();
        let DownloadError::Tree {
            error: TreeError::StreamsIncomplete(why),
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(err.reason(), "DownloadIncomplete");
        assert!(
            err.to_string()
                .contains("started downloading, but did not finish"),
            "{err}"
        );
        assert!(err.to_string().contains("Interface mock"), "{err}");
        assert!(!why.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_ride_on_stream_next_for_download_with_file_sizes() {
    let s = setup();
    let lines = s.root.join("lines");
    // An Interface that keeps the raw stream-next lines and drains each stream.
    let recorder = script(
        &s.root,
        "recorder",
        &format!(
            r#"echo "$1" >> {lines}
while :; do
  line=$(cat stream-next)
  [ -n "$line" ] || break
  echo "$line" >> {lines}
  cat "${{line%% *}}" > /dev/null
done"#,
            lines = lines.display()
        ),
    );
    let inv = invocation(&recorder, &s.work, &[]);
    download(&runner(), &inv, WITH_SIZES, None, feed(payload()))
        .await
        .unwrap();
    let got = std::fs::read_to_string(&lines).unwrap();
    assert_eq!(got, "DownloadWithFileSizes\nstreams/rtos-v2.bin 18\nstreams/empty.cfg 0\nstreams/big.img 1000003\n");

    std::fs::remove_file(&lines).unwrap();
    let s2 = setup();
    download(
        &runner(),
        &invocation(&recorder, &s2.work, &[]),
        STREAMS,
        None,
        feed(payload()),
    )
    .await
    .unwrap();
    let got = std::fs::read_to_string(&lines).unwrap();
    assert_eq!(
        got,
        "Download\nstreams/rtos-v2.bin\nstreams/empty.cfg\nstreams/big.img\n"
    );

    // And the mock checks the sizes it was given.
    let s3 = setup();
    download(&runner(), &mock(&s3), WITH_SIZES, None, feed(payload()))
        .await
        .unwrap();
    assert_eq!(streams_log(&s3.state), expected_log("streams", &payload()));
    assert!(std::fs::read_to_string(s3.state.join("calls.log"))
        .unwrap()
        .starts_with("DownloadWithFileSizes "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_artifact_is_streamed_as_artifact_mender() {
    let s = setup();
    let mode = DownloadMode {
        with_sizes: false,
        whole_artifact: true,
    };
    let artifact = vec![(
        WHOLE_ARTIFACT_NAME.to_string(),
        b"version\0manifest\0...".to_vec(),
    )];
    download(&runner(), &mock(&s), mode, None, feed(artifact.clone()))
        .await
        .unwrap();
    assert_eq!(streams_log(&s.state), expected_log("streams", &artifact));

    let s = setup();
    let err = download(&runner(), &mock(&s), mode, None, feed(payload()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Tree {
                error: TreeError::NotWholeArtifact(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_download_is_the_interfaces_failure() {
    let s = setup();
    std::fs::write(s.state.join("Download.FAIL"), "").unwrap();
    let err = download(&runner(), &mock(&s), STREAMS, None, feed(payload()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Interface(InterfaceError::Failed { code: 1, .. })
        ),
        "{err}"
    );
    assert!(
        !s.work.join("files").exists(),
        "a failed Interface gets no files tree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_download_times_out() {
    let s = setup();
    std::fs::write(s.state.join("Download.HANG"), "").unwrap();
    let err = download(
        &quick_runner(Duration::from_millis(500)),
        &mock(&s),
        STREAMS,
        None,
        feed(payload()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Interface(InterfaceError::Timeout { .. })
        ),
        "{err}"
    );
    let pgid = std::fs::read_to_string(s.state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(running_in_group(pgid), Vec::<i32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_feed_ends_the_interface() {
    let s = setup();
    let broken = |sink: &mut dyn PayloadSink| -> io::Result<()> {
        let big = vec![7u8; 300_000];
        sink.file("first.bin", big.len() as u64, &mut &big[..])?;
        // The Artifact reader found a checksum mismatch in the next file, mid-stream.
        let mut torn = io::Read::chain(&[1u8; 1000][..], FailingReader);
        sink.file("second.bin", 5000, &mut torn)
    };
    let err = download(&runner(), &mock(&s), STREAMS, None, broken)
        .await
        .unwrap_err();
    // The reader's error came back through the sink untouched: it is the feed's failure.
    let DownloadError::Feed { error, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        error.to_string(),
        "checksum mismatch in data/0000/second.bin"
    );
    let pgid = std::fs::read_to_string(s.state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        running_in_group(pgid),
        Vec::<i32>::new(),
        "the Interface was terminated"
    );
    assert!(!s.work.join("stream-next").exists());

    // A feed failing on its own (not in the sink) is reported as the feed's.
    let s = setup();
    let own =
        |_: &mut dyn PayloadSink| -> Result<(), String> { Err("signature does not verify".into()) };
    let err = download(&runner(), &mock(&s), STREAMS, None, own)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DownloadError::Feed { error, .. } if error == "signature does not verify"),
        "{err}"
    );
    assert_eq!(err.reason(), "ArtifactFeedFailed");
}

struct FailingReader;
impl io::Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other(
            "checksum mismatch in data/0000/second.bin",
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grandchild_holding_a_stream_cannot_hang_the_feed() {
    let s = setup();
    // Takes the first stream's name, leaves a grandchild holding that stream open without
    // reading it, and exits 0.
    let sneaky = script(
        &s.root,
        "sneaky",
        r#"line=$(cat stream-next); (exec sleep 1000 < "${line%% *}" &); exit 0"#,
    );
    let err = download(
        &runner(),
        &invocation(&sneaky, &s.work, &[]),
        STREAMS,
        None,
        feed(payload()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Tree {
                error: TreeError::StreamsIncomplete(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_names_cannot_escape_the_tree() {
    let s = setup();
    let evil = vec![("../../escaped".to_string(), b"x".to_vec())];
    let err = download(&runner(), &mock(&s), STREAMS, None, feed(evil))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Tree {
                error: TreeError::BadName(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(!s.root.join("escaped").exists() && !s.work.join("../escaped").exists());
}

// The feeding thread drives its pipe writes through the runtime's handle; on a current-thread
// runtime that works because the runtime's own thread keeps polling while download() waits.
#[tokio::test]
async fn download_works_on_a_current_thread_runtime() {
    let s = setup();
    let out = download(&runner(), &mock(&s), WITH_SIZES, None, feed(payload()))
        .await
        .unwrap();
    assert_eq!(out.tree, PayloadTree::Streams);
    assert_eq!(streams_log(&s.state), expected_log("streams", &payload()));
}

/// Downloads `files` through the mock told to take them as `mode` (`streams` or `files`),
/// its trees parked in `parked`; says which tree held the payload.
async fn parked_download(s: &Setup, parked: &Path, mode: &str, files: Files) -> PayloadTree {
    std::fs::write(s.state.join("download-mode"), format!("{mode}\n")).unwrap();
    let out = download(&runner(), &mock(s), STREAMS, Some(parked), feed(files))
        .await
        .unwrap();
    out.tree
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().ino()
}

fn kind(path: &Path) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(_) => "absent",
        Ok(m) if m.file_type().is_fifo() => "fifo",
        Ok(m) if m.is_dir() => "dir",
        Ok(m) if m.is_file() => "file",
        Ok(_) => "other",
    }
}

/// Retires the setup's tree (its `files/` to `parked`) and makes a fresh one in its place,
/// as the component's next deployment would.
fn next_deployment(s: &Setup, parked: &Path, n: usize) {
    let spare = s.root.join(format!("spare-{n}/R1"));
    retire_tree(&s.work, &spare, Some(parked)).unwrap();
    std::fs::create_dir(&s.work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_trees_come_back_in_place_and_only_when_the_protocol_has_them() {
    let s = setup();
    let parked = s.root.join("parked/rtos/R1");
    assert_eq!(
        parked_download(&s, &parked, "files", payload()).await,
        PayloadTree::Files
    );
    assert_holds(&s.work.join("files"), &payload());
    assert_eq!(kind(&s.work.join("stream-next")), "absent");
    assert_eq!(kind(&s.work.join("streams")), "absent");
    // The streams tree waits in the parking, for the next Download.
    assert_eq!(kind(&parked.join("stream-next")), "fifo");
    assert_eq!(kind(&parked.join("streams")), "dir");
    let (fifo, streams) = (
        inode(&parked.join("stream-next")),
        inode(&parked.join("streams")),
    );
    let big = inode(&s.work.join("files/big.img"));

    // After Cleanup the files tree waits there too, its files cut to nothing.
    next_deployment(&s, &parked, 1);
    assert_eq!(kind(&s.work.join("files")), "absent");
    for (name, _) in payload() {
        assert_eq!(
            std::fs::read(parked.join("files").join(&name)).unwrap(),
            b""
        );
    }

    // A streaming Download gets the same FIFO and directory back, and every byte.
    assert_eq!(
        parked_download(&s, &parked, "streams", payload()).await,
        PayloadTree::Streams
    );
    assert_holds(&s.state.join("download"), &payload());
    assert_eq!(
        inode(&parked.join("stream-next")),
        fifo,
        "the FIFO is reused"
    );
    assert_eq!(
        inode(&parked.join("streams")),
        streams,
        "streams/ is reused"
    );
    assert_eq!(
        kind(&s.work.join("files")),
        "absent",
        "no files tree was needed"
    );
    assert_eq!(
        std::fs::read_dir(parked.join("streams")).unwrap().count(),
        0,
        "the per-file FIFOs are not kept"
    );

    // A payload with other names: the files of the same name are rewritten in place, the
    // others removed, and the tree holds exactly this payload.
    next_deployment(&s, &parked, 2);
    let other: Files = vec![
        ("big.img".into(), b"smaller now".to_vec()),
        ("new.bin".into(), b"new".to_vec()),
    ];
    parked_download(&s, &parked, "files", other.clone()).await;
    assert_holds(&s.work.join("files"), &other);
    assert_eq!(
        inode(&s.work.join("files/big.img")),
        big,
        "rewritten in place"
    );
    let mut names: Vec<String> = std::fs::read_dir(s.work.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["big.img", "new.bin"]);
    assert_eq!(kind(&parked.join("files")), "absent", "taken into the tree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_parked_trees_give_way_to_fresh_ones() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let outside = s.root.join("outside");
    std::fs::write(&outside, b"do not write").unwrap();
    let parked = s.root.join("parked/rtos/R1");
    std::fs::create_dir_all(parked.join("streams")).unwrap();
    std::fs::write(parked.join("stream-next"), b"a file, not a FIFO").unwrap();
    std::fs::write(parked.join("streams/left"), b"not empty").unwrap();
    std::fs::create_dir(parked.join("files")).unwrap();
    std::os::unix::fs::symlink(&outside, parked.join("files/big.img")).unwrap();
    std::fs::set_permissions(&parked, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Streaming first: the spoiled streams tree is replaced.
    let tree = parked_download(&s, &parked, "streams", payload()).await;
    assert_eq!(tree, PayloadTree::Streams);
    assert_holds(&s.state.join("download"), &payload());
    assert_eq!(kind(&parked.join("stream-next")), "fifo");
    assert_eq!(
        std::fs::read_dir(parked.join("streams")).unwrap().count(),
        0
    );

    // A process left holding the parked FIFO open for reading does not get the next
    // Download's lines: the FIFO is made afresh.
    let fifo = parked.join("stream-next");
    let mut stray = std::process::Command::new("sh")
        .args(["-c", r#"exec 3<>"$0"; echo open; exec sleep 30"#])
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    io::BufRead::read_line(
        &mut io::BufReader::new(stray.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "open\n");
    let held = inode(&fifo);
    next_deployment(&s, &parked, 0);
    let tree = parked_download(&s, &parked, "streams", payload()).await;
    stray.kill().unwrap();
    stray.wait().unwrap();
    assert_eq!(tree, PayloadTree::Streams);
    assert_holds(&s.state.join("download"), &payload());
    assert_ne!(inode(&fifo), held, "a FIFO with a reader is not reused");

    // Then the files tree: the parked one holding a symlink is replaced, nothing written
    // through it.
    next_deployment(&s, &parked, 1);
    parked_download(&s, &parked, "files", payload()).await;
    assert_holds(&s.work.join("files"), &payload());
    assert_eq!(kind(&s.work.join("files/big.img")), "file");
    assert_eq!(std::fs::read(&outside).unwrap(), b"do not write");
    for (name, _) in payload() {
        let mode = std::fs::metadata(s.work.join("files").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o600);
    }
}
