//! The one export loop: schema first, then a checked, accounted stream from source to sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde::Serialize;

use crate::journal::{Journal, Recovered};
use crate::options::closest;
use crate::plan::PlanDocument;
use crate::progress::ProgressEvent;
use crate::stream::ordered_parallel;
use crate::{
    Context, Error, ErrorKind, ExportSource, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, Sink, Split, SplitToken, WriteSummary,
};

/// What an export did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Summary {
    pub rows: u64,
    pub batches: u64,
    /// Bytes the sink wrote.
    pub bytes: u64,
    pub elapsed: Duration,
    pub write: WriteSummary,
}

/// Projects `schema` onto `columns` (in that order), rejecting unknown or repeated names.
pub fn project_schema(schema: &Schema, columns: Option<&[String]>) -> Result<SchemaRef> {
    let Some(columns) = columns else {
        return Ok(Arc::new(schema.clone()));
    };
    Ok(Arc::new(schema.project(&column_indices(schema, columns)?)?))
}

fn column_indices(schema: &Schema, columns: &[String]) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Err(Error::config(
            "--columns is empty: name at least one column",
        ));
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        let idx = schema.index_of(c).map_err(|_| {
            let hint = closest(c, names.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            Error::config(format!(
                "unknown column `{c}`; {hint}the source has: {}",
                names.join(", ")
            ))
        })?;
        if out.contains(&idx) {
            return Err(Error::config(format!("column `{c}` is named twice")));
        }
        out.push(idx);
    }
    Ok(out)
}

/// Exports `scan` of `source` into `sink`.
///
/// The schema is resolved and checked against the sink before the source is opened (opening
/// may cost money). Every batch is checked against the announced schema; projection and limit
/// are applied here when the source did not push them down; and when the source promised a
/// row count (through [`crate::SourceReport::promise_rows`]), delivering a different number is
/// a [`ErrorKind::DataIntegrity`] error raised before the sink commits. Cancelling the context
/// drops the sink and the source mid-flight, which removes partial output.
pub async fn export(
    source: &dyn ExportSource,
    sink: &dyn Sink,
    scan: &Scan,
    cx: &Context,
) -> Result<Summary> {
    let started = Instant::now();
    cx.emit(ProgressEvent::phase("schema"));
    let full = source.schema(cx).await?;
    let schema = project_schema(&full, scan.columns.as_deref())?;
    // A schema the sink cannot carry is the invocation's problem (pick another format or
    // other columns), found before anything runs: a configuration error.
    sink.check_schema(&schema).map_err(|e| match e.kind() {
        ErrorKind::Schema => e.with_kind(ErrorKind::Config),
        _ => e,
    })?;
    cx.check_cancelled()?;

    cx.emit(ProgressEvent::phase("export"));
    let stream = source.open(scan, cx).await?;
    let projection = match (&scan.columns, source.capabilities().projection) {
        (Some(cols), false) => Some(column_indices(&full, cols)?),
        _ => None,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let checked = Checker::new(schema, scan.limit, Expect::Promised, cx, counter.clone())
        .with_projection(projection)
        .stream(stream);
    let write = tokio::select! {
        biased;
        _ = cx.cancellation().cancelled() => return Err(Error::cancelled()),
        w = sink.write_all(checked, cx) => w?,
    };
    Ok(finish(write, &counter, started, cx))
}

/// The scan's batches as [`export`] would hand them to a sink, for front ends that consume
/// them in-process (the Python module): projection and limit applied where the source did not
/// push them down, every batch checked against the announced schema, and a broken row-count
/// promise an error at the end. Nothing runs until the stream is polled.
pub async fn read(
    source: &dyn ExportSource,
    scan: &Scan,
    cx: &Context,
) -> Result<SendableRecordBatchStream> {
    cx.emit(ProgressEvent::phase("schema"));
    let full = source.schema(cx).await?;
    let schema = project_schema(&full, scan.columns.as_deref())?;
    cx.check_cancelled()?;
    cx.emit(ProgressEvent::phase("export"));
    let stream = source.open(scan, cx).await?;
    let projection = match (&scan.columns, source.capabilities().projection) {
        (Some(cols), false) => Some(column_indices(&full, cols)?),
        _ => None,
    };
    let counter = Arc::new(AtomicU64::new(0));
    Ok(
        Checker::new(schema, scan.limit, Expect::Promised, cx, counter)
            .with_projection(projection)
            .stream(stream),
    )
}

/// One split of a plan, read through its token and checked like [`read`]'s batches: against
/// `schema` (the plan's), and against the split's row count when the plan knows it.
pub async fn read_split(
    source: &dyn ExportSource,
    split: &Split,
    schema: SchemaRef,
    cx: &Context,
) -> Result<SendableRecordBatchStream> {
    let stream = source.open_split(&split.token, cx).await?;
    let counter = Arc::new(AtomicU64::new(0));
    Ok(Checker::new(schema, None, Expect::Rows(split.rows), cx, counter).stream(stream))
}

/// A planned export: the plan, which of its splits to read, and the journal when the export
/// is resumable.
#[derive(Debug)]
pub struct Planned<'a> {
    pub plan: &'a PlanDocument,
    /// Positions in `plan.splits`, in reading order.
    pub read: Vec<usize>,
    /// The journal, and what an earlier run left in it, for a resumable export.
    pub journal: Option<(&'a Journal, Option<Recovered>)>,
}

/// Batches (or the end of a split) as the split readers deliver them, in reading order.
enum Piece {
    Batch(RecordBatch),
    /// The split at this reading position ended.
    End(usize),
}

/// Batches each running split reader may hold ahead of the consumer.
const SPLIT_BUFFER: usize = 2;

/// Exports the splits of a plan: read through [`ExportSource::open_split`] in plan order,
/// checked like [`export`]'s, into `sink`. With a journal, the sink writes resumably: where
/// each split ends and every durable point of the sink is journaled, a recovered journal's
/// splits are skipped up to its last durable row, and the journal is removed once the
/// output is committed. The rows delivered must add up to the rows the splits promise.
pub async fn export_planned(
    source: &dyn ExportSource,
    sink: &dyn Sink,
    planned: Planned<'_>,
    scan: &Scan,
    cx: &Context,
) -> Result<Summary> {
    let started = Instant::now();
    let plan = planned.plan;
    let schema = plan.schema()?;
    sink.check_schema(&schema).map_err(|e| match e.kind() {
        ErrorKind::Schema => e.with_kind(ErrorKind::Config),
        _ => e,
    })?;
    cx.check_cancelled()?;

    let splits: Vec<&Split> = planned.read.iter().map(|&i| &plan.splits[i]).collect();
    let whole_plan = planned.read.len() == plan.splits.len();
    let expected = splits
        .iter()
        .map(|s| s.rows)
        .sum::<Option<u64>>()
        .or(plan.rows.filter(|_| whole_plan));
    let recovered = planned.journal.as_ref().and_then(|(_, r)| r.clone());
    let (position, skip) = recovered
        .as_ref()
        .map_or((0, 0), Recovered::resume_position);
    let done_rows = recovered
        .as_ref()
        .and_then(|r| r.checkpoints.last())
        .map_or(0, |c| c.rows);
    if let Some(r) = &recovered {
        for (key, value) in &r.header.info {
            cx.report().set_info(key.clone(), value.clone());
        }
        cx.emit(ProgressEvent::Phase {
            name: "resuming".into(),
            detail: Some(format!(
                "{done_rows} rows already written; continuing with split {} of {}",
                position.min(splits.len()),
                splits.len()
            )),
        });
    }
    cx.emit(ProgressEvent::Total {
        rows: expected.map(|e| scan.limit.map_or(e, |l| l.min(e))),
        bytes: splits.iter().map(|s| s.bytes).sum(),
    });
    cx.emit(ProgressEvent::phase("export"));
    if done_rows > 0 {
        cx.emit(ProgressEvent::Batch {
            rows: done_rows,
            bytes: 0,
        });
    }

    let mut readers = Vec::with_capacity(splits.len().saturating_sub(position));
    for (offset, split) in splits.iter().enumerate().skip(position) {
        readers.push((offset, source.open_split(&split.token, cx).await?));
    }
    let pieces = ordered_parallel(
        readers,
        scan.parallelism_or(cx),
        SPLIT_BUFFER,
        |(offset, stream)| {
            stream
                .map(|b| b.map(Piece::Batch))
                .chain(futures::stream::once(async move { Ok(Piece::End(offset)) }))
        },
    );
    let journal = planned.journal.as_ref().map(|(j, _)| *j);
    let known = recovered
        .as_ref()
        .map(|r| r.split_ends.clone())
        .unwrap_or_default();
    let ends = SplitEnds {
        journal: journal.cloned(),
        known,
    };
    let batches = split_ends(pieces, skip, done_rows - skip, ends);
    let counter = Arc::new(AtomicU64::new(0));
    let expect = Expect::Rows(expected.map(|e| e.saturating_sub(done_rows)));
    let checked = Checker::new(schema.clone(), scan.limit, expect, cx, counter.clone())
        .starting_at(done_rows)
        .stream(RecordBatchStreamAdapter::sendable(schema, batches));
    let write = tokio::select! {
        biased;
        _ = cx.cancellation().cancelled() => return Err(Error::cancelled()),
        w = async {
            match journal {
                Some(j) => {
                    let from = recovered.map(|r| r.checkpoints).unwrap_or_default();
                    sink.write_resumable(checked, &from, j, cx).await
                }
                None => sink.write_all(checked, cx).await,
            }
        } => w?,
    };
    if let Some((journal, _)) = planned.journal {
        journal.remove()?;
    }
    Ok(finish(write, &counter, started, cx))
}

/// Reads `tokens`, splits of one plan, one after another as one stream, checked like
/// [`export`]'s batches: conformed to `schema`, cut after `limit` rows, and, when `rows` (the
/// rows the splits hold) is known, ending with exactly that many source rows or a
/// [`ErrorKind::DataIntegrity`] error. A split is opened only once the one before it ended,
/// and dropping the stream stops all work: what a remote reader of a few splits (a Flight
/// `DoGet`, a Python read task) needs.
pub fn read_splits(
    source: Arc<dyn ExportSource>,
    tokens: Vec<SplitToken>,
    schema: SchemaRef,
    limit: Option<u64>,
    rows: Option<u64>,
    cx: &Context,
) -> SendableRecordBatchStream {
    let opener = cx.clone();
    let batches = futures::stream::iter(tokens)
        .then(move |token| {
            let (source, cx) = (source.clone(), opener.clone());
            async move { source.open_split(&token, &cx).await }
        })
        .flat_map(|opened| match opened {
            Ok(stream) => stream.boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        });
    let counter = Arc::new(AtomicU64::new(0));
    Checker::new(schema.clone(), limit, Expect::Rows(rows), cx, counter)
        .stream(RecordBatchStreamAdapter::sendable(schema, batches))
}

/// Where splits end in the input: journaled as they are read, and checked against what an
/// interrupted run journaled (a resumed run reads again some splits it had read to the end).
struct SplitEnds {
    journal: Option<Journal>,
    /// The ends the interrupted run journaled, by reading position.
    known: Vec<u64>,
}

impl SplitEnds {
    fn record(&self, position: usize, rows: u64) -> Result<()> {
        match self.known.get(position) {
            Some(&known) if known == rows => Ok(()),
            Some(&known) => Err(Error::new(
                ErrorKind::DataIntegrity,
                format!(
                    "split {position} now ends after {rows} rows, but the interrupted run read it \
                     to its end after {known}: the source no longer holds the same rows; pass \
                     --restart to export it again"
                ),
            )),
            None => match &self.journal {
                Some(journal) => journal.split_end(position, rows),
                None => Ok(()),
            },
        }
    }
}

/// The batches of `pieces`, the first `skip` rows dropped (already durable), with every
/// split's end recorded at the input row it ends on (`start` is where the first split
/// read begins).
fn split_ends(
    pieces: futures::stream::BoxStream<'static, Result<Piece>>,
    skip: u64,
    start: u64,
    journal: SplitEnds,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static + use<> {
    futures::stream::unfold(
        (pieces, skip, start, journal),
        |(mut pieces, mut skip, mut rows, journal)| async move {
            loop {
                let item = match pieces.next().await? {
                    Ok(Piece::Batch(batch)) => {
                        let n = batch.num_rows() as u64;
                        if skip >= n {
                            skip -= n;
                            rows += n;
                            continue;
                        }
                        let batch = batch.slice(skip as usize, (n - skip) as usize);
                        rows += n;
                        skip = 0;
                        Ok(batch)
                    }
                    Ok(Piece::End(position)) => match journal.record(position, rows) {
                        Ok(()) => continue,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                return Some((item, (pieces, skip, rows, journal)));
            }
        },
    )
}

fn finish(write: WriteSummary, counter: &AtomicU64, started: Instant, cx: &Context) -> Summary {
    let summary = Summary {
        rows: write.rows,
        batches: counter.load(Ordering::Relaxed),
        bytes: write.bytes,
        elapsed: started.elapsed(),
        write,
    };
    cx.emit(ProgressEvent::Finished {
        rows: summary.rows,
        bytes: summary.bytes,
        elapsed_ms: summary.elapsed.as_millis() as u64,
    });
    summary
}

impl Summary {
    /// One line for people: what went where, how big, how fast.
    pub fn describe(&self, target: &crate::SinkTarget) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        };
        let files = match self.write.files.len() {
            0 | 1 => String::new(),
            n => format!(" in {n} files"),
        };
        let early = if self.write.stopped_early {
            " (the reader closed the pipe early)"
        } else {
            ""
        };
        format!(
            "exported {} rows{files} ({}) to {target} in {secs:.2}s ({} rows/s){early}",
            group_thousands(self.rows),
            human_bytes(self.bytes),
            group_thousands(rate as u64),
        )
    }
}

/// 1234567 → "1,234,567".
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Binary units as people read them: `812 B`, `1.50 KiB`, `3.25 GiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 8] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];
    let mut value = bytes as f64;
    if value < 1024.0 {
        return format!("{value:.0} B");
    }
    let mut unit = 0;
    value /= 1024.0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}B", UNITS[unit])
}

/// How many rows the source must deliver.
enum Expect {
    /// What the source promised through [`crate::SourceReport::promise_rows`] while it ran.
    Promised,
    /// This many, when known.
    Rows(Option<u64>),
}

/// Projects, validates, counts and limits the source's batches.
struct Checker {
    schema: SchemaRef,
    /// Column indices to project when the source did not.
    projection: Option<Vec<usize>>,
    limit: Option<u64>,
    expect: Expect,
    /// Rows the source delivered, before our limit.
    source_rows: u64,
    /// Rows passed on, counting those an earlier run made durable.
    rows: u64,
    batches: Arc<AtomicU64>,
    cx: Context,
    done: bool,
}

impl Checker {
    fn new(
        schema: SchemaRef,
        limit: Option<u64>,
        expect: Expect,
        cx: &Context,
        batches: Arc<AtomicU64>,
    ) -> Self {
        Checker {
            schema,
            projection: None,
            limit,
            expect,
            source_rows: 0,
            rows: 0,
            batches,
            cx: cx.clone(),
            done: limit == Some(0),
        }
    }

    fn with_projection(mut self, projection: Option<Vec<usize>>) -> Self {
        self.projection = projection;
        self
    }

    /// Counts `rows` already written by an earlier run against the limit.
    fn starting_at(mut self, rows: u64) -> Self {
        self.rows = rows;
        self.done = self.done || self.limit.is_some_and(|l| rows >= l);
        self
    }

    fn stream(self, input: SendableRecordBatchStream) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let stream = futures::stream::unfold((self, input), |(mut st, mut input)| async move {
            while !st.done {
                let item = match input.next().await {
                    Some(item) => item,
                    None => {
                        st.done = true;
                        return st.check_promise().err().map(|e| (Err(e), (st, input)));
                    }
                };
                match item.and_then(|b| st.accept(b)) {
                    Ok(Some(batch)) => return Some((Ok(batch), (st, input))),
                    Ok(None) => continue,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), (st, input)));
                    }
                }
            }
            None
        });
        RecordBatchStreamAdapter::sendable(schema, stream)
    }

    /// Projects, validates and truncates one batch; `None` for an empty batch.
    fn accept(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        self.source_rows += batch.num_rows() as u64;
        let batch = match &self.projection {
            Some(p) => batch.project(p)?,
            None => batch,
        };
        let mut batch = conform(batch, &self.schema)?;
        if let Some(limit) = self.limit {
            let left = limit - self.rows;
            if batch.num_rows() as u64 >= left {
                batch = batch.slice(0, left as usize);
                self.done = true;
            }
        }
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.rows += batch.num_rows() as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.cx.emit(ProgressEvent::Batch {
            rows: batch.num_rows() as u64,
            bytes: batch.get_array_memory_size() as u64,
        });
        Ok(Some(batch))
    }

    /// Called when the source ended on its own: its row count must match its promise.
    fn check_promise(&self) -> Result<()> {
        let promised = match self.expect {
            Expect::Promised => self.cx.report().promised_rows(),
            Expect::Rows(rows) => rows,
        };
        match promised {
            Some(promised) if promised != self.source_rows => Err(Error::new(
                ErrorKind::DataIntegrity,
                format!(
                    "the source promised {promised} rows but delivered {}; nothing was committed",
                    self.source_rows
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Checks a batch against the announced schema (names, types, nullability) and rebinds it to
/// that schema, so that field metadata differences do not leak to the sink.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let got = batch.schema();
    if got.fields().len() != schema.fields().len() {
        return Err(Error::schema(format!(
            "a batch has {} columns but the schema announced {}",
            got.fields().len(),
            schema.fields().len()
        )));
    }
    for (g, want) in got.fields().iter().zip(schema.fields()) {
        if g.name() != want.name() || !g.data_type().equals_datatype(want.data_type()) {
            return Err(Error::schema(format!(
                "a batch column `{}: {}` does not match the announced `{}: {}`",
                g.name(),
                g.data_type(),
                want.name(),
                want.data_type()
            )));
        }
    }
    if Arc::ptr_eq(&got, schema) {
        return Ok(batch);
    }
    RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
        .map_err(|e| Error::schema(format!("a batch does not match the announced schema: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use async_trait::async_trait;
    use futures::TryStreamExt;

    use super::*;
    use crate::{SourceCapabilities, Split, SplitToken, stream::RecordBatchStreamAdapter};

    /// A source of `batches` fixed batches that pushes nothing down and may promise a count.
    #[derive(Debug)]
    struct Fixed {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        promise: Option<u64>,
        opened: AtomicUsize,
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
        let names: Vec<String> = ids.clone().map(|i| format!("n{i}")).collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(ids)) as ArrayRef,
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    fn fixed(batches: Vec<RecordBatch>, promise: Option<u64>) -> Fixed {
        Fixed {
            schema: schema(),
            batches,
            promise,
            opened: AtomicUsize::new(0),
        }
    }

    #[async_trait]
    impl ExportSource for Fixed {
        async fn schema(&self, _: &Context) -> Result<SchemaRef> {
            Ok(self.schema.clone())
        }
        async fn plan(&self, _: &Scan, _: &Context) -> Result<Vec<Split>> {
            let token = SplitToken::new("fixed", &0)?;
            Ok(vec![Split::new(0, "all", token)])
        }
        async fn open_split(
            &self,
            token: &SplitToken,
            cx: &Context,
        ) -> Result<SendableRecordBatchStream> {
            token.decode::<u32>("fixed")?;
            self.open(&Scan::new(), cx).await
        }
        async fn open(&self, _: &Scan, cx: &Context) -> Result<SendableRecordBatchStream> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            if let Some(p) = self.promise {
                cx.report().promise_rows(p);
            }
            let items: Vec<Result<RecordBatch>> = self.batches.iter().cloned().map(Ok).collect();
            Ok(RecordBatchStreamAdapter::sendable(
                self.schema.clone(),
                futures::stream::iter(items),
            ))
        }
        fn capabilities(&self) -> SourceCapabilities {
            SourceCapabilities::default()
        }
    }

    /// Collects what it is given; fails on the first error like a real sink would.
    #[derive(Debug, Default)]
    struct Collect {
        got: Mutex<Vec<RecordBatch>>,
        reject: bool,
    }

    #[async_trait]
    impl Sink for Collect {
        fn check_schema(&self, _: &Schema) -> Result<()> {
            if self.reject {
                Err(Error::schema("cannot carry it"))
            } else {
                Ok(())
            }
        }
        async fn write_all(
            &self,
            mut input: SendableRecordBatchStream,
            _: &Context,
        ) -> Result<WriteSummary> {
            let mut rows = 0;
            while let Some(b) = input.next().await {
                let b = b?;
                assert_eq!(
                    b.schema(),
                    input.schema(),
                    "every batch carries the announced schema"
                );
                rows += b.num_rows() as u64;
                self.got.lock().unwrap().push(b);
            }
            Ok(WriteSummary::new(rows, 0, Vec::new(), false))
        }
    }

    #[tokio::test]
    async fn read_splits_reads_tokens_in_order_checks_counts_and_stops_at_the_limit() {
        let src = Arc::new(fixed(vec![batch(0..4), batch(4..8)], None));
        let token = SplitToken::new("fixed", &0).unwrap();
        let cx = Context::new();
        let read = |limit, rows| {
            read_splits(
                src.clone(),
                vec![token.clone(), token.clone()],
                schema(),
                limit,
                rows,
                &cx,
            )
        };
        let ids = |batches: Vec<RecordBatch>| -> Vec<i64> {
            batches
                .iter()
                .flat_map(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect()
        };
        // Opened one after another: nothing is opened before the stream is polled.
        let stream = read(None, Some(16));
        assert_eq!(src.opened.load(Ordering::SeqCst), 0);
        let got: Vec<RecordBatch> = stream.try_collect().await.unwrap();
        assert_eq!(
            ids(got),
            [(0..8).collect::<Vec<i64>>(), (0..8).collect()].concat()
        );

        // A limit inside the first split never opens the second.
        src.opened.store(0, Ordering::SeqCst);
        let got: Vec<RecordBatch> = read(Some(6), Some(16)).try_collect().await.unwrap();
        assert_eq!(ids(got), (0..6).collect::<Vec<i64>>());
        assert_eq!(src.opened.load(Ordering::SeqCst), 1);

        // Splits that end with another count than the plan's are a data integrity error.
        let e = read(None, Some(17))
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataIntegrity);
        let foreign = SplitToken::new("other", &0).unwrap();
        let e = read_splits(src.clone(), vec![foreign], schema(), None, None, &cx)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn applies_projection_and_limit_the_source_did_not() {
        let src = fixed(vec![batch(0..4), batch(4..8), batch(8..12)], Some(12));
        let sink = Collect::default();
        let scan = Scan::new()
            .with_columns(Some(vec!["name".into()]))
            .with_limit(Some(6));
        let summary = export(&src, &sink, &scan, &Context::new()).await.unwrap();
        assert_eq!(summary.rows, 6);
        assert_eq!(summary.batches, 2);
        let got = sink.got.lock().unwrap();
        assert_eq!(got[0].schema().fields().len(), 1);
        assert_eq!(got[1].num_rows(), 2);
        let last = got[1]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(last.value(1), "n5");
    }

    #[tokio::test]
    async fn a_broken_promise_is_a_data_integrity_error() {
        let src = fixed(vec![batch(0..4), batch(4..8)], Some(9));
        let err = export(&src, &Collect::default(), &Scan::new(), &Context::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity);
        assert!(
            err.message().contains("promised 9 rows but delivered 8"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_batch_of_another_schema_is_rejected() {
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int32, false),
                Field::new("name", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
                Arc::new(StringArray::from(vec!["a"])),
            ],
        )
        .unwrap();
        let src = fixed(vec![batch(0..2), other], None);
        let err = export(&src, &Collect::default(), &Scan::new(), &Context::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema);
        assert!(err.message().contains("`id: Int32`"), "{err}");
    }

    #[tokio::test]
    async fn nulls_in_a_non_nullable_column_are_rejected() {
        let bad = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![None, Some(1)])) as ArrayRef,
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        let src = fixed(vec![bad], None);
        let err = export(&src, &Collect::default(), &Scan::new(), &Context::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema);
    }

    #[tokio::test]
    async fn schema_problems_fail_before_the_source_is_opened() {
        let src = fixed(vec![batch(0..2)], None);
        let scan = Scan::new().with_columns(Some(vec!["nmae".into()]));
        let err = export(&src, &Collect::default(), &scan, &Context::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("did you mean `name`?"), "{err}");
        let sink = Collect {
            reject: true,
            ..Default::default()
        };
        let err = export(&src, &sink, &Scan::new(), &Context::new())
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Config,
            "the sink cannot carry it: exit 2"
        );
        assert_eq!(src.opened.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn summaries_read_like_the_cli_prints_them() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1234567), "1,234,567");
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
        let summary = Summary {
            rows: 1000,
            batches: 1,
            bytes: 2048,
            elapsed: Duration::from_secs(2),
            write: WriteSummary::new(1000, 2048, Vec::new(), false),
        };
        let target = crate::SinkTarget::File("out.parquet".into());
        assert_eq!(
            summary.describe(&target),
            "exported 1,000 rows (2.00 KiB) to out.parquet in 2.00s (500 rows/s)"
        );
    }

    #[tokio::test]
    async fn read_checks_and_limits_like_export() {
        let src = fixed(vec![batch(0..4), batch(4..8)], Some(8));
        let scan = Scan::new()
            .with_columns(Some(vec!["name".into()]))
            .with_limit(Some(5));
        let got: Vec<_> = read(&src, &scan, &Context::new())
            .await
            .unwrap()
            .collect()
            .await;
        let rows: usize = got.iter().map(|b| b.as_ref().unwrap().num_rows()).sum();
        assert_eq!(rows, 5);
        let src = fixed(vec![batch(0..4)], Some(9));
        let got: Vec<_> = read(&src, &Scan::new(), &Context::new())
            .await
            .unwrap()
            .collect()
            .await;
        let err = got.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    }

    #[tokio::test]
    async fn cancellation_stops_the_export() {
        let src = fixed(vec![batch(0..2)], None);
        let cx = Context::new();
        cx.cancellation().cancel();
        let err = export(&src, &Collect::default(), &Scan::new(), &cx)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
    }
}
