//! What the Update Module bridge tests make and ask beside their System (`e2e::fixture`):
//! Artifacts for Mender's modules (by Mender's generators, or the commands they run),
//! directory trees, a small Debian package, and the sandboxed Mender client to compare
//! Provides with.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::mender::{self, Mender, Module, MODULES_DIR};
use e2e::ok;
use serde_json::Value;

/// `baton install -o json`'s end result (`success`, `rolledBack`...).
pub(super) fn end_result(out: &Output) -> String {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}", mender::transcript(out)));
    report["end"]["result"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `mender-artifact write module-image` (what Mender's generators run) into `out_dir`.
pub(super) fn write_module_image(
    module: &str,
    name: &str,
    device_type: &str,
    files: &[PathBuf],
    extra: &[&str],
    out_dir: &Path,
) -> PathBuf {
    let out = out_dir.join(format!("{name}.mender"));
    let mut c = Command::new("mender-artifact");
    c.args([
        "write",
        "module-image",
        "-T",
        module,
        "-t",
        device_type,
        "-n",
        name,
    ]);
    for f in files {
        c.arg("-f").arg(f);
    }
    c.args(extra).arg("-o").arg(&out);
    ok(&mut c);
    out
}

/// An Artifact for Mender's `single-file` or `directory` module, made by Mender's generator
/// (single-file-artifact-gen, directory-artifact-gen) when installed, else by the commands it
/// runs (Debian does not ship the generators): `<out_dir>/<name>.mender`.
pub(super) struct Gen<'a> {
    name: &'a str,
    device_type: &'a str,
    dest_dir: &'a Path,
    out_dir: &'a Path,
    extra: &'a [&'a str],
}

impl<'a> Gen<'a> {
    pub(super) fn new(
        name: &'a str,
        device_type: &'a str,
        dest_dir: &'a Path,
        out_dir: &'a Path,
    ) -> Self {
        Gen {
            name,
            device_type,
            dest_dir,
            out_dir,
            extra: &[],
        }
    }

    /// Options passed on to mender-artifact.
    pub(super) fn extra(mut self, extra: &'a [&'a str]) -> Self {
        self.extra = extra;
        self
    }

    fn out(&self) -> PathBuf {
        self.out_dir.join(format!("{}.mender", self.name))
    }

    /// Runs the generator `tool` (in `dir`, where it writes its temporary files) on `input`,
    /// if installed.
    fn generator(&self, tool: &str, dir: &Path, input: &Path) -> bool {
        if e2e::need::find(tool).is_none() {
            return false;
        }
        ok(Command::new(tool)
            .current_dir(dir)
            .args(["-n", self.name, "-t", self.device_type, "-d"])
            .arg(self.dest_dir)
            .arg("-o")
            .arg(self.out())
            .arg(input)
            .arg("--")
            .args(self.extra));
        true
    }

    fn module_image(&self, module: &str, files: &[PathBuf]) -> PathBuf {
        write_module_image(
            module,
            self.name,
            self.device_type,
            files,
            self.extra,
            self.out_dir,
        )
    }

    /// Installs `file` into `dest_dir`: the payload is the files `dest_dir`, `filename`,
    /// `permissions` and the file.
    pub(super) fn single_file(&self, file: &Path) -> PathBuf {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        if self.generator("single-file-artifact-gen", w, file) {
            return self.out();
        }
        fs::write(w.join("dest_dir"), format!("{}\n", self.dest_dir.display())).unwrap();
        let filename = file.file_name().unwrap().to_string_lossy().into_owned();
        fs::write(w.join("filename"), format!("{filename}\n")).unwrap();
        let mode = fs::metadata(file).unwrap().permissions().mode() & 0o7777;
        fs::write(w.join("permissions"), format!("{mode:o}\n")).unwrap();
        let files = ["dest_dir", "filename", "permissions"].map(|f| w.join(f));
        let mut all = files.to_vec();
        all.push(file.to_path_buf());
        self.module_image("single-file", &all)
    }

    /// Installs the tree `src` as `dest_dir`: the payload is `update.tar` and `dest_dir`.
    pub(super) fn directory(&self, src: &Path) -> PathBuf {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        if self.generator("directory-artifact-gen", w, src) {
            return self.out();
        }
        ok(Command::new("tar")
            .arg("-cf")
            .arg(w.join("update.tar"))
            .arg("-C")
            .arg(src)
            .arg("."));
        fs::write(w.join("dest_dir"), format!("{}\n", self.dest_dir.display())).unwrap();
        self.module_image("directory", &[w.join("update.tar"), w.join("dest_dir")])
    }
}

/// Every file under `dir` with its content, by relative path.
pub(super) fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub(super) fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes `entries` as a directory tree under `dir` (emptied first).
pub(super) fn write_tree(dir: &Path, entries: &BTreeMap<String, String>) {
    let _ = fs::remove_dir_all(dir);
    for (rel, text) in entries {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// A sandboxed Debian Mender client whose device type is `device_type`, with Debian's
/// `module` installed beside the manifest module the sandbox always carries.
pub(super) fn mender_client(device_type: &str, module: &str) -> Mender {
    let m = Mender::new(
        device_type,
        &Module::Other(Path::new(MODULES_DIR).join(module)),
        vec![],
        None,
    );
    fs::copy(
        Path::new(MODULES_DIR).join(module),
        m.dir().join("modules").join(module),
    )
    .unwrap();
    m
}

/// `mender install` then, if the client waits for it, `mender commit`: the client's provides.
pub(super) fn mender_records(m: &Mender, artifact: &Path) -> BTreeMap<String, String> {
    let out = m.install(artifact);
    if e2e::stdout(&out).contains("Use 'commit' to update") {
        let out = m.run(&["commit"]);
        assert_eq!(out.status.code(), Some(0), "{}", mender::transcript(&out));
    }
    m.provides()
}

/// A small Debian package `baton-e2e-hello` at `version`, built by dpkg-deb.
pub(super) fn hello_deb(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("hello-{version}"));
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/share/baton-e2e-hello")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: baton-e2e-hello\nVersion: {version}\nArchitecture: all\n\
             Maintainer: baton tests <baton@example.invalid>\n\
             Description: what the Update Module bridge test installs\n"
        ),
    )
    .unwrap();
    fs::write(
        root.join("usr/share/baton-e2e-hello/hello.txt"),
        format!("hello {version}\n"),
    )
    .unwrap();
    let deb = dir.join(format!("baton-e2e-hello_{version}_all.deb"));
    ok(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb));
    deb
}
