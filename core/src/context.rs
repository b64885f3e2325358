//! Everything a plugin may reach while it works: progress, cancellation, HTTP settings, the
//! retry policy, the parallelism budget, and the report in which the source records facts for
//! the pipeline and the sink. Plugins reach nothing global.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::progress::{NoProgress, ProgressEvent, SharedProgress};
use crate::retry::RetryPolicy;

/// Settings for plugins that talk HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            user_agent: concat!("arrowport/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Facts a source learns while it runs and that later stages need: how many rows it promised
/// (checked by the pipeline), snapshot information (recorded in the sink's manifest), and the
/// options that reattach a re-run to remote state it created (journaled at once).
#[derive(Debug, Default)]
pub struct SourceReport {
    inner: Mutex<ReportInner>,
    reattach: Mutex<Option<Reattach>>,
}

/// Where [`SourceReport::reattach`] sends its options: a resumable export's journal.
pub struct Reattach(Box<RecordOption>);

/// Records one reattach option durably.
type RecordOption = dyn Fn(&str, &str) -> crate::Result<()> + Send + Sync;

impl fmt::Debug for Reattach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reattach")
    }
}

#[derive(Debug, Default, Clone)]
struct ReportInner {
    promised_rows: Option<u64>,
    info: BTreeMap<String, serde_json::Value>,
}

impl SourceReport {
    /// Declares the exact number of rows the stream will deliver (after the source's own
    /// pushdown of limit and filter). The pipeline fails with `DataIntegrity` if it differs.
    pub fn promise_rows(&self, rows: u64) {
        self.inner.lock().unwrap().promised_rows = Some(rows);
    }

    pub fn promised_rows(&self) -> Option<u64> {
        self.inner.lock().unwrap().promised_rows
    }

    /// Records one fact about the snapshot being exported (task id, timestamps, counts, …).
    pub fn set_info(&self, key: impl Into<String>, value: impl Into<serde_json::Value>) {
        self.inner
            .lock()
            .unwrap()
            .info
            .insert(key.into(), value.into());
    }

    /// Everything recorded with [`SourceReport::set_info`].
    pub fn info(&self) -> BTreeMap<String, serde_json::Value> {
        self.inner.lock().unwrap().info.clone()
    }

    /// Tells a resumable export that `option=value` makes a re-run reuse remote state this
    /// run just created and would otherwise create (and pay for) again, such as a VikingDB
    /// export task: planning can take long, and a run killed before its plan is journaled
    /// must not lose it. Returns once the option is durable.
    pub fn reattach(&self, option: &str, value: &str) -> crate::Result<()> {
        match &*self.reattach.lock().unwrap() {
            Some(Reattach(record)) => record(option, value),
            None => Ok(()),
        }
    }

    /// Sends [`SourceReport::reattach`]'s options to `record`.
    pub fn on_reattach(
        &self,
        record: impl Fn(&str, &str) -> crate::Result<()> + Send + Sync + 'static,
    ) {
        *self.reattach.lock().unwrap() = Some(Reattach(Box::new(record)));
    }
}

/// The environment of one export (or one `schema` / `plan` call).
#[derive(Clone)]
pub struct Context {
    progress: SharedProgress,
    cancel: CancellationToken,
    http: Arc<HttpSettings>,
    retry: RetryPolicy,
    parallelism: usize,
    report: Arc<SourceReport>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("http", &self.http)
            .field("retry", &self.retry)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

impl Default for Context {
    fn default() -> Self {
        Context {
            progress: Arc::new(NoProgress),
            cancel: CancellationToken::new(),
            http: Arc::new(HttpSettings::default()),
            retry: RetryPolicy::default(),
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            report: Arc::new(SourceReport::default()),
        }
    }
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_progress(mut self, progress: SharedProgress) -> Self {
        self.progress = progress;
        self
    }

    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    pub fn with_http(mut self, http: HttpSettings) -> Self {
        self.http = Arc::new(http);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how many concurrent reads or encoders the export may run (at least 1).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }

    pub fn emit(&self, event: ProgressEvent) {
        self.progress.on_event(&event);
    }

    /// Emits a warning event.
    pub fn warn(&self, message: impl Into<String>) {
        self.emit(ProgressEvent::Warning {
            message: message.into(),
        });
    }

    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Fails with [`crate::ErrorKind::Cancelled`] once cancellation was requested.
    pub fn check_cancelled(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::cancelled())
        } else {
            Ok(())
        }
    }

    pub fn http(&self) -> &HttpSettings {
        &self.http
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    pub fn report(&self) -> &SourceReport {
        &self.report
    }
}
