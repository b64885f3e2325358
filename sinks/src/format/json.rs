//! NDJSON and JSON-array output through arrow-json's writer.
//!
//! Nulls are written explicitly (`"a":null`) so that every object has every key, which is what
//! line-oriented tools (jq, DuckDB, pandas) expect.

use std::io::Write;

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::{DataType, SchemaRef};
use arrowport_core::arrow::error::ArrowError;
use arrowport_core::arrow::json::writer::{
    JsonArray, JsonFormat, LineDelimited, Writer, WriterBuilder,
};
use arrowport_core::arrow::record_batch::RecordBatch;

use super::FormatWriter;
use super::text::Relabel;

/// What to suggest when a schema has columns JSON cannot carry.
pub(crate) const HINT: &str = "write parquet or arrow instead, or leave them out with --columns";

/// Why arrow-json cannot write `ty`, if it cannot. Checked ahead so that the export does not
/// fail on its first batch.
pub(crate) fn unsupported(ty: &DataType) -> Option<&'static str> {
    match ty {
        DataType::Union(..) => Some("unions have no JSON form"),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                if matches!(
                    kv[0].data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    unsupported(kv[1].data_type())
                } else {
                    Some("JSON object keys must be strings")
                }
            }
            _ => Some("malformed map type"),
        },
        DataType::Dictionary(_, value) => unsupported(value),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => unsupported(f.data_type()),
        DataType::RunEndEncoded(_, values) => unsupported(values.data_type()),
        DataType::Struct(fields) => fields.iter().find_map(|f| unsupported(f.data_type())),
        _ => None,
    }
}

struct JsonWriter<W: Write, F: JsonFormat> {
    inner: Writer<W, F>,
    relabel: Option<Relabel>,
    /// Rows written, counting those of the file this writer continues.
    rows: u64,
}

impl<W: Write + Send, F: JsonFormat + Send> FormatWriter<W> for JsonWriter<W, F> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &self.relabel {
            Some(r) => self.inner.write(&r.apply(batch)?)?,
            None => self.inner.write(batch)?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// arrow-json hands each batch to the output whole, so any batch boundary is a point to
    /// stop; a JSON array continues with a comma once it holds a row.
    fn pause(&mut self) -> Result<Option<(&mut W, serde_json::Value)>> {
        let state = serde_json::json!({ "rows": self.rows });
        Ok(Some((self.inner.get_mut(), state)))
    }

    fn buffered_bytes(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn finish(mut self: Box<Self>) -> Result<W> {
        self.inner.finish()?;
        Ok(self.inner.into_inner())
    }
}

fn open<W: Write + Send + 'static, F: JsonFormat + Send + 'static>(
    schema: &SchemaRef,
    out: W,
    rows: u64,
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(JsonWriter {
        inner: WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<W, F>(out),
        relabel: Relabel::new(schema),
        rows,
    }))
}

/// The rest of a JSON array that already holds rows: no opening bracket, and a comma before
/// every row, the first one too.
#[derive(Debug, Default)]
struct ContinuedArray;

impl JsonFormat for ContinuedArray {
    fn start_row<W: Write>(
        &self,
        writer: &mut W,
        _is_first_row: bool,
    ) -> std::result::Result<(), ArrowError> {
        writer.write_all(b",")?;
        Ok(())
    }

    fn end_stream<W: Write>(&self, writer: &mut W) -> std::result::Result<(), ArrowError> {
        writer.write_all(b"]")?;
        Ok(())
    }
}

/// Continues a JSON array after the rows an earlier writer paused at.
pub(crate) fn resume_array<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
    state: &serde_json::Value,
) -> Result<Box<dyn FormatWriter<W>>> {
    let rows = state
        .get("rows")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| super::bad_state(super::Format::Json, state))?;
    match rows {
        // Nothing was written, not even the bracket: start afresh.
        0 => open::<W, JsonArray>(schema, out, 0),
        rows => open::<W, ContinuedArray>(schema, out, rows),
    }
}

/// One JSON object per line.
pub(crate) fn open_lines<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    open::<W, LineDelimited>(schema, out, 0)
}

/// One JSON array of objects (`[]` when empty).
pub(crate) fn open_array<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    open::<W, JsonArray>(schema, out, 0)
}
