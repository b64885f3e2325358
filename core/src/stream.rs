//! Record batch streams, and the one way plugins run work in parallel.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::FutureExt;
use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::{Error, ErrorKind, Result};

/// A stream of record batches that all match [`RecordBatchStream::schema`].
pub trait RecordBatchStream: Stream<Item = Result<RecordBatch>> {
    fn schema(&self) -> SchemaRef;
}

/// The stream type sources return and sinks consume.
pub type SendableRecordBatchStream = Pin<Box<dyn RecordBatchStream + Send>>;

/// Bytes a coalesced batch aims at: a few MiB keeps per-batch costs downstream (an IPC
/// message, a Python object) negligible while memory stays small.
const COALESCED_BYTES: usize = 4 << 20;

/// Merges the small batches of `input` into batches of about [`COALESCED_BYTES`] (by
/// [`crate::scan::estimated_row_width`]), cutting bigger ones to that size too. With
/// `keep_from`, a batch of at least that many bytes (and at most the target) is passed on as
/// it is, after whatever was buffered before it, for consumers to whom a batch costs little
/// (Python in the same process) so that a copy costs more. The rows and their order are
/// untouched; only where batches are cut changes. Front ends that hand batches over one by
/// one (a Flight stream, a Python reader) use it, since some sources deliver batches of a
/// few hundred rows.
pub fn coalesce(
    input: SendableRecordBatchStream,
    keep_from: Option<usize>,
) -> SendableRecordBatchStream {
    let schema = input.schema();
    let width = crate::scan::estimated_row_width(&schema).max(1);
    let rows = (COALESCED_BYTES / width).clamp(1024, 1 << 20);
    let state = Coalescing {
        input,
        coalescer: arrow::compute::BatchCoalescer::new(schema.clone(), rows),
        as_is: keep_from.map(|bytes| ((bytes / width).max(1), rows)),
        passing: None,
        ended: false,
    };
    // `None` once the input ended and every row was given, or after an error.
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            if let Some(batch) = st.coalescer.next_completed_batch() {
                return Some((Ok(batch), Some(st)));
            }
            if let Some(batch) = st.passing.take() {
                return Some((Ok(batch), Some(st)));
            }
            if st.ended {
                return None;
            }
            let pushed = match st.input.next().await {
                Some(Ok(batch)) if st.keeps(&batch) => {
                    st.passing = Some(batch);
                    st.coalescer.finish_buffered_batch()
                }
                Some(Ok(batch)) => st.coalescer.push_batch(batch),
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    st.ended = true;
                    st.coalescer.finish_buffered_batch()
                }
            };
            if let Err(e) = pushed {
                return Some((Err(e.into()), None));
            }
        }
    });
    RecordBatchStreamAdapter::sendable(schema, stream)
}

/// The state of [`coalesce`].
struct Coalescing {
    input: SendableRecordBatchStream,
    coalescer: arrow::compute::BatchCoalescer,
    /// Batch sizes (rows) passed on uncopied.
    as_is: Option<(usize, usize)>,
    /// A batch passed on as it is, once the rows buffered before it are given.
    passing: Option<RecordBatch>,
    ended: bool,
}

impl Coalescing {
    fn keeps(&self, batch: &RecordBatch) -> bool {
        self.as_is
            .is_some_and(|(least, most)| (least..=most).contains(&batch.num_rows()))
    }
}

/// Pairs any stream of batches with its schema.
pub struct RecordBatchStreamAdapter {
    schema: SchemaRef,
    inner: BoxStream<'static, Result<RecordBatch>>,
}

impl RecordBatchStreamAdapter {
    pub fn new(
        schema: SchemaRef,
        stream: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Self {
        RecordBatchStreamAdapter {
            schema,
            inner: stream.boxed(),
        }
    }

    /// Boxes the adapter into the sendable stream type.
    pub fn sendable(
        schema: SchemaRef,
        stream: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> SendableRecordBatchStream {
        Box::pin(Self::new(schema, stream))
    }
}

impl fmt::Debug for RecordBatchStreamAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatchStreamAdapter")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Stream for RecordBatchStreamAdapter {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl RecordBatchStream for RecordBatchStreamAdapter {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Runs one producer stream per part, at most `parallelism` at once, and yields their items
/// (batches, mostly) in part order. Each running producer may run ahead by `buffer` batches, so memory stays
/// bounded by `parallelism × buffer` batches. Dropping the returned stream aborts every task
/// (they live in a [`JoinSet`]). A producer that panics yields an error rather than ending its
/// part early, so no rows go missing silently. After the first error the stream ends.
pub fn ordered_parallel<P, T, F, S>(
    parts: Vec<P>,
    parallelism: usize,
    buffer: usize,
    produce: F,
) -> BoxStream<'static, Result<T>>
where
    P: Send + 'static,
    T: Send + 'static,
    F: Fn(P) -> S + Send + Sync + 'static,
    S: Stream<Item = Result<T>> + Send + 'static,
{
    struct State<P, T, F> {
        pending: std::collections::VecDeque<P>,
        running: std::collections::VecDeque<mpsc::Receiver<Result<T>>>,
        tasks: JoinSet<()>,
        produce: Arc<F>,
        parallelism: usize,
        buffer: usize,
        failed: bool,
    }

    let state = State {
        pending: parts.into(),
        running: Default::default(),
        tasks: JoinSet::new(),
        produce: Arc::new(produce),
        parallelism: parallelism.max(1),
        buffer: buffer.max(1),
        failed: false,
    };

    futures::stream::unfold(state, |mut st| async move {
        if st.failed {
            return None;
        }
        loop {
            while st.running.len() < st.parallelism {
                let Some(part) = st.pending.pop_front() else {
                    break;
                };
                let (tx, rx) = mpsc::channel(st.buffer);
                let produce = st.produce.clone();
                st.tasks.spawn(async move {
                    let run = async {
                        let mut stream = std::pin::pin!(produce(part));
                        while let Some(item) = stream.next().await {
                            let stop = item.is_err();
                            if tx.send(item).await.is_err() || stop {
                                return;
                            }
                        }
                    };
                    if std::panic::AssertUnwindSafe(run)
                        .catch_unwind()
                        .await
                        .is_err()
                    {
                        let _ = tx
                            .send(Err(Error::new(
                                ErrorKind::Unexpected,
                                "a producer task panicked",
                            )))
                            .await;
                    }
                });
                st.running.push_back(rx);
            }
            let front = st.running.front_mut()?;
            match front.recv().await {
                Some(item) => {
                    st.failed = item.is_err();
                    return Some((item, st));
                }
                None => {
                    st.running.pop_front();
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(v: i64) -> RecordBatch {
        rows(v..v + 1)
    }

    fn rows(r: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(r))]).unwrap()
    }

    #[tokio::test]
    async fn coalesce_cuts_batches_of_the_target_size_in_order_and_passes_errors() {
        let schema = rows(0..0).schema();
        let input: Vec<Result<RecordBatch>> = (0..300)
            .map(|i| Ok(rows(i * 3..i * 3 + 3)))
            .chain([Ok(rows(900..2_000_900)), Ok(rows(2_000_900..2_000_910))])
            .collect();
        let out: Vec<RecordBatch> = coalesce(
            RecordBatchStreamAdapter::sendable(schema.clone(), futures::stream::iter(input)),
            None,
        )
        .map(|b| b.unwrap())
        .collect()
        .await;
        // 302 batches in, a few of the target size (4 MiB of Int64: 524,288 rows) out.
        let sizes: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, [524_288, 524_288, 524_288, 428_046]);
        let values: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(values, (0..2_000_910).collect::<Vec<i64>>());

        let failing =
            futures::stream::iter([Ok(rows(0..3)), Err(Error::new(ErrorKind::Io, "gone"))]);
        let out: Vec<Result<RecordBatch>> =
            coalesce(RecordBatchStreamAdapter::sendable(schema, failing), None)
                .collect()
                .await;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap_err().kind(), ErrorKind::Io);
    }

    #[tokio::test]
    async fn coalesce_passes_on_big_enough_batches_without_copying_them() {
        // The target is 524,288 Int64 rows; from 32,768 rows (256 KiB) on, a batch is kept.
        let (big, small, next) = (
            rows(0..100_000),
            rows(100_000..100_010),
            rows(100_010..200_010),
        );
        let input = vec![Ok(big.clone()), Ok(small), Ok(next.clone())];
        let out: Vec<RecordBatch> = coalesce(
            RecordBatchStreamAdapter::sendable(big.schema(), futures::stream::iter(input)),
            Some(256 << 10),
        )
        .map(|b| b.unwrap())
        .collect()
        .await;
        let sizes: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        // The big ones pass as they are, the small one between them on its own.
        assert_eq!(sizes, [100_000, 10, 100_000]);
        let data = |b: &RecordBatch| b.column(0).to_data().buffers()[0].as_ptr();
        assert_eq!(data(&out[0]), data(&big));
        assert_eq!(data(&out[2]), data(&next));
    }

    fn values(batches: Vec<Result<RecordBatch>>) -> Vec<i64> {
        batches
            .into_iter()
            .map(|b| {
                b.unwrap()
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .value(0)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn preserves_part_order() {
        let parts: Vec<i64> = (0..10).collect();
        let out = ordered_parallel(parts, 3, 2, |p| {
            futures::stream::iter((0..5).map(move |i| Ok(batch(p * 10 + i))))
        })
        .collect::<Vec<_>>()
        .await;
        let expected: Vec<i64> = (0..10)
            .flat_map(|p| (0..5).map(move |i| p * 10 + i))
            .collect();
        assert_eq!(values(out), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_an_error_not_a_short_part() {
        let out = ordered_parallel(vec![0, 1], 2, 1, |p| {
            futures::stream::iter((0..3).map(move |i| {
                assert!(!(p == 0 && i == 1), "boom");
                Ok(batch(i))
            }))
        })
        .collect::<Vec<_>>()
        .await;
        assert_eq!(out.len(), 2);
        assert!(out[0].is_ok());
        assert_eq!(out[1].as_ref().unwrap_err().kind(), ErrorKind::Unexpected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_stream_aborts_the_producers() {
        let (alive_tx, alive_rx) = tokio::sync::oneshot::channel::<()>();
        let alive = Arc::new(std::sync::Mutex::new(Some(alive_tx)));
        let mut s = ordered_parallel(vec![()], 1, 1, move |_| {
            // The producer owns the sender: it is dropped only when the task is torn down.
            let guard = alive.lock().unwrap().take();
            futures::stream::iter(0..).map(move |i| {
                let _keep = &guard;
                Ok(batch(i))
            })
        });
        s.next().await.unwrap().unwrap();
        drop(s);
        // Resolves (with Err) once the aborted task dropped its sender; a leaked task would
        // hang here and the timeout turns that into a failure.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(30), alive_rx).await;
        assert!(matches!(closed, Ok(Err(_))), "producer task still alive");
    }
}
