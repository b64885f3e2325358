//! arrowport-vikingdb: the VikingDB export-task source (in progress).
//!
//! This crate will export a VikingDB collection through a server-side export task and download
//! the resulting files from TOS. For now it holds the pure building blocks, pinned byte for
//! byte to the official SDKs by `shared/testvectors/{volc_signv4,tos_sign}.json`:
//!
//! - [`sign`]: Volcengine OpenAPI request signing (`HMAC-SHA256`, "SignerV4") for the VikingDB
//!   task, collection and data APIs, plus the shared primitives (credentials, signing time,
//!   key derivation, percent-encoding).
//! - [`tos_sign`]: TOS native signing (`TOS4-HMAC-SHA256`) in headers and pre-signed URLs.
//! - [`crc64`]: CRC-64/XZ, the `x-tos-hash-crc64ecma` checksum of every downloaded object.
//!
//! All three are pure: no I/O and no clock; callers pass the time.
#![forbid(unsafe_code)]

pub mod crc64;
pub mod sign;
pub mod tos_sign;
