//! arrowport-sinks: the file formats arrowport writes (Parquet, NDJSON, JSON, CSV, Arrow IPC file
//! and stream), each to a single file, a directory of rotated (optionally hive-partitioned) part
//! files with a `_manifest.json`, or standard output.
//!
//! Every format is one [`arrowport_core::SinkPlugin`] registered here; they share one [`Config`] and one
//! [`FileSink`], which dispatches over the destinations. Output is committed atomically: it is
//! built under a `.partial` name and renamed into place only when complete, and nothing is left
//! behind on error, cancellation or drop.
#![forbid(unsafe_code)]
// A build with no format feature registers nothing, so the registration helpers go unused.
#![cfg_attr(
    not(any(
        feature = "parquet",
        feature = "json",
        feature = "csv",
        feature = "ipc"
    )),
    allow(dead_code)
)]

mod config;
mod destination;
mod format;
mod manifest;
mod sink;

use arrowport_core::{Result, Sink, SinkSpec};

pub use config::{Compression, Config};
pub use format::Format;
pub use sink::FileSink;

/// User documentation of every format sink, shown by `arrowport describe <format>`.
const DOCS: &str = include_str!("../docs.md");

fn option_names() -> &'static [&'static str] {
    arrowport_core::options::option_names::<Config>()
}

fn boxed(format: Format, spec: SinkSpec) -> Result<Box<dyn Sink>> {
    Ok(Box::new(FileSink::new(format, spec)?))
}

#[cfg(feature = "parquet")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "parquet",
    description: "Apache Parquet (zstd by default)",
    docs: DOCS,
    extensions: &["parquet"],
    schemes: &[],
    default_for: &[arrowport_core::registry::DefaultFor::Directory],
    options: option_names,
    build: |spec| boxed(Format::Parquet, spec),
});

#[cfg(feature = "json")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "ndjson",
    description: "newline-delimited JSON, one object per row",
    docs: DOCS,
    extensions: &["ndjson", "jsonl"],
    schemes: &[],
    default_for: &[],
    options: option_names,
    build: |spec| boxed(Format::Ndjson, spec),
});

#[cfg(feature = "json")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "json",
    description: "one JSON array of row objects",
    docs: DOCS,
    extensions: &["json"],
    schemes: &[],
    default_for: &[],
    options: option_names,
    build: |spec| boxed(Format::Json, spec),
});

#[cfg(feature = "csv")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "csv",
    description: "comma-separated values with a header (scalar columns only)",
    docs: DOCS,
    extensions: &["csv"],
    schemes: &[],
    default_for: &[],
    options: option_names,
    build: |spec| boxed(Format::Csv, spec),
});

#[cfg(feature = "ipc")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "arrow",
    description: "Arrow IPC file (Feather v2)",
    docs: DOCS,
    extensions: &["arrow", "feather", "ipc"],
    schemes: &[],
    default_for: &[],
    options: option_names,
    build: |spec| boxed(Format::ArrowFile, spec),
});

#[cfg(feature = "ipc")]
arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: "arrows",
    description: "Arrow IPC stream",
    docs: DOCS,
    extensions: &["arrows"],
    schemes: &[],
    default_for: &[arrowport_core::registry::DefaultFor::Stdout],
    options: option_names,
    build: |spec| boxed(Format::ArrowStream, spec),
});
