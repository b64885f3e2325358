//! Arrow IPC output: the file format (`.arrow`, random access, footer at the end) and the
//! stream format (`.arrows`, readable while it is written, the natural format for pipes).
//!
//! Both carry every Arrow type exactly. Dictionaries that grow from batch to batch are sent as
//! deltas; a dictionary that is replaced outright cannot be expressed in the file format and
//! fails the export (the stream format accepts it).

use std::io::Write;

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::ipc::writer::{
    DictionaryHandling, FileWriter, IpcWriteOptions, StreamWriter,
};
use arrowport_core::arrow::record_batch::RecordBatch;

use super::FormatWriter;

fn options() -> IpcWriteOptions {
    IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta)
}

/// The file and stream writers differ only in framing: one adapter shape for both.
macro_rules! ipc_writer {
    ($name:ident, $writer:ident) => {
        struct $name<W: Write>($writer<W>);

        impl<W: Write + Send> FormatWriter<W> for $name<W> {
            fn write(&mut self, batch: &RecordBatch) -> Result<()> {
                Ok(self.0.write(batch)?)
            }

            /// IPC writes each batch through at once: nothing is held back.
            fn buffered_bytes(&mut self) -> Result<usize> {
                Ok(0)
            }

            fn finish(self: Box<Self>) -> Result<W> {
                Ok(self.0.into_inner()?)
            }
        }
    };
}

ipc_writer!(IpcFile, FileWriter);
ipc_writer!(IpcStream, StreamWriter);

pub(crate) fn open_file<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(IpcFile(FileWriter::try_new_with_options(
        out,
        schema,
        options(),
    )?)))
}

pub(crate) fn open_stream<W: Write + Send + 'static>(
    schema: &SchemaRef,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(IpcStream(StreamWriter::try_new_with_options(
        out,
        schema,
        options(),
    )?)))
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
