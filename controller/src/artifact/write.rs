//! Writing Artifacts: valid version 3 Artifacts the way `mender-artifact write module-image`
//! writes them (every codec, signed or not, long names as ustar, PAX or GNU), and the raw
//! parts tests use to craft malicious ones.
//!
//! It holds everything in memory, so it is for small Artifacts: the demo System and tests.
//! The deployment path never calls it; signing with a private key happens only here and in
//! `bundle create` (which streams its payload and borrows [`file_header`] and [`Signer`]).

use std::collections::BTreeMap;
use std::io::Write;

use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};

use super::compression::Compression;
use super::header::{ArtifactHeader, ProvideValue};
use super::manifest::to_hex;

/// How a name longer than the 100-byte ustar field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongNames {
    /// A PAX `path` record (what mender-artifact writes).
    Pax,
    /// A GNU `././@LongLink` entry.
    Gnu,
}

/// One tar entry, with every field a malicious Artifact might bend.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub name: String,
    pub data: Vec<u8>,
    /// `b'0'` regular, `b'1'` hard link, `b'2'` symlink, `b'5'` directory, ...
    pub typeflag: u8,
    pub mode: u32,
    pub link: String,
    pub long_names: LongNames,
    /// Writes a PAX `size` record with this value.
    pub pax_size: Option<u64>,
    /// Writes this value in the ustar size field instead of the data length.
    pub ustar_size: Option<u64>,
}

impl TarEntry {
    pub fn file(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            data: data.into(),
            typeflag: b'0',
            mode: 0o600,
            link: String::new(),
            long_names: LongNames::Pax,
            pax_size: None,
            ustar_size: None,
        }
    }
}

/// Writes a tar stream (ustar blocks, end marker) holding `entries` in order.
pub fn tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut records = Vec::new();
        let mut name = e.name.clone();
        if name.len() > 100 {
            match e.long_names {
                LongNames::Pax => {
                    records.push(("path", e.name.clone()));
                    name = format!("PaxHeaders/{}", &e.name[e.name.len() - 60..]);
                }
                LongNames::Gnu => {
                    let mut long = e.name.clone().into_bytes();
                    long.push(0);
                    push_entry(
                        &mut out,
                        "././@LongLink",
                        b'L',
                        0o644,
                        "",
                        long.len() as u64,
                        &long,
                        true,
                    );
                    name = e.name[..100].to_owned();
                }
            }
        }
        if let Some(size) = e.pax_size {
            records.push(("size", size.to_string()));
        }
        if !records.is_empty() {
            let pax = pax_records(&records);
            push_entry(
                &mut out,
                "PaxHeader",
                b'x',
                0o644,
                "",
                pax.len() as u64,
                &pax,
                false,
            );
        }
        let size = e.ustar_size.unwrap_or(e.data.len() as u64);
        push_entry(
            &mut out,
            &name,
            e.typeflag,
            e.mode,
            &e.link,
            size,
            &e.data,
            e.long_names == LongNames::Gnu,
        );
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The 512-byte ustar header of a regular file (mode 0600) whose `size` bytes the caller
/// streams after it, padded to 512: for writers that never hold the content (bundles).
/// `name` must fit the 100-byte ustar field.
pub fn file_header(name: &str, size: u64) -> Vec<u8> {
    assert!(name.len() <= 100, "{name:?} needs a long-name record");
    let mut out = Vec::with_capacity(512);
    push_entry(&mut out, name, b'0', 0o600, "", size, &[], false);
    out
}

fn pax_records(records: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while len.to_string().len() + body.len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn push_entry(
    out: &mut Vec<u8>,
    name: &str,
    typeflag: u8,
    mode: u32,
    link: &str,
    size: u64,
    data: &[u8],
    gnu: bool,
) {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    let link = link.as_bytes();
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    if gnu {
        h[257..265].copy_from_slice(b"ustar  \0");
    } else {
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
    }
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{v:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(&s.as_bytes()[s.len() - field.len()..]);
}

/// Compresses `data` with `c` (gzip, xz and zstd at their default levels).
pub fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
    }
}

/// A private key that signs manifests, as mender-artifact does.
#[derive(Clone)]
pub enum Signer {
    Rsa(Box<rsa::RsaPrivateKey>),
    /// `der`: write an ASN.1 DER signature instead of raw r||s.
    Ec {
        key: p256::ecdsa::SigningKey,
        der: bool,
    },
}

impl Signer {
    /// PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            return rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|k| Self::Rsa(Box::new(k)))
                .map_err(|e| e.to_string());
        }
        if pem.contains("BEGIN EC PRIVATE KEY") {
            return p256::SecretKey::from_sec1_pem(pem)
                .map(|k| Self::Ec {
                    key: k.into(),
                    der: false,
                })
                .map_err(|e| e.to_string());
        }
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            return Ok(Self::Rsa(Box::new(k)));
        }
        p256::SecretKey::from_pkcs8_pem(pem)
            .map(|k| Self::Ec {
                key: k.into(),
                der: false,
            })
            .map_err(|e| e.to_string())
    }

    /// A fixed P-256 key from a seed byte (no randomness needed).
    pub fn ec_from_seed(seed: u8) -> Self {
        Self::Ec {
            key: p256::ecdsa::SigningKey::from_slice(&[seed.max(1); 32]).unwrap(),
            der: false,
        }
    }

    /// The matching public key as a PEM `PUBLIC KEY`.
    pub fn public_pem(&self) -> String {
        use rsa::pkcs8::EncodePublicKey;
        let le = rsa::pkcs8::LineEnding::LF;
        match self {
            Self::Rsa(k) => k.to_public_key().to_public_key_pem(le).unwrap(),
            Self::Ec { key, .. } => p256::PublicKey::from(key.verifying_key())
                .to_public_key_pem(le)
                .unwrap(),
        }
    }

    /// `manifest.sig` content for `manifest`: base64, no newline.
    pub fn sign(&self, manifest: &[u8]) -> Vec<u8> {
        let digest: [u8; 32] = Sha256::digest(manifest).into();
        let raw = match self {
            Self::Rsa(k) => k.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap(),
            Self::Ec { key, der } => {
                let s: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
                if *der {
                    s.to_der().as_bytes().to_vec()
                } else {
                    s.to_bytes().to_vec()
                }
            }
        };
        Base64::encode_string(&raw).into_bytes()
    }
}

/// The outer members of an Artifact, before they are put in the outer tar.
#[derive(Debug, Clone)]
pub struct Parts {
    pub version: Vec<u8>,
    pub manifest: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    pub header_name: String,
    pub header: Vec<u8>,
    pub data_name: String,
    pub data: Option<Vec<u8>>,
}

impl Parts {
    /// The outer tar entries, in Mender's order.
    pub fn entries(&self) -> Vec<TarEntry> {
        let mut v = vec![
            TarEntry::file("version", self.version.clone()),
            TarEntry::file("manifest", self.manifest.clone()),
        ];
        if let Some(s) = &self.signature {
            v.push(TarEntry::file("manifest.sig", s.clone()));
        }
        v.push(TarEntry::file(
            self.header_name.clone(),
            self.header.clone(),
        ));
        if let Some(d) = &self.data {
            v.push(TarEntry::file(self.data_name.clone(), d.clone()));
        }
        v
    }

    pub fn assemble(&self) -> Vec<u8> {
        tar(&self.entries())
    }
}

/// Builds a version 3 Artifact the way `mender-artifact write module-image` does.
#[derive(Clone)]
pub struct ArtifactBuilder {
    pub name: String,
    pub group: Option<String>,
    pub payload_type: Option<String>,
    pub device_types: Vec<String>,
    pub depends_artifact_names: Vec<String>,
    pub depends_groups: Vec<String>,
    pub provides: BTreeMap<String, ProvideValue>,
    pub depends: BTreeMap<String, ProvideValue>,
    pub clears: Option<Vec<String>>,
    pub meta_data: Option<serde_json::Value>,
    pub scripts: Vec<(String, Vec<u8>)>,
    pub files: Vec<(String, Vec<u8>)>,
    pub header_compression: Compression,
    pub data_compression: Compression,
    pub long_names: LongNames,
    pub signer: Option<Signer>,
    /// Replaces the data tar's entries (for crafted Artifacts); the manifest still lists
    /// `files`.
    pub data_entries: Option<Vec<TarEntry>>,
}

impl ArtifactBuilder {
    /// `mender-artifact write module-image -T <payload_type> -t <device_type> -n <name>`,
    /// with its default provides and clears.
    pub fn new(name: &str, payload_type: &str, device_type: &str) -> Self {
        let mut provides = BTreeMap::new();
        provides.insert(
            format!("rootfs-image.{payload_type}.version"),
            ProvideValue::One(name.to_owned()),
        );
        Self {
            name: name.to_owned(),
            group: None,
            payload_type: Some(payload_type.to_owned()),
            device_types: vec![device_type.to_owned()],
            depends_artifact_names: vec![],
            depends_groups: vec![],
            provides,
            depends: BTreeMap::new(),
            clears: Some(vec![format!("rootfs-image.{payload_type}.*")]),
            meta_data: None,
            scripts: vec![],
            files: vec![],
            header_compression: Compression::Gzip,
            data_compression: Compression::Gzip,
            long_names: LongNames::Pax,
            signer: None,
            data_entries: None,
        }
    }

    /// A bootstrap Artifact (no payload type, no payload).
    pub fn bootstrap(name: &str, device_type: &str) -> Self {
        let mut b = Self::new(name, "x", device_type);
        b.payload_type = None;
        b.provides.clear();
        b.clears = None;
        b
    }

    pub fn file(mut self, name: &str, data: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.to_owned(), data.into()));
        self
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.header_compression = c;
        self.data_compression = c;
        self
    }

    pub fn signed(mut self, s: Signer) -> Self {
        self.signer = Some(s);
        self
    }

    fn header_info(&self) -> Vec<u8> {
        let mut provides = serde_json::Map::new();
        provides.insert("artifact_name".into(), self.name.clone().into());
        if let Some(g) = &self.group {
            provides.insert("artifact_group".into(), g.clone().into());
        }
        let mut depends = serde_json::Map::new();
        if !self.depends_artifact_names.is_empty() {
            depends.insert(
                "artifact_name".into(),
                self.depends_artifact_names.clone().into(),
            );
        }
        depends.insert("device_type".into(), self.device_types.clone().into());
        if !self.depends_groups.is_empty() {
            depends.insert("artifact_group".into(), self.depends_groups.clone().into());
        }
        serde_json::to_vec(&serde_json::json!({
            "payloads": [{"type": self.payload_type}],
            "artifact_provides": provides,
            "artifact_depends": depends,
        }))
        .unwrap()
    }

    fn type_info(&self) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("type".into(), self.payload_type.clone().into());
        if !self.provides.is_empty() {
            m.insert(
                "artifact_provides".into(),
                serde_json::to_value(&self.provides).unwrap(),
            );
        }
        if !self.depends.is_empty() {
            m.insert(
                "artifact_depends".into(),
                serde_json::to_value(&self.depends).unwrap(),
            );
        }
        if let Some(c) = &self.clears {
            m.insert("clears_artifact_provides".into(), c.clone().into());
        }
        serde_json::to_vec(&m).unwrap()
    }

    /// The raw header tar (uncompressed).
    pub fn header_tar(&self) -> Vec<u8> {
        let mut entries = vec![TarEntry::file("header-info", self.header_info())];
        for (n, d) in &self.scripts {
            entries.push(TarEntry::file(format!("scripts/{n}"), d.clone()));
        }
        entries.push(TarEntry::file("headers/0000/type-info", self.type_info()));
        if let Some(m) = &self.meta_data {
            entries.push(TarEntry::file(
                "headers/0000/meta-data",
                serde_json::to_vec(m).unwrap(),
            ));
        }
        tar(&entries)
    }

    /// The raw data tar (uncompressed).
    pub fn data_tar(&self) -> Vec<u8> {
        let entries = self.data_entries.clone().unwrap_or_else(|| {
            self.files
                .iter()
                .map(|(n, d)| TarEntry {
                    long_names: self.long_names,
                    ..TarEntry::file(n.clone(), d.clone())
                })
                .collect()
        });
        tar(&entries)
    }

    /// Every outer member, signed if a signer is set.
    pub fn parts(&self) -> Parts {
        let version = br#"{"format":"mender","version":3}"#.to_vec();
        let header_name = format!("header.tar{}", self.header_compression.suffix());
        let header = compress(self.header_compression, &self.header_tar());
        let data_name = format!("data/0000.tar{}", self.data_compression.suffix());
        let data =
            (self.payload_type.is_some() || !self.files.is_empty() || self.data_entries.is_some())
                .then(|| compress(self.data_compression, &self.data_tar()));
        let mut lines: Vec<(String, String)> = vec![
            ("version".into(), to_hex(&Sha256::digest(&version))),
            (header_name.clone(), to_hex(&Sha256::digest(&header))),
        ];
        for (n, d) in &self.files {
            lines.push((format!("data/0000/{n}"), to_hex(&Sha256::digest(d))));
        }
        lines.sort();
        let manifest: String = lines.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
        let manifest = manifest.into_bytes();
        let signature = self.signer.as_ref().map(|s| s.sign(&manifest));
        Parts {
            version,
            manifest,
            signature,
            header_name,
            header,
            data_name,
            data,
        }
    }

    pub fn build(&self) -> Vec<u8> {
        self.parts().assemble()
    }
}

/// A header as the reader produces it from a test kit Artifact, for pure tests of the
/// planner's helpers.
pub fn sample_header(name: &str, payload_type: &str, device_types: &[&str]) -> ArtifactHeader {
    let mut b = ArtifactBuilder::new(name, payload_type, "x");
    b.device_types = device_types.iter().map(|s| s.to_string()).collect();
    let bytes = b.build();
    let policy = super::VerifyPolicy::none();
    super::ArtifactReader::open(&bytes[..], &policy, &super::Limits::default())
        .expect("the test kit writes valid Artifacts")
        .header()
        .clone()
}
