//! The `directory` reference Interface, driven by baton's own runner and Download: install,
//! commit, rollback and cleanup of a real directory, with the flip never seen half-done.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::interface_support::*;
use baton::artifact::PayloadSink;
use baton::interface::file_api::{
    remove_component_dir, CurrentArtifact, FileApiDir, FilesTreeSink, HeaderFiles,
};
use baton::interface::protocol::State;
use baton::interface::{download, DownloadMode, Invocation, PayloadTree, Runner};
use baton::model::ComponentId;

struct Site {
    _tmp: tempfile::TempDir,
    target: PathBuf,
    work_root: PathBuf,
    runner: Runner,
}

impl Site {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("srv/webapp");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let work_root = tmp.path().join("work");
        Site {
            target,
            work_root,
            runner: quick_runner(Duration::from_secs(30)),
            _tmp: tmp,
        }
    }

    fn invocation(&self, work: &Path) -> Invocation {
        invocation(
            &reference_interface("directory"),
            work,
            &[self.target.to_str().unwrap()],
        )
    }

    fn id() -> ComponentId {
        ComponentId::new("webapp").unwrap()
    }

    /// Download and ArtifactInstall of an Artifact named `name` holding `files`, as the
    /// engine would run them. Returns the File API directory for the later states.
    async fn install(&self, name: &str, files: &[(&str, &str)]) -> Invocation {
        remove_component_dir(&self.work_root, &Self::id()).unwrap();
        let scratch = self.invocation(&self.work_root);
        let provides = self.runner.provides(&scratch).await.unwrap();
        let current =
            CurrentArtifact::from_provides(&scratch.component_type, &scratch.interface, &provides);
        let header = HeaderFiles {
            artifact_name: name.into(),
            payload_type: "directory".into(),
            ..HeaderFiles::default()
        };
        let dir = FileApiDir::create(&self.work_root, &Self::id(), &current, &header).unwrap();
        let inv = self.invocation(dir.path());
        let with_sizes = self.runner.provide_sizes(&inv).await.unwrap();
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect();
        let feed = move |sink: &mut dyn PayloadSink| -> io::Result<()> {
            for (n, c) in &files {
                sink.file(n, c.len() as u64, &mut c.as_bytes())?;
            }
            Ok(())
        };
        let mode = DownloadMode {
            with_sizes,
            whole_artifact: false,
        };
        let out = download(&self.runner, &inv, mode, None, feed)
            .await
            .unwrap();
        assert_eq!(out.tree, PayloadTree::Streams);
        self.runner
            .run_state(&inv, State::ArtifactInstall)
            .await
            .unwrap();
        inv
    }

    async fn state(&self, inv: &Invocation, state: State) {
        self.runner.run_state(inv, state).await.unwrap();
    }

    async fn version(&self) -> String {
        let provides = self
            .runner
            .provides(&self.invocation(&self.work_root))
            .await
            .unwrap();
        provides
            .get("rootfs-image.directory.version")
            .unwrap()
            .to_owned()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.target.join(file)).unwrap()
    }

    fn releases(&self) -> Vec<String> {
        let mut r: Vec<String> =
            std::fs::read_dir(self.target.with_extension("d").join("releases"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
        r.sort();
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_commit_and_cleanup_leave_one_release() {
    let site = Site::new();
    assert_eq!(site.version().await, "", "nothing installed yet");
    assert!(site
        .runner
        .supports_rollback(&site.invocation(&site.work_root))
        .await
        .unwrap());

    let inv = site
        .install(
            "webapp-v1",
            &[("index.html", "<h1>v1</h1>"), ("app.js", "v1()")],
        )
        .await;
    assert_eq!(site.read("index.html"), "<h1>v1</h1>");
    assert_eq!(
        std::fs::read_link(&site.target).unwrap(),
        Path::new("webapp.d/releases/webapp-v1")
    );
    assert_eq!(site.version().await, "webapp-v1");
    site.state(&inv, State::ArtifactCommit).await;
    site.state(&inv, State::Cleanup).await;

    let inv = site
        .install("webapp-v2", &[("index.html", "<h1>v2</h1>")])
        .await;
    assert_eq!(site.read("index.html"), "<h1>v2</h1>");
    assert!(
        !site.target.join("app.js").exists(),
        "a release is the Artifact's files only"
    );
    assert_eq!(
        site.releases(),
        ["webapp-v1", "webapp-v2"],
        "the previous release is kept until Cleanup"
    );
    site.state(&inv, State::ArtifactCommit).await;
    site.state(&inv, State::Cleanup).await;
    assert_eq!(site.releases(), ["webapp-v2"]);
    assert_eq!(site.version().await, "webapp-v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_release_even_after_commit_and_twice() {
    let site = Site::new();
    let inv = site.install("webapp-v1", &[("index.html", "v1")]).await;
    site.state(&inv, State::ArtifactCommit).await;
    site.state(&inv, State::Cleanup).await;

    let inv = site.install("webapp-v2", &[("index.html", "v2")]).await;
    // Another component's commit failed: the whole System rolls back, this one included.
    site.state(&inv, State::ArtifactCommit).await;
    site.state(&inv, State::ArtifactRollback).await;
    site.state(&inv, State::ArtifactRollback).await; // after a crash, again
    site.state(&inv, State::ArtifactFailure).await;
    assert_eq!(site.read("index.html"), "v1");
    assert_eq!(site.version().await, "webapp-v1");
    site.state(&inv, State::Cleanup).await;
    assert_eq!(site.releases(), ["webapp-v1"]);

    // Rolling back a first install removes the target again.
    let fresh = Site::new();
    let inv = fresh.install("webapp-v1", &[("index.html", "v1")]).await;
    fresh.state(&inv, State::ArtifactRollback).await;
    assert!(std::fs::symlink_metadata(&fresh.target).is_err());
    assert_eq!(fresh.version().await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_directory_is_adopted_and_restored_by_rollback() {
    let site = Site::new();
    std::fs::create_dir(&site.target).unwrap();
    std::fs::write(site.target.join("index.html"), "hand-made").unwrap();
    assert_eq!(site.version().await, "");
    let inv = site.install("webapp-v1", &[("index.html", "v1")]).await;
    assert_eq!(site.read("index.html"), "v1");
    site.state(&inv, State::ArtifactRollback).await;
    assert_eq!(site.read("index.html"), "hand-made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_tree_installs_too() {
    let site = Site::new();
    let header = HeaderFiles {
        artifact_name: "webapp-v3".into(),
        ..HeaderFiles::default()
    };
    let dir = FileApiDir::create(
        &site.work_root,
        &Site::id(),
        &CurrentArtifact::default(),
        &header,
    )
    .unwrap();
    let mut files = FilesTreeSink::create(dir.path(), false, None).unwrap();
    files.file("index.html", 2, &mut &b"v3"[..]).unwrap();
    files.finish().unwrap();
    let inv = site.invocation(dir.path());
    site.state(&inv, State::ArtifactInstall).await;
    assert_eq!(site.read("index.html"), "v3");
    dir.remove().unwrap();
    assert_eq!(
        site.read("index.html"),
        "v3",
        "the release does not live in the File API tree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_flipped_target() {
    let site = Site::new();
    let inv = site.install("webapp-v1", &[("index.html", "v1")]).await;
    site.state(&inv, State::ArtifactCommit).await;
    site.state(&inv, State::Cleanup).await;

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, index) = (stop.clone(), site.target.join("index.html"));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let content = std::fs::read_to_string(&index).expect("the target always resolves");
                assert!(content == "v1" || content == "v2", "{content:?}");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..10 {
        let inv = site.install("webapp-v2", &[("index.html", "v2")]).await;
        site.state(&inv, State::ArtifactRollback).await;
        site.state(&inv, State::Cleanup).await;
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole releases");
    assert!(reads > 0);
}
