//! Arrow IPC files and streams. A file's footer lists its record batches, so a split reads
//! a run of them; a stream can only be read front to back, so it is one split.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::ipc::reader::{FileReader, StreamReader};

use super::Batches;
use crate::error;

/// The schema and batch count of an IPC file.
pub(crate) fn file_footer(file: &File, shown: &str) -> Result<(SchemaRef, usize)> {
    let reader = FileReader::try_new_buffered(file, None)
        .map_err(|e| error::integrity(shown, format!("not a valid Arrow IPC file: {e}")))?;
    Ok((reader.schema(), reader.num_batches()))
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
    let schema = file_footer(&file, shown)?.0;
    rewind(&file, shown)?;
    let mut reader = FileReader::try_new_buffered(file, Some(projection(&schema, columns)))
        .map_err(|e| error::integrity(shown, format!("not a valid Arrow IPC file: {e}")))?;
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
