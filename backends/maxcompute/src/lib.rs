//! MaxCompute table source and sink over the Tunnel protocol.
#![forbid(unsafe_code)]
