//! The house's rules (ARCHITECTURE.md, *Invariants* under each room), read off the source:
//! which room may name which, and how long a file may grow. Arrows only point down, so a
//! room that names one above it is a circle in the making.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src()).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A file only tests compile (`*_tests.rs`, `tests.rs`, the test oracle).
fn test_only(rel: &str) -> bool {
    rel.ends_with("_tests.rs") || rel.ends_with("/tests.rs") || rel == "engine/oracle.rs"
}

/// Each `crate::<room>...` path a room's code names (comments left out), with its place.
fn named(room: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (rel, text) in files(&src().join(room)) {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let path: String = rest[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                out.push((rel.clone(), n + 1, path));
                rest = &rest[at + 7..];
            }
        }
    }
    out
}

fn breaks(room: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    named(room)
        .into_iter()
        .filter(|(_, _, path)| !allowed(path))
        .map(|(f, n, path)| format!("{f}:{n}: crate::{path}"))
        .collect()
}

#[test]
fn each_room_names_only_the_rooms_below_it() {
    let only = |rooms: &'static [&'static str]| {
        move |p: &str| {
            rooms
                .iter()
                .any(|r| p == *r || p.starts_with(&format!("{r}::")))
        }
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("durable", breaks("durable", only(&["durable", "model"]))),
        ("metrics", breaks("metrics", only(&["metrics", "model"]))),
        (
            "interface",
            breaks("interface", |p| {
                !p.starts_with("engine") && !p.starts_with("kanto")
            }),
        ),
        // The engine drives Kanto's agents through `interface::external`, never by name.
        (
            "engine",
            breaks("engine", |p| {
                !p.starts_with("kanto") && !p.starts_with("daemon")
            }),
        ),
        (
            "daemon",
            breaks("daemon", |p| {
                !p.starts_with("engine") || p.starts_with("engine::api")
            }),
        ),
        (
            "gates",
            breaks("gates", |p| {
                let engine_inside = p.starts_with("engine") && !p.starts_with("engine::api");
                !p.starts_with("daemon") && !engine_inside
            }),
        ),
        (
            "client",
            breaks("client", |p| {
                let engine_inside = p.starts_with("engine") && !p.starts_with("engine::api");
                !p.starts_with("daemon") && !engine_inside
            }),
        ),
    ];
    for (room, broken) in cases {
        assert!(
            broken.is_empty(),
            "{room}/ names what it must not:\n{}",
            broken.join("\n")
        );
    }
    let cli: Vec<String> = named("")
        .into_iter()
        .filter(|(rel, _, path)| {
            !rel.starts_with("cli/") && (path == "cli" || path.starts_with("cli::"))
        })
        .map(|(rel, n, path)| format!("{rel}:{n}: crate::{path}"))
        .collect();
    assert!(cli.is_empty(), "nothing imports cli, but: {cli:?}");
}

#[test]
fn files_stay_small_and_the_long_ones_are_in_the_code_map() {
    let map =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .unwrap();
    let mut too_long = Vec::new();
    let mut unmapped = Vec::new();
    for (rel, text) in files(&src()) {
        if test_only(&rel) {
            continue;
        }
        let lines = text.lines().count();
        if lines > 600 {
            too_long.push(format!("{rel} ({lines} lines)"));
        }
        let path = Path::new(&rel);
        let name = path.file_name().unwrap().to_str().unwrap();
        let dir = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|d| d.to_str());
        // `mod.rs` is named by its folder (`reconciler/`), any other file by its name.
        let key = match (name, dir) {
            ("mod.rs", Some(d)) => format!("{d}/"),
            _ => name.to_string(),
        };
        if lines > 250 && !map.contains(&key) {
            unmapped.push(format!("{rel} ({lines} lines)"));
        }
    }
    assert!(too_long.is_empty(), "over 600 lines: {too_long:?}");
    assert!(
        unmapped.is_empty(),
        "over 250 lines and not in ARCHITECTURE.md's code map: {unmapped:?}"
    );
}
