//! CSV output through arrow-csv's writer: a header line (unless disabled), the configured
//! delimiter, empty fields for nulls, and scalar columns only.

use std::io::Write;

use arrowport_core::Result;
use arrowport_core::arrow::csv::WriterBuilder;
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

/// Encodes each batch with a fresh arrow-csv writer into a scratch buffer, then hands the
/// bytes to the output: the only state between batches is whether the header is still due,
/// so any batch boundary is a point to stop and continue from.
struct CsvWriter<W: Write> {
    out: W,
    scratch: Vec<u8>,
    relabel: Option<Relabel>,
    schema: SchemaRef,
    delimiter: u8,
    /// The header is wanted and not written yet.
    header_due: bool,
}

impl<W: Write> CsvWriter<W> {
    fn new(schema: &SchemaRef, options: &WriterOptions, out: W, header_due: bool) -> Self {
        CsvWriter {
            out,
            scratch: Vec::new(),
            relabel: Relabel::new(schema),
            schema: schema.clone(),
            delimiter: options.delimiter,
            header_due: header_due && options.header,
        }
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        self.scratch.clear();
        let mut writer = WriterBuilder::new()
            .with_header(self.header_due)
            .with_delimiter(self.delimiter)
            .build(&mut self.scratch);
        match &self.relabel {
            Some(r) => writer.write(&r.apply(batch)?)?,
            None => writer.write(batch)?,
        }
        drop(writer);
        self.header_due = false;
        self.out
            .write_all(&self.scratch)
            .map_err(|e| arrowport_core::Error::io("cannot write csv", e))
    }
}

impl<W: Write + Send> FormatWriter<W> for CsvWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encode(batch)
    }

    fn buffered_bytes(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn finish(mut self: Box<Self>) -> Result<W> {
        // An empty export still gets its header, so that the file names its columns.
        if self.header_due {
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.encode(&empty)?;
        }
        Ok(self.out)
    }

    fn pause(&mut self) -> Result<Option<(&mut W, serde_json::Value)>> {
        let state = serde_json::json!({ "header_due": self.header_due });
        Ok(Some((&mut self.out, state)))
    }
}

pub(crate) fn open<W: Write + Send + 'static>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(CsvWriter::new(schema, options, out, true)))
}

/// Continues a CSV file where an earlier writer paused.
pub(crate) fn resume<W: Write + Send + 'static>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
    state: &serde_json::Value,
) -> Result<Box<dyn FormatWriter<W>>> {
    let header_due = state
        .get("header_due")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| super::bad_state(super::Format::Csv, state))?;
    Ok(Box::new(CsvWriter::new(schema, options, out, header_due)))
}
