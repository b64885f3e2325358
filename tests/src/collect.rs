//! What plugin tests share: a sink that keeps what it is given, so they see exactly what the
//! pipeline delivered, a context that records progress, and a URL encoder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrowport_core::{
    Context, ProgressEvent, Result, RetryPolicy, SendableRecordBatchStream, Sink, WriteSummary,
    async_trait,
};
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

/// A context for plugin tests: retries after a millisecond or so (four attempts in all), and
/// every progress event recorded for the test to inspect.
pub fn recording_context() -> (Context, Arc<Mutex<Vec<ProgressEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let cx = Context::new()
        .with_retry(RetryPolicy::new(
            4,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .with_progress(Arc::new(move |e: &ProgressEvent| {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.clone())
        }));
    (cx, events)
}

/// Percent-encodes an option value for a test URL's query.
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
