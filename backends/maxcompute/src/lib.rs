//! MaxCompute (ODPS) table source and sink for arrowport over the Tunnel protocol.
//!
//! This crate currently holds the pure, network-free building blocks, each pinned byte-for-byte
//! to PyODPS by the vectors in `shared/testvectors` (see `shared/protocols/maxcompute-tunnel.md`):
//!
//! * [`sign`] — ODPS v2 request signing, v4 key derivation, STS token header.
//! * [`crc32c`] — CRC-32C (Castagnoli), used by both tunnel wire formats.
//! * [`types`] — MaxCompute type strings and their Arrow mapping.
//! * [`compress`] — the HTTP-level `Content-Encoding` codecs of tunnel bodies.
//! * [`record`] — the protobuf-style record stream: decoder to Arrow and encoder.
//! * [`arrow_frame`] — the CRC-framed Arrow tunnel format: decoder and encoder.
#![forbid(unsafe_code)]

pub mod arrow_frame;
pub mod compress;
pub mod crc32c;
pub mod record;
pub mod sign;
pub mod types;
