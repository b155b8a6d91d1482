//! Caps on everything an Artifact can make the reader hold or produce.
//!
//! Every size is a u64 and every cap is checked against what is *produced* (decompressed
//! bytes, declared sizes), never only against what was read, so a decompression bomb or a
//! lying size field stops at the cap. The defaults suit a device; the engine may widen the
//! payload caps from configuration.

/// Caps the reader enforces. `Limits::default()` holds the device defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The decompressed header tar (header-info, type-info, meta-data, scripts), and also its
    /// stored (compressed) size.
    pub header_bytes: u64,
    /// One member or file name, in bytes, including a PAX or GNU long name.
    pub name_bytes: u64,
    /// The `manifest` member.
    pub manifest_bytes: u64,
    /// The sum of the payload files' sizes (decompressed).
    pub payload_bytes: u64,
    /// The number of payload files.
    pub payload_files: u64,
    /// Window of a zstd frame, as a power of two (zstd's `windowLogMax`): bounds decoder memory.
    pub zstd_window_log_max: u32,
    /// Memory the xz decoder may use (its dictionary), in bytes.
    pub xz_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_bytes: 1 << 20,
            name_bytes: 255,
            manifest_bytes: 64 << 10,
            payload_bytes: 16 << 30,
            payload_files: 1024,
            // 16 MiB: zstd levels 1..=19 use at most 8 MiB windows.
            zstd_window_log_max: 24,
            // xz -9 needs 65 MiB of dictionary; mender-artifact writes preset 6 (9 MiB).
            xz_memory_bytes: 80 << 20,
        }
    }
}

/// Small members whose content is fixed by the format: no configuration needed.
pub(crate) const VERSION_MAX: u64 = 4 << 10;
/// A base64 signature: RSA-8192 is 1368 characters.
pub(crate) const SIGNATURE_MAX: u64 = 4 << 10;
/// PAX records and GNU long-name members carry names and a few numbers only.
pub(crate) const EXTENDED_HEADER_MAX: u64 = 8 << 10;
/// Zero bytes tolerated after the end-of-archive marker (tar pads to its record size).
pub(crate) const TRAILING_ZEROS_MAX: u64 = 1 << 20;

impl Limits {
    /// Decompressed bytes a data tar may produce: the payload itself plus, per file, one
    /// header block, one PAX or long-name header pair and padding, plus the end marker and
    /// record padding. Past this the stream is a bomb, whatever its headers say.
    pub(crate) fn data_tar_bytes(&self) -> u64 {
        let per_file = 4 * 512 + self.name_bytes.next_multiple_of(512) + 512;
        self.payload_bytes
            .saturating_add(self.payload_files.saturating_mul(per_file))
            .saturating_add(TRAILING_ZEROS_MAX + 1024)
    }
}
