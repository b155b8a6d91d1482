//! The watched directory through real inotify, with the fake Deployer behind the daemon:
//! only complete files are read, temporary names and dotfiles are ignored, symlinks are
//! refused without reading their target, and no file is applied twice across restarts.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::daemon_support::*;
use baton::model::{ConditionStatus::*, ConditionType::*};

/// Writes under a temporary name, then renames into place (what careful tools do).
fn drop_file(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

async fn until_exists(p: &Path) {
    for _ in 0..1000 {
        if p.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never appeared", p.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_files_become_desired_or_are_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let watch = dir.path().join("watch");

    drop_file(&watch, "v2.yaml", VALID);
    let s = d
        .until("ready", |s| {
            s.observed_generation == 1
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == Ready && c.status == True)
        })
        .await;
    assert_eq!(s.desired_manifest.as_deref(), Some("m2"));
    assert!(watch.join("applied/1-v2.yaml").exists());
    assert!(!watch.join("v2.yaml").exists());

    // Invalid: moved aside with an .error naming the problem; the desired state stays.
    drop_file(&watch, "bad.yaml", &VALID.replace("order: 1", "order: 0"));
    // The explanation is written first and the file moved next (a crash in between leaves
    // the file to be refused again, never unexplained): wait for both.
    until_exists(&watch.join("rejected/bad.yaml.error")).await;
    until_exists(&watch.join("rejected/bad.yaml")).await;
    let why = std::fs::read_to_string(watch.join("rejected/bad.yaml.error")).unwrap();
    assert!(why.contains("update_strategy.order"), "{why}");
    assert!(watch.join("rejected/bad.yaml").exists());
    assert_eq!(d.client().await.status().await.unwrap().generation, 1);

    // A symlink is refused and its target is not read.
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    std::os::unix::fs::symlink(&secret, watch.join("link.yaml")).unwrap();
    until_exists(&watch.join("rejected/link.yaml.error")).await;
    until_exists(&watch.join("rejected/link.yaml")).await;
    let why = std::fs::read_to_string(watch.join("rejected/link.yaml.error")).unwrap();
    assert!(
        why.contains("symbolic link") && !why.contains("TOP-SECRET"),
        "{why}"
    );
    assert!(std::fs::symlink_metadata(watch.join("rejected/link.yaml"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "TOP-SECRET-CONTENT"
    );

    // Dotfiles and temporary names are never read.
    std::fs::write(watch.join(".hidden.yaml"), VALID.replace("m2", "m-hidden")).unwrap();
    std::fs::write(watch.join("v9.yaml.tmp"), "not: [yaml").unwrap();
    std::fs::write(watch.join("v9.yaml~"), "not: [yaml").unwrap();

    // A file being written slowly is read only once closed.
    let slow = watch.join("v3.yaml");
    let text = VALID
        .replace("m2", "m3")
        .replace("artifact_name: v2", "artifact_name: v3");
    {
        let mut f = std::fs::File::create(&slow).unwrap();
        let (a, b) = text.split_at(text.len() / 2);
        f.write_all(a.as_bytes()).unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(slow.exists(), "a half-written file must not be taken");
        f.write_all(b.as_bytes()).unwrap();
    }
    let s = d
        .until("m3", |s| {
            s.desired_manifest.as_deref() == Some("m3") && s.observed_generation == 2
        })
        .await;
    assert_eq!(s.generation, 2, "the ignored files made no generation");
    assert!(
        watch.join(".hidden.yaml").exists()
            && watch.join("v9.yaml.tmp").exists()
            && watch.join("v9.yaml~").exists()
    );
    assert!(!watch.join("rejected/v3.yaml").exists());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_present_at_start_are_taken_once_and_a_restart_applies_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let eff = effective(dir.path(), serde_json::json!({}));
    let watch = dir.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::write(watch.join("a.yaml"), VALID).unwrap();
    std::fs::write(watch.join("broken.yaml"), "kind: [").unwrap();
    let d = Daemon::start(eff.clone(), &fake).await;
    d.until("ready", |s| s.observed_generation == 1).await;
    assert!(watch.join("applied/1-a.yaml").exists());
    assert!(watch.join("rejected/broken.yaml.error").exists());
    d.stop().await;

    // A restart finds nothing new to apply (and the old files stay where they are).
    let d = Daemon::start(eff.clone(), &fake).await;
    let s = d
        .until("recovered", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == Ready && c.status == True)
        })
        .await;
    assert_eq!(s.generation, 1);
    assert_eq!(fake.installs().len(), 1);
    d.stop().await;

    // A crash after apply and before the move: the same file, same content, found at start
    // is only moved aside, not applied again.
    std::fs::write(watch.join("a.yaml"), VALID).unwrap();
    let d = Daemon::start(eff, &fake).await;
    d.until("recovered", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == Ready && c.status == True)
    })
    .await;
    assert!(!watch.join("a.yaml").exists());
    assert_eq!(d.client().await.status().await.unwrap().generation, 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_files_ends_with_the_newest_as_the_desired_state() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let watch = dir.path().join("watch");
    for i in 0..50 {
        let text = VALID
            .replace("name: m2", &format!("name: m{i:02}"))
            .replace("artifact_name: v2", &format!("artifact_name: v{i:02}"));
        drop_file(&watch, &format!("{i:02}.yaml"), &text);
    }
    let s = d
        .until("m49 ready", |s| {
            s.desired_manifest.as_deref() == Some("m49")
                && s.observed_generation == s.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == Ready && c.status == True)
        })
        .await;
    assert_eq!(s.generation, 50);
    let installs = fake.installs();
    assert!(
        installs.len() < 10,
        "a burst is not deployed file by file: {}",
        installs.len()
    );
    assert_eq!(installs.last().unwrap().1, "m49");
    assert_eq!(
        std::fs::read_dir(watch.join("applied")).unwrap().count(),
        50
    );
    d.stop().await;
}
