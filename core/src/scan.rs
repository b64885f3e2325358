//! What the user asked to read: columns, row limit, batch size, parallelism.

use arrow::datatypes::{DataType, Schema};

/// A read request handed to [`crate::ExportSource::plan`] and [`crate::ExportSource::open`].
///
/// Sources push down what their [`crate::SourceCapabilities`] declare; the pipeline applies the
/// rest, so a source may ignore fields it cannot honour.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Scan {
    /// Columns to deliver, in this order; `None` for all.
    pub columns: Option<Vec<String>>,
    /// Stop after this many rows.
    pub limit: Option<u64>,
    /// Preferred rows per batch; `None` lets the source choose.
    pub batch_size: Option<usize>,
    /// Concurrent reads; `None` uses the context's budget.
    pub parallelism: Option<usize>,
}

impl Scan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_columns(mut self, columns: Option<Vec<String>>) -> Self {
        self.columns = columns;
        self
    }

    pub fn with_limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    pub fn with_batch_size(mut self, batch_size: Option<usize>) -> Self {
        self.batch_size = batch_size;
        self
    }

    pub fn with_parallelism(mut self, parallelism: Option<usize>) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// The parallelism to use: the scan's, else the context's budget.
    pub fn parallelism_or(&self, cx: &crate::Context) -> usize {
        self.parallelism.unwrap_or_else(|| cx.parallelism()).max(1)
    }
}

/// Bytes a row of `schema` takes in memory, roughly: exact for fixed-width values and
/// fixed-size lists (embedding vectors), 32 bytes guessed for each string, list or other
/// variable-width value. Sources size their batches and requests with it.
pub fn estimated_row_width(schema: &Schema) -> usize {
    fn width(ty: &DataType) -> usize {
        match ty {
            DataType::FixedSizeList(item, n) => {
                width(item.data_type()) * usize::try_from(*n).unwrap_or(0)
            }
            ty => ty.primitive_width().unwrap_or(32),
        }
    }
    schema.fields().iter().map(|f| width(f.data_type())).sum()
}
