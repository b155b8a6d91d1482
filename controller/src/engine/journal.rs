//! The journal: one small record, replaced atomically and durably at every transition.
//!
//! Each write goes to a temporary file which is fsynced, the current record becomes the
//! previous generation, the temporary file is renamed into place, and the directory is
//! fsynced. A record carries its generation, its length and a CRC-32 of its body, so a torn or
//! corrupted record is detected on load and the previous generation used instead. When both
//! are unusable the journal refuses to load and keeps the files for inspection: baton then
//! acts on no component until a person resets it.
//!
//! A failed write is never retried and continued (a failed fsync may have dropped the data):
//! the caller treats it as the failure of what it was about to do.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::durable::fault;

const MAGIC: &str = "baton-journal v1";
/// Larger records are refused on write and on load.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("journal {path} is unusable ({current}) and so is its previous generation ({previous}); \
             nothing will be done to any component until it is inspected and reset with `baton journal reset`")]
    Corrupt {
        path: PathBuf,
        current: String,
        previous: String,
    },
    #[error("journal record is {0} bytes, over the {MAX_RECORD_BYTES} byte limit")]
    TooLarge(usize),
}

/// A journal directory holding the current and previous generations of one record.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    generation: u64,
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded<T> {
    pub record: Option<T>,
    /// The current generation was unusable and the previous one was used.
    pub fell_back: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// The generation of the record last loaded or written.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join("current")
    }
    fn previous_path(&self) -> PathBuf {
        self.dir.join("previous")
    }

    /// Open (creating the directory if needed) and load the newest valid record. Only the
    /// holder of the datastore lock may open: loading removes a write that never became a
    /// record.
    pub fn open<T: DeserializeOwned>(dir: &Path) -> Result<(Self, Loaded<T>), JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let (generation, loaded) = Self::peek(dir)?;
        // A temporary file is a write that never became a record.
        let _ = fs::remove_file(dir.join("current.tmp"));
        let journal = Self {
            dir: dir.to_path_buf(),
            generation,
        };
        Ok((journal, loaded))
    }

    /// The newest valid record and its generation, read as [`Journal::open`] reads it but
    /// changing nothing: for looking while another baton holds the lock (a rename is
    /// atomic, so what is read is a whole record, possibly already replaced).
    pub fn peek<T: DeserializeOwned>(dir: &Path) -> Result<(u64, Loaded<T>), JournalError> {
        let current = read_record(&dir.join("current"));
        let previous = read_record(&dir.join("previous"));
        let corrupt = |current: String, previous: String| JournalError::Corrupt {
            path: dir.to_path_buf(),
            current,
            previous,
        };
        let (chosen, fell_back) = match (current, previous) {
            (Ok(Some(c)), _) => (Some(c), None),
            (Ok(None), Ok(p)) => (p, None),
            (Err(why), Ok(Some(p))) => (Some(p), Some(why)),
            // The only record, or the last one, is unusable: what was in progress is unknown.
            (Err(current), Ok(None)) => return Err(corrupt(current, "absent".into())),
            (Ok(None), Err(previous)) => return Err(corrupt("absent".into(), previous)),
            (Err(current), Err(previous)) => return Err(corrupt(current, previous)),
        };
        let (generation, record) = match chosen {
            Some((generation, body)) if body.is_empty() => (generation, None),
            Some((generation, body)) => {
                let value = serde_json::from_slice(&body).map_err(|e| {
                    corrupt(format!("record does not decode: {e}"), "not tried".into())
                })?;
                (generation, Some(value))
            }
            None => (0, None),
        };
        Ok((generation, Loaded { record, fell_back }))
    }

    /// Replace the record durably. `None` records that nothing is in progress.
    pub fn write<T: Serialize>(&mut self, value: Option<&T>) -> Result<(), JournalError> {
        let body = match value {
            Some(v) => serde_json::to_vec(v).expect("journal records always serialize"),
            None => Vec::new(),
        };
        if body.len() > MAX_RECORD_BYTES {
            return Err(JournalError::TooLarge(body.len()));
        }
        let generation = self.generation + 1;
        let mut bytes = format!(
            "{MAGIC}\ngeneration {generation}\nlength {}\ncrc32 {:08x}\n\n",
            body.len(),
            crc32fast::hash(&body)
        )
        .into_bytes();
        bytes.extend_from_slice(&body);

        let tmp = self.dir.join("current.tmp");
        let current = self.current_path();
        let previous = self.previous_path();
        fault::point("journal.write");
        {
            let _ = fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            f.write_all(&bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fault::point("journal.synced");
        match fs::rename(&current, &previous) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&current)(e)),
        }
        fault::point("journal.rotated");
        fs::rename(&tmp, &current).map_err(io_err(&current))?;
        fault::point("journal.renamed");
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        fault::point("journal.durable");
        self.generation = generation;
        Ok(())
    }

    /// Move unusable journal files aside (`*.broken`) so baton can start afresh.
    pub fn reset(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
        let mut moved = Vec::new();
        for name in ["current", "previous", "current.tmp"] {
            let p = dir.join(name);
            if p.exists() {
                let broken = dir.join(format!("{name}.broken"));
                fs::rename(&p, &broken).map_err(io_err(&p))?;
                moved.push(broken);
            }
        }
        Ok(moved)
    }
}

/// Read and check one generation. `Ok(None)` when the file does not exist.
fn read_record(path: &Path) -> Result<Option<(u64, Vec<u8>)>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse_record(&bytes)
        .map(Some)
        .map_err(|why| format!("{}: {why}", path.display()))
}

/// Parse `magic / generation / length / crc32 / blank line / body` strictly.
pub(crate) fn parse_record(bytes: &[u8]) -> Result<(u64, Vec<u8>), String> {
    let mut rest = bytes;
    let mut line = |what: &str| -> Result<String, String> {
        let end = rest
            .iter()
            .take(128)
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("truncated before the {what} line"))?;
        let l =
            std::str::from_utf8(&rest[..end]).map_err(|_| format!("{what} line is not text"))?;
        let l = l.to_string();
        rest = &rest[end + 1..];
        Ok(l)
    };
    if line("magic")? != MAGIC {
        return Err(format!("not a journal record (expected '{MAGIC}')"));
    }
    let field = |l: String, name: &str| -> Result<String, String> {
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| format!("expected '{name} <value>', found '{l}'"))
    };
    let generation: u64 = field(line("generation")?, "generation")?
        .parse()
        .map_err(|_| "generation is not a number".to_string())?;
    let length: usize = field(line("length")?, "length")?
        .parse()
        .map_err(|_| "length is not a number".to_string())?;
    let crc = u32::from_str_radix(&field(line("crc32")?, "crc32")?, 16)
        .map_err(|_| "crc32 is not hexadecimal".to_string())?;
    if !line("separator")?.is_empty() {
        return Err("missing blank line after the header".into());
    }
    if length > MAX_RECORD_BYTES {
        return Err(format!("length {length} is over the limit"));
    }
    if rest.len() != length {
        return Err(format!(
            "body is {} bytes, header says {length}",
            rest.len()
        ));
    }
    if crc32fast::hash(rest) != crc {
        return Err("checksum mismatch".into());
    }
    Ok((generation, rest.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Rec {
        step: u32,
        note: String,
    }

    fn rec(step: u32) -> Rec {
        Rec {
            step,
            note: format!("step {step} of a deployment"),
        }
    }

    #[test]
    fn writes_survive_reopen_and_keep_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, loaded) = Journal::open::<Rec>(dir.path()).unwrap();
        assert!(loaded.record.is_none());
        j.write(Some(&rec(1))).unwrap();
        j.write(Some(&rec(2))).unwrap();
        let (_, loaded) = Journal::open::<Rec>(dir.path()).unwrap();
        assert_eq!(loaded.record, Some(rec(2)));
        assert!(dir.path().join("previous").exists());
        assert!(!dir.path().join("current.tmp").exists());
    }

    #[test]
    fn a_torn_current_record_falls_back_to_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open::<Rec>(dir.path()).unwrap();
        j.write(Some(&rec(1))).unwrap();
        j.write(Some(&rec(2))).unwrap();
        let cur = dir.path().join("current");
        let bytes = fs::read(&cur).unwrap();
        for len in 0..bytes.len() {
            fs::write(&cur, &bytes[..len]).unwrap();
            let (_, loaded) = Journal::open::<Rec>(dir.path()).unwrap();
            assert_eq!(loaded.record, Some(rec(1)), "truncated at {len}");
            assert!(loaded.fell_back.is_some());
        }
    }

    #[test]
    fn both_generations_broken_is_a_clear_error_and_reset_moves_them_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open::<Rec>(dir.path()).unwrap();
        j.write(Some(&rec(1))).unwrap();
        j.write(Some(&rec(2))).unwrap();
        fs::write(dir.path().join("current"), b"garbage").unwrap();
        fs::write(
            dir.path().join("previous"),
            b"baton-journal v1\ngeneration x\n",
        )
        .unwrap();
        let err = Journal::open::<Rec>(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("unusable") && err.contains("baton journal reset"),
            "{err}"
        );
        let moved = Journal::reset(dir.path()).unwrap();
        assert_eq!(moved.len(), 2);
        let (_, loaded) = Journal::open::<Rec>(dir.path()).unwrap();
        assert!(loaded.record.is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        /// Random bit flips anywhere in a record are always detected.
        #[test]
        fn bit_flips_are_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let body = serde_json::to_vec(&rec(7)).unwrap();
            let mut bytes = format!(
                "{MAGIC}\ngeneration 3\nlength {}\ncrc32 {:08x}\n\n",
                body.len(),
                crc32fast::hash(&body)
            )
            .into_bytes();
            bytes.extend_from_slice(&body);
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            match parse_record(&bytes) {
                Err(_) => {}
                // A flip in the generation digits can still parse; the body must be intact.
                Ok((_, b)) => prop_assert_eq!(b, body),
            }
        }
    }
}
