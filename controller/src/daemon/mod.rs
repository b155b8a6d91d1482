//! `baton run`: the long-running controller (sources, desired-state store, reconciler, API).
