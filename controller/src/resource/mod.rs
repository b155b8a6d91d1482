//! Reading Topologies and Manifests: budgeted YAML, JSON Schema, semantic checks, diagnostics.
