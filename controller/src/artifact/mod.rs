//! Mender Artifacts, format v3: a strict streaming reader, signatures, sources and the cache.
//!
//! This room is the first to touch untrusted bytes. It never extracts a tar into the
//! filesystem, never follows or creates links, and never hands a payload byte on before the
//! header and the signature have been checked.

mod payload;

pub use payload::PayloadSink;
