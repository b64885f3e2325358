//! Loopback emulators and conformance suites for arrowport plugins.
#![forbid(unsafe_code)]

pub mod collect;
pub mod http;
pub mod maxcompute;
mod routed;
pub mod sink_conformance;
pub mod vikingdb;
