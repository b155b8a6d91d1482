//! The codecs a header or data tar may be stored with, chosen by the member's suffix.
//!
//! Choices (measured on this project's 2-core build machine, release builds): gzip with
//! flate2's `zlib-ng` backend. One thread inflating the 65.8 MiB gzip data member of 256 MiB
//! of compressible text, CPU time: zlib-ng 0.375 s; zlib-rs (pure Rust, the choice before
//! issue 21) 0.47 s; ISA-L through `isal-rs` 0.25 s, but built with autotools and nasm
//! through a young binding; libdeflate 0.37 s with its output's page faults, but it only
//! inflates a whole member into a whole buffer (memory unbounded: a payload is one member).
//! With the hashing on its own thread (`read_ahead`), the inflater is the whole cost of a
//! gzip verify: 0.38 s with zlib-ng, 0.54 s with zlib-rs, against 0.41 s for
//! `libdeflate-gunzip -c`. zlib-ng is C, like the xz and zstd decoders below, and heavily
//! fuzzed; it needs cmake at build time.
//!
//! Earlier measurements, 64 MiB of text: xz with `liblzma` (the maintained fork of xz2 over
//! the reference C library, built from vendored source: 0.59 s, against 1.47 s for
//! pure-Rust `lzma-rs`, which also has no pull-style reader); zstd with the `zstd` binding to
//! the reference C library (0.065 s, against 0.20 s for pure-Rust `ruzstd`), legacy formats
//! off. Each decoder is bounded: zstd by `windowLogMax`, xz by a memory limit, and every
//! decoder's output by a byte cap that turns a decompression bomb into
//! [`ArtifactError::SizeLimit`].
//!
//! The gzip figures above are from an AMD EPYC. On an Intel Xeon with AVX-512 (the machine of
//! BENCHMARKS.md since 2026-12-07), zlib-ng's inflater is the slower one. On a 41 MiB member
//! of 256 MiB of text, one thread took:
//! - zlib-ng 0.23-0.24 s (0.22 s built without its AVX-512 code);
//! - libdeflate 0.20 s into a whole buffer, 0.14-0.17 s of user time for `libdeflate-gunzip`;
//! - ISA-L through `isal-rs` 0.5.3, streaming, 0.18 s.
//!
//! A gzip verify was then 1.38x `libdeflate-gunzip -c` there, with the decoding thread's time
//! almost all in zlib-ng's `inflate_fast` and the hashing hidden on the other thread. So on
//! x86_64 a large gzip member is inflated by ISA-L ([`Compression::fastest_decoder`],
//! `gzip.rs`): 0.55 s became 0.30 s for the 256 MiB verify, 0.81x `libdeflate-gunzip -c`.
//! zlib-ng stays for everything else: other CPUs (ISA-L's nasm code is x86 only and its
//! cross build for ARM unchecked), headers and small members (decoded on the reading
//! thread, where a decoder must be `Send` and ISA-L's is not), and writing gzip.

use std::fmt;
use std::io::{self, BufRead, Read};

use super::error::ArtifactError;
use super::limits::Limits;

/// How a tar inside the Artifact is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// Splits `header.tar.gz` into (`header`, Gzip). `None` if the name is not `<stem>.tar`
    /// with a known suffix.
    pub fn split(name: &str) -> Option<(&str, Self)> {
        let (stem, c) = if let Some(s) = name.strip_suffix(".tar") {
            (s, Self::None)
        } else if let Some(s) = name.strip_suffix(".tar.gz") {
            (s, Self::Gzip)
        } else if let Some(s) = name.strip_suffix(".tar.xz") {
            (s, Self::Xz)
        } else if let Some(s) = name.strip_suffix(".tar.zst") {
            (s, Self::Zstd)
        } else {
            return None;
        };
        Some((stem, c))
    }

    /// The file suffix after `.tar` (`""`, `".gz"`, `".xz"`, `".zst"`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Zstd => ".zst",
        }
    }

    /// A reader of the decompressed bytes of `input`, producing at most `cap` bytes; the
    /// byte past the cap is an error naming `member`. `Send`: gzip through zlib-ng.
    pub(crate) fn decoder<'a>(
        self,
        input: impl BufRead + Send + 'a,
        limits: &Limits,
        member: &str,
        cap: u64,
    ) -> Result<Capped<Box<dyn Read + Send + 'a>>, ArtifactError> {
        let inner: Box<dyn Read + Send + 'a> = match self {
            Self::None => Box::new(input),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Self::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    limits.xz_memory_bytes,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(|e| ArtifactError::format(member, format!("xz decoder: {e}")))?;
                Box::new(liblzma::bufread::XzDecoder::new_stream(input, stream))
            }
            Self::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| ArtifactError::read(member, e))?;
                d.window_log_max(limits.zstd_window_log_max)
                    .map_err(|e| ArtifactError::read(member, e))?;
                Box::new(d)
            }
        };
        Ok(Capped::new(inner, member, cap))
    }

    /// The same for a large member, with gzip through the fastest inflater this CPU has
    /// (`gzip.rs`: ISA-L on x86_64). Not `Send`, as ISA-L's decoder is not: build it on the
    /// thread that reads it (`read_ahead` takes a factory for that).
    pub(crate) fn fastest_decoder<'a>(
        self,
        input: impl BufRead + Send + 'a,
        limits: &Limits,
        member: &str,
        cap: u64,
    ) -> Result<Capped<Box<dyn Read + 'a>>, ArtifactError> {
        if self == Self::Gzip {
            return Ok(Capped::new(super::gzip::decoder(input), member, cap));
        }
        let Capped {
            inner,
            left,
            cap,
            member,
        } = self.decoder(input, limits, member, cap)?;
        Ok(Capped {
            inner,
            left,
            cap,
            member,
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
        })
    }
}

/// Passes at most `cap` bytes through; one more is a [`ArtifactError::SizeLimit`].
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
    member: String,
}

impl<R> Capped<R> {
    fn new(inner: R, member: &str, cap: u64) -> Self {
        Self {
            inner,
            left: cap,
            cap,
            member: member.to_owned(),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(ArtifactError::SizeLimit {
                member: self.member.clone(),
                what: "the decompressed stream".into(),
                limit: self.cap,
            }
            .into_io());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_name_codecs() {
        assert_eq!(
            Compression::split("header.tar"),
            Some(("header", Compression::None))
        );
        assert_eq!(
            Compression::split("data/0000.tar.zst"),
            Some(("data/0000", Compression::Zstd))
        );
        assert_eq!(Compression::split("header.tar.bz2"), None);
        assert_eq!(Compression::split("header.tgz"), None);
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let zeros = vec![0u8; 1 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &zeros).unwrap();
        let packed = gz.finish().unwrap();
        let limits = Limits::default();
        let stops_at_the_cap = |mut d: Box<dyn Read + '_>| {
            let err = io::copy(&mut d, &mut io::sink()).unwrap_err();
            assert_eq!(ArtifactError::read("m", err).reason(), "size_limit");
        };
        let sendable = Compression::Gzip.decoder(&packed[..], &limits, "m", 4096);
        stops_at_the_cap(Box::new(sendable.unwrap()));
        let fastest = Compression::Gzip.fastest_decoder(&packed[..], &limits, "m", 4096);
        stops_at_the_cap(Box::new(fastest.unwrap()));
    }
}
