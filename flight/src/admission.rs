//! How many `DoGet` streams run at once. Each running stream holds a permit; a call beyond
//! the limit waits its turn for a while, and beyond a bounded queue is told at once that the
//! server is busy (`Unavailable`, which clients retry), so a thousand calls on two cores
//! neither starve each other nor grow memory without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// The admission limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Streams that run at once.
    pub streams: usize,
    /// Calls that may wait for a running stream to end.
    pub waiting: usize,
    /// How long a waiting call waits before it is told to retry.
    pub wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            streams: (2 * cores).max(4),
            waiting: 256,
            wait: Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

/// A waiting call, counted until it is admitted, refused or dropped.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Admission {
            limits,
            permits: Arc::new(Semaphore::new(limits.streams.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A permit to run one stream, held for as long as it runs.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::unavailable(format!(
                "the server is busy: {} streams run and {} wait; retry later",
                self.limits.streams, self.limits.waiting
            )));
        }
        let _waiting = Waiting(self.waiting.clone());
        match tokio::time::timeout(self.limits.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Status::unavailable("the server is shutting down")),
            Err(_) => Err(Status::unavailable(format!(
                "the server is busy: waited {:?} for one of its {} streams; retry later",
                self.limits.wait, self.limits.streams
            ))),
        }
    }

    /// Streams running now.
    pub fn running(&self) -> usize {
        self.limits.streams.max(1) - self.permits.available_permits()
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_limit_wait_and_beyond_the_queue_are_refused() {
        let admission = Arc::new(Admission::new(Limits {
            streams: 2,
            waiting: 1,
            wait: Duration::from_secs(3600),
        }));
        let (a, _b) = (
            admission.admit().await.unwrap(),
            admission.admit().await.unwrap(),
        );
        assert_eq!(admission.running(), 2);

        let waiter = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit().await.map(|_| ()) }
        });
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = admission.admit().await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        assert!(refused.message().contains("busy"), "{}", refused.message());

        drop(a);
        waiter.await.unwrap().unwrap();
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_waits_too_long_is_told_to_retry() {
        let admission = Admission::new(Limits {
            streams: 1,
            waiting: 4,
            wait: Duration::from_secs(5),
        });
        let _held = admission.admit().await.unwrap();
        let s = admission.admit().await.unwrap_err();
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert!(s.message().contains("waited 5s"), "{}", s.message());
        assert_eq!(admission.waiting(), 0);
    }
}
