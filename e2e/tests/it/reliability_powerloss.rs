//! Power loss: a SIGKILL never loses data the kernel already has, a power cut loses what was
//! not synced. So the order of baton's syncs and renames is checked on the system calls of
//! real deployments (`strace -f -y`), as reliability.md §9 row 5 (a) suggests:
//! - every journal record: its temporary file fsynced before it is renamed into place, and
//!   the journal directory fsynced after, before baton does anything else (the next record,
//!   the next Interface call);
//! - every Manifest store file the same way, and the store directory fsynced after a
//!   promotion, before the journal forgets the deployment;
//! - the File API trees and payloads, written unsynced, made durable by one `syncfs` after
//!   each Download step and before its outcome is journaled.

use std::path::Path;
use std::process::Command;

use e2e::fixture::{Component, System};
use e2e::need;
use e2e::reliability::Tally;
use e2e::stderr;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Fsync(String),
    Syncfs(String),
    Rename(String, String),
    /// An Interface call: its state (argv[1]).
    Exec(String),
}

/// The quoted strings of a strace argument list, in order (`"a", "b"` -> [a, b]).
fn quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// The path strace's `-y` prints after a file descriptor: `fsync(5</a/b>)` -> `/a/b`.
fn fd_path(s: &str) -> Option<String> {
    let start = s.find('<')?;
    let end = s[start..].find('>')?;
    Some(s[start + 1..start + end].to_string())
}

fn parse(trace: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    for line in trace.lines() {
        // `<pid> <call>(<args>...`; resumed halves (`<... fsync resumed>`) add nothing.
        let Some((_, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let name = call.split('(').next().unwrap_or("");
        let args = call.get(name.len()..).unwrap_or("");
        let op = match name {
            "fsync" | "fdatasync" => fd_path(args).map(Op::Fsync),
            "syncfs" => fd_path(args).map(Op::Syncfs),
            "rename" | "renameat" | "renameat2" => {
                let q = quoted(args);
                (q.len() >= 2).then(|| Op::Rename(q[0].clone(), q[1].clone()))
            }
            "execve" => {
                let q = quoted(args);
                q.get(2).map(|state| Op::Exec(state.clone()))
            }
            _ => None,
        };
        ops.extend(op);
    }
    ops
}

fn parent(p: &str) -> String {
    Path::new(p).parent().unwrap().display().to_string()
}

/// Every durable replacement of a file named like `target` (a temporary file renamed onto
/// it): the temporary file synced before, its directory synced after and before the next
/// Interface call or the next replacement. Returns the number checked.
fn check_replacements(ops: &[Op], is_target: impl Fn(&str, &str) -> bool) -> Result<usize, String> {
    let mut checked = 0;
    for (i, op) in ops.iter().enumerate() {
        let Op::Rename(from, to) = op else { continue };
        if !is_target(from, to) {
            continue;
        }
        checked += 1;
        // Since this temporary file was last renamed away (a new one of the same name).
        let since = ops[..i]
            .iter()
            .rposition(|o| matches!(o, Op::Rename(f, _) if f == from))
            .map_or(0, |p| p + 1);
        if !ops[since..i].contains(&Op::Fsync(from.clone())) {
            return Err(format!(
                "#{i}: {from} renamed to {to} without an fsync of its data"
            ));
        }
        let dir = parent(to);
        let next = ops[i + 1..]
            .iter()
            .position(|o| match o {
                Op::Exec(_) => true,
                Op::Rename(f, t) => f != from && is_target(f, t),
                _ => false,
            })
            .map_or(ops.len(), |p| i + 1 + p);
        if !ops[i + 1..next].contains(&Op::Fsync(dir.clone())) {
            return Err(format!(
                "#{i}: {from} renamed to {to}, but {dir} is not fsynced before baton goes on"
            ));
        }
    }
    Ok(checked)
}

fn is_journal(from: &str, to: &str) -> bool {
    from.ends_with("/journal/current.tmp") && to.ends_with("/journal/current")
}

/// Runs `args` under strace; returns the parsed system calls.
fn traced(s: &System, args: &[&str]) -> (Vec<Op>, std::process::Output) {
    let trace = s.root().join(format!("trace-{}.txt", args[0]));
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-y",
        "-qq",
        "-s",
        "1024",
        "-e",
        "trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,execve",
        "-o",
    ])
    .arg(&trace)
    .arg(s.baton().get_program())
    .args(s.baton().get_args())
    .args(args);
    let out = cmd.output().expect("strace runs");
    (parse(&std::fs::read_to_string(&trace).unwrap()), out)
}

#[test]
fn every_commit_is_synced_before_it_is_renamed_and_its_directory_after() {
    if !need::have(need::tool("strace")) {
        return;
    }
    let mut tally = Tally::new();
    for fail_commit in [false, true] {
        let s = System::new(vec![
            Component::new("gw", "gateway", 10),
            Component::new("e1", "ecu", 20).reboot("Yes"),
            Component::new("e2", "ecu", 20),
            Component::new("m1", "mcu", 30),
        ]);
        if fail_commit {
            s.mark("m1", "ArtifactCommit.FAIL");
        }
        let m = s.release("v2");
        let (ops, out) = traced(&s, &["install", m.to_str().unwrap()]);
        let want = if fail_commit { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{}", stderr(&out));
        let what = if fail_commit {
            "rolled back"
        } else {
            "successful"
        };

        let journal =
            check_replacements(&ops, is_journal).unwrap_or_else(|e| panic!("{what}: {e}"));
        let store = check_replacements(&ops, |f, _| {
            f.contains("/manifests/.pending.") && f.ends_with(".tmp")
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            journal >= 10 && store == 2,
            "{what}: {journal} journal records, {store} store files"
        );
        for _ in 0..journal + store {
            tally.case(|| ());
        }

        // Promotion: the store directory is synced before the journal forgets the deployment.
        if !fail_commit {
            tally.case(|| {
                let promoted = ops
                    .iter()
                    .position(
                        |o| matches!(o, Op::Rename(_, t) if t.ends_with("/manifests/current.yaml")),
                    )
                    .expect("the Manifest was promoted");
                let Op::Rename(_, to) = &ops[promoted] else {
                    unreachable!()
                };
                let next_record = ops[promoted..]
                    .iter()
                    .position(|o| matches!(o, Op::Rename(f, t) if is_journal(f, t)))
                    .expect("the journal is cleared after the promotion");
                assert!(
                    ops[promoted..promoted + next_record].contains(&Op::Fsync(parent(to))),
                    "{what}: the promotion is not synced before the journal is cleared"
                );
            });
        }

        // Each Download step: a syncfs between its Interface calls and its outcome record.
        let downloads: Vec<usize> = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Op::Exec(s) if s.starts_with("Download")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(downloads.len(), 4, "{what}: one Download per component");
        for &d in &downloads {
            tally.case(|| {
                let record = ops[d..]
                    .iter()
                    .position(|o| matches!(o, Op::Rename(f, t) if is_journal(f, t)))
                    .map(|p| d + p)
                    .expect("the Download's outcome is journaled");
                assert!(
                    ops[d..record].iter().any(|o| matches!(o, Op::Syncfs(p) if p.contains("/store/work/"))),
                    "{what}: the Download at #{d} is journaled without a syncfs of its File API trees"
                );
            });
        }
    }
    tally.note(&format!(
        "{} durable writes checked in two traced deployments",
        tally.tried()
    ));
}

#[test]
fn the_checker_finds_a_missing_sync() {
    let ok = "1 fsync(3</d/journal/current.tmp>) = 0\n\
              1 rename(\"/d/journal/current.tmp\", \"/d/journal/current\") = 0\n\
              1 fsync(4</d/journal>) = 0\n\
              2 execve(\"/i/mock\", [\"/i/mock\", \"Download\"], 0x0 /* 1 var */) = 0\n";
    assert_eq!(check_replacements(&parse(ok), is_journal), Ok(1));
    let no_data_sync = ok.replace("1 fsync(3</d/journal/current.tmp>) = 0\n", "");
    assert!(check_replacements(&parse(&no_data_sync), is_journal).is_err());
    let no_dir_sync = ok.replace("1 fsync(4</d/journal>) = 0\n", "");
    assert!(check_replacements(&parse(&no_dir_sync), is_journal).is_err());
    // The directory synced only after the next Interface call started is too late.
    let late = format!("{no_dir_sync}1 fsync(4</d/journal>) = 0\n");
    assert!(check_replacements(&parse(&late), is_journal).is_err());
}
