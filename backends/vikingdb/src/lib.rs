//! arrowport-vikingdb: exports a VikingDB collection through a server-side export task and
//! streams the files it writes to TOS as Arrow.
//!
//! `vikingdb://<collection>?tos_path=bucket/prefix` reads the collection's schema from
//! `collection/info`, creates a `data_export` task (when the stream is first polled) into a
//! fresh sub-prefix of `tos_path`, polls it to `done`, lists the files and reads them with
//! ranged GETs — Parquet row group by row group, JSON in chunks — verifying every object's
//! size and CRC-64 and the task's row count.
//!
//! Signing ([`sign`], [`tos_sign`]) and [`crc64`] are pure and pinned byte for byte to the
//! official SDKs by `shared/testvectors/{volc_signv4,tos_sign}.json`.
#![forbid(unsafe_code)]

pub mod client;
mod config;
mod conform;
pub mod crc64;
mod error;
pub mod model;
mod read;
pub mod sign;
mod source;
mod task;
pub mod tos;
pub mod tos_sign;

use arrowport_core::{ExportSource, Result, SourceSpec};

pub use config::{Config, FileType, Filter};
pub use source::VikingDbSource;

/// The plugin's name and URL scheme.
const NAME: &str = "vikingdb";

arrowport_core::register_source!(arrowport_core::SourcePlugin {
    name: NAME,
    description: "A VikingDB collection, through an offline export task and its files on TOS",
    docs: include_str!("docs.md"),
    options: arrowport_core::options::option_names::<Config>,
    build,
});

/// Builds the source from `vikingdb://collection?options`. Pure: no network, no credentials.
fn build(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    Ok(Box::new(VikingDbSource::new(Config::from_options(
        &spec.location,
        &spec.options,
    )?)))
}
