//! Payloads for the Artifact benchmarks, written to a file in chunks (a 1 GiB payload never
//! sits in memory), deterministic so every run and every machine reads the same bytes.
//!
//! Two kinds, because compression changes what is measured: random bytes do not compress
//! (gzip stores them, and "decompression" costs almost nothing), while pseudo-text from a
//! small vocabulary compresses to about a third with gzip, like a tar of `/usr` (see
//! shared/reference/mender-tools.md §6), so gzip really decompresses.

use std::io::{self, BufWriter, Write};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// xorshift noise: incompressible.
    Random,
    /// Words, numbers and newlines from a 25-word vocabulary: compressible.
    Text,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Random => "random bytes (incompressible)",
            Kind::Text => "pseudo-text from a 25-word vocabulary (compressible)",
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "update",
    "component",
    "artifact",
    "manifest",
    "topology",
    "interface",
    "rollback",
    "commit",
    "device",
    "firmware",
    "version",
    "payload",
    "stream",
    "verify",
    "reboot",
    "install",
    "order",
    "group",
    "state",
    "0x1f",
    "42",
    "/usr/lib",
    "config",
    "error",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes `bytes` bytes of `kind` to `out`.
pub fn write(out: &mut impl Write, bytes: u64, kind: Kind) -> io::Result<()> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = bytes;
    while left > 0 {
        chunk.clear();
        while chunk.len() < 1 << 20 {
            let r = rng.next();
            match kind {
                Kind::Random => chunk.extend_from_slice(&r.to_le_bytes()),
                Kind::Text => {
                    chunk.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                    chunk.push(if r >> 40 & 15 == 0 { b'\n' } else { b' ' });
                    if r >> 50 & 3 == 0 {
                        write!(chunk, "{}", r >> 52)?;
                    }
                }
            }
        }
        let n = left.min(chunk.len() as u64);
        out.write_all(&chunk[..n as usize])?;
        left -= n;
    }
    out.flush()
}

/// Writes the payload to a new file at `path`.
pub fn write_file(path: &Path, bytes: u64, kind: Kind) -> io::Result<()> {
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    write(&mut f, bytes, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sizes_and_deterministic_content() {
        for kind in [Kind::Random, Kind::Text] {
            for n in [0u64, 1, 1000, (1 << 20) + 3] {
                let mut a = Vec::new();
                write(&mut a, n, kind).unwrap();
                assert_eq!(a.len() as u64, n);
                let mut b = Vec::new();
                write(&mut b, n, kind).unwrap();
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn text_is_text_and_random_is_not() {
        let mut t = Vec::new();
        write(&mut t, 1 << 16, Kind::Text).unwrap();
        assert!(t
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n'));
        let mut r = Vec::new();
        write(&mut r, 1 << 16, Kind::Random).unwrap();
        let distinct = r.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert!(distinct > 250, "{distinct} distinct bytes");
    }
}
