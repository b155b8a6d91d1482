//! baton's Artifact reader agrees with Debian's `mender-artifact` 3.9 on every Artifact the
//! tool writes (none, gzip, lzma; unsigned, RSA, EC; groups, depends, provides, meta-data,
//! several files, long names, bootstrap), on corrupted and wrongly signed ones, and on the
//! test kit's own Artifacts; zstd Artifacts (which 3.9 cannot write) come from the test kit
//! and from GNU tar plus the `zstd` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use baton::artifact::testkit::{ArtifactBuilder, Signer};
use baton::artifact::{verify_file, Compression, Limits, SignatureStatus, VerifyPolicy};
use e2e::fixture::keys::Keys;
use e2e::{need, ok, run};

const LONG: &str = "a-payload-file-with-a-name-longer-than-one-hundred-characters-which-mender-artifact-writes-with-pax-records.bin";

/// Every header feature mender-artifact 3.9 writes: two compatible types, several files
/// (one empty, one with a long name), a group, depends on names and groups, custom provides
/// and depends, meta-data and custom clears.
const FULL: &[&str] = &[
    "write",
    "module-image",
    "-T",
    "rtos-interface",
    "-t",
    "rtos",
    "-t",
    "rtos-b",
    "-f",
    "p1",
    "-f",
    "p2",
    "-f",
    "empty",
    "-f",
    LONG,
    "-n",
    "rtos-v2",
    "-g",
    "grp1",
    "-N",
    "rtos-v1",
    "-N",
    "rtos-v1b",
    "-G",
    "grp0",
    "-p",
    "custom.key:val",
    "-d",
    "hw.rev:3",
    "-m",
    "meta.json",
    "--clears-provides",
    "custom.*",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sign {
    No,
    Rsa,
    Ec,
}

/// `mender-artifact validate [-k key]`: true when it exits 0.
fn mender_validates(file: &Path, key: Option<&Path>) -> bool {
    let mut cmd = Command::new("mender-artifact");
    cmd.arg("validate");
    if let Some(k) = key {
        cmd.arg("-k").arg(k);
    }
    run(cmd.arg(file)).status.success()
}

fn baton_validates(file: &Path, key: Option<&Path>) -> Result<SignatureStatus, String> {
    let policy = VerifyPolicy::load(key.as_slice()).map_err(|e| e.to_string())?;
    verify_file(file, &policy, &Limits::default())
        .map(|(h, _)| h.signature)
        .map_err(|e| format!("{}: {e}", e.reason()))
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    keys: Keys,
}

fn fixture() -> Option<Fixture> {
    if !need::have(need::tools(&["mender-artifact", "openssl"])) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let keys = Keys::generate(&path);
    std::fs::write(
        path.join("p1"),
        (0..70_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(path.join("p2"), b"second file\n").unwrap();
    std::fs::write(path.join("empty"), b"").unwrap();
    std::fs::write(path.join(LONG), b"long name\n").unwrap();
    std::fs::write(
        path.join("meta.json"),
        br#"{"board":"rev-c","n":[1,2],"x":1.5}"#,
    )
    .unwrap();
    Some(Fixture {
        _dir: dir,
        dir: path,
        keys,
    })
}

impl Fixture {
    fn write(&self, out: &str, args: &[&str], compression: &str, sign: Sign) -> PathBuf {
        let path = self.dir.join(out);
        let mut cmd = Command::new("mender-artifact");
        cmd.current_dir(&self.dir)
            .args(args)
            .args(["--compression", compression]);
        match sign {
            Sign::No => {}
            Sign::Rsa => {
                cmd.arg("-k").arg(&self.keys.rsa);
            }
            Sign::Ec => {
                cmd.arg("-k").arg(&self.keys.ec);
            }
        }
        ok(cmd.arg("-o").arg(&path));
        path
    }

    fn key(&self, sign: Sign) -> Option<&Path> {
        match sign {
            Sign::No => None,
            Sign::Rsa => Some(&self.keys.rsa_pub),
            Sign::Ec => Some(&self.keys.ec_pub),
        }
    }

    fn other_key(&self, sign: Sign) -> &Path {
        match sign {
            Sign::Rsa => &self.keys.ec_pub,
            _ => &self.keys.rsa_pub,
        }
    }
}

/// Compares verdicts with and without keys; returns the number of comparisons made.
fn agree(fx: &Fixture, file: &Path, sign: Sign) -> usize {
    let what = file.display();
    // With the right key (or none for an unsigned Artifact).
    let key = fx.key(sign);
    assert!(
        mender_validates(file, key),
        "{what}: mender-artifact refused its own Artifact"
    );
    let got = baton_validates(file, key).unwrap_or_else(|e| panic!("{what}: baton refused: {e}"));
    assert_eq!(
        matches!(got, SignatureStatus::Verified { .. }),
        sign != Sign::No,
        "{what}"
    );
    // With the wrong key: both refuse (an unsigned Artifact is refused when keys are set).
    let wrong = fx.other_key(sign);
    assert!(!mender_validates(file, Some(wrong)), "{what}");
    assert!(baton_validates(file, Some(wrong)).is_err(), "{what}");
    // Without a key: mender-artifact validate refuses a signed Artifact ("missing
    // verifier"); baton, like the Mender client, accepts it as signed but not verified.
    if sign != Sign::No {
        assert!(!mender_validates(file, None), "{what}");
        assert_eq!(
            baton_validates(file, None),
            Ok(SignatureStatus::SignedNotVerified),
            "{what}"
        );
    }
    // One flipped byte in the header member and one in the data member: both refuse.
    let bytes = std::fs::read(file).unwrap();
    let mut n = 3;
    for member in ["header.tar", "data/0000.tar"] {
        let Some(at) = find(&bytes, member.as_bytes()) else {
            continue;
        };
        // Content starts at the next block; flip a byte a little into it.
        let content = (at / 512 + 1) * 512;
        let size = member_size(&bytes[at - at % 512..]);
        if size == 0 {
            continue;
        }
        let mut bad = bytes.clone();
        bad[content + size / 2] ^= 0x10;
        let bad_path = fx.dir.join(format!(
            "bad-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&bad_path, &bad).unwrap();
        let mender = mender_validates(&bad_path, key);
        let baton = baton_validates(&bad_path, key);
        assert_eq!(
            mender,
            baton.is_ok(),
            "{what}: flip in {member}: mender {mender}, baton {baton:?}"
        );
        assert!(!mender, "{what}: flip in {member} accepted");
        n += 1;
    }
    n
}

/// The tar header block naming `needle` (names start on a block boundary).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..hay.len())
        .step_by(512)
        .find(|&i| hay[i..].starts_with(needle))
}

fn member_size(header: &[u8]) -> usize {
    let field = std::str::from_utf8(&header[124..135]).unwrap();
    usize::from_str_radix(field.trim_matches(|c| c == '\0' || c == ' '), 8).unwrap()
}

#[test]
fn verdicts_match_mender_artifact_on_what_it_writes() {
    let Some(fx) = fixture() else { return };
    let plain = [
        "write",
        "module-image",
        "-T",
        "rtos-interface",
        "-t",
        "rtos",
        "-f",
        "p1",
        "-n",
        "rtos-v1",
    ];
    let full = FULL;
    let partition = [
        "write",
        "module-image",
        "-T",
        "mender-orchestrator-manifest",
        "-t",
        "gateway",
        "-f",
        "p2",
        "-n",
        "system-core-v1",
        "--software-filesystem",
        "data-partition",
        "--no-default-clears-provides",
    ];
    let bootstrap = ["write", "bootstrap-artifact", "-n", "boot-v0", "-t", "rtos"];
    let mut compared = 0;
    for compression in ["none", "gzip", "lzma"] {
        let file = fx.write(
            &format!("plain-{compression}.mender"),
            &plain,
            compression,
            Sign::No,
        );
        compared += agree(&fx, &file, Sign::No);
        for sign in [Sign::No, Sign::Rsa, Sign::Ec] {
            let file = fx.write(
                &format!("full-{compression}-{sign:?}.mender"),
                full,
                compression,
                sign,
            );
            compared += agree(&fx, &file, sign);
        }
    }
    for (name, args) in [("partition", &partition[..]), ("bootstrap", &bootstrap[..])] {
        for sign in [Sign::No, Sign::Ec] {
            let file = fx.write(&format!("{name}-{sign:?}.mender"), args, "gzip", sign);
            compared += agree(&fx, &file, sign);
        }
    }
    eprintln!("{compared} verdicts compared with mender-artifact validate");
    assert!(compared >= 60, "{compared}");
}

#[test]
fn headers_read_back_what_mender_artifact_wrote() {
    let Some(fx) = fixture() else { return };
    let args = FULL;
    let file = fx.write("h.mender", args, "gzip", Sign::Rsa);
    let policy = VerifyPolicy::load(&[&fx.keys.rsa_pub]).unwrap();
    let (h, v) = verify_file(&file, &policy, &Limits::default()).unwrap();
    assert_eq!(h.name, "rtos-v2");
    assert_eq!(h.group.as_deref(), Some("grp1"));
    assert_eq!(h.payload_type.as_deref(), Some("rtos-interface"));
    assert_eq!(h.device_types, ["rtos", "rtos-b"]);
    assert_eq!(h.depends_artifact_names, ["rtos-v1", "rtos-v1b"]);
    assert_eq!(h.depends_groups, ["grp0"]);
    let provides = serde_json::to_value(&h.provides).unwrap();
    assert_eq!(provides["custom.key"], "val");
    assert_eq!(provides["rootfs-image.rtos-interface.version"], "rtos-v2");
    assert_eq!(serde_json::to_value(&h.depends).unwrap()["hw.rev"], "3");
    let clears = h.clears_provides.clone().unwrap();
    assert!(clears.contains(&"custom.*".to_string()), "{clears:?}");
    assert_eq!(h.meta_data.as_ref().unwrap()["board"], "rev-c");
    assert_eq!(h.header_compression, Compression::Gzip);
    let mut names: Vec<_> = v.files().iter().map(|(n, s)| (n.as_str(), *s)).collect();
    names.sort();
    let mut want = vec![("p1", 70_000), ("p2", 12), ("empty", 0), (LONG, 10)];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(h.total_size, Some(std::fs::metadata(&file).unwrap().len()));
    // The raw header files are kept verbatim for the File API.
    assert!(String::from_utf8_lossy(&h.raw.header_info).contains("\"artifact_name\":\"rtos-v2\""));
}

#[test]
fn mender_artifact_validates_what_the_test_kit_writes() {
    let Some(fx) = fixture() else { return };
    let rsa = Signer::from_pem(&std::fs::read_to_string(&fx.keys.rsa).unwrap()).unwrap();
    let ec = Signer::from_pem(&std::fs::read_to_string(&fx.keys.ec).unwrap()).unwrap();
    for c in [Compression::None, Compression::Gzip, Compression::Xz] {
        for (signer, key) in [
            (None, None),
            (Some(&rsa), Some(&fx.keys.rsa_pub)),
            (Some(&ec), Some(&fx.keys.ec_pub)),
        ] {
            let mut b = ArtifactBuilder::new("kit-v1", "rtos-interface", "rtos")
                .file("a.bin", vec![7u8; 10_000])
                .file(LONG, b"x".to_vec())
                .compression(c);
            b.group = Some("g".into());
            b.meta_data = Some(serde_json::json!({"k": "v"}));
            if let Some(s) = signer {
                b = b.signed(s.clone());
            }
            let path = fx.dir.join(format!("kit-{c}-{}.mender", key.is_some()));
            std::fs::write(&path, b.build()).unwrap();
            let key = key.map(PathBuf::as_path);
            assert!(mender_validates(&path, key), "{c} {key:?}");
            assert!(baton_validates(&path, key).is_ok(), "{c} {key:?}");
        }
    }
}

/// zstd Artifacts from two producers: the test kit, and GNU tar plus the `zstd` CLI
/// repacking an Artifact mender-artifact wrote uncompressed.
#[test]
fn zstd_artifacts_are_read() {
    let Some(fx) = fixture() else { return };
    if !need::have(need::tools(&["zstd", "tar"])) {
        return;
    }
    let kit = ArtifactBuilder::new("z-v1", "rtos-interface", "rtos")
        .file(
            "a.bin",
            (0..300_000u32).map(|i| (i / 7) as u8).collect::<Vec<_>>(),
        )
        .compression(Compression::Zstd)
        .signed(Signer::from_pem(&std::fs::read_to_string(&fx.keys.ec).unwrap()).unwrap());
    let kit_path = fx.dir.join("kit-zstd.mender");
    std::fs::write(&kit_path, kit.build()).unwrap();
    let (h, v) = verify_file(
        &kit_path,
        &VerifyPolicy::load(&[&fx.keys.ec_pub]).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        (h.header_compression, h.data_compression),
        (Compression::Zstd, Some(Compression::Zstd))
    );
    assert_eq!(v.payload_bytes(), 300_000);
    // The zstd CLI reads the test kit's frames too.
    let x = fx.dir.join("x");
    std::fs::create_dir(&x).unwrap();
    ok(Command::new("tar").current_dir(&x).arg("xf").arg(&kit_path));
    ok(Command::new("zstd")
        .args(["-t", "-q"])
        .arg(x.join("data/0000.tar.zst")));

    // Repack: mender-artifact (none) -> zstd CLI -> new manifest -> GNU tar.
    let src = fx.write(
        "for-zstd.mender",
        &[
            "write",
            "module-image",
            "-T",
            "t",
            "-t",
            "d",
            "-f",
            "p1",
            "-f",
            "p2",
            "-n",
            "n1",
        ],
        "none",
        Sign::No,
    );
    let r = fx.dir.join("repack");
    std::fs::create_dir(&r).unwrap();
    ok(Command::new("tar").current_dir(&r).arg("xf").arg(&src));
    ok(Command::new("zstd")
        .current_dir(&r)
        .args(["-q", "--rm", "header.tar", "data/0000.tar"]));
    let manifest = std::fs::read_to_string(r.join("manifest")).unwrap();
    let header_sum = String::from_utf8(
        ok(Command::new("sha256sum")
            .current_dir(&r)
            .arg("header.tar.zst"))
        .stdout,
    )
    .unwrap();
    let header_sum = header_sum.split_whitespace().next().unwrap();
    let mut lines: Vec<String> = manifest
        .lines()
        .map(|l| {
            if l.ends_with("  header.tar") {
                format!("{header_sum}  header.tar.zst")
            } else {
                l.to_owned()
            }
        })
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    std::fs::write(r.join("manifest"), lines.join("\n") + "\n").unwrap();
    let out = fx.dir.join("repacked-zstd.mender");
    ok(Command::new("tar")
        .current_dir(&r)
        .args(["--format=gnu", "-cf"])
        .arg(&out)
        .args(["version", "manifest", "header.tar.zst", "data/0000.tar.zst"]));
    let (h, v) = verify_file(&out, &VerifyPolicy::none(), &Limits::default()).unwrap();
    assert_eq!(h.name, "n1");
    assert_eq!(h.data_compression, Some(Compression::Zstd));
    assert_eq!(v.payload_bytes(), 70_000 + 12);
}
