//! Sinks.
#![forbid(unsafe_code)]
