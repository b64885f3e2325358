//! The file formats: what each can carry ([`Format::check_schema`]) and one encoder per format
//! behind the [`FormatWriter`] trait, so destinations never care which format they write.

use std::io::Write;

use arrowport_core::arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{Error, ErrorKind, Result};

use crate::config::WriterOptions;

#[cfg(feature = "csv")]
mod csv;
#[cfg(feature = "parquet")]
mod dictionary;
#[cfg(feature = "ipc")]
mod ipc;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "parquet")]
mod parquet;
#[cfg(any(feature = "csv", feature = "json"))]
mod text;

/// An output format. Each has its own sink plugin, named by [`Format::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Newline-delimited JSON objects.
    Ndjson,
    /// One JSON array of objects.
    Json,
    /// Comma-separated values.
    Csv,
    /// Arrow IPC file format (`.arrow`, Feather v2).
    ArrowFile,
    /// Arrow IPC stream format (`.arrows`).
    ArrowStream,
}

impl Format {
    /// The plugin name, as given to `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::ArrowFile => "arrow",
            Format::ArrowStream => "arrows",
        }
    }

    /// The extension of part files in a directory output.
    pub fn extension(self) -> &'static str {
        self.name()
    }

    /// Rejects a schema this format cannot write, before any data flows: failing mid-stream
    /// would waste the (possibly paid-for) export.
    #[cfg_attr(
        not(all(
            feature = "parquet",
            feature = "json",
            feature = "csv",
            feature = "ipc"
        )),
        allow(unused_variables)
    )]
    pub(crate) fn check_schema(self, schema: &Schema) -> Result<()> {
        match self {
            #[cfg(feature = "parquet")]
            Format::Parquet => parquet::check_schema(schema),
            #[cfg(feature = "json")]
            Format::Ndjson | Format::Json => {
                text::check_schema(self, schema, json::unsupported, json::HINT)
            }
            #[cfg(feature = "csv")]
            Format::Csv => text::check_schema(self, schema, csv::unsupported, csv::HINT),
            #[cfg(feature = "ipc")]
            Format::ArrowFile | Format::ArrowStream => Ok(()),
            #[allow(unreachable_patterns)]
            _ => Err(self.not_built()),
        }
    }

    /// What the user should know about writing `schema` in this format that does not stop
    /// the export (a text format printing a named time zone in UTC).
    #[cfg_attr(not(any(feature = "json", feature = "csv")), allow(unused_variables))]
    pub(crate) fn warnings(self, schema: &Schema) -> Vec<String> {
        match self {
            #[cfg(any(feature = "json", feature = "csv"))]
            Format::Ndjson | Format::Json | Format::Csv => text::zones_shown_in_utc(self, schema),
            _ => Vec::new(),
        }
    }

    fn not_built(self) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "this build of arrowport-sinks does not include the {} format",
                self.name()
            ),
        )
    }
}

/// Encodes record batches of one schema into a byte stream.
pub(crate) trait FormatWriter<W: Write>: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Bytes the encoder holds that have not reached `W` yet (parquet's open row group), so
    /// that size-based rotation sees the file's real size. An encoder that gathers rows
    /// before encoding them encodes them first, so the answer is measured, not guessed.
    fn buffered_bytes(&mut self) -> Result<usize>;

    /// Writes any trailer (footer, closing bracket) and returns the output.
    fn finish(self: Box<Self>) -> Result<W>;
}

/// The writer of `format` for batches of `schema`, writing to `out`.
#[cfg_attr(
    not(all(
        feature = "parquet",
        feature = "json",
        feature = "csv",
        feature = "ipc"
    )),
    allow(unused_variables)
)]
pub(crate) fn open<W: Write + Send + 'static>(
    format: Format,
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::open(schema, options, out),
        #[cfg(feature = "json")]
        Format::Ndjson => json::open_lines(schema, out),
        #[cfg(feature = "json")]
        Format::Json => json::open_array(schema, out),
        #[cfg(feature = "csv")]
        Format::Csv => csv::open(schema, options, out),
        #[cfg(feature = "ipc")]
        Format::ArrowFile => ipc::open_file(schema, out),
        #[cfg(feature = "ipc")]
        Format::ArrowStream => ipc::open_stream(schema, out),
        #[allow(unreachable_patterns)]
        _ => Err(format.not_built()),
    }
}
