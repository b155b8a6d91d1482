//! Fuzzing the two parsers an attacker reaches first (reliability.md §9 rows 10, 17, 18): the
//! Manifest/Topology reader and the Artifact reader, with proptest, time-boxed.
//!
//! Every run first replays the whole corpus (`controller/tests/fuzz_corpus/`, including the
//! `crash-*` inputs of earlier finds, and the resource corpus), then mutates those seeds at
//! the byte level (bit flips, overwrites, insertions of format tokens, deletions, duplicated
//! ranges, truncation) until the time box ends: 10 s per reader in the normal suite,
//! `BATON_FUZZ_SECONDS` to run longer (CI's long variant). A reader may accept or refuse an
//! input; it must never panic. A panicking input is saved, in proptest's minimal form, as
//! `crash-<digest>` in the corpus, so the next run replays it.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baton::artifact::{verify_whole, ArtifactReader, Limits, PayloadSink, VerifyKey, VerifyPolicy};
use e2e::reliability::Tally;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

fn corpus(kind: &str) -> PathBuf {
    e2e::repo_root()
        .join("controller/tests/fuzz_corpus")
        .join(kind)
}

fn files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize, usize),
    Truncate(usize),
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, bit) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= 1 << (bit % 8);
            }
            Mutation::Set(i, v) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = *v;
            }
            Mutation::Insert(i, bytes) => {
                let i = at(*i, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(i, n) if !b.is_empty() => {
                let i = i % b.len();
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Duplicate(from, n, to) if !b.is_empty() => {
                let from = from % b.len();
                let end = (from + n).min(b.len());
                let chunk = b[from..end].to_vec();
                let to = at(*to, b.len());
                b.splice(to..to, chunk);
            }
            Mutation::Truncate(n) => {
                let n = at(*n, b.len());
                b.truncate(n);
            }
            _ => {}
        }
    }
    b
}

/// Mutations of one of `seeds`, with `tokens` of the format inserted now and then.
fn inputs(seeds: Vec<Vec<u8>>, tokens: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    let mutation = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        3 => (any::<usize>(), prop::sample::select(tokens))
            .prop_map(|(i, t)| Mutation::Insert(i, t.to_vec())),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        2 => (any::<usize>(), 1usize..600).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<usize>(), 1usize..2000, any::<usize>())
            .prop_map(|(f, n, t)| Mutation::Duplicate(f, n, t)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ];
    (
        prop::sample::select(seeds),
        prop::collection::vec(mutation, 1..8),
    )
        .prop_map(|(seed, muts)| apply(seed, &muts))
}

const YAML_TOKENS: &[&[u8]] = &[
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b": ",
    b"- ",
    b"? ",
    b"!!binary ",
    b"!custom ",
    b"---\n",
    b"...\n",
    b"\t",
    b"\xef\xbb\xbf",
    b"|\n  ",
    b">-\n  ",
    b"'",
    b"\"",
    b"\\u0000",
    b"\n  ",
    b"~",
    b"null",
    b"1e999",
    b"-1",
    b"101",
    b"0x7fffffffffffffff",
    b"component_types:",
    b"update_strategy:",
    b"order: ",
    b"artifact_name: ",
    b"artifact_path: ",
    b"kind: topology\n",
    b"components:\n",
    b"interface: ../x",
    b"\xff\xfe",
];

const TAR_TOKENS: &[&[u8]] = &[
    b"ustar\x0000",
    b"ustar  \x00",
    b"././@LongLink",
    b"PaxHeaders/",
    b"20 size=999999999\n",
    b"12 path=../x\n",
    b"\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10",
    b"77777777777\x00",
    b"data/0000.tar.gz",
    b"header.tar.xz",
    b"manifest.sig",
    b"version",
    b"../",
    b"/etc/passwd",
    b"\x1f\x8b\x08\x00",
    b"\xfd7zXZ\x00",
    b"(\xb5/\xfd",
    b"{\"format\":\"mender\",\"version\":3}",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"2",
    b"1",
    b"5",
    b"6",
];

/// Runs `target` on every corpus input, then on mutations until `budget` is spent.
/// Returns how many inputs ran. Panics (after saving the input) when one made it panic.
fn fuzz(
    name: &str,
    seeds: Vec<Vec<u8>>,
    tokens: &'static [&'static [u8]],
    target: fn(&[u8]),
) -> (usize, String) {
    let ran = AtomicUsize::new(0);
    for s in &seeds {
        target(s);
        ran.fetch_add(1, Ordering::Relaxed);
    }
    let budget = std::env::var("BATON_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("BATON_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!(
        "{name}: {} corpus inputs, then {budget} s of mutations with BATON_FUZZ_SEED={seed}",
        seeds.len()
    );
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: 64,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut batch = 0u64;
    let strategy = inputs(seeds, tokens);
    let deadline = Instant::now() + Duration::from_secs(budget);
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    while Instant::now() < deadline {
        // A runner stops after `cases`: a fresh one per batch, seeded from the run's seed
        // and the batch number.
        batch += 1;
        key[8..16].copy_from_slice(&batch.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
        let mut runner = TestRunner::new_with_rng(config.clone(), rng);
        let r = runner.run(&strategy, |input| {
            let t = Instant::now();
            target(&input);
            let took = t.elapsed();
            let mut s = slowest.lock().unwrap();
            *s = (*s).max(took);
            ran.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        if let Err(TestError::Fail(why, input)) = r {
            let digest = baton::resource::sha256_hex(&input);
            let saved = corpus(name).join(format!("crash-{}", &digest[..16]));
            std::fs::write(&saved, &input).unwrap();
            panic!("{name}: {why}; the input is saved as {}", saved.display());
        }
    }
    let n = ran.load(Ordering::Relaxed);
    let slowest = *slowest.lock().unwrap();
    (
        n,
        format!(
            "{name}: {n} inputs, no panic, slowest {} ms",
            slowest.as_millis()
        ),
    )
}

fn manifest_target(bytes: &[u8]) {
    let _ = baton::resource::parse_manifest("fuzz", bytes);
    let _ = baton::resource::parse_topology("fuzz", bytes, None);
    let _ = baton::resource::parse_topology(
        "fuzz",
        b"api_version: mender/v1\nkind: topology\nsystem_type: s\n",
        Some(("c", bytes)),
    );
}

struct Count(u64);

impl PayloadSink for Count {
    fn file(&mut self, _: &str, _: u64, content: &mut (dyn Read + Send)) -> std::io::Result<()> {
        self.0 += std::io::copy(content, &mut std::io::sink())?;
        Ok(())
    }
}

fn artifact_target(bytes: &[u8]) {
    thread_local! {
        static KEYED: VerifyPolicy = {
            let pem = std::fs::read_to_string(corpus("artifact").join("rtos-signed.pub.pem")).unwrap();
            VerifyPolicy { keys: vec![VerifyKey::from_pem("fuzz", &pem).unwrap()] }
        };
    }
    // Small limits, so size checks are reached by small inputs too.
    let limits = Limits::default();
    for keyed in [false, true] {
        let run = |policy: &VerifyPolicy| {
            if let Ok(r) = ArtifactReader::open(Cursor::new(bytes), policy, &limits) {
                let _ = r.stream_payload(&mut Count(0));
            }
            let _ = verify_whole(Cursor::new(bytes), policy, &limits, &mut std::io::sink());
        };
        if keyed {
            KEYED.with(|p| run(p));
        } else {
            run(&VerifyPolicy::none());
        }
    }
}

#[test]
fn the_manifest_and_topology_reader_never_panics() {
    let mut seeds = files(&corpus("manifest"), |_| true);
    seeds.extend(files(&e2e::corpus(), |p| {
        p.extension().is_some_and(|e| e == "yaml")
    }));
    assert!(seeds.len() > 40, "the corpus is there: {}", seeds.len());
    let (n, figure) = fuzz("manifest", seeds, YAML_TOKENS, manifest_target);
    let mut tally = Tally::new();
    tally.note(&figure);
    for _ in 0..n {
        tally.case(|| ());
    }
}

#[test]
fn the_artifact_reader_never_panics() {
    let seeds = files(&corpus("artifact"), |p| {
        p.extension().is_some_and(|e| e == "mender")
            || p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("crash-"))
    });
    assert!(seeds.len() >= 5, "the corpus is there: {}", seeds.len());
    let (n, figure) = fuzz("artifact", seeds, TAR_TOKENS, artifact_target);
    let mut tally = Tally::new();
    tally.note(&figure);
    for _ in 0..n {
        tally.case(|| ());
    }
}

#[test]
fn mutations_do_what_they_say() {
    let b = b"abcdef".to_vec();
    assert_eq!(apply(b.clone(), &[Mutation::Flip(0, 0)]), b"`bcdef");
    assert_eq!(
        apply(b.clone(), &[Mutation::Insert(3, b"XY".to_vec())]),
        b"abcXYdef"
    );
    assert_eq!(apply(b.clone(), &[Mutation::Delete(1, 2)]), b"adef");
    assert_eq!(
        apply(b.clone(), &[Mutation::Duplicate(0, 2, 6)]),
        b"abcdefab"
    );
    assert_eq!(apply(b.clone(), &[Mutation::Truncate(2)]), b"ab");
    assert_eq!(
        apply(Vec::new(), &[Mutation::Flip(5, 1), Mutation::Delete(0, 3)]),
        b""
    );
}
