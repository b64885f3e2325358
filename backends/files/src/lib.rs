//! arrowport-files: local files as a source.
//!
//! `file:///abs/path`, `file://relative/dir`, or a plain path or glob with no `scheme://`
//! (`data/`, `logs/*.ndjson`, `big.parquet`) reads Parquet, Arrow IPC files and streams,
//! NDJSON and CSV, chosen by extension or by `format=`. A directory is read recursively and
//! a glob (`*`, `?`, `**`) matches paths; either way files are read in path order, as one
//! table whose schema unifies theirs without loss. Hive partition directories
//! (`dt=20240101/…`) become typed columns, and an arrowport output directory with a
//! `_manifest.json` is read as the manifest lists it, each file's rows and SHA-256 checked.
//! Splits are Parquet row groups, runs of IPC record batches and byte ranges of NDJSON
//! files, each with a portable token naming the file's size and modification time.
#![forbid(unsafe_code)]

mod config;
mod ddl;
mod error;
mod location;
mod manifest;
mod read;
mod source;
mod table;
mod token;
mod unify;

use arrowport_core::{ExportSource, Result, SourceSpec};

pub use config::{BadRows, Config, Format, MAX_BATCH_SIZE};
pub use source::FilesSource;

/// The plugin's name and URL scheme.
const NAME: &str = "file";

arrowport_core::register_source!(arrowport_core::SourcePlugin {
    name: NAME,
    description: "Local Parquet, Arrow IPC, NDJSON and CSV files: one file, a directory, a \
                  glob or hive partitions, read as one table",
    docs: include_str!("docs.md"),
    options: arrowport_core::options::option_names::<Config>,
    build,
});

/// Builds the source from `file://location?options`. Pure: parses and validates, lists nothing.
fn build(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    let config = Config::from_options(&spec.options)?;
    Ok(Box::new(FilesSource::new(&spec.location, config)?))
}
