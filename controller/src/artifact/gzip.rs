//! The fastest gzip inflater this CPU has, for large members: ISA-L on x86_64, zlib-ng
//! everywhere else.
//!
//! Why two: on x86_64, ISA-L's inflater (Intel's, through `isal-rs`) decodes about a third
//! faster than zlib-ng's, enough to make a gzip verify cost less than `libdeflate-gunzip`
//! does (see `compression.rs` for the figures). Its build needs nasm, which assembles x86
//! code only, and its configure-based cross build for devices' ARM CPUs is unchecked, so
//! every other CPU keeps zlib-ng, which this crate has built and tested on all of them.
//!
//! ISA-L's streaming reader (`isal::read::Decoder`) needs two things from its caller, both
//! given here:
//! - a source that fills its 16 KiB input buffer whenever it can: it counts every step that
//!   writes no output, and its second such step (anywhere in a member) is reported as
//!   corrupt data, so short reads from a valid stream were rejected when tried (one byte at
//!   a time, or a few bytes now and then). [`Filled`] reads until the buffer is full or the
//!   source ends, so only the last steps of a stream can see less.
//! - errors turned into what the rest of the crate reads: corrupt data as `InvalidData`,
//!   with words instead of its Debug names, and a stream that stops inside a member said so
//!   (ISA-L says only "no progress" then, for a cut member and for some damage alike).
//!
//! Its decoder holds raw pointers, so it is not `Send`: it is built on the thread that runs
//! it (`read_ahead` takes a factory), never moved.

#[cfg(target_arch = "x86_64")]
use std::io;
use std::io::{BufRead, Read};

/// A reader of the bytes that the gzip stream `input` decompresses to, every member of it.
pub(crate) fn decoder<'a>(input: impl BufRead + 'a) -> Box<dyn Read + 'a> {
    #[cfg(target_arch = "x86_64")]
    {
        Box::new(Isal {
            inner: isal::read::Decoder::new(
                Filled {
                    inner: input,
                    ended: false,
                    failed: None,
                },
                isal::Codec::Gzip,
            ),
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    }
}

/// ISA-L's streaming decoder, with its errors in this crate's terms.
#[cfg(target_arch = "x86_64")]
struct Isal<R: Read> {
    inner: isal::read::Decoder<Filled<R>>,
}

#[cfg(target_arch = "x86_64")]
impl<R: Read> Read for Isal<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| explain(e, self.inner.get_ref().ended))
    }
}

/// Reads until the buffer is full or the source ends (see the module's note), through
/// `read_ahead::fill`, which fills the decoding thread's buffers the same way.
#[cfg(target_arch = "x86_64")]
struct Filled<R> {
    inner: R,
    /// The source has said it has nothing more.
    ended: bool,
    /// An error met after some bytes of a read: handed out by the next read, after them.
    failed: Option<io::Error>,
}

#[cfg(target_arch = "x86_64")]
impl<R: Read> Read for Filled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.ended {
            return Ok(0);
        }
        let (len, done) = super::read_ahead::fill(&mut self.inner, buf);
        match done {
            Some(Ok(())) => self.ended = true,
            Some(Err(e)) if len == 0 => return Err(e),
            Some(Err(e)) => self.failed = Some(e),
            None => {}
        }
        Ok(len)
    }
}

/// An ISA-L error as `InvalidData` with words (a member that stops short included); a
/// source's own error passes through unchanged.
#[cfg(target_arch = "x86_64")]
fn explain(e: io::Error, source_ended: bool) -> io::Error {
    use isal::error::Error;
    use isal::DecompCode as Code;
    let Some(isal) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) else {
        return e;
    };
    let what = match isal {
        Error::DecompressionError(code) => match code {
            Code::IncorrectChecksum => {
                "the CRC-32 or length in a gzip trailer does not match the data"
            }
            Code::InvalidWrapper | Code::UnsupportedMethod => {
                "not a gzip member header (gzip with deflate expected)"
            }
            Code::InvalidBlock => "an invalid deflate block",
            Code::InvalidSymbol => "an invalid deflate symbol",
            Code::InvalidLoopBack => "a deflate back-reference before the start of the data",
            _ => "gzip data ISA-L rejects",
        },
        // No progress with the whole source read: the last member is cut short, or damaged
        // so that it reads as cut (ISA-L cannot tell which). Not `UnexpectedEof`: that would
        // say the Artifact ends early, and a file cut short is caught by the outer tar.
        Error::Other(_) if source_ended => {
            "a gzip stream that stops inside a member (cut short or damaged)"
        }
        // isal-rs's words for a stream that makes no progress; its exit code says nothing.
        Error::Other(_) => "gzip data that decodes to nothing",
        Error::CompressionError(_) => "gzip data ISA-L rejects",
        Error::Io(_) => return e,
    };
    let detail = match isal {
        Error::DecompressionError(code) => format!(" (ISA-L: {code:?})"),
        _ => String::new(),
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}{detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{self, Write};

    /// Hands out `data` in reads of the given sizes (cycling): a source that reads short.
    struct Short<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Short<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.turn += 1;
            let n = self.sizes[self.turn % self.sizes.len()]
                .min(out.len())
                .min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Compressible bytes with incompressible runs, so that members mix block kinds.
    fn text(n: usize, seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 300);
        let mut x = seed | 1;
        while out.len() < n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = ["the ", "update ", "component ", "ecu "][(x >> 60) as usize % 4];
            out.extend_from_slice(word.as_bytes());
            if x >> 57 == 0 {
                out.extend((0..200).map(|i| (x >> (i % 50)) as u8));
            }
        }
        out.truncate(n);
        out
    }

    /// Decodes `packed` read short by `sizes`, into reads of `out` bytes.
    fn decode(packed: &[u8], sizes: Vec<usize>, out: usize) -> io::Result<Vec<u8>> {
        let source = io::BufReader::with_capacity(
            64 << 10,
            Short {
                data: packed,
                sizes,
                turn: 0,
            },
        );
        let mut d = decoder(source);
        let mut got = Vec::new();
        let mut buf = vec![0u8; out];
        loop {
            match d.read(&mut buf)? {
                0 => return Ok(got),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Every valid stream decodes to its bytes, however short its source reads and
        /// however small the reads of its output; members concatenate.
        #[test]
        fn valid_streams_decode_whatever_the_read_sizes(
            n in prop_oneof![0usize..2000, 100_000usize..400_000],
            seed in any::<u64>(),
            level in 0u32..10,
            members in 1usize..3,
            sizes in prop::collection::vec(1usize..40_000, 1..4),
            out in prop_oneof![1usize..600, 100_000usize..140_000],
        ) {
            let mut packed = Vec::new();
            let mut want = Vec::new();
            for m in 0..members {
                let data = text(n / (m + 1), seed ^ m as u64);
                packed.extend(gzip(&data, level));
                want.extend(data);
            }
            let got = decode(&packed, sizes, out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got == want, "decoded {} bytes, want {}", got.len(), want.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Damage anywhere is an error, or, in the header fields gzip leaves unchecked
        /// (time, flags for the compressor, OS), the same bytes: never other bytes, a hang or
        /// a panic.
        #[test]
        fn damaged_streams_are_errors_or_the_same_bytes(
            seed in any::<u64>(),
            level in 0u32..10,
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
            cut in prop_oneof![Just(None), any::<prop::sample::Index>().prop_map(Some)],
        ) {
            let want = text(150_000, seed);
            let mut packed = gzip(&want, level);
            for (at, mask) in &flips {
                let i = at.index(packed.len());
                packed[i] ^= mask;
            }
            if let Some(cut) = cut {
                packed.truncate(cut.index(packed.len()));
            }
            if let Ok(got) = decode(&packed, vec![4096], 128 << 10) {
                prop_assert!(got == want, "damage decoded to {} other bytes", got.len());
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_cut_stream_is_invalid_data_that_says_so() {
        let packed = gzip(&text(300_000, 7), 6);
        for cut in [1, 4, 8, 100, packed.len() / 2] {
            let e = decode(&packed[..packed.len() - cut], vec![4096], 128 << 10).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cut {cut}: {e}");
            assert!(
                e.to_string().contains("stops inside a member"),
                "cut {cut}: {e}"
            );
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn damage_is_invalid_data_in_words() {
        let packed = gzip(&text(300_000, 9), 6);
        let flip = |at: usize| {
            let mut p = packed.clone();
            p[at] ^= 0x10;
            decode(&p, vec![1 << 20], 128 << 10).unwrap_err()
        };
        for (at, words) in [
            (packed.len() - 6, "CRC-32 or length"),
            (packed.len() - 2, "CRC-32 or length"),
            (0, "not a gzip member header"),
        ] {
            let e = flip(at);
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "at {at}: {e}");
            assert!(e.to_string().contains(words), "at {at}: {e}");
        }
        let e = flip(packed.len() / 2);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn bytes_after_the_last_member_are_an_error() {
        let with_tail = |tail: &[u8]| {
            let mut packed = gzip(&text(50_000, 3), 6);
            packed.extend_from_slice(tail);
            decode(&packed, vec![1 << 20], 128 << 10).unwrap_err()
        };
        // As long as a member header: not one.
        for tail in [&b"garbage after the stream"[..], &[0u8; 1000][..]] {
            let e = with_tail(tail);
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        }
        // Shorter: a member cut inside its header, for all ISA-L can tell.
        let e = with_tail(b"garbage");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("stops inside a member"), "{e}");
    }

    #[test]
    fn a_source_error_passes_through() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::PermissionDenied, "no"))
            }
        }
        let mut d = decoder(io::BufReader::new(Failing));
        let e = d.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }
}
