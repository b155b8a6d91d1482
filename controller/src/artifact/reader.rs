//! The streaming Artifact reader: header first, then the payload, then the verdict.
//!
//! [`ArtifactReader::open`] reads and checks everything up to the data member's tar header
//! (version, manifest, signature, version and header checksums, header consistency) and
//! hands out the [`ArtifactHeader`] before any payload byte is read.
//! [`ArtifactReader::stream_payload`] then streams each payload file to a [`PayloadSink`],
//! hashing as the sink reads and draining what it leaves, and returns [`Verified`] only if
//! every manifest entry was seen with its checksum and nothing follows. Memory is bounded
//! by [`Limits`] whatever the Artifact's size: only the version, manifest, signature and
//! header are held, never the payload.
//!
//! TOCTOU: a local Artifact may be rewritten after its header was read for planning. The
//! engine therefore reads it again through this reader for the Download state, which checks
//! everything again; tampering is caught before ArtifactInstall, which waits for
//! [`Verified`].

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::compression::Compression;
use super::error::ArtifactError;
use super::header::{read_header_tar, ArtifactHeader};
use super::limits::{Limits, SIGNATURE_MAX, VERSION_MAX};
use super::manifest::{ArtifactManifest, Digest};
use super::payload::PayloadSink;
use super::read_ahead::with_read_ahead;
use super::signature::VerifyPolicy;
use super::tar::{Entry, TarReader};

/// Read-ahead on the Artifact stream: large enough for few syscalls, small for a device.
const READ_BUFFER: usize = 256 << 10;

/// The final verdict: every payload file was seen and matched its manifest checksum.
///
/// Only [`ArtifactReader::stream_payload`] makes one (its fields are private, so no other
/// code can forge a verdict); the engine must hold one before it lets ArtifactInstall start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    files: Vec<(String, u64)>,
    payload_bytes: u64,
}

impl Verified {
    /// Each payload file with its size, in Artifact order.
    pub fn files(&self) -> &[(String, u64)] {
        &self.files
    }

    /// The sum of the payload files' sizes.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }
}

/// An Artifact whose header has been read and checked; the payload is next.
pub struct ArtifactReader<R: Read> {
    outer: TarReader<BufReader<R>>,
    header: ArtifactHeader,
    limits: Limits,
    /// The data member (name, codec, stored size), positioned at its content; `None` if
    /// there is none.
    data: Option<(String, Compression, u64)>,
}

impl<R: Read> ArtifactReader<R> {
    /// Reads and checks the Artifact up to its payload. No payload byte is consumed.
    pub fn open(reader: R, policy: &VerifyPolicy, limits: &Limits) -> Result<Self, ArtifactError> {
        let buffered = BufReader::with_capacity(READ_BUFFER, reader);
        let mut outer = TarReader::new(buffered, "artifact", limits.name_bytes);

        let entry = expect(&mut outer, |n| n == "version", "version")?;
        let version = read_small(&mut outer, &entry, VERSION_MAX)?;
        check_version(&version)?;

        let entry = expect(&mut outer, |n| n == "manifest", "manifest")?;
        let manifest_bytes = read_small(&mut outer, &entry, limits.manifest_bytes)?;
        let manifest = ArtifactManifest::parse(&manifest_bytes)?;

        let mut next = next_or_end(&mut outer, "manifest.sig or header.tar[.gz|.xz|.zst]")?;
        let signature = if next.name == "manifest.sig" {
            let sig = read_small(&mut outer, &next, SIGNATURE_MAX)?;
            next = next_or_end(&mut outer, "header.tar[.gz|.xz|.zst]")?;
            Some(sig)
        } else {
            None
        };
        if next.name == "manifest-augment" {
            return Err(ArtifactError::Unsupported {
                what: "an augmented Artifact (manifest-augment: unsigned header overrides)".into(),
            });
        }
        let header_compression = match Compression::split(&next.name) {
            Some(("header", c)) => c,
            _ if signature.is_none() && policy.keys.is_empty() => {
                return Err(order(
                    "manifest.sig or header.tar[.gz|.xz|.zst]",
                    &next.name,
                ))
            }
            _ if signature.is_none() && next.name != "manifest" => {
                return Err(ArtifactError::Unsigned)
            }
            _ => return Err(order("header.tar[.gz|.xz|.zst]", &next.name)),
        };
        let signature = policy.check(&manifest_bytes, signature.as_deref())?;
        manifest.check("version", &sha256(&version))?;
        check_manifest_names(&manifest, &next.name, limits)?;
        let header_member = next.name.clone();
        let stored = read_small(&mut outer, &next, limits.header_bytes)?;
        manifest.check(&header_member, &sha256(&stored))?;
        let decoder =
            header_compression.decoder(&stored[..], limits, &header_member, limits.header_bytes)?;
        let (raw, scripts) = read_header_tar(
            decoder,
            &header_member,
            limits.name_bytes,
            limits.header_bytes,
        )?;
        let mut header =
            ArtifactHeader::build(raw, scripts, &manifest, signature, header_compression)?;

        let data = match outer.next_entry()? {
            None => None,
            Some(e) => {
                let (name, compression) = data_member(&e, limits)?;
                Some((name, compression, e.size))
            }
        };
        header.data_compression = data.as_ref().map(|(_, c, _)| *c);
        Ok(Self {
            outer,
            header,
            limits: limits.clone(),
            data,
        })
    }

    /// The checked header, available before any payload byte.
    pub fn header(&self) -> &ArtifactHeader {
        &self.header
    }

    /// Streams every payload file to `sink`, in Artifact order, and returns the verdict.
    ///
    /// Bytes handed to the sink are unverified until this returns `Ok`: a checksum mismatch
    /// is known only at the end of a file, and a missing file only at the end.
    pub fn stream_payload(mut self, sink: &mut dyn PayloadSink) -> Result<Verified, ArtifactError>
    where
        R: Send,
    {
        self.stream(sink)
    }

    /// The data tar is decompressed on a second thread while this one parses it, hashes and
    /// feeds the sink (`read_ahead`): a compressed payload costs about its decompression. The
    /// decoder is built on that thread, so it may be the fastest one even if it is not `Send`
    /// (ISA-L for gzip on x86_64). A data member of at most [`READ_AHEAD_ABOVE`] stored bytes
    /// is decoded on this thread, gzip through zlib-ng.
    fn stream(&mut self, sink: &mut dyn PayloadSink) -> Result<Verified, ArtifactError>
    where
        R: Send,
    {
        let mut expected: BTreeMap<String, Digest> = self
            .header
            .payload_files
            .iter()
            .map(|f| (f.name.clone(), f.sha256))
            .collect();
        let mut verified = Verified {
            files: Vec::new(),
            payload_bytes: 0,
        };
        if let Some((label, compression, stored_size)) = self.data.take() {
            let stored = BufReader::with_capacity(64 << 10, &mut self.outer);
            let limits = &self.limits;
            let names = limits.name_bytes;
            let cap = limits.data_tar_bytes();
            if stored_size <= READ_AHEAD_ABOVE {
                let decoder = compression.decoder(stored, limits, &label, cap)?;
                let inner = TarReader::new(decoder, label.as_str(), names);
                stream_files(inner, &mut expected, &mut verified, limits, sink)?;
            } else {
                let make = || {
                    compression
                        .fastest_decoder(stored, limits, &label, cap)
                        .map_err(ArtifactError::into_io)
                };
                with_read_ahead(make, |decoded| {
                    let inner = TarReader::new(decoded, label.as_str(), names);
                    stream_files(inner, &mut expected, &mut verified, limits, sink)
                })?;
            }
            let left = drain(&mut self.outer).map_err(|e| ArtifactError::read(&label, e))?;
            if left > 0 {
                return Err(ArtifactError::format(
                    &label,
                    format!("{left} bytes after the end of the compressed stream"),
                ));
            }
            if let Some(e) = self.outer.next_entry()? {
                return Err(order(
                    "the end of the Artifact after the data member",
                    &e.name,
                ));
            }
        }
        if !expected.is_empty() {
            return Err(ArtifactError::MissingFiles {
                names: expected
                    .into_keys()
                    .map(|n| format!("data/0000/{n}"))
                    .collect(),
            });
        }
        Ok(verified)
    }
}

/// Data members up to this many stored bytes are decoded on the reading thread: a second
/// thread gains nothing on a couple of chunks, and a deployment of a thousand components
/// with small payloads would start and stop a thousand of them. A stored member this small
/// decodes in about a millisecond even when compressed, so the serial pass costs little.
pub(super) const READ_AHEAD_ABOVE: u64 = 64 << 10;

/// Hands every file of the data tar to `sink`, checking each against its manifest digest.
fn stream_files<R: Read + Send>(
    mut inner: TarReader<R>,
    expected: &mut BTreeMap<String, Digest>,
    verified: &mut Verified,
    limits: &Limits,
    sink: &mut dyn PayloadSink,
) -> Result<(), ArtifactError> {
    while let Some(entry) = inner.next_entry()? {
        let digest = take_expected(expected, verified, &entry)?;
        verified.payload_bytes = verified.payload_bytes.saturating_add(entry.size);
        if verified.payload_bytes > limits.payload_bytes {
            return Err(ArtifactError::SizeLimit {
                member: inner.label().to_owned(),
                what: "the payload".into(),
                limit: limits.payload_bytes,
            });
        }
        let actual = hand_over(&mut inner, &entry, sink)?;
        let member = format!("data/0000/{}", entry.name);
        if actual != digest {
            return Err(ArtifactError::ChecksumMismatch {
                member,
                expected: super::manifest::to_hex(&digest),
                actual: super::manifest::to_hex(&actual),
            });
        }
        verified.files.push((entry.name, entry.size));
    }
    Ok(())
}

/// Copies the whole Artifact's raw bytes to `sink` while verifying it in the same pass: for
/// Interfaces that answer `NeedsUnpackedArtifact: No` (one stream, `artifact.mender`).
///
/// As with [`ArtifactReader::stream_payload`], what reached `sink` is unverified until this
/// returns `Ok`. A failing `sink` is [`ArtifactError::Sink`].
pub fn verify_whole<R: Read + Send>(
    reader: R,
    policy: &VerifyPolicy,
    limits: &Limits,
    sink: &mut (dyn Write + Send),
) -> Result<(ArtifactHeader, Verified), ArtifactError> {
    let tee = Tee {
        inner: reader,
        out: sink,
        total: 0,
    };
    let mut reader = ArtifactReader::open(tee, policy, limits)?;
    let verified = reader.stream(&mut Discard)?;
    let mut header = reader.header;
    header.total_size = Some(reader.outer.get_ref().get_ref().total);
    Ok((header, verified))
}

/// A sink that takes nothing: the reader drains and hashes every file itself.
pub struct Discard;

impl PayloadSink for Discard {
    fn file(
        &mut self,
        _name: &str,
        _size: u64,
        _content: &mut (dyn Read + Send),
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Copies everything read from `inner` to `out`.
struct Tee<'a, R> {
    inner: R,
    out: &'a mut (dyn Write + Send),
    total: u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n]).map_err(|source| {
            ArtifactError::Sink {
                name: "artifact.mender".into(),
                source,
            }
            .into_io()
        })?;
        self.total += n as u64;
        Ok(n)
    }
}

/// Hashes what the sink reads, and remembers the first read error as a typed error so it
/// survives whatever the sink does with the `io::Error`.
struct Hashing<'a, R> {
    inner: &'a mut R,
    hasher: Sha256,
    label: &'a str,
    failed: Option<ArtifactError>,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.to_string()));
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                let typed = ArtifactError::read(self.label, e);
                let msg = typed.to_string();
                self.failed = Some(typed);
                Err(io::Error::other(msg))
            }
        }
    }
}

/// Hands one payload file to the sink, drains what it left, and returns the file's digest.
fn hand_over<R: Read + Send>(
    inner: &mut TarReader<R>,
    entry: &Entry,
    sink: &mut dyn PayloadSink,
) -> Result<Digest, ArtifactError> {
    let label = inner.label().to_owned();
    let mut hashing = Hashing {
        inner,
        hasher: Sha256::new(),
        label: &label,
        failed: None,
    };
    let result = sink.file(&entry.name, entry.size, &mut hashing);
    if let Some(e) = hashing.failed.take() {
        return Err(e);
    }
    result.map_err(|source| ArtifactError::Sink {
        name: entry.name.clone(),
        source,
    })?;
    drain(&mut hashing).map_err(|e| {
        hashing
            .failed
            .take()
            .unwrap_or_else(|| ArtifactError::read(&label, e))
    })?;
    Ok(hashing.hasher.finalize().into())
}

/// The manifest digest for a payload file, refusing unlisted and repeated files and names
/// that are not plain file names.
fn take_expected(
    expected: &mut BTreeMap<String, Digest>,
    verified: &Verified,
    entry: &Entry,
) -> Result<Digest, ArtifactError> {
    if entry.name.contains('/') {
        return Err(ArtifactError::Traversal {
            member: "data/0000".into(),
            name: entry.name.clone(),
        });
    }
    expected.remove(&entry.name).ok_or_else(|| {
        if verified.files.iter().any(|(n, _)| *n == entry.name) {
            ArtifactError::Duplicate {
                member: "data/0000".into(),
                name: entry.name.clone(),
            }
        } else {
            ArtifactError::NotInManifest {
                member: format!("data/0000/{}", entry.name),
            }
        }
    })
}

/// Reads to the end in large chunks (hashing throughput depends on chunk size).
fn drain(r: &mut impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 128 << 10];
    let mut total = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn sha256(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

fn order(expected: &str, found: &str) -> ArtifactError {
    ArtifactError::Order {
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

fn next_or_end<R: Read>(outer: &mut TarReader<R>, expected: &str) -> Result<Entry, ArtifactError> {
    outer
        .next_entry()?
        .ok_or_else(|| order(expected, "the end of the Artifact"))
}

fn expect<R: Read>(
    outer: &mut TarReader<R>,
    ok: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<Entry, ArtifactError> {
    let e = next_or_end(outer, expected)?;
    if ok(&e.name) {
        Ok(e)
    } else {
        Err(order(expected, &e.name))
    }
}

/// Reads a whole small member into memory, refusing it before reading if it is over `cap`.
fn read_small<R: Read>(
    outer: &mut TarReader<R>,
    entry: &Entry,
    cap: u64,
) -> Result<Vec<u8>, ArtifactError> {
    if entry.size > cap {
        return Err(ArtifactError::SizeLimit {
            member: entry.name.clone(),
            what: format!("its size ({} bytes)", entry.size),
            limit: cap,
        });
    }
    let mut buf = Vec::with_capacity(entry.size as usize);
    outer
        .read_to_end(&mut buf)
        .map_err(|e| ArtifactError::read(&entry.name, e))?;
    Ok(buf)
}

fn check_version(bytes: &[u8]) -> Result<(), ArtifactError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format: String,
        version: u64,
    }
    let v: Version = serde_json::from_slice(bytes)
        .map_err(|e| ArtifactError::format("version", e.to_string()))?;
    if v.format != "mender" {
        return Err(ArtifactError::format(
            "version",
            format!("format {:?}, expected \"mender\"", v.format),
        ));
    }
    if v.version != 3 {
        return Err(ArtifactError::Unsupported {
            what: format!(
                "Artifact format version {} (baton reads version 3)",
                v.version
            ),
        });
    }
    Ok(())
}

/// Every manifest name must be a part this Artifact can hold: `version`, its header member
/// and `data/0000/<plain name>`. Checked before any payload byte is read.
fn check_manifest_names(
    manifest: &ArtifactManifest,
    header_member: &str,
    limits: &Limits,
) -> Result<(), ArtifactError> {
    let mut files = 0u64;
    for (name, _) in manifest.iter() {
        if name == "version" || name == header_member {
            continue;
        }
        match name.strip_prefix("data/0000/") {
            Some(file)
                if !file.is_empty() && !file.contains('/') && file != "." && file != ".." =>
            {
                files += 1
            }
            Some(_) => {
                return Err(ArtifactError::Traversal {
                    member: "manifest".into(),
                    name: name.to_owned(),
                })
            }
            None => {
                return Err(ArtifactError::format(
                    "manifest",
                    format!("lists {name:?}, which is not a part of a version 3 Artifact"),
                ))
            }
        }
    }
    if manifest.get(header_member).is_none() {
        return Err(ArtifactError::NotInManifest {
            member: header_member.to_owned(),
        });
    }
    if files > limits.payload_files {
        return Err(ArtifactError::SizeLimit {
            member: "manifest".into(),
            what: format!("{files} payload files"),
            limit: limits.payload_files,
        });
    }
    Ok(())
}

/// The member after the header: `data/0000.tar[...]`, whose stored size is bounded.
fn data_member(entry: &Entry, limits: &Limits) -> Result<(String, Compression), ArtifactError> {
    if entry.name.starts_with("header-augment") {
        return Err(ArtifactError::Unsupported {
            what: "an augmented Artifact (header-augment: unsigned header overrides)".into(),
        });
    }
    match Compression::split(&entry.name) {
        Some(("data/0000", c)) => {
            let cap = limits.data_tar_bytes();
            let cap = cap.saturating_add(cap / 64);
            if entry.size > cap {
                return Err(ArtifactError::SizeLimit {
                    member: entry.name.clone(),
                    what: format!("its size ({} bytes)", entry.size),
                    limit: cap,
                });
            }
            Ok((entry.name.clone(), c))
        }
        Some((stem, _)) if stem.starts_with("data/") => Err(ArtifactError::Unsupported {
            what: format!("{}: more than one payload (only data/0000)", entry.name),
        }),
        _ => Err(order("data/0000.tar[.gz|.xz|.zst] or the end", &entry.name)),
    }
}
