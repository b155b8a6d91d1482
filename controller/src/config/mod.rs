//! Configuration: Mender Orchestrator's keys plus baton's own, with provenance.
