//! Parquet files: the footer gives the schema and each row group's rows and size without
//! reading any data; a split reads consecutive row groups, decoding only the projected
//! columns.

use std::fs::File;

use arrowport_core::Result;
use arrowport_core::arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use super::Batches;
use crate::error;

/// The footer of a Parquet file.
#[derive(Debug)]
pub(crate) struct Footer {
    pub schema: SchemaRef,
    /// Rows and compressed bytes of each row group, in file order.
    pub row_groups: Vec<(u64, u64)>,
    metadata: ArrowReaderMetadata,
}

/// Reads the footer. A truncated or foreign file is a data integrity error.
pub(crate) fn footer(file: &File, shown: &str) -> Result<Footer> {
    let metadata = ArrowReaderMetadata::load(file, ArrowReaderOptions::new())
        .map_err(|e| error::parquet(shown, e))?;
    let row_groups = metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| {
            (
                u64::try_from(rg.num_rows()).unwrap_or(0),
                u64::try_from(rg.compressed_size()).unwrap_or(0),
            )
        })
        .collect();
    Ok(Footer {
        schema: metadata.schema().clone(),
        row_groups,
        metadata,
    })
}

/// Decodes row groups `groups` of the file, only the columns named in `columns` (which the
/// caller checked exist), in batches of `batch_size` rows.
pub(crate) fn read(
    file: File,
    footer: Footer,
    groups: std::ops::Range<usize>,
    columns: &[&str],
    batch_size: usize,
    shown: &str,
) -> Result<Batches> {
    if groups.end > footer.row_groups.len() {
        return Err(error::integrity(
            shown,
            format!(
                "has {} row groups, the plan reads up to {}",
                footer.row_groups.len(),
                groups.end
            ),
        ));
    }
    let roots: Vec<usize> = columns
        .iter()
        .filter_map(|c| footer.schema.index_of(c).ok())
        .collect();
    let mask = ProjectionMask::roots(footer.metadata.parquet_schema(), roots);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata)
        .with_row_groups(groups.collect())
        .with_projection(mask)
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| error::parquet(shown, e))?;
    let shown = shown.to_string();
    Ok(Box::new(
        reader.map(move |b| b.map_err(|e| error::decode(&shown, e))),
    ))
}
