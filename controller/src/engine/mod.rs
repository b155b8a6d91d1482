//! The deployment engine: plan, execute and journal one deployment from a Manifest.
