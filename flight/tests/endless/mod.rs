//! A test source that makes each batch only when it is taken, and tells the tests how many
//! it made and when its stream was dropped: back-pressure and cancellation become
//! observable from outside the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrowport_core::{
    Context, Error, ExportSource, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, SourcePlugin, SourceSpec, Split, SplitToken,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What one `endless://?id=…` source did.
#[derive(Debug, Default)]
pub struct Probe {
    pub produced: AtomicU64,
    pub dropped: AtomicBool,
    changed: Notify,
}

impl Probe {
    /// Waits until `done` holds, or `limit` passed; says whether it holds.
    pub async fn until(&self, limit: Duration, done: impl Fn(&Probe) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(self);
            }
        }
    }

    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::SeqCst)
    }
}

static PROBES: LazyLock<Mutex<HashMap<String, Arc<Probe>>>> = LazyLock::new(Default::default);

/// The probe of the sources with `id`.
pub fn probe(id: &str) -> Arc<Probe> {
    PROBES
        .lock()
        .unwrap()
        .entry(id.to_string())
        .or_default()
        .clone()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Endless {
    id: String,
    /// Batches per split.
    batches: u64,
    /// Rows per batch (8 bytes each).
    rows: usize,
    splits: u64,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]))
}

struct Dropped(Arc<Probe>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl Endless {
    fn stream(&self) -> SendableRecordBatchStream {
        let (probe, rows, batches) = (probe(&self.id), self.rows, self.batches);
        let guard = Dropped(probe.clone());
        let stream = futures::stream::unfold((0u64, guard), move |(i, guard)| {
            let probe = probe.clone();
            async move {
                if i == batches {
                    return None;
                }
                let values = Int64Array::from_iter_values((0..rows as i64).map(|r| r + i as i64));
                let batch = RecordBatch::try_new(schema(), vec![Arc::new(values)]).unwrap();
                probe.produced.fetch_add(1, Ordering::SeqCst);
                probe.changed.notify_waiters();
                Some((Ok(batch), (i + 1, guard)))
            }
        });
        RecordBatchStreamAdapter::sendable(schema(), stream)
    }
}

#[arrowport_core::async_trait]
impl ExportSource for Endless {
    async fn schema(&self, _: &Context) -> Result<SchemaRef> {
        Ok(schema())
    }

    async fn plan(&self, _: &Scan, _: &Context) -> Result<Vec<Split>> {
        (0..self.splits)
            .map(|i| {
                let token = SplitToken::new("endless", &serde_json::json!({ "split": i }))?;
                let split = Split::new(i as usize, format!("split {i}"), token);
                Ok(match self.batches.checked_mul(self.rows as u64) {
                    Some(rows) => split.with_rows(rows),
                    None => split,
                })
            })
            .collect()
    }

    async fn open_split(
        &self,
        token: &SplitToken,
        _: &Context,
    ) -> Result<SendableRecordBatchStream> {
        token.decode::<serde_json::Value>("endless")?;
        Ok(self.stream())
    }

    async fn open(&self, _: &Scan, _: &Context) -> Result<SendableRecordBatchStream> {
        Ok(self.stream())
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::new(false, false)
    }
}

fn build(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    let number = |k: &str, default: u64| -> Result<u64> {
        spec.options.get(k).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| Error::config(format!("{k}: not a number")))
        })
    };
    Ok(Box::new(Endless {
        id: spec.options.get("id").unwrap_or("default").to_string(),
        batches: number("batches", u64::MAX)?,
        rows: number("rows", 1024)? as usize,
        splits: number("splits", 1)?,
    }))
}

arrowport_core::register_source!(SourcePlugin {
    name: "endless",
    description: "batches made as they are taken, for the server's tests",
    docs: "",
    options: || &["id", "batches", "rows", "splits"],
    build,
});
