//! The Update Module bridge, `interfaces/update-module`: Mender's own Update Modules from
//! Debian's mender-client (`single-file`, `directory`, `script`, `deb` in
//! /usr/share/mender/modules/v3) as components of a System beside mock components, driven
//! by the real `baton` binary, with Artifacts made by Mender's generators (or, where Debian
//! does not ship them, the `mender-artifact write module-image` command they run).
//!
//! The System is `e2e::fixture`'s, its bridged components made by `Component::bridged`;
//! what only these tests make (module Artifacts, trees, a package) is in `makers.rs`.

mod makers;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::fixture::{key_values, Component, Reboot, System};
use e2e::{mender, need, ok, run};
use serde_json::{json, Value};

use makers::*;

/// A System `bridged` of `components` (mock ones on `v0`), configured through Mender
/// Orchestrator's environment variables so the bridge keeps its state in the datastore (its
/// default); `target/` is where the bridged components install, `modules/` holds test
/// Update Modules.
fn system(components: Vec<Component>) -> System {
    let s = System::builder("bridged", components)
        .version("v0")
        .reboot(Reboot::Refused)
        .config(json!({"InterfaceTimeoutSeconds": 120}))
        .build();
    for d in ["target", "modules"] {
        fs::create_dir_all(s.root().join(d)).unwrap();
    }
    s
}

/// Where the components install: `target/<rel>` (`rel` empty: `target` itself).
fn target(s: &System, rel: &str) -> PathBuf {
    let t = s.root().join("target");
    if rel.is_empty() {
        t
    } else {
        t.join(rel)
    }
}

/// The bridge's state directory of a component (the default: under the datastore).
fn module_state(s: &System, id: &str) -> PathBuf {
    let c = s.component(id);
    s.datastore()
        .join("update-module")
        .join(&c.component_type)
        .join(id)
}

/// `baton install -o json` of the release `version`: its end result and the whole output.
fn deploy(s: &System, version: &str) -> (String, Output) {
    let out = run(s
        .baton_from_env()
        .args(["install", "-o", "json"])
        .arg(s.release_manifest(version)));
    (end_result(&out), out)
}

fn deploy_ok(s: &System, version: &str) {
    let (end, out) = deploy(s, version);
    assert_eq!(end, "success", "{version}:\n{}", mender::transcript(&out));
}

/// A mock component's Artifact `<type>-<version>`.
fn mock_artifact(s: &System, ctype: &str, version: &str) {
    s.mender_artifact(ctype, &format!("{ctype}-{version}"), None);
}

/// A component's Provides as `baton show-provides` reports them, without the prefix.
fn provides(s: &System, id: &str) -> BTreeMap<String, String> {
    let c = s.component(id);
    let prefix = format!("{}.{}.", c.component_type, c.id);
    s.baton_provides()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
        .collect()
}

/// The System of the file tests: `app.conf` by single-file (linked under the module's name),
/// the web root by directory (the bridge with module=directory, as beside baton's own
/// `directory` Interface), then a mock MCU in a later order group. Artifacts v1..v3 of each;
/// `app.conf` and the web root hold their factory content.
fn file_system(www_order: u8) -> System {
    let rig = system(vec![
        Component::bridged("cfg", "app-config", 10, "single-file"),
        Component::bridged("www", "webroot", www_order, "update-module").arg("module=directory"),
        Component::new("m1", "mcu", 30),
    ]);
    fs::write(target(&rig, "app.conf"), "factory\n").unwrap();
    write_tree(&target(&rig, "www"), &www_content("0"));
    for v in ["1", "2", "3"] {
        let src = rig.root().join(format!("src-{v}"));
        fs::create_dir_all(&src).unwrap();
        let conf = src.join("app.conf");
        fs::write(&conf, format!("cfg v{v}\n")).unwrap();
        let dest = target(&rig, "");
        let name = format!("app-config-v{v}");
        Gen::new(&name, "app-config", &dest, &rig.artifacts_dir()).single_file(&conf);
        let www = src.join("www");
        write_tree(&www, &www_content(v));
        let name = format!("webroot-v{v}");
        Gen::new(&name, "webroot", &target(&rig, "www"), &rig.artifacts_dir()).directory(&www);
        mock_artifact(&rig, "mcu", &format!("v{v}"));
    }
    rig
}

/// The web root of version `v`: the file set changes between versions.
fn www_content(v: &str) -> BTreeMap<String, String> {
    let index = format!("<h1>v{v}</h1>\n");
    let mut m = files(&[("index.html", &index)]);
    if v == "0" || v == "2" {
        m.insert("old/page.html".into(), format!("page {v}\n"));
    } else {
        m.insert(format!("assets/app-{v}.js"), format!("js {v}\n"));
    }
    m
}

fn assert_files(rig: &System, v: &str, what: &str) {
    let conf = fs::read_to_string(target(rig, "app.conf")).unwrap();
    assert_eq!(conf, format!("cfg v{v}\n"), "{what}: app.conf");
    let www = tree(&target(rig, "www"));
    assert_eq!(www, www_content(v), "{what}: the web root");
}

/// What the Mender client records for a default Artifact `name` of `module`, plus the
/// version key baton requires of `interface` (the same key when it is named after the module).
fn expected_provides(module: &str, interface: &str, name: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([
        ("artifact_name".to_string(), name.to_string()),
        (format!("rootfs-image.{module}.version"), name.to_string()),
    ]);
    m.insert(
        format!("rootfs-image.{interface}.version"),
        name.to_string(),
    );
    m
}

/// The files and the Provides of both file components are those of version `v`.
fn assert_installed(rig: &System, v: &str, what: &str) {
    assert_files(rig, v, what);
    let (cfg, www) = (format!("app-config-v{v}"), format!("webroot-v{v}"));
    let single_file = expected_provides("single-file", "single-file", &cfg);
    assert_eq!(provides(rig, "cfg"), single_file, "{what}");
    let directory = expected_provides("directory", "update-module", &www);
    assert_eq!(provides(rig, "www"), directory, "{what}");
}

#[test]
fn files_and_directories_roll_back_with_the_system_from_the_modules_backup() {
    if !need::have(need::all([
        need::tool("mender-artifact").map(drop),
        mender::modules(&["single-file", "directory"]),
    ])) {
        return;
    }
    let rig = file_system(10);
    deploy_ok(&rig, "v1");
    assert_installed(&rig, "1", "after v1");

    // Both file components commit before the MCU (a later order group) fails its commit: the
    // whole System rolls back, the files from the modules' own backups.
    rig.mark("m1", "ArtifactCommit.FAIL");
    let (end, out) = deploy(&rig, "v2");
    assert_eq!(end, "rolledBack", "{}", mender::transcript(&out));
    assert_installed(&rig, "1", "after the rolled back v2");
    for id in ["cfg", "www"] {
        assert!(
            !module_state(&rig, id).join("deployment").exists(),
            "{id}: the module's File API directory outlived Cleanup"
        );
    }

    rig.unset("m1", "ArtifactCommit.FAIL");
    deploy_ok(&rig, "v3");
    assert_installed(&rig, "3", "after v3");
}

#[test]
fn a_crash_between_install_and_commit_rolls_back_from_the_modules_backup() {
    if !need::have(need::all([
        need::tool("mender-artifact").map(drop),
        mender::modules(&["single-file", "directory"]),
    ])) {
        return;
    }
    // The web root in its own order group: the second ArtifactInstall is its own.
    let rig = file_system(20);
    deploy_ok(&rig, "v1");
    let out = run(rig
        .baton_from_env()
        .env("BATON_FAULT", "crash@interface.after:ArtifactInstall#2")
        .args(["install", "-o", "json"])
        .arg(rig.release_manifest("v2")));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{}", mender::transcript(&out));
    // baton died after both modules installed v2 and before any commit: their backups of v1
    // are on disk in the bridge's state.
    assert_eq!(
        fs::read_to_string(target(&rig, "app.conf")).unwrap(),
        "cfg v2\n"
    );
    assert_eq!(tree(&target(&rig, "www")), www_content("2"));
    let backup = module_state(&rig, "cfg").join("deployment/tree/tmp/backup/app.conf");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "cfg v1\n");
    assert!(module_state(&rig, "www")
        .join("deployment/tree/tmp/prev_files.tar")
        .is_file());

    let out = run(rig.baton_from_env().args(["resume", "-o", "json"]));
    assert_eq!(
        end_result(&out),
        "rolledBack",
        "{}",
        mender::transcript(&out)
    );
    assert_installed(&rig, "1", "after the restart");
    deploy_ok(&rig, "v3");
    assert_installed(&rig, "3", "after v3");
}

#[test]
fn provides_are_what_the_mender_client_records_for_the_same_artifacts() {
    if !need::have(need::all([
        mender::sandbox(),
        mender::modules(&["single-file", "directory"]),
    ])) {
        return;
    }
    let rig = system(vec![
        Component::bridged("cfg", "app-config", 10, "single-file"),
        Component::bridged("www", "webroot", 10, "update-module").arg("module=directory"),
    ]);
    let client = mender_client("app-config", "single-file");
    let conf = rig.root().join("app.conf");
    // Each step keeps, clears and adds keys by another of Mender's rules: default clears
    // (rootfs-image.single-file.*) keep other keys and the group; explicit patterns clear
    // what they match, artifact_group included; no clears at all erase every key.
    let steps: [(&str, &[&str]); 4] = [
        (
            "app-config-a1",
            &["-p", "extra.keep:1", "-p", "extra.gone:2", "-g", "grp-a"],
        ),
        ("app-config-a2", &["-p", "extra.new:3"]),
        (
            "app-config-a3",
            &[
                "--no-default-clears-provides",
                "--clears-provides",
                "extra.g*",
                "--clears-provides",
                "artifact_group",
            ],
        ),
        (
            "app-config-a4",
            &["--no-default-clears-provides", "-p", "only.this:4"],
        ),
    ];
    let www = rig.root().join("www-src");
    for (i, (name, extra)) in steps.iter().enumerate() {
        fs::write(&conf, format!("{name}\n")).unwrap();
        let artifact = Gen::new(name, "app-config", &target(&rig, ""), &rig.artifacts_dir())
            .extra(extra)
            .single_file(&conf);
        let w = format!("webroot-a{}", i + 1);
        write_tree(&www, &files(&[("index.html", &w)]));
        Gen::new(&w, "webroot", &target(&rig, "www"), &rig.artifacts_dir()).directory(&www);
        deploy_ok(&rig, &format!("a{}", i + 1));
        let expected = mender_records(&client, &artifact);
        assert_eq!(
            provides(&rig, "cfg"),
            expected,
            "{name}: the bridge and the Mender client disagree"
        );
    }
    // The directory module through the bridge named `update-module`: the Mender client's
    // record, plus the Interface's version key baton requires.
    let client = mender_client("webroot", "directory");
    let artifact = rig.artifacts_dir().join("webroot-a4.mender");
    let mut expected = mender_records(&client, &artifact);
    expected.insert(
        "rootfs-image.update-module.version".into(),
        "webroot-a4".into(),
    );
    assert_eq!(provides(&rig, "www"), expected);
}

#[test]
fn a_failing_script_rolls_the_system_back() {
    if !need::have(need::all([
        mender::sandbox(),
        mender::modules(&["single-file", "script"]),
    ])) {
        return;
    }
    let rig = system(vec![
        Component::bridged("cfg", "app-config", 10, "single-file"),
        Component::bridged("job", "job", 20, "script"),
    ]);
    fs::write(target(&rig, "app.conf"), "factory\n").unwrap();
    let ran = rig.root().join("script-ran.log");
    for (v, exit) in [("v1", 0), ("v2", 3), ("v3", 0)] {
        let conf = rig.root().join("app.conf");
        fs::write(&conf, format!("cfg {v}\n")).unwrap();
        let name = format!("app-config-{v}");
        Gen::new(&name, "app-config", &target(&rig, ""), &rig.artifacts_dir()).single_file(&conf);
        let script = rig.root().join(format!("migrate-{v}.sh"));
        fs::write(
            &script,
            format!("#!/bin/sh\necho {v} >> '{}'\nexit {exit}\n", ran.display()),
        )
        .unwrap();
        write_module_image(
            "script",
            &format!("job-{v}"),
            "job",
            &[script],
            &[],
            &rig.artifacts_dir(),
        );
    }
    deploy_ok(&rig, "v1");
    let (end, out) = deploy(&rig, "v2");
    // The System rolls back; the script component cannot, and baton says so.
    assert_eq!(end, "inconsistent", "{}", mender::transcript(&out));
    assert_eq!(
        fs::read_to_string(target(&rig, "app.conf")).unwrap(),
        "cfg v1\n",
        "app.conf rolled back"
    );
    assert_eq!(
        fs::read_to_string(&ran).unwrap(),
        "v1\nv2\n",
        "the v2 script ran and failed"
    );
    // The script module cannot roll back: the bridge records what the Mender client records.
    let client = mender_client("job", "script");
    let expected = mender_records(&client, &rig.artifacts_dir().join("job-v2.mender"));
    assert_eq!(expected["artifact_name"], "job-v2_INCONSISTENT");
    assert_eq!(provides(&rig, "job"), expected);

    deploy_ok(&rig, "v3");
    assert_eq!(
        fs::read_to_string(target(&rig, "app.conf")).unwrap(),
        "cfg v3\n"
    );
}

/// Runs in a private mount namespace: `/` seen through an overlay whose upper layer is a
/// tmpfs, the rig's directory bound through it (so baton's datastore is the test's), then
/// `$T/steps.sh` chrooted there. dpkg writes only to the overlay. Exit 77: no overlay here.
const OVERLAY: &str = r#"
set -u
T=$1
W=$2
mount -t tmpfs tmpfs "$W" || exit 77
mkdir "$W/up" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/up,workdir=$W/work" "$W/root" || exit 77
mount --rbind /dev "$W/root/dev" || exit 77
mount -t proc proc "$W/root/proc" || exit 77
mount --bind "$T" "$W/root$T" || exit 77
exec chroot "$W/root" sh "$T/steps.sh"
"#;

#[test]
fn deb_installs_a_package_that_stays_when_the_system_rolls_back() {
    // dpkg runs over an overlay of / in a private mount namespace.
    if !need::have(need::all([
        need::tools(&["mender-artifact", "dpkg-deb", "chroot"]),
        need::mount_namespace(),
        mender::modules(&["deb"]),
    ])) {
        return;
    }
    let rig = system(vec![
        Component::bridged("hello", "pkg", 10, "deb"),
        Component::new("m1", "mcu", 20),
    ]);
    let r = rig.root();
    for v in ["v1", "v2"] {
        let deb = hello_deb(r, if v == "v1" { "1.0" } else { "2.0" });
        write_module_image(
            "deb",
            &format!("pkg-{v}"),
            "pkg",
            &[deb],
            &[],
            &rig.artifacts_dir(),
        );
        mock_artifact(&rig, "mcu", v);
    }
    let env: String = rig
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.to_string_lossy()))
        .collect();
    let baton = e2e::baton_bin();
    let out = r.join("out");
    fs::create_dir_all(&out).unwrap();
    // v1 while the MCU fails its commit: the package is installed, then the System rolls
    // back; v2: the upgrade succeeds.
    let steps = format!(
        "{env}set -u\nQ() {{ dpkg-query -W -f='${{Version}}' baton-e2e-hello 2>/dev/null || echo absent; }}\n\
         Q > {o}/before\n\
         touch {m}/ArtifactCommit.FAIL\n\
         {b} install -o json {v1} > {o}/v1.json 2> {o}/v1.err\n\
         Q > {o}/after-v1\n\
         {b} show-provides > {o}/provides-v1\n\
         rm {m}/ArtifactCommit.FAIL\n\
         {b} install -o json {v2} > {o}/v2.json 2> {o}/v2.err\n\
         Q > {o}/after-v2\n",
        o = out.display(),
        m = rig.state_dir("m1").display(),
        b = baton.display(),
        v1 = rig.release_manifest("v1").display(),
        v2 = rig.release_manifest("v2").display(),
    );
    fs::write(r.join("steps.sh"), steps).unwrap();
    fs::write(r.join("overlay.sh"), OVERLAY).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ran = run(Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh"])
        .arg(r.join("overlay.sh"))
        .arg(r)
        .arg(scratch.path()));
    if ran.status.code() == Some(77) {
        let no_overlay = need::Missing::new(
            format!("no overlay of / here: {}", e2e::stderr(&ran)),
            "run as root on a kernel with overlayfs that allows it in a mount namespace",
        );
        if !need::have::<()>(Err(no_overlay)) {
            return;
        }
    }
    assert!(ran.status.success(), "{}", mender::transcript(&ran));
    let read = |f: &str| {
        fs::read_to_string(out.join(f))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let report = |v: &str| {
        let v: Value = serde_json::from_str(&read(&format!("{v}.json")))
            .unwrap_or_else(|e| panic!("{v}: {e}\n{}", read(&format!("{v}.err"))));
        v["end"]["result"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(
        read("before"),
        "absent",
        "the package is already on this machine"
    );
    // Debian's deb module answers nothing to SupportsRollback (= No) and does nothing in
    // ArtifactRollback: the package it installed stays, and baton reports the component
    // as not rolled back.
    assert_eq!(report("v1"), "inconsistent", "{}", read("v1.err"));
    assert_eq!(
        read("after-v1"),
        "1.0",
        "installed, and not removed by the rollback"
    );
    assert_eq!(
        key_values(&read("provides-v1")).get("pkg.hello.artifact_name"),
        Some(&"pkg-v1_INCONSISTENT".to_string()),
        "the bridge records what the Mender client records"
    );
    assert_eq!(report("v2"), "success", "{}", read("v2.err"));
    assert_eq!(read("after-v2"), "2.0");
    assert_eq!(
        provides(&rig, "hello"),
        expected_provides("deb", "deb", "pkg-v2")
    );
    assert!(
        !Path::new("/usr/share/baton-e2e-hello").exists(),
        "dpkg wrote to the host"
    );
}

/// A test Update Module that streams its payload (with file sizes) instead of letting the
/// client store it, keeps a backup for rollback and reports inventory.
const STREAMER: &str = r#"#!/bin/sh
set -eu
FILES=$2
LOG=@LOG@
TARGET=@TARGET@
case "$1" in
    ProvidePayloadFileSizes | SupportsRollback) echo Yes ;;
    Inventory) echo "streamer.firmware=$(head -n 1 "$TARGET" 2>/dev/null || echo none)" ;;
    Download | DownloadWithFileSizes)
        echo "$1" >>"$LOG"
        while :; do
            line=$(cat "$FILES/stream-next")
            [ -n "$line" ] || break
            echo "$line" >>"$LOG"
            cat "$FILES/${line%% *}" >"$FILES/tmp/payload"
        done
        ;;
    ArtifactInstall)
        if [ -e "$FILES/files" ]; then echo files-tree >>"$LOG"; fi
        if [ -f "$TARGET" ]; then cp "$TARGET" "$FILES/tmp/previous"; fi
        cp "$FILES/tmp/payload" "$TARGET"
        ;;
    ArtifactRollback) if [ -f "$FILES/tmp/previous" ]; then cp "$FILES/tmp/previous" "$TARGET"; fi ;;
esac
exit 0
"#;

#[test]
fn a_module_that_streams_reads_batons_fifos_and_rolls_back() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let rig = system(vec![
        Component::bridged("fw1", "fw", 10, "streamer").arg("modules-dir=@ROOT@/modules"),
        Component::new("m1", "mcu", 20),
    ]);
    let r = rig.root();
    let log = r.join("streamer.log");
    let module = r.join("modules/streamer");
    fs::write(
        &module,
        STREAMER
            .replace("@LOG@", &format!("'{}'", log.display()))
            .replace(
                "@TARGET@",
                &format!("'{}'", target(&rig, "fw.bin").display()),
            ),
    )
    .unwrap();
    fs::set_permissions(&module, fs::Permissions::from_mode(0o755)).unwrap();
    let sizes: Vec<usize> = ["v1", "v2"]
        .iter()
        .map(|v| {
            let payload = r.join("fw.bin");
            let text = format!("firmware {v}\n").repeat(1000);
            fs::write(&payload, &text).unwrap();
            write_module_image(
                "streamer",
                &format!("fw-{v}"),
                "fw",
                &[payload],
                &[],
                &rig.artifacts_dir(),
            );
            mock_artifact(&rig, "mcu", v);
            text.len()
        })
        .collect();
    deploy_ok(&rig, "v1");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("DownloadWithFileSizes\nstreams/fw.bin {}\n", sizes[0]),
        "the module read baton's streams itself, and baton stored no files tree"
    );
    let firmware = |v: &str| format!("firmware {v}\n").repeat(1000);
    assert_eq!(
        fs::read_to_string(target(&rig, "fw.bin")).unwrap(),
        firmware("v1")
    );
    let out = ok(rig.baton_from_env().arg("show-inventory"));
    let inventory = e2e::stdout(&out);
    for line in [
        "fw.fw1.update_module=streamer",
        "fw.fw1.streamer.firmware=firmware v1",
    ] {
        assert!(
            inventory.lines().any(|l| l == line),
            "no {line} in:\n{inventory}"
        );
    }

    rig.mark("m1", "ArtifactCommit.FAIL");
    let (end, out) = deploy(&rig, "v2");
    assert_eq!(end, "rolledBack", "{}", mender::transcript(&out));
    assert_eq!(
        fs::read_to_string(target(&rig, "fw.bin")).unwrap(),
        firmware("v1")
    );
    assert!(fs::read_to_string(&log)
        .unwrap()
        .ends_with(&format!("streams/fw.bin {}\n", sizes[1])));
}

#[test]
fn a_broken_module_fails_before_anything_runs_naming_module_and_component() {
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let answers = "#!/bin/sh\ncase \"$1\" in SupportsRollback) echo Perhaps ;; esac\nexit 0\n";
    // The module file (content, mode) if any, one more interface_arg, what the error says.
    type Case<'a> = (Option<(&'a str, u32)>, &'a str, &'a str);
    let cases: [Case; 4] = [
        (
            None,
            "module=absent",
            "Update Module MODULES/absent is missing",
        ),
        (
            Some(("#!/bin/sh\nexit 0\n", 0o644)),
            "module=absent",
            "MODULES/absent is not an executable file",
        ),
        (
            Some((answers, 0o755)),
            "module=absent",
            "answered SupportsRollback with 'Perhaps', outside the Update Module protocol",
        ),
        (
            Some(("#!/bin/sh\nexit 0\n", 0o755)),
            "colour=blue",
            "unknown interface_arg 'colour=blue'",
        ),
    ];
    for (module, option, expected) in cases {
        let rig = system(vec![
            Component::bridged("fw1", "fw", 10, "update-module")
                .arg("modules-dir=@ROOT@/modules")
                .arg("module=absent")
                .arg(option),
            Component::new("m1", "mcu", 20),
        ]);
        let r = rig.root();
        let modules = r.join("modules").display().to_string();
        if let Some((content, mode)) = module {
            let path = r.join("modules/absent");
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        let payload = r.join("payload");
        fs::write(&payload, "x").unwrap();
        write_module_image(
            "absent",
            "fw-v1",
            "fw",
            &[payload],
            &[],
            &rig.artifacts_dir(),
        );
        mock_artifact(&rig, "mcu", "v1");
        let (end, out) = deploy(&rig, "v1");
        let text = format!("{}{}", e2e::stdout(&out), e2e::stderr(&out));
        assert_eq!(end, "rejected", "{option}: {text}");
        let expected = expected.replace("MODULES", &modules);
        assert!(
            text.contains(&expected) && text.contains("component fw/fw1, module absent"),
            "{option}: the error does not say {expected:?} naming the component and module:\n{text}"
        );
        let calls = rig.call_log("m1").join("\n");
        assert!(!calls.contains("Download"), "a state ran:\n{calls}");
    }
}
