//! The hot-text linker script (`controller/link/hot-text.ld`, read by `controller/build.rs`):
//! which functions baton ran, from callgrind's output, as linker-script patterns.
//!
//! `e2e/hot-text` runs the controller benchmark's scenario with every `baton` process under
//! callgrind, then [`functions_in`] reads each output file; it runs the scenario again
//! natively under `perf record` ([`sampled_in`]) for what valgrind's run cannot show (the
//! variants a CPU feature selects, code that only timing reaches), and [`script`] writes
//! the patterns. Names are matched as section names (`.text.<symbol>`, or
//! `.text.unlikely.<symbol>` for a `#[cold]` function), with what differs between two
//! builds of the same code made a wildcard ([`pattern`]).

use std::collections::{BTreeMap, BTreeSet};

/// The functions callgrind saw run in the object whose path ends with `object`, from one
/// callgrind output file (format 1, with name compression: `fn=(12) name` defines id 12,
/// a later `fn=(12)` refers to it; `cfn=` and `cob=` define names the same way).
pub fn functions_in(callgrind: &str, object: &str) -> BTreeSet<String> {
    let mut objects: BTreeMap<&str, &str> = BTreeMap::new();
    let mut functions: BTreeMap<&str, &str> = BTreeMap::new();
    let mut current_object = "";
    let mut ran = BTreeSet::new();
    for line in callgrind.lines() {
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let (id, name) = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((id, name)) => (id, name.trim()),
            // Without compression the name is the whole value.
            None => (rest, rest),
        };
        match key {
            "ob" | "cob" => {
                if !name.is_empty() {
                    objects.insert(id, name);
                }
                if key == "ob" {
                    current_object = objects.get(id).copied().unwrap_or("");
                }
            }
            "fn" | "cfn" => {
                if !name.is_empty() {
                    functions.insert(id, name);
                }
                if key == "fn" && current_object.ends_with(object) {
                    if let Some(f) = functions.get(id) {
                        ran.insert(f.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    ran
}

/// The functions of the object whose path is `object` that `perf script --no-demangle -F
/// ip,sym,dso` shows samples in (`<ip> <symbol> (<object>)` per line; `[unknown]` for an
/// address without a symbol).
pub fn sampled_in(perf_script: &str, object: &str) -> BTreeSet<String> {
    let dso = format!("({object})");
    perf_script
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, symbol, o] if o == dso && symbol != "[unknown]" => Some(symbol.to_string()),
            _ => None,
        })
        .collect()
}

/// The linker-script pattern that finds `symbol`'s section in another build of the same
/// code, or `None` for what is not a symbol name (`0x...` for code without one, `(below
/// main)`).
///
/// - callgrind's recursion mark (`'2`) is not part of the name;
/// - a legacy Rust name ends in a hash of the crate's build (`17h<16 hex digits>E`), which
///   changes with its features and the toolchain: any hash matches;
/// - so does a v0 crate disambiguator (`Cs<base 62>_`);
/// - a `.<digits>` or `.llvm.<digits>` suffix LLVM adds to a local copy is numbered per
///   build: any suffix, or none, matches.
pub fn pattern(symbol: &str) -> Option<String> {
    let name = match symbol.rsplit_once('\'') {
        Some((n, depth)) if depth.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => symbol,
    };
    let symbol_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.';
    if name.is_empty() || name.starts_with("0x") || !name.bytes().all(symbol_char) {
        return None;
    }
    let (name, any_suffix) = match local_copy_suffix(name) {
        Some(base) => (base, true),
        None => (name, false),
    };
    let mut p = if let Some(body) = legacy_without_hash(name) {
        format!("{body}17h*")
    } else if name.starts_with("_R") {
        v0_without_disambiguators(name)
    } else {
        name.to_string()
    };
    if any_suffix && !p.ends_with('*') {
        p.push('*');
    }
    Some(p)
}

/// `name` without a trailing `.<digits>` or `.llvm.<digits>`, if it has one.
fn local_copy_suffix(name: &str) -> Option<&str> {
    let (base, digits) = name.rsplit_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(base.strip_suffix(".llvm").unwrap_or(base))
}

/// A legacy-mangled `_ZN...17h<16 hex>E` up to (not including) `17h`.
fn legacy_without_hash(name: &str) -> Option<&str> {
    let body = name.strip_prefix("_ZN")?.strip_suffix('E')?;
    let (_, hash) = body.rsplit_once("17h")?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| &name[..name.len() - "17h".len() - 16 - 1])
}

/// A v0 name with each crate disambiguator (`Cs<base 62>_`) made a wildcard.
fn v0_without_disambiguators(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("Cs") {
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
        out.push_str(&rest[..at + 2]);
        if digits > 0 && after.as_bytes().get(digits) == Some(&b'_') {
            out.push_str("*_");
            rest = &after[digits + 1..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The linker script: one output section, `.text.hot`, holding every section `patterns`
/// name, inserted before `.text` (so the linker's default layout stays for the rest).
pub fn script(patterns: &BTreeSet<String>, header: &str) -> String {
    let mut s = String::new();
    s.push_str("/*\n");
    for line in header.lines() {
        s.push_str(&format!(" * {line}\n").replace(" * \n", " *\n"));
    }
    s.push_str(" */\nSECTIONS\n{\n  .text.hot :\n  {\n");
    for p in patterns {
        s.push_str(&format!("    *(.text.{p} .text.unlikely.{p})\n"));
    }
    s.push_str("  }\n}\nINSERT BEFORE .text;\n");
    s
}

/// The patterns of a script [`script`] wrote.
pub fn patterns_of(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("*(.text."))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_keep_the_name_and_drop_what_each_build_numbers() {
        let table = [
            // C functions (zlib-ng, zstd) keep their name.
            ("inflate_fast_avx512", Some("inflate_fast_avx512")),
            // Legacy Rust: the build's hash is a wildcard.
            (
                "_ZN5baton6engine4live6Engine3run17h0123456789abcdefE",
                Some("_ZN5baton6engine4live6Engine3run17h*"),
            ),
            (
                "_ZN4core3ptr62drop_in_place$LT$serde_saphyr..de..LiveEvents$GT$17he690646e330ce981E",
                Some("_ZN4core3ptr62drop_in_place$LT$serde_saphyr..de..LiveEvents$GT$17h*"),
            ),
            // Not a hash (15 digits): kept whole.
            (
                "_ZN3foo3bar17h0123456789abcdeE",
                Some("_ZN3foo3bar17h0123456789abcdeE"),
            ),
            // v0: every crate disambiguator is a wildcard.
            (
                "_RNvMs4_NtCslNYArtu3iFV_5alloc7raw_vecNtB5_11RawVecInner11finish_growCsduwmD7cSIQq_5gimli",
                Some("_RNvMs4_NtCs*_5alloc7raw_vecNtB5_11RawVecInner11finish_growCs*_5gimli"),
            ),
            // LLVM's numbered local copies: any suffix, or none.
            (
                "_RNvNtCslNYArtu3iFV_5alloc5boxed14box_new_uninit.3679",
                Some("_RNvNtCs*_5alloc5boxed14box_new_uninit*"),
            ),
            (
                "_ZN5tokio4time5sleep17h0123456789abcdefE.llvm.1234",
                Some("_ZN5tokio4time5sleep17h*"),
            ),
            ("memcpy.12", Some("memcpy*")),
            // callgrind's recursion mark.
            ("_ZN3foo3bar17h0123456789abcdefE'2", Some("_ZN3foo3bar17h*")),
            // Not symbol names.
            ("0x00000000002e1070", None),
            ("(below main)", None),
            ("", None),
        ];
        for (symbol, want) in table {
            assert_eq!(pattern(symbol).as_deref(), want, "{symbol}");
        }
    }

    #[test]
    fn functions_are_read_from_the_named_object_only_with_compressed_names() {
        let cg = "\
version: 1
creator: callgrind-3.19.0
cmd: /tmp/b/baton run
events: Ir
ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1) ???
fn=(1) malloc
0x1 3
ob=(2) /tmp/b/baton
fl=(2) ???
fn=(2) _ZN5baton4main17h0123456789abcdefE
0x2 5
cob=(1)
cfi=(1)
cfn=(3) free
calls=1 0x3
0x2 4
cob=(2)
cfn=(4) _ZN5baton4idle17h0123456789abcdefE
calls=1 0x4
0x2 1
fn=(4)
0x4 2
ob=(1)
fn=(3)
0x3 1
ob=(2)
fn=(2)
0x2 1
";
        let ran = functions_in(cg, "/b/baton");
        assert_eq!(
            ran.into_iter().collect::<Vec<_>>(),
            [
                "_ZN5baton4idle17h0123456789abcdefE",
                "_ZN5baton4main17h0123456789abcdefE"
            ]
        );
        // A callee named only in a call (`cfn=`) that never ran on its own is not counted.
        let only_called = "ob=(1) /b/baton\nfn=(1) a\ncfn=(2) b\ncalls=1 0x1\n0x1 1\n";
        assert_eq!(
            functions_in(only_called, "/b/baton")
                .into_iter()
                .collect::<Vec<_>>(),
            ["a"]
        );
    }

    #[test]
    fn samples_count_only_named_functions_of_the_object() {
        let perf = "\
     7f4bfe06c772 _dl_sysdep_parse_arguments (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)
     55d0c0a1b2c3 _ZN5baton4main17h0123456789abcdefE (/tmp/b/baton)
     55d0c0a1b2c4 _ZN5baton4main17h0123456789abcdefE (/tmp/b/baton)
     55d0c0a1b2c5 [unknown] (/tmp/b/baton)
     55d0c0a1b2c6 inflate_fast_avx512 (/tmp/b/baton)
     55d0c0a1b2c7 inflate_fast_avx512 (/tmp/c/baton)
";
        assert_eq!(
            sampled_in(perf, "/tmp/b/baton")
                .into_iter()
                .collect::<Vec<_>>(),
            ["_ZN5baton4main17h0123456789abcdefE", "inflate_fast_avx512"]
        );
    }

    #[test]
    fn the_script_gathers_each_pattern_in_both_text_sections_and_reads_back() {
        let patterns: BTreeSet<String> = ["_ZN5baton4main17h*", "inflate_fast"]
            .map(String::from)
            .into();
        let s = script(&patterns, "Generated.\n\nSecond paragraph.");
        assert!(
            s.starts_with("/*\n * Generated.\n *\n * Second paragraph.\n */\n"),
            "{s}"
        );
        assert!(s.contains("    *(.text._ZN5baton4main17h* .text.unlikely._ZN5baton4main17h*)\n"));
        assert!(s.contains(".text.hot :"));
        assert!(s.ends_with("INSERT BEFORE .text;\n"));
        assert_eq!(patterns_of(&s), patterns);
    }
}
