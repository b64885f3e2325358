//! A sink that keeps what it is given, so plugin tests see exactly what the pipeline delivered.

use std::sync::Mutex;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrowport_core::{Context, Result, SendableRecordBatchStream, Sink, WriteSummary, async_trait};
use futures::StreamExt;

/// Collects every batch; like a file sink, it keeps nothing unless the whole stream succeeded.
#[derive(Debug, Default)]
pub struct Collect(Mutex<Vec<RecordBatch>>);

impl Collect {
    /// The batches of the last successful write.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Sink for Collect {
    fn check_schema(&self, _: &Schema) -> Result<()> {
        Ok(())
    }

    async fn write_all(
        &self,
        mut input: SendableRecordBatchStream,
        _: &Context,
    ) -> Result<WriteSummary> {
        let mut batches = Vec::new();
        while let Some(batch) = input.next().await {
            batches.push(batch?);
        }
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = batches;
        Ok(WriteSummary::new(rows, 0, Vec::new(), false))
    }
}
