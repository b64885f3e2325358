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

/// The file and stream writers differ only in framing: one adapter shape for both. Each
/// writes through [`Skip`], which drops the bytes a writer continuing an output would write
/// again (the stream's schema message; or every batch, given again so that the file's footer
/// lists them and the dictionaries sent so far are known). Each batch is one message written
/// through at once, so any batch boundary is a point to stop.
macro_rules! ipc_writer {
    ($name:ident, $writer:ident) => {
        struct $name<W: Write> {
            inner: $writer<Skip<W>>,
        }

        impl<W: Write + Send> FormatWriter<W> for $name<W> {
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
                let out = &mut self.inner.get_mut().inner;
                Ok(Some((out, serde_json::json!({}))))
            }
        }
    };
}

ipc_writer!(IpcFile, FileWriter);
ipc_writer!(IpcStream, StreamWriter);

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
    }))
}

/// Checks that the batches written again through [`Skip`] were exactly the `offset` bytes
/// already there: `left` is what the skip still had to drop.
fn check_replayed(left: u64, offset: u64) -> Result<()> {
    match left {
        0 => Ok(()),
        left => Err(arrowport_core::Error::new(
            arrowport_core::ErrorKind::DataIntegrity,
            format!(
                "the partial Arrow output's {offset} durable bytes hold {left} bytes more than \
                 its batches"
            ),
        )),
    }
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
    check_replayed(inner.get_ref().skip, offset)?;
    Ok(Box::new(IpcFile { inner }))
}

pub(crate) fn open_stream<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    stream_writer(schema, out, 0)
}

/// Continues an Arrow stream after the batches an earlier writer paused at: everything
/// after the schema message it already wrote.
/// Continues an Arrow stream whose first `offset` bytes `prefix` reads: after the schema
/// message, unless dictionaries were sent, whose state only writing the batches again (through
/// a writer that drops their bytes) restores.
pub(crate) fn resume_stream<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
    prefix: impl std::io::Read,
    offset: u64,
) -> Result<Box<dyn FormatWriter<W>>> {
    if !has_dictionaries(schema) {
        let mut header = Vec::new();
        StreamWriter::try_new_with_options(&mut header, schema, options())?;
        return stream_writer(schema, out, header.len() as u64);
    }
    let written = StreamReader::try_new(std::io::BufReader::new(prefix.take(offset)), None)?;
    let out = Skip {
        inner: out,
        skip: offset,
    };
    let mut inner = StreamWriter::try_new_with_options(out, schema, options())?;
    for batch in written {
        inner.write(&batch?)?;
    }
    check_replayed(inner.get_ref().skip, offset)?;
    Ok(Box::new(IpcStream { inner }))
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

    /// Growing dictionaries, a batch that keeps the last dictionary, and a plain column.
    fn dictionary_batches() -> (SchemaRef, Vec<RecordBatch>) {
        let ty = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", ty, true),
            Field::new("n", DataType::Int32, false),
        ]));
        let batch = |keys: Vec<i32>, values: Vec<&str>| {
            let n = Arc::new(Int32Array::from(keys.clone()));
            RecordBatch::try_new(schema.clone(), vec![dict(keys, values), n]).unwrap()
        };
        let batches = vec![
            batch(vec![0, 1], vec!["a", "b"]),
            batch(vec![2, 0], vec!["a", "b", "c"]),
            batch(vec![1, 1], vec!["a", "b", "c"]),
            batch(vec![3, 2], vec!["a", "b", "c", "d"]),
        ];
        (schema, batches)
    }

    /// Stopped after any batch and continued by a new writer from the bytes written, the
    /// file and the stream are byte for byte what one writer writes, dictionaries and all.
    #[test]
    fn paused_and_continued_outputs_are_the_same_bytes() {
        let (schema, batches) = dictionary_batches();
        type Open = fn(&SchemaRef, Vec<u8>) -> Result<Box<dyn FormatWriter<Vec<u8>>>>;
        type Resume = fn(
            &SchemaRef,
            Vec<u8>,
            std::io::Cursor<Vec<u8>>,
            u64,
        ) -> Result<Box<dyn FormatWriter<Vec<u8>>>>;
        let cases: [(&str, Open, Resume); 2] = [
            ("file", open_file, resume_file),
            ("stream", open_stream, resume_stream),
        ];
        for (name, open, resume) in cases {
            let mut whole = open(&schema, Vec::new()).unwrap();
            for b in &batches {
                whole.write(b).unwrap();
            }
            let whole = whole.finish().unwrap();
            for cut in 0..=batches.len() {
                let mut first = open(&schema, Vec::new()).unwrap();
                for b in &batches[..cut] {
                    first.write(b).unwrap();
                }
                let (out, _) = first.pause().unwrap().expect("IPC stops after any batch");
                let prefix = out.clone();
                let offset = prefix.len() as u64;
                let cursor = std::io::Cursor::new(prefix.clone());
                let mut rest = resume(&schema, Vec::new(), cursor, offset).unwrap();
                for b in &batches[cut..] {
                    rest.write(b).unwrap();
                }
                let mut bytes = prefix;
                bytes.extend(rest.finish().unwrap());
                assert!(
                    bytes == whole,
                    "{name} continued after {cut} batches differs"
                );
            }
        }
    }
}
