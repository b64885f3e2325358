//! The file formats: what each can carry ([`Format::check_schema`]) and one encoder per format
//! behind the [`FormatWriter`] trait, so destinations never care which format they write.

use std::io::{self, Write};

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
#[cfg(feature = "parquet")]
mod row_groups;
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

/// Where an encoder's bytes go, which can be made durable up to what it was handed (a
/// resumable file's durable points).
pub(crate) trait Output: Write + Send + 'static {
    /// Writes out what is buffered and makes every byte handed over durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl Output for Vec<u8> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes writes through after dropping the first `skip` bytes: the bytes a writer
/// continuing a file would write again, which the file already holds.
pub(crate) struct Skip<W> {
    pub inner: W,
    pub skip: u64,
}

impl<W: Write> Write for Skip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.skip >= buf.len() as u64 {
            self.skip -= buf.len() as u64;
            return Ok(buf.len());
        }
        let dropped = std::mem::take(&mut self.skip) as usize;
        Ok(dropped + self.inner.write(&buf[dropped..])?)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Output> Output for Skip<W> {
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
}

/// A durable point of a file being encoded: everything before it is on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DurablePoint {
    /// Rows before the point.
    pub rows: u64,
    /// Bytes of the file before the point.
    pub offset: u64,
    /// What [`resume`] needs, besides those bytes, to continue after the point.
    pub state: serde_json::Value,
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

    /// For formats that can stop after any batch (the text formats, the Arrow stream): hands
    /// every byte encoded so far to the output and returns it, with what [`resume`] needs to
    /// continue after those bytes. `None` for formats that stop only at their own points.
    fn pause(&mut self) -> Result<Option<(&mut W, serde_json::Value)>> {
        Ok(None)
    }

    /// For formats with their own durable points (parquet's row groups, when opened with
    /// [`WriterOptions::durable_points`]): the points reached since the last call, in order,
    /// each already synced.
    fn durable(&mut self) -> Result<Vec<DurablePoint>> {
        Ok(Vec::new())
    }

    /// For formats with their own durable points: makes one here (parquet ends its open row
    /// group), and returns the points reached since the last call, each already synced.
    fn cut(&mut self) -> Result<Vec<DurablePoint>> {
        self.durable()
    }
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
pub(crate) fn open<W: Output>(
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

/// The writer of `format` continuing a file whose first bytes an earlier writer left, at the
/// last of the `points` it returned ([`FormatWriter::pause`] or [`FormatWriter::durable`]).
/// `out` is positioned after those bytes, and `written` reads them (the Arrow file writer
/// needs its batches again); every byte from here on is what an uninterrupted writer would
/// have written.
#[cfg_attr(
    not(all(
        feature = "parquet",
        feature = "json",
        feature = "csv",
        feature = "ipc"
    )),
    allow(unused_variables)
)]
pub(crate) fn resume<W: Output>(
    format: Format,
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
    points: &[DurablePoint],
    written: &std::path::Path,
) -> Result<Box<dyn FormatWriter<W>>> {
    let null = serde_json::Value::Null;
    let state = points.last().map_or(&null, |p| &p.state);
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::resume(schema, options, out, points),
        #[cfg(feature = "json")]
        Format::Ndjson => json::open_lines(schema, out),
        #[cfg(feature = "json")]
        Format::Json => json::resume_array(schema, out, state),
        #[cfg(feature = "csv")]
        Format::Csv => csv::resume(schema, options, out, state),
        #[cfg(feature = "ipc")]
        Format::ArrowStream | Format::ArrowFile => {
            let file = std::fs::File::open(written)
                .map_err(|e| Error::io(format!("cannot read back `{}`", written.display()), e))?;
            let offset = points.last().map_or(0, |p| p.offset);
            match format {
                Format::ArrowStream => ipc::resume_stream(schema, out, file, offset),
                _ => ipc::resume_file(schema, out, file, offset),
            }
        }
        #[allow(unreachable_patterns)]
        _ => Err(format.not_built()),
    }
}

/// A malformed resume state: the journal does not fit this format's writer.
pub(crate) fn bad_state(format: Format, state: &serde_json::Value) -> Error {
    Error::new(
        ErrorKind::DataIntegrity,
        format!(
            "the resume journal's state for the {} file is not one this writer left: {state}",
            format.name()
        ),
    )
}
