//! Running Rust work from Python: one shared tokio runtime, the GIL released while it works,
//! and every few milliseconds (or whenever a progress event is queued) a moment with the GIL
//! to hand progress to the Python callback and to let Ctrl-C through. An interrupt, or a
//! callback that raises, cancels the work and waits until it has cleaned up (a sink removes
//! its partial output) before the exception reaches Python.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arrowport_core::progress::ProgressListener;
use arrowport_core::{Context, ProgressEvent};
use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::convert::event_to_py;
use crate::errors::to_py;

/// How long Rust work runs at most before Python gets to see a pending Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(20);

/// The runtime every call shares; its worker threads never touch Python.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("arrowport")
            .build()
            .expect("cannot start the arrowport runtime")
    })
}

/// Progress events queued by the workers for the Python callback, which only the thread
/// that drives the work calls (a worker calling into Python could wait forever for a GIL
/// that the driving thread holds while it waits for the worker).
struct Queue {
    events: Mutex<Vec<ProgressEvent>>,
    wake: Notify,
}

impl ProgressListener for Queue {
    fn on_event(&self, event: &ProgressEvent) {
        self.events.lock().unwrap().push(event.clone());
        self.wake.notify_one();
    }
}

/// The environment of one call: its context and its progress callback.
#[derive(Clone)]
pub struct Session {
    cx: Context,
    progress: Option<(Arc<Queue>, Arc<Py<PyAny>>)>,
}

impl Session {
    /// A session whose events go to `callback` (any callable taking one dict), if given.
    pub fn new(callback: Option<Py<PyAny>>, parallelism: Option<usize>) -> Self {
        let mut cx = Context::new().with_cancellation(CancellationToken::new());
        if let Some(n) = parallelism {
            cx = cx.with_parallelism(n);
        }
        let progress = callback.map(|cb| {
            let queue = Arc::new(Queue {
                events: Mutex::new(Vec::new()),
                wake: Notify::new(),
            });
            cx = cx.clone().with_progress(queue.clone());
            (queue, Arc::new(cb))
        });
        Session { cx, progress }
    }

    pub fn cx(&self) -> &Context {
        &self.cx
    }

    /// Resolves when there may be something to do with the GIL.
    async fn wake(&self) {
        let tick = tokio::time::sleep(SIGNAL_CHECK);
        match &self.progress {
            Some((queue, _)) => {
                tokio::select! {
                    _ = queue.wake.notified() => {}
                    _ = tick => {}
                }
            }
            None => tick.await,
        }
    }

    /// Hands queued events to the callback, then lets pending signals raise.
    fn deliver(&self, py: Python<'_>) -> PyResult<()> {
        if let Some((queue, callback)) = &self.progress {
            let events = std::mem::take(&mut *queue.events.lock().unwrap());
            for event in &events {
                callback.call1(py, (event_to_py(py, event)?,))?;
            }
        }
        py.check_signals()
    }

    /// Runs `work` to completion with the GIL released, as described in the module docs.
    pub fn drive<T, F>(&self, py: Python<'_>, work: F) -> PyResult<T>
    where
        T: Send,
        F: Future<Output = arrowport_core::Result<T>> + Send,
    {
        // Cancelled work ends at once; dropping it (inside the runtime) stops its tasks and
        // lets a sink remove its partial output.
        let cancel = self.cx.cancellation().clone();
        let work = async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(arrowport_core::Error::cancelled()),
                out = work => out,
            }
        };
        let mut work = std::pin::pin!(work);
        loop {
            let done = py.detach(|| {
                let _entered = runtime().enter();
                runtime().block_on(async {
                    tokio::select! {
                        out = &mut work => Some(out),
                        _ = self.wake() => None,
                    }
                })
            });
            if let Err(interrupted) = self.deliver(py) {
                self.cx.cancellation().cancel();
                if done.is_none() {
                    // Ends at once, now that it is cancelled.
                    let _ = py.detach(|| runtime().block_on(&mut work));
                }
                return Err(interrupted);
            }
            if let Some(out) = done {
                return out.map_err(to_py);
            }
        }
    }
}
