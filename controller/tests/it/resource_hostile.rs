//! Hostile YAML is refused with a clear, located error, and never costs much.
//!
//! Tests assert the error, not the time; each prints how long the refusal took so a run shows
//! the figures (`cargo test --test it resource_hostile -- --nocapture`).

use std::io::Write;
use std::time::Instant;

use baton::resource::{self, Diagnostic};

fn refused(name: &str, bytes: &[u8]) -> Diagnostic {
    let t0 = Instant::now();
    let v = resource::validate(name, bytes, None, None);
    let took = t0.elapsed();
    println!("{name}: {} bytes refused in {took:?}", bytes.len());
    assert_eq!(v.diagnostics.len(), 1, "{name}: {}", v.diagnostics);
    v.diagnostics.0.into_iter().next().unwrap()
}

const HEAD: &str = "api_version: mender/v1\nkind: manifest\n";

#[test]
fn an_alias_bomb_is_refused() {
    let mut doc = String::from(HEAD);
    doc.push_str(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='j' {
        doc.push_str(&format!(
            "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    let d = refused("bomb.yaml", doc.as_bytes());
    assert_eq!(d.message, "too many YAML aliases or anchors");
    assert_eq!(d.expected, "at most 16 aliases");
    assert_eq!(d.line, 5, "{d}");
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused() {
    let flow = format!("{HEAD}name: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let d = refused("deep-flow.yaml", flow.as_bytes());
    assert_eq!(d.message, "the document is nested too deeply");
    assert_eq!(d.line, 3);

    let maps = format!(
        "{HEAD}name: {}x{}\n",
        "{k: ".repeat(10_000),
        "}".repeat(10_000)
    );
    let d = refused("deep-maps.yaml", maps.as_bytes());
    assert_eq!(d.message, "the document is nested too deeply");

    // Indented block nesting grows quadratically in size, so 10 000 levels would first hit the
    // size limit; 200 levels show the depth limit on block syntax.
    let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let d = refused("deep-block.yaml", block.as_bytes());
    assert_eq!(d.message, "the document is nested too deeply");
    assert_eq!(d.expected, "at most 16 levels of nesting");
    assert_eq!((d.line, d.column), (17, 17), "{d}");
}

#[test]
fn a_50_mib_file_is_refused_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(HEAD.as_bytes()).unwrap();
    let line = format!("# {}\n", "x".repeat(1021));
    for _ in 0..50 * 1024 {
        f.write_all(line.as_bytes()).unwrap();
    }
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 50 * 1024 * 1024);
    let t0 = Instant::now();
    let err = resource::load_manifest(&path).unwrap_err();
    println!("huge.yaml: {size} bytes refused in {:?}", t0.elapsed());
    assert_eq!(err.len(), 1);
    let d = &err.0[0];
    assert_eq!(
        d.message,
        format!("the document is {size} bytes, over the limit")
    );
    assert_eq!(d.expected, "at most 1048576 bytes");
    // The same limit holds for documents already in memory (API bodies).
    let bytes = std::fs::read(&path).unwrap();
    let d = refused("huge-body", &bytes);
    assert!(d.message.ends_with("bytes, over the limit"), "{d}");
}

#[test]
fn two_documents_are_refused() {
    let doc = format!("{HEAD}name: a\n---\n{HEAD}name: b\n");
    let d = refused("two.yaml", doc.as_bytes());
    assert_eq!(d.message, "more than one YAML document");
    assert_eq!(d.line, 4);
}

#[test]
fn duplicate_keys_are_refused() {
    let doc = format!("{HEAD}name: a\nname: b\n");
    let d = refused("dup.yaml", doc.as_bytes());
    assert_eq!(d.message, "duplicate key `name`");
    assert_eq!((d.line, d.column), (4, 1));
}

#[test]
fn invalid_utf8_is_refused() {
    let mut doc = format!("{HEAD}name: caf").into_bytes();
    doc.extend_from_slice(&[0xC3, 0x28, b'\n']);
    let d = refused("latin.yaml", &doc);
    assert_eq!(
        d.message,
        format!("invalid UTF-8 at byte {}", HEAD.len() + 9)
    );
    assert_eq!((d.line, d.column), (3, 10));
    assert_eq!(d.expected, "a UTF-8 text file");
}

#[test]
fn application_tags_are_refused() {
    let doc = format!(
        "{HEAD}name: !custom hello\nsystem_types_compatible: [a]\n\
         component_types: {{rtos: {{artifact_name: x, update_strategy: {{order: 1}}}}}}\n"
    );
    let d = refused("tags.yaml", doc.as_bytes());
    assert_eq!(d.line, 3, "{d}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Whatever the bytes, reading returns (a value or diagnostics with a position); it never
    /// panics and never reports an empty error.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let v = resource::validate("fuzz", &bytes, None, None);
        for d in v.diagnostics.iter() {
            proptest::prop_assert!(!d.message.is_empty());
        }
    }

    /// YAML-looking text built from the Manifest's own vocabulary: same guarantees.
    #[test]
    fn yaml_like_input_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "api_version: mender/v1\n", "kind: manifest\n", "kind: topology\n", "name: x\n", "  ", "- ", ": ",
        "component_types:\n", "  rtos:\n", "    update_strategy: {order: 5}\n", "&a ", "*a", "[", "]", "{", "}",
        "---\n", "\"", "'", "\t", "\n", "#", "components:\n", "  - component_type: x\n", "1.10", "no",
    ]), 0..40)) {
        let text: String = parts.concat();
        let v = resource::validate("fuzz.yaml", text.as_bytes(), None, None);
        for d in v.diagnostics.iter() {
            proptest::prop_assert!(!d.message.is_empty());
            proptest::prop_assert!(d.line >= 1, "{}", d);
        }
    }
}
