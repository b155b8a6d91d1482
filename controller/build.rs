//! Lays out the release binary's text with the functions the daemon runs first.
//!
//! A converged daemon's resident memory is mostly its own mapped text: the kernel maps a
//! file page together with its neighbours (64 KiB around each fault), and the few
//! thousand functions the daemon runs are spread over the whole 7 MiB text, so nearly all
//! of it ends up resident. `link/hot-text.ld` names those functions (recorded by
//! `e2e/hot-text`, which runs the controller benchmark's scenario under callgrind) and
//! gathers them into one output section ahead of `.text`; everything else keeps the
//! linker's default place. The script only adds a section (`INSERT BEFORE .text`), so a
//! stale or missing name costs memory, never correctness.
//!
//! Release builds of the `baton` binary only: debug builds and tests link as before.
//! `BATON_DEFAULT_TEXT_LAYOUT=1` turns it off, e.g. for a linker without linker scripts
//! (mold); lld, Rust's default linker on x86_64 Linux, and GNU ld both read it. Also to
//! profile an unstripped build with valgrind, which reads symbols in `.text` only.

use std::path::Path;

fn main() {
    let script = Path::new("link/hot-text.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=BATON_DEFAULT_TEXT_LAYOUT");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let off = std::env::var_os("BATON_DEFAULT_TEXT_LAYOUT").is_some_and(|v| v != "0");
    if release && linux && !off {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let path = Path::new(&dir).join(script);
        println!("cargo:rustc-link-arg-bin=baton=-Wl,-T,{}", path.display());
    }
}
