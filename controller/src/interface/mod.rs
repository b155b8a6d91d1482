//! Interfaces: executables speaking protocol v1, and the File API directory they work in.
