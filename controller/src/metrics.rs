//! Every metric baton exports, in one place with one naming scheme.
