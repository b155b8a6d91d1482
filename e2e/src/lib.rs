//! Helpers for baton's end-to-end tests: locate the real binary, build scratch Systems.
