//! Deterministic synthetic source.
#![forbid(unsafe_code)]
