//! CSV output through arrow-csv's writer: a header line (unless disabled), the configured
//! delimiter, empty fields for nulls, and scalar columns only.

use std::io::{self, Write};

use arrowport_core::Result;
use arrowport_core::arrow::csv::{Writer, WriterBuilder};
use arrowport_core::arrow::datatypes::{DataType, SchemaRef};
use arrowport_core::arrow::record_batch::RecordBatch;

use super::FormatWriter;
use super::text::Relabel;
use crate::config::WriterOptions;

/// What to suggest when a schema has columns CSV cannot carry.
pub(crate) const HINT: &str = "CSV holds only scalar values; write parquet or ndjson instead, or leave them out with --columns";

/// Why CSV cannot write `ty`, if it cannot: lists, structs, maps, unions and dictionaries or
/// run-end encodings of them have no flat text form.
pub(crate) fn unsupported(ty: &DataType) -> Option<&'static str> {
    ty.is_nested().then_some("a nested type")
}

struct CsvWriter<W: Write> {
    inner: Writer<NoFlush<W>>,
    relabel: Option<Relabel>,
    schema: SchemaRef,
    header: bool,
    started: bool,
}

impl<W: Write + Send> FormatWriter<W> for CsvWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &self.relabel {
            Some(r) => self.inner.write(&r.apply(batch)?)?,
            None => self.inner.write(batch)?,
        }
        self.started = true;
        Ok(())
    }

    fn buffered_bytes(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn finish(mut self: Box<Self>) -> Result<W> {
        // arrow-csv writes the header with the first batch; an empty export still gets one, so
        // that the file names its columns.
        if !self.started && self.header {
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.write(&empty)?;
        }
        Ok(self.inner.into_inner().0)
    }
}

/// Passes writes through but not flushes. arrow-csv flushes after every batch, which would
/// defeat the destination's large buffer (one syscall per batch), and flushes again in
/// `into_inner`, where a failure (a closed pipe) would panic. The destination flushes once, at
/// the end, where a failure is an error.
struct NoFlush<W>(W);

impl<W: Write> Write for NoFlush<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn open<W: Write + Send + 'static>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    let inner = WriterBuilder::new()
        .with_header(options.header)
        .with_delimiter(options.delimiter)
        .build(NoFlush(out));
    Ok(Box::new(CsvWriter {
        inner,
        relabel: Relabel::new(schema),
        schema: schema.clone(),
        header: options.header,
        started: false,
    }))
}
