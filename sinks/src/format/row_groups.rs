//! What a resumable parquet file journals of each row group it made durable: the row group's
//! metadata and page index, encoded as a one-row-group parquet footer (parquet's own thrift,
//! so nothing is lost in translation), and what a writer continuing the file needs to put
//! those row groups back into its footer without their bytes.

use std::io::{self, Read};
use std::sync::Arc;

use arrowport_core::{Error, ErrorKind, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{
    ColumnChunkMetaData, FileMetaData, PageIndexPolicy, ParquetMetaData, ParquetMetaDataOptions,
    ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescPtr;

use super::parquet::parquet_error;

/// One row group as journaled: its metadata and the offset index of each column.
pub(crate) struct DurableGroup {
    pub metadata: RowGroupMetaData,
    pub offsets: Vec<Option<OffsetIndexMetaData>>,
}

impl DurableGroup {
    /// The group as base64 text for the journal.
    pub(crate) fn encode(&self, schema: &SchemaDescPtr) -> Result<String> {
        let rows = self.metadata.num_rows();
        let file = FileMetaData::new(1, rows, None, None, schema.clone(), None);
        let mut index =
            parquet::file::metadata::page_index::PageIndexBuilder::new(1, self.offsets.len());
        for (column, offsets) in self.offsets.iter().enumerate() {
            if let Some(offsets) = offsets {
                index.put_offset_index(offsets.clone(), 0, column);
            }
        }
        let metadata = ParquetMetaData::new(file, vec![self.metadata.clone()])
            .into_builder()
            .set_page_index(Some(Arc::new(index.build())))
            .build();
        let mut bytes = Vec::new();
        ParquetMetaDataWriter::new(&mut bytes, &metadata)
            .finish()
            .map_err(parquet_error)?;
        Ok(STANDARD.encode(bytes))
    }

    /// The group journaled as `text`, read against the writer's own schema.
    pub(crate) fn decode(text: &str, schema: &SchemaDescPtr) -> Result<Self> {
        let malformed = |why: String| {
            Error::new(
                ErrorKind::DataIntegrity,
                format!("the resume journal's parquet row group is malformed: {why}"),
            )
        };
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| malformed(e.to_string()))?;
        let options = ParquetMetaDataOptions::new()
            .with_schema(schema.clone())
            .with_encoding_stats_as_mask(false);
        let metadata = ParquetMetaDataReader::new()
            .with_offset_index_policy(PageIndexPolicy::Required)
            .with_column_index_policy(PageIndexPolicy::Optional)
            .with_metadata_options(Some(options))
            .parse_and_finish(&Bytes::from(bytes))
            .map_err(|e| malformed(e.to_string()))?;
        if metadata.num_row_groups() != 1 {
            return Err(malformed(format!(
                "{} row groups in one record",
                metadata.num_row_groups()
            )));
        }
        let group = metadata.row_group(0).clone();
        let offsets = (0..group.num_columns())
            .map(|c| {
                metadata
                    .page_index()
                    .and_then(|index| index.offset_index(0, c))
                    .cloned()
            })
            .collect();
        Ok(DurableGroup {
            metadata: group,
            offsets,
        })
    }

    /// What appending each column of the group again takes: its metadata as written.
    pub(crate) fn columns(self) -> Result<Vec<ColumnCloseResult>> {
        let rows = self.metadata.num_rows() as u64;
        self.metadata
            .columns()
            .iter()
            .zip(self.offsets)
            .map(|(column, offsets)| {
                Ok(ColumnCloseResult {
                    bytes_written: column.compressed_size() as u64,
                    rows_written: rows,
                    metadata: as_written(column)?,
                    bloom_filter: None,
                    column_index: None,
                    offset_index: offsets,
                })
            })
            .collect()
    }
}

/// A column's metadata as its writer made it. The writer also fills the deprecated
/// `min`/`max` statistics where the column's order is signed (as readers before
/// `min_value`/`max_value` expect); reading the footer sees only that both are there.
fn as_written(column: &ColumnChunkMetaData) -> Result<ColumnChunkMetaData> {
    let Some(statistics) = column.statistics() else {
        return Ok(column.clone());
    };
    let signed = column.column_descr().sort_order().is_signed();
    let statistics = match statistics.clone() {
        Statistics::Boolean(s) => Statistics::Boolean(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int32(s) => Statistics::Int32(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int64(s) => Statistics::Int64(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int96(s) => Statistics::Int96(s.with_backwards_compatible_min_max(signed)),
        Statistics::Float(s) => Statistics::Float(s.with_backwards_compatible_min_max(signed)),
        Statistics::Double(s) => Statistics::Double(s.with_backwards_compatible_min_max(signed)),
        Statistics::ByteArray(s) => {
            Statistics::ByteArray(s.with_backwards_compatible_min_max(signed))
        }
        Statistics::FixedLenByteArray(s) => {
            Statistics::FixedLenByteArray(s.with_backwards_compatible_min_max(signed))
        }
    };
    column
        .clone()
        .into_builder()
        .set_statistics(statistics)
        .build()
        .map_err(parquet_error)
}

/// Stands for a file's bytes when a resumed writer appends the row groups it already holds:
/// zeros, which the writer's output drops (they are on disk), so nothing is read or copied.
pub(crate) struct Unread;

impl Length for Unread {
    fn len(&self) -> u64 {
        u64::MAX
    }
}

impl ChunkReader for Unread {
    type T = io::Take<io::Repeat>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(io::repeat(0).take(u64::MAX - start))
    }

    fn get_bytes(&self, _start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        Ok(Bytes::from(vec![0; length]))
    }
}
