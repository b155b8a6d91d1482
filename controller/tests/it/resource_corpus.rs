//! The corpus: every Topology and Manifest example of Mender's documentation is accepted, and
//! every invalid document yields exactly the diagnostics written next to it.
//!
//! `corpus/invalid/NAME.yaml` is checked as `baton validate` would and the output compared with
//! `corpus/invalid/NAME.expected` (one `file:line:col: path: message (expected ...)` per line).
//! A first-line comment `# topology: FILE` checks a Manifest against that Topology;
//! `# components: FILE` reads a Topology with that components file. After a deliberate change
//! of wording, `BATON_BLESS=1 cargo test --test it resource_corpus` rewrites the `.expected`
//! files; review the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use baton::resource::{self, Diagnostics, Kind};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// The `# key: value` directive on the first line, if any: the path relative to the corpus.
fn directive(text: &str, key: &str) -> Option<String> {
    let first = text.lines().next()?;
    let rest = first
        .strip_prefix("# ")?
        .strip_prefix(key)?
        .strip_prefix(": ")?;
    Some(rest.trim().to_string())
}

fn check(path: &Path) -> (Option<Kind>, Diagnostics) {
    let bytes = fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let topology = directive(&text, "topology").map(|t| {
        resource::load_topology(&corpus().join(&t), None)
            .unwrap_or_else(|d| panic!("corpus Topology {t}: {d}"))
    });
    let comps = directive(&text, "components").map(|c| {
        let bytes = fs::read(corpus().join(&c)).unwrap();
        (c, bytes)
    });
    let origin = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
    let v = resource::validate(
        &origin,
        &bytes,
        topology.as_ref(),
        comps.as_ref().map(|(o, b)| (o.as_str(), b.as_slice())),
    );
    (v.kind, v.diagnostics)
}

#[test]
fn every_invalid_document_yields_exactly_its_expected_diagnostics() {
    let files = yaml_files(&corpus().join("invalid"));
    assert!(
        files.len() >= 40,
        "the corpus must hold at least 40 invalid documents, has {}",
        files.len()
    );
    let bless = std::env::var_os("BATON_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let (_, diags) = check(path);
        let got = format!("{diags}\n");
        let expected_path = path.with_extension("expected");
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", path.display()));
        assert!(
            !expected.trim().is_empty(),
            "{} expects nothing",
            expected_path.display()
        );
        if got != expected {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_documentation_example_is_valid() {
    let files = yaml_files(&corpus().join("valid"));
    assert!(
        files.len() >= 14,
        "documentation examples missing: {}",
        files.len()
    );
    for path in &files {
        let bytes = fs::read(path).unwrap();
        let origin = path.display().to_string();
        let v = resource::validate(&origin, &bytes, None, None);
        assert!(v.diagnostics.is_empty(), "{origin}:\n{}", v.diagnostics);
        assert!(v.kind.is_some(), "{origin}: kind not told");
    }
    // The split Topology (valid/split/): the main file with its components file, and the
    // components file on its own.
    let split = corpus().join("valid/split");
    let comps = fs::read(split.join("topology-components.yaml")).unwrap();
    let main = fs::read(split.join("topology.yaml")).unwrap();
    let v = resource::validate(
        "split/topology.yaml",
        &main,
        None,
        Some(("components", &comps)),
    );
    assert!(v.diagnostics.is_empty(), "{}", v.diagnostics);
    assert_eq!(v.kind, Some(Kind::Topology));
    let v = resource::validate("split/topology-components.yaml", &comps, None, None);
    assert!(v.diagnostics.is_empty(), "{}", v.diagnostics);
    assert_eq!(v.kind, Some(Kind::TopologyComponents));
}

#[test]
fn documentation_manifests_agree_with_their_topologies() {
    let pairs = fs::read_to_string(corpus().join("pairs.txt")).unwrap();
    let mut checked = 0;
    for line in pairs
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let names: Vec<&str> = line.split_whitespace().collect();
        let valid = corpus().join("valid");
        let m = resource::load_manifest(&valid.join(names[0])).unwrap();
        let comps = names.get(2).map(|c| valid.join(c));
        let t = resource::load_topology(&valid.join(names[1]), comps.as_deref()).unwrap();
        let problems = m.check_against(&t);
        assert!(problems.is_empty(), "{line}: {problems:?}");
        assert!(resource::check_manifest_against_topology(&m.manifest, &t).is_empty());
        checked += 1;
    }
    assert!(checked >= 8);
}

#[test]
fn the_split_topology_reads_as_the_single_file_one() {
    let valid = corpus().join("valid");
    let whole =
        resource::load_topology(&valid.join("topology-electric-vehicle.yaml"), None).unwrap();
    let split = resource::load_topology(
        &valid.join("split/topology.yaml"),
        Some(&valid.join("split/topology-components.yaml")),
    )
    .unwrap();
    assert_eq!(whole, split);
    assert_eq!(whole.components.len(), 3);
    assert_eq!(
        whole.components[2].interface_args,
        vec!["--bus=1", "--address=0x48"]
    );
}

#[test]
fn text_fields_keep_exactly_what_was_written() {
    let doc = b"api_version: mender/v1\nkind: manifest\nname: 1.10\nsystem_types_compatible: [no, on, 010]\n\
component_types:\n  rtos:\n    artifact_name: 2.0\n    update_strategy: {order: 7}\n";
    let m = resource::parse_manifest("api", doc).unwrap();
    assert_eq!(m.manifest.name, "1.10");
    assert_eq!(m.manifest.system_types_compatible, vec!["no", "on", "010"]);
    let rtos = &m.manifest.component_types["rtos"];
    assert_eq!(rtos.artifact_name.as_deref(), Some("2.0"));
    assert_eq!(rtos.order.get(), 7);
    assert_eq!(m.origin, "api");
    assert_eq!(m.base_dir, None);
    assert_eq!(m.bytes, doc);

    let t = resource::parse_topology(
        "t",
        b"api_version: mender/v1\nkind: topology\nsystem_type: 2026.1\ncomponents:\n  - component_type: rtos\n    interface_args: [0x48, yes, 1e3]\n",
        None,
    )
    .unwrap();
    assert_eq!(t.system_type, "2026.1");
    assert_eq!(t.components[0].interface_args, vec!["0x48", "yes", "1e3"]);
    // No `interface`: the component type names the Interface.
    assert_eq!(t.components[0].interface.as_str(), "rtos");
}

#[test]
fn a_loaded_manifest_knows_its_directory_and_digest() {
    let path = corpus().join("valid/manifest-standalone.yaml");
    let m = resource::load_manifest(&path).unwrap();
    assert_eq!(
        m.base_dir.as_deref(),
        Some(corpus().join("valid").as_path())
    );
    assert_eq!(m.bytes, fs::read(&path).unwrap());
    // Cross-checked with coreutils' sha256sum, which every Debian system has.
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    let expected = String::from_utf8(out.stdout).unwrap();
    assert_eq!(m.sha256, expected.split_whitespace().next().unwrap());
    let tcu = &m.manifest.component_types["telematics_control_unit"];
    assert_eq!(
        tcu.artifact_path.as_deref(),
        Some(Path::new("tcu-firmware-v2.4.1.mender"))
    );
    assert_eq!(tcu.artifact_name, None);
    assert_eq!(
        m.manifest
            .orders()
            .iter()
            .map(|o| o.get())
            .collect::<Vec<_>>(),
        vec![10, 30]
    );
}
