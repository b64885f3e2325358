//! Retrying temporary failures: exponential backoff with jitter, `Retry-After`, cancellation.

use std::future::Future;
use std::time::Duration;

use crate::progress::ProgressEvent;
use crate::{Context, Error, Result};

/// How often and how patiently temporary errors are retried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 disables retries).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            initial_backoff,
            max_backoff,
        }
    }

    /// The delay before retry number `attempt` (1-based): "equal jitter" exponential backoff,
    /// so concurrent clients spread out but never retry immediately. A server's
    /// `Retry-After` wins when it asks for longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let half = exp / 2;
        let jittered = half + half.mul_f64(fastrand::f64());
        match retry_after {
            Some(ra) if ra > jittered => ra,
            _ => jittered,
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, runs out of attempts, or the export is
/// cancelled. Each retry is reported as a [`ProgressEvent::Retry`].
pub async fn retry<T, F, Fut>(cx: &Context, mut op: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let policy = cx.retry_policy();
    let mut attempt = 1;
    loop {
        cx.check_cancelled()?;
        let err = match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !err.is_temporary() || attempt >= policy.max_attempts {
            return Err(if attempt > 1 {
                err.with_context("attempts", attempt)
            } else {
                err
            });
        }
        let delay = policy.delay(attempt, err.retry_after());
        cx.emit(ProgressEvent::retry(attempt, delay, &err));
        sleep_or_cancel(cx, delay).await?;
        attempt += 1;
    }
}

/// Sleeps for `delay` unless the export is cancelled first.
pub async fn sleep_or_cancel(cx: &Context, delay: Duration) -> Result<()> {
    tokio::select! {
        _ = cx.cancellation().cancelled() => Err(Error::cancelled()),
        _ = tokio::time::sleep(delay) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ErrorKind;

    fn fast_cx() -> Context {
        Context::new().with_retry(RetryPolicy::new(
            4,
            Duration::from_millis(1),
            Duration::from_millis(4),
        ))
    }

    #[test]
    fn delay_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            let cap =
                (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[tokio::test]
    async fn retries_temporary_errors_then_succeeds() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let cx = fast_cx().with_progress(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(e.clone())
        }));
        let calls = AtomicU32::new(0);
        let v = retry(&cx, |_| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Error::new(ErrorKind::Remote, "503").temporary())
            } else {
                Ok(42)
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(events.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = retry(&fast_cx(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::PermissionDenied, "bad key"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let err = retry(&fast_cx(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::RateLimited, "quota").temporary())
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(err.context_value("attempts"), Some("4"));
    }

    #[tokio::test]
    async fn cancellation_interrupts_the_backoff() {
        let cx = Context::new().with_retry(RetryPolicy::new(
            3,
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ));
        let token = cx.cancellation().clone();
        // The first attempt fails temporarily and cancels; the hour-long backoff must end at once.
        let fut = retry(&cx, |_| {
            let token = token.clone();
            async move {
                token.cancel();
                Err::<(), _>(Error::new(ErrorKind::Remote, "x").temporary())
            }
        });
        assert_eq!(fut.await.unwrap_err().kind(), ErrorKind::Cancelled);
    }
}
