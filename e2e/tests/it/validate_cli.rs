//! `baton validate` and `baton config show` as a user runs them: the real binary, real files.

use std::fs;
use std::process::Output;

use e2e::{baton, corpus, stderr, stdout};
use serde_json::Value;

/// Runs baton with `args` in the corpus directory, so file names read as in `.expected` files.
fn in_corpus(args: &[&str]) -> Output {
    baton().args(args).current_dir(corpus()).output().unwrap()
}

#[test]
fn every_documentation_example_validates_with_exit_0() {
    let valid = corpus().join("valid");
    let mut files: Vec<_> = fs::read_dir(&valid)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let out = baton().arg("validate").args(&files).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.ends_with(": valid manifest")
                || l.ends_with(": valid topology")
                || l.ends_with(": valid topology-components"))
            .count(),
        files.len()
    );

    // The split Topology needs its components file, named as Mender names it.
    let out = in_corpus(&[
        "-t",
        "valid/split/topology-components.yaml",
        "validate",
        "valid/split/topology.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = in_corpus(&["validate", "valid/split/topology.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("the Topology has no components"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn manifests_are_checked_against_the_topology_given() {
    let out = in_corpus(&[
        "validate",
        "--topology",
        "valid/topology-mock-components.yaml",
        "valid/manifest-system-core-v1.yaml",
        "valid/manifest-rpi5-esp32-v1.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("valid/manifest-system-core-v1.yaml: valid manifest"),
        "{text}"
    );
    assert!(text.contains("valid/manifest-rpi5-esp32-v1.yaml:5:26: system_types_compatible: does not contain the Topology's system_type `system-core`"), "{text}");
    assert!(
        text.contains("no entry for component type `gateway`"),
        "{text}"
    );
    assert!(
        text.ends_with("1 of 2 file(s) invalid, 5 problem(s)\n"),
        "{text}"
    );
}

#[test]
fn invalid_documents_print_their_expected_diagnostics_and_exit_1() {
    let invalid = corpus().join("invalid");
    let mut checked = 0;
    for entry in fs::read_dir(&invalid).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).to_string();
        let first = text.lines().next().unwrap_or("");
        let mut cmd = baton();
        cmd.arg("validate");
        if let Some(t) = first.strip_prefix("# topology: ") {
            cmd.args(["--topology", t]);
        }
        if let Some(c) = first.strip_prefix("# components: ") {
            cmd.args(["-t", c]);
        }
        let out = cmd
            .arg(format!("invalid/{name}"))
            .current_dir(corpus())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let expected = fs::read_to_string(path.with_extension("expected")).unwrap();
        let got = stdout(&out);
        assert!(
            got.starts_with(&expected),
            "{name}\n--- expected\n{expected}--- got\n{got}"
        );
        checked += 1;
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn json_output_is_for_tools() {
    let out = in_corpus(&[
        "validate",
        "-o",
        "json",
        "invalid/m28-many-problems.yaml",
        "valid/manifest-system-core-v2.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["files"][0]["kind"], "manifest");
    assert_eq!(v["files"][0]["valid"], false);
    let first = &v["files"][0]["diagnostics"][0];
    assert_eq!(first["file"], "invalid/m28-many-problems.yaml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(first["path"], "name");
    assert_eq!(first["message"], "missing required field `name`");
    assert_eq!(v["files"][1]["valid"], true);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let out = baton().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("FILE"), "{}", stderr(&out));
    let out = baton().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("validate"));
    let out = baton()
        .args(["--log-level", "loud", "config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown log level `loud`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_file_is_reported_not_panicked_on() {
    let out = baton()
        .args(["validate", "/nonexistent/manifest.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("/nonexistent/manifest.yaml:0:0: cannot read the file"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn config_show_tells_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let var = dir.path().join("var");
    fs::create_dir_all(&etc).unwrap();
    fs::create_dir_all(&var).unwrap();
    fs::write(
        var.join("mender-orchestrator.conf"),
        r#"{"LogLevel": "debug", "InterfaceTimeoutSeconds": 60}"#,
    )
    .unwrap();
    fs::write(
        etc.join("mender-orchestrator.conf"),
        r#"{"LogLevel": "warning"}"#,
    )
    .unwrap();
    let run = |extra: &[&str]| {
        baton()
            .env("MENDER_ORCHESTRATOR_CONF_DIR", &etc)
            .env("MENDER_ORCHESTRATOR_DATASTORE_DIR", &var)
            .env("MENDER_ORCHESTRATOR_MANIFEST_STORE_DIR", "/data/manifests")
            .args(extra)
            .args(["config", "show", "-o", "json"])
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let origin = |v: &Value, key: &str| {
        v["origins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(v["config"]["LogLevel"], "warning");
    assert_eq!(origin(&v, "LogLevel")["origin"]["kind"], "main-file");
    assert_eq!(v["config"]["InterfaceTimeoutSeconds"], 60);
    assert_eq!(
        origin(&v, "InterfaceTimeoutSeconds")["origin"]["kind"],
        "fallback-file"
    );
    assert_eq!(v["config"]["ManifestStore"], "/data/manifests");
    assert_eq!(
        origin(&v, "ManifestStore")["origin"]["name"],
        "MENDER_ORCHESTRATOR_MANIFEST_STORE_DIR"
    );
    assert_eq!(
        origin(&v, "QueryTimeoutSeconds")["origin"]["kind"],
        "default"
    );
    assert_eq!(v["dirs"]["DatastoreDir"], var.display().to_string());

    let out = run(&["-l", "trace"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["config"]["LogLevel"], "trace");
    assert_eq!(origin(&v, "LogLevel")["origin"]["name"], "--log-level");

    // Text output: one line per value with its origin.
    let out = baton()
        .env("MENDER_ORCHESTRATOR_CONF_DIR", &etc)
        .env("MENDER_ORCHESTRATOR_DATASTORE_DIR", &var)
        .args(["config", "show"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("LogLevel ")).unwrap();
    assert!(
        line.contains("warning")
            && line.ends_with(&format!(
                "[file {}]",
                etc.join("mender-orchestrator.conf").display()
            )),
        "{line}"
    );

    // A broken file: every problem, located, and exit 1.
    fs::write(
        etc.join("mender-orchestrator.conf"),
        "{\"LogLevle\": \"info\"}",
    )
    .unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["diagnostics"][0]["message"],
        "unknown field `LogLevle`, did you mean `LogLevel`?"
    );
    assert_eq!(v["diagnostics"][0]["column"], 2);
}
