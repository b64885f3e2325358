//! Loopback emulators and conformance suites for arrowport plugins.
#![forbid(unsafe_code)]

pub mod sink_conformance;
