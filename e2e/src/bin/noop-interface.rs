//! `noop-interface`: a native protocol v1 Interface that does nothing, as fast as a process
//! can, so that a benchmark measures baton's orchestration and not the Interface.
//!
//! Install it (or a symlink to it) as `<datadir>/interfaces/v1/<name>`; `<name>` is what
//! its Provides key carries. Topology: `interface_args: [<id>, <version>]`, where `<version>`
//! is the version itself or the absolute path of a file holding it (default `noop-v0`).
//!
//! Answers: `Identity` prints `id=<id>` (default `noop`); `Provides` and `Inventory` print
//! `rootfs-image.<name>.version=<version>`; every other query gets the protocol's default
//! (nothing). Every state, known or not, does nothing and exits 0. In `Download` it never
//! opens `stream-next`, so baton stores the payload in the files tree.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let name = arg(0)
        .and_then(|p| Path::new(p).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("noop-interface");
    let answer = match arg(1) {
        Some("Identity") => format!("id={}\n", arg(4).unwrap_or("noop")),
        Some("Provides" | "Inventory") => match version(arg(5)) {
            Ok(v) => format!("rootfs-image.{name}.version={v}\n"),
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => return ExitCode::SUCCESS,
    };
    match std::io::stdout().write_all(answer.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// The version: given literally, or read from an absolute path.
fn version(arg: Option<&str>) -> Result<String, String> {
    match arg {
        None => Ok("noop-v0".to_owned()),
        Some(path) if path.starts_with('/') => std::fs::read_to_string(path)
            .map(|v| v.trim().to_owned())
            .map_err(|e| format!("version file {path}: {e}")),
        Some(literal) => Ok(literal.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::version;

    #[test]
    fn the_version_is_literal_or_read_from_an_absolute_path() {
        assert_eq!(version(None).unwrap(), "noop-v0");
        assert_eq!(version(Some("v7")).unwrap(), "v7");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "v8\n").unwrap();
        assert_eq!(version(Some(file.path().to_str().unwrap())).unwrap(), "v8");
        assert!(version(Some("/nonexistent/version")).is_err());
    }
}
