//! The Update Module bridge, `interfaces/update-module`: Mender's own Update Modules from
//! Debian's mender-client (`single-file`, `directory`, `script`, `deb` in
//! /usr/share/mender/modules/v3) as components of a System beside mock components, driven
//! by the real `baton` binary, with Artifacts made by Mender's generators (or, where Debian
//! does not ship them, the `mender-artifact write module-image` command they run).
//!
//! The rig (`rig.rs`) is local to this module on purpose: the shared fixtures are being
//! reorganised.

mod rig;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use e2e::mender;
use e2e::system::{key_values, ok, run};
use serde_json::Value;

use rig::*;

/// The System of the file tests: `app.conf` by single-file (linked under the module's name),
/// the web root by directory (the bridge with module=directory, as beside baton's own
/// `directory` Interface), then a mock MCU in a later order group. Artifacts v1..v3 of each;
/// `app.conf` and the web root hold their factory content.
fn file_system(www_order: u8) -> Rig {
    let rig = Rig::new(vec![
        bridge("app-config", "cfg", 10, "single-file"),
        bridge("webroot", "www", www_order, "update-module").with("module=directory"),
        mock("mcu", "m1", 30),
    ]);
    fs::write(rig.target("app.conf"), "factory\n").unwrap();
    write_tree(&rig.target("www"), &www_content("0"));
    for v in ["1", "2", "3"] {
        let src = rig.root().join(format!("src-{v}"));
        fs::create_dir_all(&src).unwrap();
        let conf = src.join("app.conf");
        fs::write(&conf, format!("cfg v{v}\n")).unwrap();
        let dest = rig.target("");
        let name = format!("app-config-v{v}");
        Gen::new(&name, "app-config", &dest, &rig.artifacts()).single_file(&conf);
        let www = src.join("www");
        write_tree(&www, &www_content(v));
        let name = format!("webroot-v{v}");
        Gen::new(&name, "webroot", &rig.target("www"), &rig.artifacts()).directory(&www);
        rig.mock_artifact("mcu", &format!("v{v}"));
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

fn assert_files(rig: &Rig, v: &str, what: &str) {
    let conf = fs::read_to_string(rig.target("app.conf")).unwrap();
    assert_eq!(conf, format!("cfg v{v}\n"), "{what}: app.conf");
    let www = tree(&rig.target("www"));
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
fn assert_installed(rig: &Rig, v: &str, what: &str) {
    assert_files(rig, v, what);
    let (cfg, www) = (format!("app-config-v{v}"), format!("webroot-v{v}"));
    let single_file = expected_provides("single-file", "single-file", &cfg);
    assert_eq!(rig.provides("cfg"), single_file, "{what}");
    let directory = expected_provides("directory", "update-module", &www);
    assert_eq!(rig.provides("www"), directory, "{what}");
}

#[test]
fn files_and_directories_roll_back_with_the_system_from_the_modules_backup() {
    if !can_run(
        "the single-file/directory bridge test",
        lacking(&["mender-artifact"], &["single-file", "directory"]),
    ) {
        return;
    }
    let rig = file_system(10);
    rig.deploy_ok("v1");
    assert_installed(&rig, "1", "after v1");

    // Both file components commit before the MCU (a later order group) fails its commit: the
    // whole System rolls back, the files from the modules' own backups.
    rig.mark("m1", "ArtifactCommit.FAIL");
    let (end, out) = rig.deploy("v2");
    assert_eq!(end, "rolledBack", "{}", mender::transcript(&out));
    assert_installed(&rig, "1", "after the rolled back v2");
    for id in ["cfg", "www"] {
        assert!(
            !rig.state(id).join("deployment").exists(),
            "{id}: the module's File API directory outlived Cleanup"
        );
    }

    rig.unmark("m1", "ArtifactCommit.FAIL");
    rig.deploy_ok("v3");
    assert_installed(&rig, "3", "after v3");
}

#[test]
fn a_crash_between_install_and_commit_rolls_back_from_the_modules_backup() {
    if !can_run(
        "the bridge crash test",
        lacking(&["mender-artifact"], &["single-file", "directory"]),
    ) {
        return;
    }
    // The web root in its own order group: the second ArtifactInstall is its own.
    let rig = file_system(20);
    rig.deploy_ok("v1");
    let out = run(rig
        .baton()
        .env("BATON_FAULT", "crash@interface.after:ArtifactInstall#2")
        .args(["install", "-o", "json"])
        .arg(rig.manifest("v2")));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{}", mender::transcript(&out));
    // baton died after both modules installed v2 and before any commit: their backups of v1
    // are on disk in the bridge's state.
    assert_eq!(
        fs::read_to_string(rig.target("app.conf")).unwrap(),
        "cfg v2\n"
    );
    assert_eq!(tree(&rig.target("www")), www_content("2"));
    let backup = rig.state("cfg").join("deployment/tree/tmp/backup/app.conf");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "cfg v1\n");
    assert!(rig
        .state("www")
        .join("deployment/tree/tmp/prev_files.tar")
        .is_file());

    let out = run(rig.baton().args(["resume", "-o", "json"]));
    assert_eq!(
        end_result(&out),
        "rolledBack",
        "{}",
        mender::transcript(&out)
    );
    assert_installed(&rig, "1", "after the restart");
    rig.deploy_ok("v3");
    assert_installed(&rig, "3", "after v3");
}

#[test]
fn provides_are_what_the_mender_client_records_for_the_same_artifacts() {
    if !can_run("the Provides agreement test", mender_lacking()) {
        return;
    }
    let rig = Rig::new(vec![
        bridge("app-config", "cfg", 10, "single-file"),
        bridge("webroot", "www", 10, "update-module").with("module=directory"),
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
        let artifact = Gen::new(name, "app-config", &rig.target(""), &rig.artifacts())
            .extra(extra)
            .single_file(&conf);
        let w = format!("webroot-a{}", i + 1);
        write_tree(&www, &files(&[("index.html", &w)]));
        Gen::new(&w, "webroot", &rig.target("www"), &rig.artifacts()).directory(&www);
        rig.deploy_ok(&format!("a{}", i + 1));
        let expected = mender_records(&client, &artifact);
        assert_eq!(
            rig.provides("cfg"),
            expected,
            "{name}: the bridge and the Mender client disagree"
        );
    }
    // The directory module through the bridge named `update-module`: the Mender client's
    // record, plus the Interface's version key baton requires.
    let client = mender_client("webroot", "directory");
    let artifact = rig.artifacts().join("webroot-a4.mender");
    let mut expected = mender_records(&client, &artifact);
    expected.insert(
        "rootfs-image.update-module.version".into(),
        "webroot-a4".into(),
    );
    assert_eq!(rig.provides("www"), expected);
}

#[test]
fn a_failing_script_rolls_the_system_back() {
    if !can_run("the script bridge test", mender_lacking()) {
        return;
    }
    let rig = Rig::new(vec![
        bridge("app-config", "cfg", 10, "single-file"),
        bridge("job", "job", 20, "script"),
    ]);
    fs::write(rig.target("app.conf"), "factory\n").unwrap();
    let ran = rig.root().join("script-ran.log");
    for (v, exit) in [("v1", 0), ("v2", 3), ("v3", 0)] {
        let conf = rig.root().join("app.conf");
        fs::write(&conf, format!("cfg {v}\n")).unwrap();
        let name = format!("app-config-{v}");
        Gen::new(&name, "app-config", &rig.target(""), &rig.artifacts()).single_file(&conf);
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
            &rig.artifacts(),
        );
    }
    rig.deploy_ok("v1");
    let (end, out) = rig.deploy("v2");
    // The System rolls back; the script component cannot, and baton says so.
    assert_eq!(end, "inconsistent", "{}", mender::transcript(&out));
    assert_eq!(
        fs::read_to_string(rig.target("app.conf")).unwrap(),
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
    let expected = mender_records(&client, &rig.artifacts().join("job-v2.mender"));
    assert_eq!(expected["artifact_name"], "job-v2_INCONSISTENT");
    assert_eq!(rig.provides("job"), expected);

    rig.deploy_ok("v3");
    assert_eq!(
        fs::read_to_string(rig.target("app.conf")).unwrap(),
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
    let missing = lacking(
        &["mender-artifact", "dpkg-deb", "unshare", "chroot"],
        &["deb"],
    )
    .or_else(|| {
        (!is_root()).then(|| "not root: dpkg runs over an overlay of / in a mount namespace".into())
    });
    if !can_run("the deb bridge test", missing) {
        return;
    }
    let rig = Rig::new(vec![
        bridge("pkg", "hello", 10, "deb"),
        mock("mcu", "m1", 20),
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
            &rig.artifacts(),
        );
        rig.mock_artifact("mcu", v);
    }
    let env: String = rig
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.display()))
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
        m = rig.mock_dir("m1").display(),
        b = baton.display(),
        v1 = rig.manifest("v1").display(),
        v2 = rig.manifest("v2").display(),
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
        let why = format!("no overlay of / here: {}", e2e::stderr(&ran));
        if !can_run("the deb bridge test", Some(why)) {
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
        rig.provides("hello"),
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
    if !can_run(
        "the streaming bridge test",
        lacking(&["mender-artifact"], &[]),
    ) {
        return;
    }
    let rig = Rig::new(vec![
        bridge("fw", "fw1", 10, "streamer").with("modules-dir=@ROOT@/modules"),
        mock("mcu", "m1", 20),
    ]);
    let r = rig.root();
    let log = r.join("streamer.log");
    let module = r.join("modules/streamer");
    fs::write(
        &module,
        STREAMER
            .replace("@LOG@", &format!("'{}'", log.display()))
            .replace("@TARGET@", &format!("'{}'", rig.target("fw.bin").display())),
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
                &rig.artifacts(),
            );
            rig.mock_artifact("mcu", v);
            text.len()
        })
        .collect();
    rig.deploy_ok("v1");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("DownloadWithFileSizes\nstreams/fw.bin {}\n", sizes[0]),
        "the module read baton's streams itself, and baton stored no files tree"
    );
    let firmware = |v: &str| format!("firmware {v}\n").repeat(1000);
    assert_eq!(
        fs::read_to_string(rig.target("fw.bin")).unwrap(),
        firmware("v1")
    );
    let out = ok(rig.baton().arg("show-inventory"));
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
    let (end, out) = rig.deploy("v2");
    assert_eq!(end, "rolledBack", "{}", mender::transcript(&out));
    assert_eq!(
        fs::read_to_string(rig.target("fw.bin")).unwrap(),
        firmware("v1")
    );
    assert!(fs::read_to_string(&log)
        .unwrap()
        .ends_with(&format!("streams/fw.bin {}\n", sizes[1])));
}

#[test]
fn a_broken_module_fails_before_anything_runs_naming_module_and_component() {
    if !can_run("the broken module test", lacking(&["mender-artifact"], &[])) {
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
        let rig = Rig::new(vec![
            bridge("fw", "fw1", 10, "update-module")
                .with("modules-dir=@ROOT@/modules")
                .with("module=absent")
                .with(option),
            mock("mcu", "m1", 20),
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
        write_module_image("absent", "fw-v1", "fw", &[payload], &[], &rig.artifacts());
        rig.mock_artifact("mcu", "v1");
        let (end, out) = rig.deploy("v1");
        let text = format!("{}{}", e2e::stdout(&out), e2e::stderr(&out));
        assert_eq!(end, "rejected", "{option}: {text}");
        let expected = expected.replace("MODULES", &modules);
        assert!(
            text.contains(&expected) && text.contains("component fw/fw1, module absent"),
            "{option}: the error does not say {expected:?} naming the component and module:\n{text}"
        );
        let calls = fs::read_to_string(rig.mock_dir("m1").join("calls.log")).unwrap_or_default();
        assert!(!calls.contains("Download"), "a state ran:\n{calls}");
    }
}
