//! A strict, streaming tar reader for untrusted Artifacts: the outer container and the
//! header and data tars inside it.
//!
//! It reads ustar (POSIX `ustar\0` `00` and GNU `ustar  \0`), PAX `x` records for `path`
//! and `size`, and GNU `././@LongLink` names. It yields regular files only and refuses, with
//! a typed error, everything a tar can do to a naive extractor: links, devices, fifos,
//! directories, setuid/setgid/sticky bits, absolute names, `..`, NUL, over-long names, a PAX
//! size that disagrees with the ustar size, bad header checksums, non-zero padding, data
//! after the end-of-archive marker, and a missing end marker (truncation).
//!
//! It never touches the filesystem and never seeks: a caller reads each entry's content
//! through [`TarReader`]'s `Read` impl, in order, once.

use std::io::{self, Read};

use super::error::ArtifactError;
use super::limits::{EXTENDED_HEADER_MAX, TRAILING_ZEROS_MAX};

const BLOCK: usize = 512;
/// The largest size an 11-digit octal ustar field can hold.
const USTAR_SIZE_MAX: u64 = 0o777_7777_7777;

/// One regular file in a tar: its full name and content size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
}

/// Reads entries of one tar stream. `label` names the stream in errors (`artifact`,
/// `header.tar.gz`, `data/0000.tar`).
pub(crate) struct TarReader<R> {
    inner: R,
    label: String,
    name_max: u64,
    /// Unread content bytes of the current entry.
    remaining: u64,
    /// Padding after the current entry's content, up to the next block.
    padding: u64,
    /// The current entry's name, for errors while its content is read.
    current: String,
    finished: bool,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R, label: impl Into<String>, name_max: u64) -> Self {
        Self {
            inner,
            label: label.into(),
            name_max,
            remaining: 0,
            padding: 0,
            current: String::new(),
            finished: false,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The name of the stream, as used in errors.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The next regular file, or `None` at a well-formed end of archive (two zero blocks,
    /// then only zeros up to the end of the stream).
    ///
    /// Whatever the caller left unread of the previous entry is discarded first: callers
    /// that must hash content read it all themselves.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ArtifactError> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut pax = Pax::default();
        let mut long_name: Option<String> = None;
        let mut extended = false;
        loop {
            let mut block = [0u8; BLOCK];
            self.read_block(&mut block)?;
            if block.iter().all(|&b| b == 0) {
                if extended {
                    return Err(self.error("an extended header is not followed by an entry"));
                }
                self.read_block(&mut block)?;
                if block.iter().any(|&b| b != 0) {
                    return Err(self.error("a zero block is followed by a non-zero block"));
                }
                self.finish()?;
                return Ok(None);
            }
            let header = Header::parse(&block).map_err(|m| self.error(m))?;
            match header.typeflag {
                b'x' => {
                    if extended {
                        return Err(self.error("two extended headers in a row"));
                    }
                    let data = self.read_extended(header.size, "PAX header")?;
                    pax = Pax::parse(&data).map_err(|e| self.wrap(e))?;
                    extended = true;
                }
                b'L' => {
                    if long_name.is_some() {
                        return Err(self.error("two GNU long names in a row"));
                    }
                    if header.name != b"././@LongLink" {
                        return Err(self.error("a GNU long name entry must be named ././@LongLink"));
                    }
                    if header.size > self.name_max + 1 {
                        return Err(self.limit("a GNU long name", self.name_max));
                    }
                    let mut data = self.read_extended(header.size, "GNU long name")?;
                    while data.last() == Some(&0) {
                        data.pop();
                    }
                    long_name = Some(self.text_name(data)?);
                    extended = true;
                }
                b'g' => return Err(self.error("global PAX headers are not accepted")),
                b'K' => return Err(self.link("", "GNU long link name")),
                b'0' | 0 => {
                    let name = match (pax.path.take(), long_name.take()) {
                        (Some(_), Some(_)) => {
                            return Err(self.error("both a PAX path and a GNU long name"))
                        }
                        (Some(p), None) | (None, Some(p)) => p,
                        (None, None) => self.text_name(header.full_name())?,
                    };
                    self.check_name(&name)?;
                    if header.mode & 0o7000 != 0 {
                        return Err(ArtifactError::FileType {
                            member: self.label.clone(),
                            name,
                            kind: format!(
                                "file with mode {:o} (setuid, setgid or sticky)",
                                header.mode
                            ),
                        });
                    }
                    let size = match pax.size {
                        None => header.size,
                        Some(p) if p == header.size || (header.size == 0 && p > USTAR_SIZE_MAX) => {
                            p
                        }
                        Some(p) => {
                            return Err(ArtifactError::SizeMismatch {
                                member: format!("{}: {name}", self.label),
                                pax: p,
                                ustar: header.size,
                            })
                        }
                    };
                    self.remaining = size;
                    self.padding = pad(size);
                    self.current.clone_from(&name);
                    return Ok(Some(Entry { name, size }));
                }
                other => {
                    let name = self.text_name(header.full_name()).unwrap_or_default();
                    return Err(match other {
                        b'1' => self.link(&name, "hard link"),
                        b'2' => self.link(&name, "symbolic link"),
                        _ => ArtifactError::FileType {
                            member: self.label.clone(),
                            name,
                            kind: kind_name(other).to_owned(),
                        },
                    });
                }
            }
        }
    }

    /// Consumes the current entry's remaining content and padding, checking the padding.
    fn skip_rest(&mut self) -> Result<(), ArtifactError> {
        if self.remaining > 0 {
            let n = self.remaining;
            io::copy(&mut (&mut *self).take(n), &mut io::sink()).map_err(|e| self.wrap_io(e))?;
        }
        if self.padding > 0 {
            let mut pad = [0u8; BLOCK];
            let pad = &mut pad[..self.padding as usize];
            self.inner.read_exact(pad).map_err(|e| self.wrap_io(e))?;
            if pad.iter().any(|&b| b != 0) {
                return Err(self.error(format!("non-zero padding after {:?}", self.current)));
            }
            self.padding = 0;
        }
        Ok(())
    }

    /// After the end marker only zeros may follow (tar pads to its record size).
    fn finish(&mut self) -> Result<(), ArtifactError> {
        self.finished = true;
        let mut buf = [0u8; 8192];
        let mut seen = 0u64;
        loop {
            let n = match self.inner.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.wrap_io(e)),
            };
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(self.error("data after the end-of-archive marker"));
            }
            seen += n as u64;
            if seen > TRAILING_ZEROS_MAX {
                return Err(self.limit(
                    "zero padding after the end-of-archive marker",
                    TRAILING_ZEROS_MAX,
                ));
            }
        }
    }

    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<(), ArtifactError> {
        self.inner.read_exact(block).map_err(|e| self.wrap_io(e))
    }

    fn read_extended(&mut self, size: u64, what: &str) -> Result<Vec<u8>, ArtifactError> {
        if size > EXTENDED_HEADER_MAX {
            return Err(self.limit(what, EXTENDED_HEADER_MAX));
        }
        let mut data = vec![0u8; size as usize];
        self.inner
            .read_exact(&mut data)
            .map_err(|e| self.wrap_io(e))?;
        self.padding = pad(size);
        self.current = what.to_owned();
        self.skip_rest()?;
        Ok(data)
    }

    fn text_name(&self, raw: Vec<u8>) -> Result<String, ArtifactError> {
        if raw.len() as u64 > self.name_max {
            return Err(self.limit("an entry name", self.name_max));
        }
        String::from_utf8(raw).map_err(|_| self.error("an entry name is not UTF-8"))
    }

    fn check_name(&self, name: &str) -> Result<(), ArtifactError> {
        if name.len() as u64 > self.name_max {
            return Err(self.limit("an entry name", self.name_max));
        }
        let bad = name.is_empty()
            || name.starts_with('/')
            || name.contains('\0')
            || name
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(ArtifactError::Traversal {
                member: self.label.clone(),
                name: name.to_owned(),
            });
        }
        if name.chars().any(char::is_control) {
            return Err(self.error(format!("entry name {name:?} holds control characters")));
        }
        Ok(())
    }

    fn error(&self, message: impl Into<String>) -> ArtifactError {
        ArtifactError::format(&self.label, message)
    }

    fn limit(&self, what: &str, limit: u64) -> ArtifactError {
        ArtifactError::SizeLimit {
            member: self.label.clone(),
            what: what.to_owned(),
            limit,
        }
    }

    fn link(&self, name: &str, kind: &'static str) -> ArtifactError {
        ArtifactError::Link {
            member: self.label.clone(),
            name: name.to_owned(),
            kind,
        }
    }

    fn wrap(&self, message: String) -> ArtifactError {
        self.error(message)
    }

    fn wrap_io(&self, e: io::Error) -> ArtifactError {
        ArtifactError::read(&self.label, e)
    }
}

impl<R: Read> Read for TarReader<R> {
    /// Reads the current entry's content; 0 at its end.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn kind_name(typeflag: u8) -> &'static str {
    match typeflag {
        b'3' => "character device",
        b'4' => "block device",
        b'5' => "directory",
        b'6' => "fifo",
        b'7' => "contiguous file",
        b'S' => "GNU sparse file",
        b'V' | b'M' | b'N' => "GNU multi-volume entry",
        _ => "entry of unknown type",
    }
}

/// The fields of a ustar header block that the reader uses. The others (owner, times) are
/// covered by the block checksum and ignored.
struct Header<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    mode: u64,
    size: u64,
    typeflag: u8,
}

impl<'a> Header<'a> {
    fn parse(block: &'a [u8; BLOCK]) -> Result<Self, String> {
        let stored =
            parse_octal(&block[148..156]).ok_or("the header checksum field is not octal")?;
        let actual: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != actual {
            return Err(format!(
                "header checksum {stored} does not match the header ({actual})"
            ));
        }
        let posix = &block[257..263] == b"ustar\0" && &block[263..265] == b"00";
        let gnu = &block[257..263] == b"ustar " && &block[263..265] == b" \0";
        if !posix && !gnu {
            return Err("not a ustar or GNU tar header".into());
        }
        let mode = parse_octal(&block[100..108]).ok_or("the mode field is not octal")?;
        let size = parse_number(&block[124..136]).ok_or("the size field is not a number")?;
        Ok(Self {
            name: until_nul(&block[0..100]),
            prefix: if posix {
                until_nul(&block[345..500])
            } else {
                &[]
            },
            mode,
            size,
            typeflag: block[156],
        })
    }

    fn full_name(&self) -> Vec<u8> {
        if self.prefix.is_empty() {
            self.name.to_vec()
        } else {
            [self.prefix, b"/", self.name].concat()
        }
    }
}

fn until_nul(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or(field)
}

/// An octal field: optional leading spaces, digits, then only NULs or spaces. An all-NUL or
/// all-space field is 0 (as Go and GNU tar read it).
fn parse_octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let field = &field[start..];
    let end = field
        .iter()
        .position(|&b| b == 0 || b == b' ')
        .unwrap_or(field.len());
    let (digits, rest) = field.split_at(end);
    if rest.iter().any(|&b| b != 0 && b != b' ') {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        if (b'0'..=b'7').contains(&d) {
            acc.checked_mul(8)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// The size field: octal, or GNU base-256 (high bit of the first byte set; never negative).
fn parse_number(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 == 0 {
        return parse_octal(field);
    }
    if field[0] == 0xff {
        return None;
    }
    field[1..]
        .iter()
        .try_fold(u64::from(field[0] & 0x7f), |acc, &b| {
            acc.checked_mul(256)?.checked_add(u64::from(b))
        })
}

/// The PAX records the reader acts on. Other standard keywords (times, owners, comments,
/// charsets, vendor `SCHILY.`/`LIBARCHIVE.` records) are ignored like any metadata; records
/// that would change what an entry *is* (`linkpath`, sparse maps) are refused, and a
/// keyword given twice is refused so no two readers can disagree on its value.
#[derive(Default)]
struct Pax {
    path: Option<String>,
    size: Option<u64>,
}

impl Pax {
    fn parse(mut data: &[u8]) -> Result<Self, String> {
        let mut pax = Pax::default();
        let mut seen = std::collections::BTreeSet::new();
        while !data.is_empty() {
            let space = data
                .iter()
                .position(|&b| b == b' ')
                .ok_or("a PAX record has no length")?;
            let len: usize = std::str::from_utf8(&data[..space])
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or("a PAX record length is not a decimal number")?;
            if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
                return Err("a PAX record length does not match its record".into());
            }
            let record = &data[space + 1..len - 1];
            data = &data[len..];
            let eq = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or("a PAX record has no '='")?;
            let key =
                std::str::from_utf8(&record[..eq]).map_err(|_| "a PAX keyword is not UTF-8")?;
            let value = &record[eq + 1..];
            if !seen.insert(key.to_owned()) {
                return Err(format!("the PAX keyword {key:?} appears twice"));
            }
            match key {
                "path" => {
                    let v = std::str::from_utf8(value).map_err(|_| "a PAX path is not UTF-8")?;
                    pax.path = Some(v.to_owned());
                }
                "size" => {
                    let v = std::str::from_utf8(value)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse().ok())
                        .ok_or("the PAX size is not a decimal number")?;
                    pax.size = Some(v);
                }
                "linkpath" => return Err("a PAX linkpath record (links are never accepted)".into()),
                k if k.starts_with("GNU.sparse") => {
                    return Err("GNU sparse files are not accepted".into())
                }
                _ => {}
            }
        }
        Ok(pax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_fields_follow_tar_conventions() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0000644\0", Some(0o644)),
            (b"   644 \0", Some(0o644)),
            (b"\0\0\0\0\0\0\0\0", Some(0)),
            (b"00000000017\0", Some(15)),
            (b"0008\0\0\0\0", None),
            (b"12 3\0\0\0\0", None),
            (b"-1\0\0\0\0\0\0", None),
        ];
        for (field, want) in cases {
            assert_eq!(parse_octal(field), *want, "{field:?}");
        }
    }

    #[test]
    fn base256_sizes_are_read_and_negative_ones_refused() {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[7] = 0x02; // 2 << 32
        assert_eq!(parse_number(&f), Some(2 << 32));
        assert_eq!(parse_number(&[0xffu8; 12]), None);
    }

    #[test]
    fn pax_records_are_parsed_strictly() {
        let ok = Pax::parse(b"13 size=1234\n20 path=a/long/name\n").unwrap();
        assert_eq!(ok.size, Some(1234));
        assert_eq!(ok.path.as_deref(), Some("a/long/name"));
        for bad in [
            &b"12 size=1234\n"[..],
            b"13 size=12a4\n",
            b"x size=1\n",
            b"11 size=12\n11 size=13\n",
            b"17 linkpath=/etc\n",
            b"21 GNU.sparse.map=1\n",
            b"13 size=1234",
        ] {
            assert!(
                Pax::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
