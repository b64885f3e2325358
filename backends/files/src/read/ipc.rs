//! Arrow IPC files and streams. A file's footer lists its record batches, so a split reads
//! a run of them; a stream can only be read front to back, so it is one split.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::ipc::reader::{FileReader, StreamReader, read_footer_length};
use arrowport_core::arrow::ipc::{root_as_footer, root_as_message};

use super::{Batches, read_at};
use crate::error;

/// The schema of an IPC file, and the rows and bytes of each of its record batches: the
/// footer lists the batches, and each batch's message header (a few bytes) its row count, so
/// no data is read.
pub(crate) fn file_footer(file: &File, shown: &str) -> Result<(SchemaRef, Vec<(u64, u64)>)> {
    let schema = file_schema(file, shown)?;
    let size = file
        .metadata()
        .map_err(|e| error::io("read", shown, e))?
        .len();
    let read = |offset: u64, len: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = read_at(file, offset, &mut buf).map_err(|e| error::io("read", shown, e))?;
        if n < len {
            return Err(invalid(
                shown,
                "a record batch runs past the end of the file",
            ));
        }
        Ok(buf)
    };
    let tail: [u8; 10] = read(size.saturating_sub(10), 10)?
        .try_into()
        .expect("10 bytes");
    let footer_len = read_footer_length(tail).map_err(|e| invalid(shown, e))?;
    let footer = read(size.saturating_sub(10 + footer_len as u64), footer_len)?;
    let footer = root_as_footer(&footer).map_err(|e| invalid(shown, e))?;
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let meta_len = usize::try_from(block.metaDataLength()).unwrap_or(0);
        let offset = u64::try_from(block.offset()).unwrap_or(u64::MAX);
        if meta_len < 8 || offset.saturating_add(meta_len as u64) > size {
            return Err(invalid(shown, "a record batch lies outside the file"));
        }
        let meta = read(offset, meta_len)?;
        // An encapsulated message: a continuation marker (absent in old files), its length,
        // then the flatbuffer.
        let message = if meta[..4] == [0xff; 4] {
            &meta[8..]
        } else {
            &meta[4..]
        };
        let rows = root_as_message(message)
            .ok()
            .and_then(|m| m.header_as_record_batch())
            .map(|b| u64::try_from(b.length()).unwrap_or(0))
            .ok_or_else(|| invalid(shown, "a block of its footer is not a record batch"))?;
        let body = u64::try_from(block.bodyLength()).unwrap_or(0);
        batches.push((rows, meta_len as u64 + body));
    }
    Ok((schema, batches))
}

/// The schema of an IPC file.
pub(crate) fn file_schema(file: &File, shown: &str) -> Result<SchemaRef> {
    let reader = FileReader::try_new_buffered(file, None).map_err(|e| invalid(shown, e))?;
    Ok(reader.schema())
}

fn invalid(shown: &str, why: impl std::fmt::Display) -> arrowport_core::Error {
    error::integrity(shown, format!("not a valid Arrow IPC file: {why}"))
}

/// The schema of an IPC stream (its first message).
pub(crate) fn stream_schema(file: &File, shown: &str) -> Result<SchemaRef> {
    rewind(file, shown)?;
    let reader = StreamReader::try_new_buffered(file, None)
        .map_err(|e| error::integrity(shown, format!("not a valid Arrow IPC stream: {e}")))?;
    Ok(reader.schema())
}

fn rewind(mut file: &File, shown: &str) -> Result<()> {
    file.seek(SeekFrom::Start(0))
        .map(|_| ())
        .map_err(|e| error::io("read", shown, e))
}

/// Indices of the named columns in `schema`, in file order.
fn projection(schema: &SchemaRef, columns: &[&str]) -> Vec<usize> {
    let mut indices: Vec<usize> = columns
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    indices.sort_unstable();
    indices
}

/// Reads `count` batches of an IPC file from batch `first` (all of them for `None`).
pub(crate) fn read_file(
    file: File,
    batches: Option<(usize, usize)>,
    columns: &[&str],
    shown: &str,
) -> Result<Batches> {
    let schema = file_schema(&file, shown)?;
    rewind(&file, shown)?;
    let mut reader = FileReader::try_new_buffered(file, Some(projection(&schema, columns)))
        .map_err(|e| invalid(shown, e))?;
    let total = reader.num_batches();
    let (first, count) = batches.unwrap_or((0, total));
    if first + count > total {
        return Err(error::integrity(
            shown,
            format!(
                "has {total} record batches, the plan reads up to {}",
                first + count
            ),
        ));
    }
    if count > 0 {
        reader
            .set_index(first)
            .map_err(|e| error::decode(shown, e))?;
    }
    let shown = shown.to_string();
    Ok(Box::new(
        reader
            .take(count)
            .map(move |b| b.map_err(|e| error::decode(&shown, e))),
    ))
}

/// Reads a whole IPC stream.
pub(crate) fn read_stream(file: File, columns: &[&str], shown: &str) -> Result<Batches> {
    let schema = stream_schema(&file, shown)?;
    rewind(&file, shown)?;
    let reader = StreamReader::try_new_buffered(file, Some(projection(&schema, columns)))
        .map_err(|e| error::integrity(shown, format!("not a valid Arrow IPC stream: {e}")))?;
    let shown = shown.to_string();
    Ok(Box::new(
        reader.map(move |b| b.map_err(|e| error::decode(&shown, e))),
    ))
}
