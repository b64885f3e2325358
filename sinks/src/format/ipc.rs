//! Arrow IPC output: the file format (`.arrow`, random access, footer at the end) and the
//! stream format (`.arrows`, readable while it is written, the natural format for pipes).
//!
//! Both carry every Arrow type exactly. Dictionaries that grow from batch to batch are sent as
//! deltas; a dictionary that is replaced outright cannot be expressed in the file format and
//! fails the export (the stream format accepts it).

use std::io::Write;

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::{DataType, SchemaRef};
use arrowport_core::arrow::ipc::reader::StreamReader;
use arrowport_core::arrow::ipc::writer::{
    DictionaryHandling, FileWriter, IpcWriteOptions, StreamWriter,
};
use arrowport_core::arrow::record_batch::RecordBatch;

use super::{FormatWriter, Skip};

fn options() -> IpcWriteOptions {
    IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta)
}

/// The file writer. Its footer lists every batch's place in the file, so a writer continuing
/// a file is given the batches already written again (read back from the file, encoded the
/// same way) and drops their bytes through [`Skip`]: its footer is the one an uninterrupted
/// writer writes.
struct IpcFile<W: Write> {
    inner: FileWriter<Skip<W>>,
    dictionaries: bool,
}

impl<W: Write + Send> FormatWriter<W> for IpcFile<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.inner.write(batch)?)
    }

    /// IPC writes each batch through at once: nothing is held back.
    fn buffered_bytes(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn finish(self: Box<Self>) -> Result<W> {
        Ok(self.inner.into_inner()?.inner)
    }

    fn pause(&mut self) -> Result<Option<(&mut W, serde_json::Value)>> {
        if self.dictionaries {
            return Ok(None);
        }
        Ok(Some((
            &mut self.inner.get_mut().inner,
            serde_json::json!({}),
        )))
    }
}

/// The stream writer. Its output starts with the schema message, which a writer continuing
/// a stream must not write again: it writes through [`Skip`], which drops that many bytes.
struct IpcStream<W: Write> {
    inner: StreamWriter<Skip<W>>,
    /// The schema has dictionaries: the writer's dictionary state cannot be carried over,
    /// so it cannot stop and continue.
    dictionaries: bool,
}

impl<W: Write + Send> FormatWriter<W> for IpcStream<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.inner.write(batch)?)
    }

    fn buffered_bytes(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn finish(self: Box<Self>) -> Result<W> {
        Ok(self.inner.into_inner()?.inner)
    }

    /// Each batch is one message written through at once: any batch boundary is a point to
    /// stop, unless dictionaries would have to be sent again.
    fn pause(&mut self) -> Result<Option<(&mut W, serde_json::Value)>> {
        if self.dictionaries {
            return Ok(None);
        }
        Ok(Some((
            &mut self.inner.get_mut().inner,
            serde_json::json!({}),
        )))
    }
}

fn has_dictionaries(schema: &SchemaRef) -> bool {
    schema
        .flattened_fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(..)))
}

fn stream_writer<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
    skip: u64,
) -> Result<Box<dyn FormatWriter<W>>> {
    let out = Skip { inner: out, skip };
    Ok(Box::new(IpcStream {
        inner: StreamWriter::try_new_with_options(out, schema, options())?,
        dictionaries: has_dictionaries(schema),
    }))
}

pub(crate) fn open_file<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    let out = Skip {
        inner: out,
        skip: 0,
    };
    Ok(Box::new(IpcFile {
        inner: FileWriter::try_new_with_options(out, schema, options())?,
        dictionaries: has_dictionaries(schema),
    }))
}

/// Continues an Arrow IPC file whose first `offset` bytes (the magic, the schema and whole
/// batches) `prefix` reads: the batches are read back and written again through a writer
/// that drops their bytes, so that its footer lists them.
pub(crate) fn resume_file<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
    prefix: impl std::io::Read,
    offset: u64,
) -> Result<Box<dyn FormatWriter<W>>> {
    // The messages start after the magic and its padding: where a fresh writer puts the
    // schema message's continuation marker.
    let mut header = Vec::new();
    FileWriter::try_new_with_options(&mut header, schema, options())?;
    let start = header
        .windows(4)
        .position(|w| w == [0xff; 4])
        .unwrap_or(header.len());
    let mut prefix = std::io::BufReader::new(prefix.take(offset));
    std::io::copy(
        &mut std::io::Read::take(&mut prefix, start as u64),
        &mut std::io::sink(),
    )
    .map_err(|e| arrowport_core::Error::io("cannot read back the partial Arrow file", e))?;
    let written = StreamReader::try_new(prefix, None)?;
    let out = Skip {
        inner: out,
        skip: offset,
    };
    let mut inner = FileWriter::try_new_with_options(out, schema, options())?;
    for batch in written {
        inner.write(&batch?)?;
    }
    let skipped = inner.get_ref().skip;
    if skipped != 0 {
        return Err(arrowport_core::Error::new(
            arrowport_core::ErrorKind::DataIntegrity,
            format!(
                "the partial Arrow file's {offset} durable bytes hold {skipped} bytes less than \
                 its batches"
            ),
        ));
    }
    Ok(Box::new(IpcFile {
        inner,
        dictionaries: has_dictionaries(schema),
    }))
}

pub(crate) fn open_stream<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    stream_writer(schema, out, 0)
}

/// Continues an Arrow stream after the batches an earlier writer paused at: everything
/// after the schema message it already wrote.
pub(crate) fn resume_stream<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    let mut header = Vec::new();
    StreamWriter::try_new_with_options(&mut header, schema, options())?;
    stream_writer(schema, out, header.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrowport_core::arrow::array::{DictionaryArray, Int32Array, StringArray};
    use arrowport_core::arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use arrowport_core::arrow::ipc::reader::FileReader;

    use super::*;

    fn dict(keys: Vec<i32>, values: Vec<&str>) -> Arc<DictionaryArray<Int32Type>> {
        let values = Arc::new(StringArray::from(values));
        Arc::new(DictionaryArray::try_new(Int32Array::from(keys), values).unwrap())
    }

    /// A dictionary that grows from batch to batch is written as deltas, which the file
    /// format's readers (arrow-rs here; pyarrow too) accept; the default (resend) would fail
    /// mid-stream.
    #[test]
    fn growing_dictionaries_fit_the_file_format() {
        let ty = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![Field::new("d", ty, true)]));
        let b1 =
            RecordBatch::try_new(schema.clone(), vec![dict(vec![0, 1], vec!["a", "b"])]).unwrap();
        let b2 = RecordBatch::try_new(schema.clone(), vec![dict(vec![2, 0], vec!["a", "b", "c"])])
            .unwrap();
        let mut w = open_file(&schema, Vec::new()).unwrap();
        w.write(&b1).unwrap();
        w.write(&b2).unwrap();
        let bytes = w.finish().unwrap();
        let read: Vec<RecordBatch> = FileReader::try_new(std::io::Cursor::new(bytes), None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, vec![b1, b2]);
    }
}
