//! The reader against Artifacts built by the test kit: valid ones in every codec, and every
//! kind of malicious one the issue lists. Each rejection is typed, and a rejection found
//! while opening means no payload byte reached the sink.

use std::io::{self, Read};

use super::testkit::{tar, ArtifactBuilder, LongNames, Parts, Signer, TarEntry};
use super::*;

const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Xz,
    Compression::Zstd,
];

/// Records what it was handed.
#[derive(Default)]
struct Recorder {
    files: Vec<(String, u64, Vec<u8>)>,
}

impl PayloadSink for Recorder {
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        let mut v = Vec::new();
        content.read_to_end(&mut v)?;
        self.files.push((name.to_owned(), size, v));
        Ok(())
    }
}

fn builder() -> ArtifactBuilder {
    ArtifactBuilder::new("rtos-v1", "rtos-interface", "rtos")
        .file(
            "payload.bin",
            (0..5000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<u8>>(),
        )
        .file("second", b"hello\n".to_vec())
}

fn keys(s: &Signer) -> VerifyPolicy {
    VerifyPolicy {
        keys: vec![VerifyKey::from_pem("test-key", &s.public_pem()).unwrap()],
    }
}

/// Opens and streams; returns the verdict and what the sink got, and whether the error (if
/// any) came from `open` (before any payload byte).
fn run(
    bytes: &[u8],
    policy: &VerifyPolicy,
    limits: &Limits,
) -> (Result<Verified, ArtifactError>, Recorder, bool) {
    let mut rec = Recorder::default();
    match ArtifactReader::open(bytes, policy, limits) {
        Err(e) => (Err(e), rec, true),
        Ok(r) => {
            let v = r.stream_payload(&mut rec);
            (v, rec, false)
        }
    }
}

fn reason(bytes: &[u8], policy: &VerifyPolicy) -> &'static str {
    match run(bytes, policy, &Limits::default()).0 {
        Ok(_) => "accepted",
        Err(e) => e.reason(),
    }
}

/// The reason, asserting the rejection happened before any payload byte was handed on.
fn reason_at_open(bytes: &[u8], policy: &VerifyPolicy) -> &'static str {
    let (v, rec, at_open) = run(bytes, policy, &Limits::default());
    let r = v.err().map_or("accepted", |e| e.reason());
    assert!(
        at_open || r == "accepted",
        "{r}: rejected only after the payload was streamed"
    );
    assert!(rec.files.is_empty());
    r
}

#[test]
fn valid_artifacts_in_every_codec_roundtrip() {
    let signer = Signer::ec_from_seed(3);
    for c in CODECS {
        for signed in [false, true] {
            let mut b = builder().compression(c);
            b.group = Some("grp".into());
            b.meta_data = Some(serde_json::json!({"a": 1, "b": ["x"]}));
            let policy = if signed {
                b = b.signed(signer.clone());
                keys(&signer)
            } else {
                VerifyPolicy::none()
            };
            let bytes = b.build();
            let reader = ArtifactReader::open(&bytes[..], &policy, &Limits::default())
                .unwrap_or_else(|e| panic!("{c} signed={signed}: {e}"));
            let h = reader.header().clone();
            assert_eq!(h.name, "rtos-v1");
            assert_eq!(h.group.as_deref(), Some("grp"));
            assert_eq!(h.payload_type.as_deref(), Some("rtos-interface"));
            assert_eq!(h.device_types, ["rtos"]);
            assert_eq!(h.header_compression, c);
            assert_eq!(h.data_compression, Some(c));
            assert_eq!(h.meta_data, b.meta_data);
            assert_eq!(
                h.clears_provides,
                Some(vec!["rootfs-image.rtos-interface.*".to_string()])
            );
            assert_eq!(h.payload_files.len(), 2);
            assert_eq!(
                matches!(h.signature, SignatureStatus::Verified { .. }),
                signed
            );
            let mut rec = Recorder::default();
            let v = reader.stream_payload(&mut rec).unwrap();
            assert_eq!(v.files().len(), 2);
            let got: Vec<_> = rec
                .files
                .iter()
                .map(|(n, s, d)| (n.clone(), d.clone(), *s))
                .collect();
            let want: Vec<_> = b
                .files
                .iter()
                .map(|(n, d)| (n.clone(), d.clone(), d.len() as u64))
                .collect();
            assert_eq!(got, want);
        }
    }
}

#[test]
fn long_names_as_pax_and_gnu_are_read() {
    let long = "n".repeat(124);
    for style in [LongNames::Pax, LongNames::Gnu] {
        let mut b = builder().file(&long, b"long".to_vec());
        b.long_names = style;
        let (v, rec, _) = run(&b.build(), &VerifyPolicy::none(), &Limits::default());
        v.unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert!(rec.files.iter().any(|(n, _, d)| *n == long && d == b"long"));
    }
}

#[test]
fn bootstrap_artifacts_have_no_payload() {
    let b = ArtifactBuilder::bootstrap("boot-v0", "rtos");
    let (v, rec, _) = run(&b.build(), &VerifyPolicy::none(), &Limits::default());
    assert!(v.unwrap().files().is_empty());
    assert!(rec.files.is_empty());
}

#[test]
fn a_sink_that_stops_early_does_not_weaken_verification() {
    struct Lazy;
    impl PayloadSink for Lazy {
        fn file(&mut self, _: &str, _: u64, c: &mut (dyn Read + Send)) -> io::Result<()> {
            c.take(10).read_to_end(&mut Vec::new()).map(drop)
        }
    }
    let good = builder().compression(Compression::None).build();
    let r = ArtifactReader::open(&good[..], &VerifyPolicy::none(), &Limits::default()).unwrap();
    assert!(r.stream_payload(&mut Lazy).is_ok());
    // A flipped byte late in the first payload file, past what the sink read.
    let mut bad = good.clone();
    let at = find(
        &bad,
        &[
            (4000u32 * 7 % 251) as u8,
            (4001u32 * 7 % 251) as u8,
            (4002u32 * 7 % 251) as u8,
        ],
    );
    bad[at] ^= 1;
    let r = ArtifactReader::open(&bad[..], &VerifyPolicy::none(), &Limits::default()).unwrap();
    assert_eq!(
        r.stream_payload(&mut Lazy).unwrap_err().reason(),
        "checksum_mismatch"
    );
}

/// Small data members are decoded on the reading thread and larger ones on a second thread
/// (`READ_AHEAD_ABOVE`): both ways hand over every byte and catch a corrupted payload.
#[test]
fn data_members_on_both_sides_of_the_read_ahead_size_verify_alike() {
    // Incompressible (xorshift), so the stored size is the payload's in every codec.
    let noise = |len: u32| -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    };
    for c in CODECS {
        for (len, ahead) in [(2_000, false), (300_000, true)] {
            let b = builder().file("noise", noise(len)).compression(c);
            let parts = b.parts();
            let bytes = parts.assemble();
            let entries = parts.entries();
            let (data, before) = entries.split_last().expect("a data member");
            assert!(data.name.starts_with("data/0000"), "{}", data.name);
            let stored = data.data.len() as u64;
            let data_at: usize = before
                .iter()
                .map(|e| 512 + e.data.len().next_multiple_of(512))
                .sum::<usize>()
                + 512;
            assert_eq!(
                stored > reader::READ_AHEAD_ABOVE,
                ahead,
                "{c}: {stored} bytes stored"
            );

            let (v, rec, _) = run(&bytes, &VerifyPolicy::none(), &Limits::default());
            assert_eq!(v.unwrap().files().len(), 3, "{c}, {len}");
            assert_eq!(rec.files[2].2, noise(len), "{c}, {len}");

            let mut bad = bytes.clone();
            bad[data_at + data.data.len() / 2] ^= 1;
            let r = reason(&bad, &VerifyPolicy::none());
            assert_ne!(r, "accepted", "{c}, {len}: a flipped payload byte");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .expect("needle")
}

/// Every single flipped byte of a signed, uncompressed Artifact is caught: tar header
/// checksums, zero padding, the signature and the manifest checksums cover every byte.
#[test]
fn every_flipped_byte_is_rejected() {
    let signer = Signer::ec_from_seed(5);
    let policy = keys(&signer);
    let bytes = builder()
        .compression(Compression::None)
        .signed(signer)
        .build();
    assert_eq!(reason(&bytes, &policy), "accepted");
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        let (v, rec, at_open) = run(&bad, &policy, &Limits::default());
        let e = v
            .err()
            .unwrap_or_else(|| panic!("flip at byte {i} accepted"));
        if at_open {
            assert!(rec.files.is_empty());
        }
        *reasons.entry(e.reason()).or_default() += 1;
    }
    for r in ["checksum_mismatch", "format", "signature_invalid"] {
        assert!(reasons.contains_key(r), "{reasons:?}");
    }
}

/// In compressed Artifacts, a flip in each member's tar header and in the middle of each
/// member's content is caught; for every member but the data tar, before the payload.
#[test]
fn a_flip_in_each_member_is_rejected() {
    let signer = Signer::ec_from_seed(6);
    let policy = keys(&signer);
    for c in CODECS {
        let b = builder().compression(c).signed(signer.clone());
        let parts = b.parts();
        let bytes = parts.assemble();
        let mut offset = 0;
        for entry in parts.entries() {
            let header_at = offset + if entry.name.len() > 100 { 1024 } else { 0 };
            let content_at = header_at + 512 + entry.data.len() / 2;
            for at in [header_at + 10, header_at + 130, content_at] {
                let mut bad = bytes.clone();
                bad[at] ^= 0x01;
                let r = if entry.name.starts_with("data/") && at == content_at {
                    reason(&bad, &policy)
                } else {
                    reason_at_open(&bad, &policy)
                };
                assert_ne!(r, "accepted", "{c}: flip in {} at {at}", entry.name);
            }
            offset = header_at + 512 + entry.data.len().next_multiple_of(512);
        }
    }
}

#[test]
fn truncation_anywhere_is_rejected() {
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for c in CODECS {
        let bytes = builder().file("big", big.clone()).compression(c).build();
        assert_eq!(reason(&bytes, &VerifyPolicy::none()), "accepted");
        let step = if bytes.len() > 64 << 10 { 4096 } else { 512 };
        for cut in (0..bytes.len())
            .step_by(step)
            .chain([bytes.len() - 1, bytes.len() - 512])
        {
            let r = reason(&bytes[..cut], &VerifyPolicy::none());
            assert!(
                r == "truncated" || r == "format",
                "{c}: cut at {cut} gave {r}"
            );
        }
    }
}

fn swap_members(parts: &Parts, f: impl FnOnce(&mut Vec<TarEntry>)) -> Vec<u8> {
    let mut e = parts.entries();
    f(&mut e);
    tar(&e)
}

#[test]
fn members_out_of_order_or_duplicated_are_rejected() {
    let signer = Signer::ec_from_seed(8);
    let policy = keys(&signer);
    let parts = builder().signed(signer).parts();
    // version, manifest, manifest.sig, header.tar.gz, data/0000.tar.gz
    type Edit = fn(&mut Vec<TarEntry>);
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("manifest first", |e| e.swap(0, 1), "order"),
        ("signature before manifest", |e| e.swap(1, 2), "order"),
        ("header before signature", |e| e.swap(2, 3), "unsigned"),
        ("data before header", |e| e.swap(3, 4), "order"),
        ("version twice", |e| e.insert(1, e[0].clone()), "order"),
        ("manifest twice", |e| e.insert(2, e[1].clone()), "order"),
        ("signature twice", |e| e.insert(3, e[2].clone()), "order"),
        ("header twice", |e| e.insert(4, e[3].clone()), "order"),
        ("no version", |e| drop(e.remove(0)), "order"),
        ("no header", |e| drop(e.remove(3)), "order"),
        (
            "unknown member",
            |e| e.insert(4, TarEntry::file("extra", b"x".to_vec())),
            "order",
        ),
    ];
    for (what, edit, want) in cases {
        let bytes = swap_members(&parts, edit);
        assert_eq!(reason_at_open(&bytes, &policy), want, "{what}");
    }
    // A second data member comes after the payload: refused before the verdict.
    let twice = swap_members(&parts, |e| e.push(e[4].clone()));
    assert_eq!(reason(&twice, &policy), "order");
}

fn with_data(entries: Vec<TarEntry>) -> ArtifactBuilder {
    let mut b = builder();
    b.data_entries = Some(entries);
    b
}

#[test]
fn hostile_data_tar_entries_are_rejected() {
    let files = builder().files;
    let file = |i: usize| TarEntry::file(files[i].0.clone(), files[i].1.clone());
    let link = |typeflag: u8, target: &str| TarEntry {
        typeflag,
        link: target.into(),
        ..TarEntry::file("payload.bin", Vec::new())
    };
    let cases: Vec<(&str, Vec<TarEntry>, &str)> = vec![
        (
            "dot-dot",
            vec![
                TarEntry::file("../payload.bin", files[0].1.clone()),
                file(1),
            ],
            "traversal",
        ),
        (
            "absolute",
            vec![
                TarEntry::file("/etc/payload.bin", files[0].1.clone()),
                file(1),
            ],
            "traversal",
        ),
        (
            "sub directory",
            vec![TarEntry::file("a/payload.bin", files[0].1.clone()), file(1)],
            "traversal",
        ),
        ("symlink", vec![link(b'2', "/etc/shadow"), file(1)], "link"),
        ("hardlink", vec![link(b'1', "/etc/shadow"), file(1)], "link"),
        (
            "directory",
            vec![
                TarEntry {
                    typeflag: b'5',
                    ..TarEntry::file("d", Vec::new())
                },
                file(0),
                file(1),
            ],
            "file_type",
        ),
        (
            "fifo",
            vec![
                TarEntry {
                    typeflag: b'6',
                    ..TarEntry::file("f", Vec::new())
                },
                file(0),
                file(1),
            ],
            "file_type",
        ),
        (
            "char device",
            vec![
                TarEntry {
                    typeflag: b'3',
                    ..TarEntry::file("c", Vec::new())
                },
                file(0),
                file(1),
            ],
            "file_type",
        ),
        (
            "setuid",
            vec![
                TarEntry {
                    mode: 0o4755,
                    ..file(0)
                },
                file(1),
            ],
            "file_type",
        ),
        (
            "pax size larger",
            vec![
                TarEntry {
                    pax_size: Some(6000),
                    ..file(0)
                },
                file(1),
            ],
            "size_mismatch",
        ),
        (
            "pax size smaller",
            vec![
                TarEntry {
                    pax_size: Some(10),
                    ..file(0)
                },
                file(1),
            ],
            "size_mismatch",
        ),
        (
            "duplicate file",
            vec![file(0), file(0), file(1)],
            "duplicate",
        ),
        (
            "unlisted file",
            vec![file(0), file(1), TarEntry::file("extra", b"x".to_vec())],
            "not_in_manifest",
        ),
        ("missing file", vec![file(0)], "missing_files"),
        (
            "name over 255 bytes",
            vec![
                TarEntry::file("x".repeat(300), b"x".to_vec()),
                file(0),
                file(1),
            ],
            "size_limit",
        ),
    ];
    for (what, entries, want) in cases {
        let (v, rec, _) = run(
            &with_data(entries).build(),
            &VerifyPolicy::none(),
            &Limits::default(),
        );
        let e = v.expect_err(what);
        assert_eq!(e.reason(), want, "{what}: {e}");
        if want != "duplicate" && want != "not_in_manifest" && want != "missing_files" {
            assert!(
                rec.files
                    .iter()
                    .all(|(n, _, _)| n != "payload.bin" || want == "size_mismatch"),
                "{what}"
            );
        }
    }
}

#[test]
fn a_pax_size_that_agrees_is_accepted() {
    let files = builder().files;
    let entries = vec![
        TarEntry {
            pax_size: Some(files[0].1.len() as u64),
            ..TarEntry::file(files[0].0.clone(), files[0].1.clone())
        },
        TarEntry::file(files[1].0.clone(), files[1].1.clone()),
    ];
    assert_eq!(
        reason(&with_data(entries).build(), &VerifyPolicy::none()),
        "accepted"
    );
}

#[test]
fn hostile_outer_members_are_rejected_before_the_payload() {
    let parts = builder().parts();
    let edit = |f: &dyn Fn(&mut Vec<TarEntry>)| {
        let mut e = parts.entries();
        f(&mut e);
        tar(&e)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "symlink version",
            edit(&|e| {
                e[0].typeflag = b'2';
                e[0].link = "/etc/passwd".into();
            }),
            "link",
        ),
        (
            "hardlink manifest",
            edit(&|e| {
                e[1].typeflag = b'1';
                e[1].link = "version".into();
            }),
            "link",
        ),
        (
            "absolute header",
            edit(&|e| e[2].name = "/header.tar.gz".into()),
            "traversal",
        ),
        (
            "dot-dot member",
            edit(&|e| e.insert(2, TarEntry::file("../x", b"x".to_vec()))),
            "traversal",
        ),
        (
            "pax size disagrees",
            edit(&|e| e[1].pax_size = Some(3)),
            "size_mismatch",
        ),
        (
            "manifest over the cap",
            edit(&|e| e[1].data = vec![b'a'; 70 << 10]),
            "size_limit",
        ),
        (
            "augmented",
            edit(&|e| e.insert(2, TarEntry::file("manifest-augment", b"x".to_vec()))),
            "unsupported",
        ),
        (
            "version 2",
            edit(&|e| e[0].data = br#"{"format":"mender","version":2}"#.to_vec()),
            "unsupported",
        ),
        (
            "bad version",
            edit(&|e| e[0].data = br#"{"format":"other","version":3}"#.to_vec()),
            "format",
        ),
        (
            "garbage after the end",
            {
                let mut b = parts.assemble();
                b.extend_from_slice(b"junk");
                b
            },
            "accepted",
        ),
    ];
    for (what, bytes, want) in cases {
        if want == "accepted" {
            // Junk after the end marker is refused, but only once the payload was read.
            assert_eq!(reason(&bytes, &VerifyPolicy::none()), "format", "{what}");
        } else {
            assert_eq!(
                reason_at_open(&bytes, &VerifyPolicy::none()),
                want,
                "{what}"
            );
        }
    }
}

#[test]
fn signature_policy_is_enforced() {
    let a = Signer::ec_from_seed(10);
    let b = Signer::ec_from_seed(11);
    let unsigned = builder().build();
    let signed_a = builder().signed(a.clone()).parts();
    assert_eq!(reason_at_open(&unsigned, &keys(&a)), "unsigned");
    assert_eq!(
        reason_at_open(&signed_a.assemble(), &keys(&b)),
        "signature_invalid"
    );
    assert_eq!(
        reason(&signed_a.assemble(), &VerifyPolicy::none()),
        "accepted"
    );
    let both = VerifyPolicy {
        keys: [keys(&b).keys, keys(&a).keys].concat(),
    };
    assert_eq!(reason(&signed_a.assemble(), &both), "accepted");
    // A signature moved from another Artifact signed with the same key.
    let other = ArtifactBuilder::new("rtos-v2", "rtos-interface", "rtos")
        .file("payload.bin", b"other".to_vec())
        .signed(a.clone())
        .parts();
    let mut moved = signed_a.clone();
    moved.signature = other.signature.clone();
    assert_eq!(
        reason_at_open(&moved.assemble(), &keys(&a)),
        "signature_invalid"
    );
    // A DER signature verifies too.
    let Signer::Ec { key, .. } = a.clone() else {
        unreachable!()
    };
    let der = builder().signed(Signer::Ec { key, der: true }).build();
    assert_eq!(reason(&der, &keys(&a)), "accepted");
}

#[test]
fn a_decompression_bomb_stops_at_the_cap() {
    let zeros = vec![0u8; 4 << 20];
    for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
        let bytes = ArtifactBuilder::new("bomb", "t", "d")
            .file("z", zeros.clone())
            .compression(c)
            .build();
        assert!(bytes.len() < 64 << 10, "{c}: {}", bytes.len());
        let limits = Limits {
            payload_bytes: 1 << 20,
            ..Limits::default()
        };
        let (v, _, _) = run(&bytes, &VerifyPolicy::none(), &limits);
        assert_eq!(v.unwrap_err().reason(), "size_limit", "{c}");
    }
}

#[test]
fn verify_whole_copies_every_byte_and_verifies() {
    let bytes = builder().compression(Compression::None).build();
    let mut out = Vec::new();
    let (h, v) = verify_whole(
        &bytes[..],
        &VerifyPolicy::none(),
        &Limits::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, bytes);
    assert_eq!(h.total_size, Some(bytes.len() as u64));
    assert_eq!(v.files().len(), 2);
    let mut bad = bytes.clone();
    let at = find(&bad, b"hello\n");
    bad[at] ^= 1;
    let err = verify_whole(
        &bad[..],
        &VerifyPolicy::none(),
        &Limits::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "checksum_mismatch");
}

#[test]
fn directory_sink_stores_files_and_never_follows_links() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = builder().build();
    let mut sink = DirectorySink::new(dir.path()).unwrap();
    let r = ArtifactReader::open(&bytes[..], &VerifyPolicy::none(), &Limits::default()).unwrap();
    r.stream_payload(&mut sink).unwrap();
    assert_eq!(sink.finish().unwrap(), ["payload.bin", "second"]);
    assert_eq!(
        std::fs::read(dir.path().join("second")).unwrap(),
        b"hello\n"
    );

    let dir2 = tempfile::tempdir().unwrap();
    let target = dir2.path().join("target");
    std::os::unix::fs::symlink(&target, dir2.path().join("payload.bin")).unwrap();
    let mut sink = DirectorySink::new(dir2.path()).unwrap();
    let r = ArtifactReader::open(&bytes[..], &VerifyPolicy::none(), &Limits::default()).unwrap();
    assert_eq!(r.stream_payload(&mut sink).unwrap_err().reason(), "sink");
    assert!(!target.exists());
}

/// With a verifying first pass, not even a corrupted payload member hands a byte on.
#[test]
fn verify_then_stream_hands_nothing_from_an_invalid_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mender");
    for c in CODECS {
        let bytes = builder().compression(c).build();
        let parts = builder().compression(c).parts();
        let data_at = bytes.len() - 1024 - parts.data.as_ref().unwrap().len().next_multiple_of(512);
        let mut variants = vec![bytes[..bytes.len() - 2048].to_vec()];
        for at in [
            data_at + 200,
            data_at + parts.data.as_ref().unwrap().len() - 3,
        ] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x04;
            variants.push(bad);
        }
        for bad in variants {
            std::fs::write(&path, &bad).unwrap();
            let mut rec = Recorder::default();
            assert!(
                verify_then_stream(&path, &VerifyPolicy::none(), &Limits::default(), &mut rec)
                    .is_err(),
                "{c}"
            );
            assert!(rec.files.is_empty(), "{c}: a byte was handed on");
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut rec = Recorder::default();
        verify_then_stream(&path, &VerifyPolicy::none(), &Limits::default(), &mut rec).unwrap();
        assert_eq!(rec.files.len(), 2);
    }
}
