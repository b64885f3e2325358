//! Parquet objects read through ranged GETs: the footer first, then one GET per row group
//! (in file order, so the cursor checksums every byte), decoding only the projected columns.
//! Memory holds one row group's compressed bytes and one decoded batch per object.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrowport_core::{Context, Error, ErrorKind, Result};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::{ChunkReader, Length};

use super::cursor::ObjectCursor;
use crate::conform::conform;
use crate::error::integrity;

/// First guess of the footer's size; a larger footer costs one more GET.
const FOOTER_GUESS: u64 = 64 * 1024;

#[derive(Debug)]
pub(crate) struct ParquetObject {
    cursor: Option<ObjectCursor>,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    /// Row group indices with their end offsets, in file order.
    row_groups: Vec<(usize, u64)>,
    next_group: usize,
    reader: Option<ParquetRecordBatchReader>,
    target: SchemaRef,
    batch_size: usize,
    rows: u64,
}

impl ParquetObject {
    pub(crate) async fn open(
        mut cursor: ObjectCursor,
        target: SchemaRef,
        batch_size: usize,
        cx: &Context,
    ) -> Result<Self> {
        let key = cursor.key().to_string();
        let not_parquet =
            |why: &str| integrity(format!("`{key}` is not a valid Parquet file: {why}"), &key);
        if cursor.size() < 12 {
            return Err(not_parquet("too short"));
        }
        let mut tail = cursor.read_tail(FOOTER_GUESS, cx).await?;
        let footer: [u8; 8] = tail[tail.len() - 8..].try_into().expect("8 bytes");
        if &footer[4..] != b"PAR1" {
            return Err(not_parquet("no PAR1 magic at its end (truncated?)"));
        }
        let meta_len = u64::from(u32::from_le_bytes(footer[..4].try_into().expect("4 bytes")));
        if meta_len + 12 > cursor.size() {
            return Err(not_parquet("its footer is longer than the file"));
        }
        if meta_len + 8 > tail.len() as u64 {
            tail = cursor.read_tail(meta_len + 8, cx).await?;
        }
        let meta_bytes = &tail[tail.len() - 8 - meta_len as usize..tail.len() - 8];
        let metadata = ParquetMetaDataReader::decode_metadata(meta_bytes)
            .map_err(|e| not_parquet(&e.to_string()))?;
        let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|e| not_parquet(&e.to_string()))?;

        let file_schema = metadata.schema();
        let roots = target
            .fields()
            .iter()
            .map(|f| {
                file_schema.index_of(f.name()).map_err(|_| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "{}: exported object `{key}` has no column `{}` (it has: {})",
                            crate::NAME,
                            f.name(),
                            file_schema
                                .fields()
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);

        let mut row_groups: Vec<(usize, u64, u64)> = metadata
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .map(|(i, rg)| {
                let ranges = rg.columns().iter().map(|c| c.byte_range());
                let start = ranges.clone().map(|(s, _)| s).min().unwrap_or(0);
                let end = ranges.map(|(s, l)| s + l).max().unwrap_or(0);
                (i, start, end)
            })
            .collect();
        row_groups.sort_by_key(|&(_, start, _)| start);
        let overlapping = row_groups.windows(2).any(|w| w[1].1 < w[0].2);
        if overlapping
            || row_groups
                .last()
                .is_some_and(|&(_, _, end)| end > cursor.size())
        {
            return Err(not_parquet("its row groups overlap or run past its end"));
        }
        Ok(ParquetObject {
            cursor: Some(cursor),
            metadata,
            mask,
            row_groups: row_groups.into_iter().map(|(i, _, end)| (i, end)).collect(),
            next_group: 0,
            reader: None,
            target,
            batch_size,
            rows: 0,
        })
    }

    /// The next batch, `None` after the last one once the object checked out whole.
    pub(crate) async fn next(&mut self, cx: &Context) -> Option<Result<RecordBatch>> {
        loop {
            let cursor = self.cursor.as_mut()?;
            if let Some(reader) = &mut self.reader {
                match reader.next() {
                    Some(Ok(batch)) => {
                        self.rows += batch.num_rows() as u64;
                        return Some(conform(&batch, &self.target, cursor.key()));
                    }
                    Some(Err(e)) => {
                        let key = cursor.key().to_string();
                        self.cursor = None;
                        return Some(Err(integrity(format!("cannot decode `{key}`: {e}"), &key)));
                    }
                    None => self.reader = None,
                }
            }
            let Some(&(index, end)) = self.row_groups.get(self.next_group) else {
                let cursor = self.cursor.take()?;
                let footer_rows = self.metadata.metadata().file_metadata().num_rows() as u64;
                return finish(cursor, self.rows, footer_rows, cx)
                    .await
                    .err()
                    .map(Err);
            };
            self.next_group += 1;
            let bytes = match cursor.read_to(end, cx).await {
                Ok(b) => b,
                Err(e) => {
                    self.cursor = None;
                    return Some(Err(e));
                }
            };
            let chunk = RangeBytes {
                start: end - bytes.len() as u64,
                bytes,
                file_len: cursor.size(),
            };
            let built =
                ParquetRecordBatchReaderBuilder::new_with_metadata(chunk, self.metadata.clone())
                    .with_row_groups(vec![index])
                    .with_projection(self.mask.clone())
                    .with_batch_size(self.batch_size)
                    .build();
            match built {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => {
                    let key = cursor.key().to_string();
                    self.cursor = None;
                    return Some(Err(integrity(format!("cannot read `{key}`: {e}"), &key)));
                }
            }
        }
    }
}

/// Reads the rest of the object for its checksum and compares the rows decoded with the
/// footer's count.
async fn finish(cursor: ObjectCursor, rows: u64, footer_rows: u64, cx: &Context) -> Result<()> {
    let key = cursor.key().to_string();
    cursor.finish(cx).await?;
    if rows != footer_rows {
        return Err(integrity(
            format!("`{key}` decoded to {rows} rows, its footer says {footer_rows}"),
            &key,
        ));
    }
    Ok(())
}

/// One fetched span of a Parquet file, addressed by file offsets.
#[derive(Debug)]
struct RangeBytes {
    start: u64,
    bytes: Bytes,
    file_len: u64,
}

impl RangeBytes {
    fn slice(&self, start: u64, len: usize) -> parquet::errors::Result<Bytes> {
        let from = start.checked_sub(self.start).map(|o| o as usize);
        match from {
            Some(from) if from + len <= self.bytes.len() => Ok(self.bytes.slice(from..from + len)),
            _ => Err(parquet::errors::ParquetError::General(format!(
                "read of {len} bytes at {start} falls outside the fetched row group"
            ))),
        }
    }
}

impl Length for RangeBytes {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for RangeBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let end = self.start + self.bytes.len() as u64;
        use bytes::Buf;
        Ok(self
            .slice(start, end.saturating_sub(start) as usize)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, length)
    }
}
