//! Typed progress events. Libraries emit them through [`crate::Context`]; only the CLI renders.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// One thing worth telling the person (or machine) watching an export.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgressEvent {
    /// The export entered a new phase (`planning`, `waiting_for_task`, `downloading`, …).
    Phase {
        name: String,
        detail: Option<String>,
    },
    /// The source now knows how much it will deliver.
    Total {
        rows: Option<u64>,
        bytes: Option<u64>,
    },
    /// A remote job advanced (for example a VikingDB export task).
    RemoteProgress {
        percent: f64,
        detail: Option<String>,
    },
    /// The sink accepted a batch.
    Batch { rows: u64, bytes: u64 },
    /// A temporary failure will be retried after `delay`.
    Retry {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    /// Something the user should know that did not stop the export.
    Warning { message: String },
    /// The export finished.
    Finished {
        rows: u64,
        bytes: u64,
        elapsed_ms: u64,
    },
}

impl ProgressEvent {
    pub fn phase(name: impl Into<String>) -> Self {
        ProgressEvent::Phase {
            name: name.into(),
            detail: None,
        }
    }

    pub fn retry(attempt: u32, delay: Duration, error: &crate::Error) -> Self {
        ProgressEvent::Retry {
            attempt,
            delay_ms: delay.as_millis() as u64,
            error: error.to_string(),
        }
    }
}

/// Receives progress events. Implementations must be cheap: they are called on hot paths.
pub trait ProgressListener: Send + Sync {
    fn on_event(&self, event: &ProgressEvent);
}

/// A listener that drops every event.
#[derive(Debug, Default)]
pub struct NoProgress;

impl ProgressListener for NoProgress {
    fn on_event(&self, _: &ProgressEvent) {}
}

impl<F: Fn(&ProgressEvent) + Send + Sync> ProgressListener for F {
    fn on_event(&self, event: &ProgressEvent) {
        self(event)
    }
}

/// Shared handle to a listener.
pub type SharedProgress = Arc<dyn ProgressListener>;
