//! Loopback emulators and conformance suites for arrowport plugins.
#![forbid(unsafe_code)]

pub mod collect;
pub mod http;
pub mod maxcompute;
#[cfg(feature = "proptest")]
pub mod mutate;
mod routed;
pub mod sink_conformance;
pub mod vikingdb;
