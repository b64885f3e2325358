//! Parquet output through parquet-rs: its Arrow column writers, driven in parallel.
//!
//! Defaults follow pyarrow's `write_table`: zstd (level 1), 1 048 576-row row groups,
//! dictionary encoding (not tried again on a column whose dictionary overflowed or did not
//! pay in an earlier row group), column chunk statistics. Memory stays bounded by two row
//! groups: the writer keeps the open row group's encoded, compressed pages and hands them to a flusher
//! thread when the group is full, by rows or at [`MAX_ROW_GROUP_MEMORY`]; the next group fills
//! while that one is appended.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use arrowport_core::arrow::array::ArrayRef;
use arrowport_core::arrow::datatypes::{
    DataType, FieldRef, Fields, IntervalUnit, Schema, SchemaRef,
};
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{Error, ErrorKind, Result};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{SchemaDescPtr, SchemaDescriptor};

use super::dictionary::{PlainSize, leaf_arrays};
use super::row_groups::{DurableGroup, Unread};
use super::{DurablePoint, FormatWriter, Output, Skip};
use crate::config::{Compression, WriterOptions};

/// Rejects what `ArrowWriter` cannot write, naming every such column. Unions are caught here
/// because parquet-rs panics on them; month-day-nanosecond intervals because it refuses them
/// only when a batch arrives; anything else it cannot map, by creating a writer.
pub(crate) fn check_schema(schema: &Schema) -> Result<()> {
    let problems: Vec<String> = schema
        .fields()
        .iter()
        .filter_map(|f| {
            let ty = f.data_type();
            let why = match unwritable(ty) {
                Some(why) => why.to_string(),
                None => {
                    let single = Arc::new(Schema::new(vec![f.as_ref().clone()]));
                    ArrowWriter::try_new(io::sink(), single, None)
                        .err()?
                        .to_string()
                }
            };
            Some(format!("`{}` ({ty}: {why})", f.name()))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::schema(format!(
        "parquet cannot write {} {}; write arrow instead, or leave them out with --columns",
        if problems.len() == 1 {
            "column"
        } else {
            "columns"
        },
        problems.join(", ")
    ))
    .with_context("plugin", "parquet"))
}

/// Types parquet-rs cannot write that it does not reject cleanly when the writer is created.
fn unwritable(ty: &DataType) -> Option<&'static str> {
    match ty {
        DataType::Union(..) => Some("parquet has no union type"),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            Some("parquet has no month-day-nanosecond interval")
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => unwritable(f.data_type()),
        DataType::Struct(fields) => fields.iter().find_map(|f| unwritable(f.data_type())),
        DataType::Dictionary(_, v) => unwritable(v),
        DataType::RunEndEncoded(_, v) => unwritable(v.data_type()),
        _ => None,
    }
}

fn properties(options: &WriterOptions) -> Result<WriterProperties> {
    let level = options.compression_level;
    let codec = match options.compression {
        Compression::Zstd => {
            Codec::ZSTD(ZstdLevel::try_new(level.unwrap_or(1)).map_err(parquet_error)?)
        }
        Compression::Gzip => Codec::GZIP(
            GzipLevel::try_new(level.unwrap_or(6).unsigned_abs()).map_err(parquet_error)?,
        ),
        Compression::Snappy => Codec::SNAPPY,
        Compression::Lz4 => Codec::LZ4_RAW,
        Compression::None => Codec::UNCOMPRESSED,
    };
    // Chunk-level statistics, as pyarrow writes by default: what readers prune row groups
    // with, without the cost of per-page statistics.
    let statistics = if options.statistics {
        EnabledStatistics::Chunk
    } else {
        EnabledStatistics::None
    };
    Ok(WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(options.row_group_size))
        .set_statistics_enabled(statistics)
        .build())
}

/// Embedding vectors (fixed-size lists of floats) never repeat and are never filtered on by
/// range, so their leaves skip the dictionary attempt and min/max statistics: both cost time
/// on the widest column and buy nothing.
fn plain_vectors(
    props: WriterProperties,
    schema: &Schema,
    parquet_schema: &parquet::schema::types::SchemaDescriptor,
) -> WriterProperties {
    let is_vector = |root: &str| {
        schema.field_with_name(root).is_ok_and(|f| {
            matches!(f.data_type(), DataType::FixedSizeList(item, _) if item.data_type().is_floating())
        })
    };
    parquet_schema
        .columns()
        .iter()
        .filter(|c| c.path().parts().first().is_some_and(|root| is_vector(root)))
        .fold(props.into_builder(), |builder, column| {
            builder
                .set_column_dictionary_enabled(column.path().clone(), false)
                .set_column_statistics_enabled(column.path().clone(), EnabledStatistics::None)
        })
        .build()
}

/// Maps a parquet failure to an arrowport error, keeping I/O failures (a full disk, a closed
/// pipe) recognisable as such.
pub(crate) fn parquet_error(err: ParquetError) -> Error {
    match err {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => Error::io("writing parquet failed", *io),
            Err(other) => Error::new(ErrorKind::Unexpected, format!("parquet: {other}")),
        },
        ParquetError::NYI(m) => Error::new(ErrorKind::Unsupported, format!("parquet: {m}")),
        ParquetError::ArrowError(m) => Error::schema(format!("parquet: {m}")),
        other => Error::new(ErrorKind::Unexpected, format!("parquet: {other}")),
    }
}

/// Jobs queued per encoder thread: enough to keep it busy while the next batch arrives, few
/// enough that memory stays flat (a queued job holds columns of one input batch).
const ENCODER_QUEUE: usize = 2;
/// Encoder threads per core, at most: a thread per column lets the OS balance columns of
/// unequal cost; wide schemas share threads, column `i` going to thread `i % threads`.
const ENCODERS_PER_CORE: usize = 4;
/// Input bytes at which the open row group closes before reaching `row_group_size` rows. The
/// open row group lives in memory, encoded, so wide rows (vectors) would otherwise hold
/// gigabytes; encoding never grows values much, so the group being appended and the one
/// filling take at most about twice this, a quarter of an export's 256 MiB budget, and
/// readers still get groups large enough to scan efficiently. Measured on the input, not on
/// the encoders' memory, so that row groups end on the same rows in every run: a resumed
/// export must write the file an uninterrupted one writes.
const MAX_ROW_GROUP_MEMORY: usize = 32 << 20;

/// What the writer asks of an encoder thread.
enum Job {
    /// Start a row group: encode into these columns' writers from now on.
    Open(Vec<Column>),
    /// Encode these arrays, one per column the thread owns, in order.
    Write(Vec<ArrayRef>),
    /// Answer with the estimated encoded size of the open row group's columns, once the jobs
    /// before are done.
    Measure(SyncSender<usize>),
    /// Close the open row group's columns and send their chunks.
    Close(SyncSender<Chunks>),
}

/// The chunks of an encoder thread's columns, each with its leaf index and whether this row
/// group declined the leaf's dictionary.
type Chunks = Vec<(usize, ArrowColumnChunk, bool)>;

/// A top-level column and the writers of its leaves (several for structs and maps), each
/// with its leaf index. The encoder thread that owns it also splits its arrays into leaves:
/// the levels of a list column take three times the memory of its values, so they exist
/// only while being encoded, not for every queued batch, and the work is spread over the
/// encoders instead of falling on the writer.
struct Column {
    field: FieldRef,
    leaves: Vec<Leaf>,
}

/// A leaf column's writer, with what its values would take plainly encoded so far.
struct Leaf {
    index: usize,
    writer: ArrowColumnWriter,
    plain: PlainSize,
}

/// The first failure of any encoder thread, kept for whoever notices that one stopped.
#[derive(Default)]
struct Failure(Mutex<Option<Error>>);

impl Failure {
    fn set(&self, err: Error) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(err);
    }

    fn take(&self) -> Error {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.take().unwrap_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "a parquet encoder thread stopped early",
            )
        })
    }
}

/// What every encoder thread of a file shares.
#[derive(Default)]
struct Shared {
    /// Set when the writer is abandoned: queued work is skipped.
    cancelled: AtomicBool,
    failure: Failure,
}

/// One encoder thread.
struct Encoder {
    jobs: SyncSender<Job>,
    thread: JoinHandle<()>,
}

/// The encoder threads of a file. They live as long as the file and each encodes the same
/// columns in every row group, column `i` on thread `i % threads`: the pages a thread
/// allocates are freed back into its own malloc arena once appended, and reused there by
/// the next row group. Threads started per row group would each take whichever arena was
/// free, and every arena would come to hold a row group's worth of freed pages.
struct Encoders {
    threads: Vec<Encoder>,
    shared: Arc<Shared>,
}

impl Encoders {
    fn start(count: usize) -> Result<Self> {
        let mut encoders = Encoders {
            threads: Vec::with_capacity(count),
            shared: Arc::default(),
        };
        for index in 0..count.max(1) {
            let (jobs, queue) = sync_channel(ENCODER_QUEUE);
            let shared = encoders.shared.clone();
            // On failure `encoders` is dropped, which joins the threads already started.
            let thread = std::thread::Builder::new()
                .name(format!("parquet-encoder-{index}"))
                .spawn(move || encode(queue, &shared))
                .map_err(|e| Error::io("cannot start a parquet encoder thread", e))?;
            encoders.threads.push(Encoder { jobs, thread });
        }
        Ok(encoders)
    }

    /// Queues `job` for thread `index`, waiting only when its queue is full.
    fn send(&self, index: usize, job: Job) -> Result<()> {
        self.threads[index]
            .jobs
            .send(job)
            .map_err(|_| self.shared.failure.take())
    }

    /// Starts a row group whose leaf writers are `writers`, in leaf order.
    /// `plain` marks the leaves written without a dictionary attempt in this row group.
    fn open(
        &self,
        writers: Vec<ArrowColumnWriter>,
        fields: &Fields,
        parquet_schema: &SchemaDescriptor,
        plain: &[bool],
    ) -> Result<()> {
        let mut columns: Vec<Column> = fields
            .iter()
            .map(|field| Column {
                field: field.clone(),
                leaves: Vec::new(),
            })
            .collect();
        for (index, writer) in writers.into_iter().enumerate() {
            let root = parquet_schema.get_column_root_idx(index);
            columns[root].leaves.push(Leaf {
                index,
                writer,
                plain: PlainSize::new(&parquet_schema.column(index), !plain[index]),
            });
        }
        let threads = self.threads.len();
        let mut owned: Vec<Vec<Column>> = (0..threads).map(|_| Vec::new()).collect();
        for (index, column) in columns.into_iter().enumerate() {
            owned[index % threads].push(column);
        }
        for (index, columns) in owned.into_iter().enumerate() {
            self.send(index, Job::Open(columns))?;
        }
        Ok(())
    }

    /// Queues the columns of `batch`.
    fn write(&self, batch: &RecordBatch) -> Result<()> {
        let threads = self.threads.len();
        let mut jobs: Vec<Vec<ArrayRef>> = (0..threads)
            .map(|_| Vec::with_capacity(batch.num_columns().div_ceil(threads)))
            .collect();
        for (index, column) in batch.columns().iter().enumerate() {
            jobs[index % threads].push(column.clone());
        }
        for (index, job) in jobs.into_iter().enumerate() {
            self.send(index, Job::Write(job))?;
        }
        Ok(())
    }

    /// The estimated encoded size of everything queued so far.
    fn measure(&self) -> Result<usize> {
        let mut replies = Vec::with_capacity(self.threads.len());
        for index in 0..self.threads.len() {
            let (reply, answer) = sync_channel(1);
            self.send(index, Job::Measure(reply))?;
            replies.push(answer);
        }
        replies.into_iter().try_fold(0, |total, answer| {
            let bytes = answer.recv().map_err(|_| self.shared.failure.take())?;
            Ok(total + bytes)
        })
    }

    /// Makes the threads skip the jobs still queued: the file is being abandoned.
    fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
    }

    /// Asks every thread to close the open row group of `leaves` leaf columns.
    fn close(&self, leaves: usize) -> Result<Closing> {
        let mut replies = Vec::with_capacity(self.threads.len());
        for index in 0..self.threads.len() {
            // Room for the answer, so that a thread never waits for the flusher.
            let (reply, answer) = sync_channel(1);
            self.send(index, Job::Close(reply))?;
            replies.push(answer);
        }
        Ok(Closing {
            replies,
            leaves,
            shared: self.shared.clone(),
        })
    }
}

impl Drop for Encoders {
    fn drop(&mut self) {
        self.cancel();
        for encoder in self.threads.drain(..) {
            drop(encoder.jobs);
            // The writer is gone: how its threads ended no longer matters.
            let _ = encoder.thread.join();
        }
    }
}

/// The body of an encoder thread: does jobs until the writer hangs up or is abandoned. A
/// failure (or a panic) is recorded before the job and the queue are dropped: whoever finds
/// a channel closed then finds the reason.
fn encode(jobs: Receiver<Job>, shared: &Shared) {
    let mut columns: Vec<Column> = Vec::new();
    for mut job in &jobs {
        if shared.cancelled.load(Ordering::Relaxed) {
            return;
        }
        let run = || work(&mut job, &mut columns);
        let err = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(())) => continue,
            Ok(Err(err)) => parquet_error(err),
            Err(panic) => panicked("encoder", panic.as_ref()),
        };
        shared.failure.set(err);
        return;
    }
}

/// Does one job on the thread's open columns.
fn work(job: &mut Job, columns: &mut Vec<Column>) -> parquet::errors::Result<()> {
    match job {
        Job::Open(owned) => *columns = std::mem::take(owned),
        Job::Write(arrays) => {
            for (column, array) in columns.iter_mut().zip(arrays.iter()) {
                let levels = compute_leaves(&column.field, array)?;
                let measured = column.leaves.iter().any(|leaf| leaf.plain.measures());
                let values = measured
                    .then(|| leaf_arrays(array))
                    .flatten()
                    .filter(|v| v.len() == column.leaves.len());
                for (i, (leaf, levels)) in column.leaves.iter_mut().zip(&levels).enumerate() {
                    leaf.writer.write(levels)?;
                    leaf.plain.add(values.as_ref().map(|v| &v[i]));
                }
            }
        }
        Job::Measure(reply) => {
            let bytes = writers(columns)
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum();
            // The writer may have stopped waiting (it is being dropped).
            let _ = reply.send(bytes);
        }
        Job::Close(reply) => {
            let chunks = std::mem::take(columns)
                .into_iter()
                .flat_map(|column| column.leaves)
                .map(|leaf| {
                    let chunk = leaf.writer.close()?;
                    let declines = leaf.plain.declines(&chunk);
                    Ok((leaf.index, chunk, declines))
                })
                .collect::<parquet::errors::Result<Chunks>>()?;
            // The flusher may have stopped waiting (the writer is being dropped).
            let _ = reply.send(chunks);
        }
    }
    Ok(())
}

/// Every leaf writer of `columns`.
fn writers(columns: &[Column]) -> impl Iterator<Item = &ArrowColumnWriter> {
    columns
        .iter()
        .flat_map(|c| &c.leaves)
        .map(|leaf| &leaf.writer)
}

/// A row group whose columns the encoder threads are closing.
struct Closing {
    /// One answer per encoder thread, in thread order.
    replies: Vec<Receiver<Chunks>>,
    leaves: usize,
    shared: Arc<Shared>,
}

impl Closing {
    /// Waits for the closed chunks and returns them in column order, with the leaves whose
    /// dictionary this row group declined.
    fn chunks(self) -> Result<(Vec<ArrowColumnChunk>, Vec<bool>)> {
        let mut chunks: Vec<Option<ArrowColumnChunk>> = (0..self.leaves).map(|_| None).collect();
        let mut declined = vec![false; self.leaves];
        for answer in self.replies {
            let closed = answer.recv().map_err(|_| self.shared.failure.take())?;
            for (leaf, chunk, declines) in closed {
                chunks[leaf] = Some(chunk);
                declined[leaf] = declines;
            }
        }
        let chunks = chunks
            .into_iter()
            .map(|chunk| {
                chunk.ok_or_else(|| {
                    Error::new(ErrorKind::Unexpected, "a parquet column chunk is missing")
                })
            })
            .collect::<Result<_>>()?;
        Ok((chunks, declined))
    }
}

/// What the writer asks of the flusher thread.
enum Flush {
    /// Append this row group to the file once its columns are closed.
    Group(Closing),
    /// Answer once every row group handed over before is in the file.
    Wait(SyncSender<()>),
}

/// The thread that owns the file: it appends closed row groups (copying and hashing their
/// bytes) while the next row group is being encoded.
struct Flusher<W: Write + Send> {
    queue: SyncSender<Flush>,
    /// Each row group's dictionary verdicts (the leaves it declined), once its columns are
    /// closed.
    closed: Receiver<Vec<bool>>,
    thread: JoinHandle<Result<SerializedFileWriter<W>>>,
    /// Set when the writer is dropped: row groups not appended yet are cancelled.
    abandoned: Arc<AtomicBool>,
}

/// What the flusher of a resumable file reports after each row group: the file is synced up
/// to it, and its record lets a later writer continue after it.
struct Durable {
    points: std::sync::mpsc::Sender<DurablePoint>,
    schema: SchemaDescPtr,
    /// Rows in the file's row groups so far.
    rows: u64,
}

impl<W: Output> Flusher<W> {
    fn start(file: SerializedFileWriter<W>, durable: Option<Durable>) -> Result<Self> {
        // A rendezvous: at most one row group is being appended while the next one fills.
        let (queue, jobs) = sync_channel(0);
        let (closed, verdicts) = std::sync::mpsc::channel();
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let thread = std::thread::Builder::new()
            .name("parquet-flusher".into())
            .spawn(move || append(file, jobs, closed, durable, &stop))
            .map_err(|e| Error::io("cannot start the parquet flusher thread", e))?;
        Ok(Flusher {
            queue,
            closed: verdicts,
            thread,
            abandoned,
        })
    }

    /// Waits for the thread: the file, or why it stopped.
    fn join(self) -> Result<SerializedFileWriter<W>> {
        drop(self.queue);
        self.thread
            .join()
            .unwrap_or_else(|panic| Err(panicked("flusher", panic.as_ref())))
    }
}

/// The body of the flusher thread.
fn append<W: Output>(
    mut file: SerializedFileWriter<W>,
    jobs: Receiver<Flush>,
    closed: std::sync::mpsc::Sender<Vec<bool>>,
    mut durable: Option<Durable>,
    abandoned: &AtomicBool,
) -> Result<SerializedFileWriter<W>> {
    for job in jobs {
        match job {
            Flush::Group(group) => {
                if abandoned.load(Ordering::Relaxed) {
                    return Err(Error::new(ErrorKind::Cancelled, "parquet writer dropped"));
                }
                let (chunks, verdicts) = group.chunks()?;
                // Nobody waits for the last row group's verdicts.
                let _ = closed.send(verdicts.clone());
                let mut offsets: Vec<_> = chunks
                    .iter()
                    .map(|c| c.close().offset_index.clone())
                    .collect();
                let mut row_group = file.next_row_group().map_err(parquet_error)?;
                for chunk in chunks {
                    chunk
                        .append_to_row_group(&mut row_group)
                        .map_err(parquet_error)?;
                }
                let metadata = row_group.close().map_err(parquet_error)?;
                if let Some(durable) = &mut durable {
                    // The chunks' page locations were relative to their own buffers; in the
                    // file, a chunk's data pages follow one another from its first one.
                    for (offsets, column) in offsets.iter_mut().zip(metadata.columns()) {
                        let mut at = column.data_page_offset();
                        for page in offsets.iter_mut().flat_map(|o| &mut o.page_locations) {
                            page.offset = at;
                            at += i64::from(page.compressed_page_size);
                        }
                    }
                    let group = DurableGroup {
                        metadata: metadata.as_ref().clone(),
                        offsets,
                    };
                    report_durable(&mut file, durable, group, &verdicts)?;
                }
            }
            Flush::Wait(reply) => {
                // The writer may have stopped waiting (it is being dropped).
                let _ = reply.send(());
            }
        }
    }
    Ok(file)
}

/// Syncs the file up to the row group just appended and reports it as a durable point.
fn report_durable<W: Output>(
    file: &mut SerializedFileWriter<W>,
    durable: &mut Durable,
    group: DurableGroup,
    verdicts: &[bool],
) -> Result<()> {
    let io = |e| Error::io("cannot sync the parquet file", e);
    file.flush().map_err(io)?;
    file.inner_mut().sync().map_err(io)?;
    durable.rows += group.metadata.num_rows() as u64;
    let state = serde_json::json!({
        "group": group.encode(&durable.schema)?,
        "verdicts": verdicts,
    });
    let point = DurablePoint {
        rows: durable.rows,
        offset: file.bytes_written() as u64,
        state,
    };
    // The writer may be gone (dropped): the point no longer matters.
    let _ = durable.points.send(point);
    Ok(())
}

/// The error for a writer used after a failure.
fn failed_earlier() -> Error {
    Error::new(ErrorKind::Unexpected, "the parquet writer failed earlier")
}

/// The error for a thread that panicked.
fn panicked(thread: &str, panic: &(dyn std::any::Any + Send)) -> Error {
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Error::new(
        ErrorKind::Unexpected,
        format!("a parquet {thread} thread panicked: {why}"),
    )
}

/// Makes each row group's column writers. A leaf whose dictionary a row group declined (see
/// [`PlainSize::declines`]: unique ids, timestamps, measurements) is written plain from the
/// start in later row groups: hashing its values per row group only to throw the dictionary
/// away, or to keep one no smaller than the values, costs a fifth of the encoding time or
/// more. The file's other choices are kept as they are.
struct ColumnWriters {
    factory: ArrowRowGroupWriterFactory,
    props: WriterProperties,
    parquet_schema: SchemaDescPtr,
    arrow_schema: SchemaRef,
    /// The leaves `factory` already writes plain.
    plain: Vec<bool>,
}

impl ColumnWriters {
    fn new<W: Write + Send>(
        file: &SerializedFileWriter<W>,
        props: WriterProperties,
        parquet_schema: SchemaDescPtr,
        arrow_schema: &SchemaRef,
    ) -> Self {
        let leaves = parquet_schema.num_columns();
        ColumnWriters {
            factory: ArrowRowGroupWriterFactory::new(file, arrow_schema.clone()),
            props,
            parquet_schema,
            arrow_schema: arrow_schema.clone(),
            plain: vec![false; leaves],
        }
    }

    /// The writers of row group `row_group`, the leaves of `declined` written plain.
    fn create(&mut self, row_group: usize, declined: Vec<bool>) -> Result<Vec<ArrowColumnWriter>> {
        if declined != self.plain {
            let columns = self.parquet_schema.columns();
            let props = columns
                .iter()
                .zip(&declined)
                .filter(|(_, plain)| **plain)
                .fold(self.props.clone().into_builder(), |b, (column, _)| {
                    b.set_column_dictionary_enabled(column.path().clone(), false)
                })
                .build();
            // The factory takes its properties from a file writer: a throwaway one, writing
            // nowhere, carries the adjusted ones.
            let carrier = SerializedFileWriter::new(
                io::sink(),
                self.parquet_schema.root_schema_ptr(),
                Arc::new(props),
            )
            .map_err(parquet_error)?;
            self.factory = ArrowRowGroupWriterFactory::new(&carrier, self.arrow_schema.clone());
            self.plain = declined;
        }
        self.factory
            .create_column_writers(row_group)
            .map_err(parquet_error)
    }
}

/// The bytes of the values `batch` holds: its slice of each buffer, whatever the buffers'
/// capacities, so that the same rows measure the same in every run.
fn input_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum()
}

/// `ArrowWriter`'s job, with columns encoded in parallel through parquet-rs' documented
/// low-level API: encoding dominates the cost of a parquet export and columns are independent.
/// Each column is encoded on an encoder thread fed through a short queue, so that encoding
/// overlaps with reading the source and no column waits for another between batches; a full
/// row group goes to the flusher thread, which appends it to the file while the next one is
/// encoded. Threads never outlive the writer: dropping it (or the export future) cancels and
/// joins them.
struct ParquetWriter<W: Output> {
    /// Owns the file; `None` once finished or failed.
    flusher: Option<Flusher<Skip<W>>>,
    encoders: Encoders,
    columns: ColumnWriters,
    schema: SchemaRef,
    /// The rows of the open row group, if one is open.
    open_rows: Option<usize>,
    /// Row groups handed to the flusher.
    groups: usize,
    /// The dictionary verdicts of the row groups closed so far, in order.
    verdicts: Vec<Vec<bool>>,
    /// Input bytes of the open row group (see [`MAX_ROW_GROUP_MEMORY`]).
    open_bytes: usize,
    /// Whether a row group went to the flusher since it last reported being idle.
    in_flight: bool,
    row_group_size: usize,
    /// Durable points the flusher reports, for a resumable file.
    points: Option<Receiver<DurablePoint>>,
}

impl<W: Output> ParquetWriter<W> {
    fn flusher(&mut self) -> Result<&mut Flusher<Skip<W>>> {
        self.flusher.as_mut().ok_or_else(failed_earlier)
    }

    /// Why the flusher stopped taking jobs.
    fn flusher_failure(&mut self) -> Error {
        match self.flusher.take().map(Flusher::join) {
            Some(Err(err)) => err,
            _ => Error::new(
                ErrorKind::Unexpected,
                "the parquet flusher thread stopped early",
            ),
        }
    }

    /// Sends `batch` (which fits in the open row group) to the encoders.
    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = match self.open_rows {
            Some(rows) => rows,
            None => {
                let declined = self.verdicts_for_next()?;
                let writers = self.columns.create(self.groups, declined)?;
                let columns = &self.columns;
                self.encoders.open(
                    writers,
                    self.schema.fields(),
                    &columns.parquet_schema,
                    &columns.plain,
                )?;
                0
            }
        };
        self.open_rows = Some(rows + batch.num_rows());
        self.encoders.write(batch)
    }

    /// The leaves the next row group writes plain: those declined by the row groups before
    /// the previous one, and for the second row group by the first (a unique column is then
    /// known to overflow its dictionary, and is not hashed a second time). The one-group lag
    /// lets the previous row group's encoders finish while the next one opens; waiting for
    /// the verdicts of fixed row groups, not for whichever have come in, makes each row
    /// group's encodings the same in every run. The wait is for the encoders to finish their
    /// queued jobs, not for the row group to reach the file.
    fn verdicts_for_next(&mut self) -> Result<Vec<bool>> {
        let needed = match self.groups {
            0 | 1 => self.groups,
            groups => groups - 1,
        };
        while self.verdicts.len() < needed {
            match self.flusher()?.closed.recv() {
                Ok(verdicts) => self.verdicts.push(verdicts),
                Err(_) => return Err(self.flusher_failure()),
            }
        }
        let mut declined = vec![false; self.columns.parquet_schema.num_columns()];
        for verdicts in &self.verdicts[..needed] {
            for (all, this) in declined.iter_mut().zip(verdicts) {
                *all |= this;
            }
        }
        Ok(declined)
    }

    /// Hands the open row group to the flusher.
    fn flush_row_group(&mut self) -> Result<()> {
        self.open_bytes = 0;
        if self.open_rows.take().is_none() {
            return Ok(());
        }
        let group = self
            .encoders
            .close(self.columns.parquet_schema.num_columns())?;
        if self.flusher()?.queue.send(Flush::Group(group)).is_err() {
            return Err(self.flusher_failure());
        }
        self.groups += 1;
        self.in_flight = true;
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.flusher()?;
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let encoded = self.open_rows.unwrap_or(0);
            let take = rest.num_rows().min(self.row_group_size - encoded);
            let head = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            self.encode(&head)?;
            self.open_bytes += input_bytes(&head);
            let rows = self.open_rows.unwrap_or(0);
            if rows >= self.row_group_size || self.open_bytes >= MAX_ROW_GROUP_MEMORY {
                self.flush_row_group()?;
            }
        }
        Ok(())
    }

    /// Waits for the flusher to append what it was given, then measures the open row group.
    fn measure(&mut self) -> Result<usize> {
        self.wait_flushed()?;
        match self.open_rows {
            Some(_) => self.encoders.measure(),
            None => Ok(0),
        }
    }

    /// Waits until the flusher has appended every row group handed to it.
    fn wait_flushed(&mut self) -> Result<()> {
        if self.in_flight {
            let (reply, done) = sync_channel(1);
            if self.flusher()?.queue.send(Flush::Wait(reply)).is_err() || done.recv().is_err() {
                return Err(self.flusher_failure());
            }
            self.in_flight = false;
        }
        Ok(())
    }

    /// Stops the threads after a failure: the file can no longer be completed.
    fn fail<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.abandon();
        }
        result
    }

    /// Cancels and joins every thread.
    fn abandon(&mut self) {
        self.open_rows = None;
        self.encoders.cancel();
        if let Some(flusher) = self.flusher.take() {
            flusher.abandoned.store(true, Ordering::Relaxed);
            // The file is abandoned: how its thread ended no longer matters.
            let _ = flusher.join();
        }
    }
}

impl<W: Output> FormatWriter<W> for ParquetWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let written = self.write_batch(batch);
        self.fail(written)
    }

    /// Waits for the encoders and the flusher to catch up, so that size-based rotation sees a
    /// measured size.
    fn buffered_bytes(&mut self) -> Result<usize> {
        let measured = self.measure();
        self.fail(measured)
    }

    fn finish(mut self: Box<Self>) -> Result<W> {
        let flushed = self.flush_row_group();
        self.fail(flushed)?;
        let flusher = self.flusher.take().ok_or_else(failed_earlier)?;
        Ok(flusher.join()?.into_inner().map_err(parquet_error)?.inner)
    }

    /// Ends the open row group here and waits until it is durable.
    fn cut(&mut self) -> Result<Vec<DurablePoint>> {
        let cut = self.flush_row_group().and_then(|()| self.wait_flushed());
        self.fail(cut)?;
        self.durable()
    }

    fn durable(&mut self) -> Result<Vec<DurablePoint>> {
        Ok(self
            .points
            .as_ref()
            .map(|points| points.try_iter().collect())
            .unwrap_or_default())
    }
}

impl<W: Output> Drop for ParquetWriter<W> {
    fn drop(&mut self) {
        self.abandon();
    }
}

pub(crate) fn open<W: Output>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(build(schema, options, out, &[])?))
}

/// Continues a file at the last row group an earlier writer made durable: its footer gets
/// the row groups of `points` again, without their bytes (they are in the file), and the
/// next row group is made as the earlier writer would have made it.
pub(crate) fn resume<W: Output>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
    points: &[DurablePoint],
) -> Result<Box<dyn FormatWriter<W>>> {
    Ok(Box::new(build(schema, options, out, points)?))
}

/// The writer of a new file, or of one continued after `points`.
fn build<W: Output>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
    points: &[DurablePoint],
) -> Result<ParquetWriter<W>> {
    let mut props = properties(options)?;
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(schema)
        .map_err(parquet_error)?;
    props = plain_vectors(props, schema, &parquet_schema);
    // Readers restore the exact Arrow types (time zones, unsigned, large types) from this.
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    let parquet_schema = Arc::new(parquet_schema);
    // A continued file's first bytes are on disk: the writer's copy of them is dropped.
    let offset = points.last().map_or(0, |p| p.offset);
    let out = Skip {
        inner: out,
        skip: offset,
    };
    let mut file = SerializedFileWriter::new(
        out,
        parquet_schema.root_schema_ptr(),
        Arc::new(props.clone()),
    )
    .map_err(parquet_error)?;
    let bad = || {
        Error::new(
            ErrorKind::DataIntegrity,
            "the resume journal's parquet state is malformed",
        )
    };
    let mut verdicts = Vec::with_capacity(points.len());
    for point in points {
        let text = point
            .state
            .get("group")
            .and_then(|g| g.as_str())
            .ok_or_else(bad)?;
        let group = DurableGroup::decode(text, &parquet_schema)?;
        let mut row_group = file.next_row_group().map_err(parquet_error)?;
        for column in group.columns()? {
            row_group
                .append_column(&Unread, column)
                .map_err(parquet_error)?;
        }
        row_group.close().map_err(parquet_error)?;
        let flags = point
            .state
            .get("verdicts")
            .and_then(|d| d.as_array())
            .ok_or_else(bad)?;
        let flags: Vec<bool> = flags
            .iter()
            .map(|f| f.as_bool().ok_or_else(bad))
            .collect::<Result<_>>()?;
        if flags.len() != parquet_schema.num_columns() {
            return Err(bad());
        }
        verdicts.push(flags);
    }
    if !points.is_empty() && file.bytes_written() as u64 != offset {
        return Err(Error::new(
            ErrorKind::DataIntegrity,
            format!(
                "the resume journal's row groups end at byte {} of the parquet file, not at {offset}",
                file.bytes_written()
            ),
        ));
    }
    let columns = ColumnWriters::new(&file, props, parquet_schema.clone(), schema);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = schema.fields().len().min(cores * ENCODERS_PER_CORE);
    let encoders = Encoders::start(threads)?;
    let (durable, points_rx) = if options.durable_points {
        let (tx, rx) = std::sync::mpsc::channel();
        let durable = Durable {
            points: tx,
            schema: parquet_schema,
            rows: points.last().map_or(0, |p| p.rows),
        };
        (Some(durable), Some(rx))
    } else {
        (None, None)
    };
    let flusher = Flusher::start(file, durable)?;
    let groups = points.len();
    Ok(ParquetWriter {
        flusher: Some(flusher),
        encoders,
        columns,
        schema: schema.clone(),
        open_rows: None,
        groups,
        verdicts,
        open_bytes: 0,
        in_flight: false,
        row_group_size: options.row_group_size,
        points: points_rx,
    })
}

#[cfg(test)]
mod tests {
    use arrowport_core::arrow::compute::concat_batches;
    use arrowport_datagen::{Config, Profile, generate_batch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::config::Config as SinkConfig;

    fn options(row_group_size: &str) -> WriterOptions {
        let map = [("row_group_size".to_string(), row_group_size.to_string())]
            .into_iter()
            .collect();
        let config: SinkConfig = arrowport_core::OptionMap::deserialize(&map, "test").unwrap();
        let target = arrowport_core::SinkTarget::File("x.parquet".into());
        config
            .validate(crate::Format::Parquet, &target)
            .unwrap()
            .writer
    }

    /// Writes `batches` in row groups of `row_group_size` rows and opens the file to read.
    fn written(
        schema: &SchemaRef,
        batches: &[RecordBatch],
        row_group_size: &str,
    ) -> ParquetRecordBatchReaderBuilder<std::fs::File> {
        let mut writer = open(schema, &options(row_group_size), Vec::new()).unwrap();
        for b in batches {
            writer.write(b).unwrap();
        }
        let file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &file, &writer.finish().unwrap()).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap()
    }

    /// Whether leaf `column` of row group `group` has dictionary-encoded pages.
    fn dictionary_encoded(
        reader: &ParquetRecordBatchReaderBuilder<std::fs::File>,
        group: usize,
        column: usize,
    ) -> bool {
        let chunk = reader.metadata().row_group(group).column(column);
        chunk
            .encodings()
            .any(|e| e == parquet::basic::Encoding::RLE_DICTIONARY)
    }

    /// Batches big enough to be encoded in parallel, every type of the datagen `all` profile,
    /// and row groups that end inside batches.
    #[test]
    fn parallel_encoding_round_trips_across_row_groups() {
        let config = Config {
            rows: 15_000,
            profile: Profile::All,
            ..Default::default()
        };
        let batches: Vec<RecordBatch> = (0..3)
            .map(|i| generate_batch(&config, i * 5000, 5000, None).unwrap())
            .collect();
        let schema = batches[0].schema();
        let reader = written(&schema, &batches, "7000");
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [7000, 7000, 1000]);
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let read = concat_batches(&read[0].schema(), &read).unwrap();
        assert_eq!(read, concat_batches(&schema, &batches).unwrap());
    }

    /// A column whose dictionary overflowed is written plain in the row groups started after
    /// that; a column that fits its dictionary keeps it; every value reads back.
    #[test]
    fn overflowed_dictionaries_are_not_attempted_again() {
        use arrowport_core::arrow::array::{Int64Array, StringArray};
        use arrowport_core::arrow::datatypes::Field;

        let schema = Arc::new(Schema::new(vec![
            Field::new("unique", DataType::Int64, false),
            Field::new("few", DataType::Utf8, false),
        ]));
        // 200,000 distinct i64 outgrow the default 1 MiB dictionary page.
        let batches: Vec<RecordBatch> = (0..4i64)
            .map(|b| {
                let ids = (b * 100_000..(b + 1) * 100_000).collect::<Vec<_>>();
                let few: Vec<&str> = ids
                    .iter()
                    .map(|i| ["a", "b", "c"][(*i % 3) as usize])
                    .collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(StringArray::from_iter_values(few)),
                    ],
                )
                .unwrap()
            })
            .collect();
        let reader = written(&schema, &batches, "200000");
        let dictionary = |group, column| dictionary_encoded(&reader, group, column);
        assert!(dictionary(0, 0), "the first row group tries the dictionary");
        assert!(
            !dictionary(1, 0),
            "the second row group writes the overflowing column plain"
        );
        assert!(
            dictionary(0, 1) && dictionary(1, 1),
            "a small dictionary is kept"
        );
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let read = concat_batches(&schema, &read).unwrap();
        assert_eq!(read, concat_batches(&schema, &batches).unwrap());
    }

    /// A dictionary that fits but is no smaller than the plain values (unique values in a
    /// row group small enough for them) is not attempted again; one that pays is kept, flat
    /// or in a list; every value reads back.
    #[test]
    fn dictionaries_that_do_not_pay_are_not_attempted_again() {
        use arrowport_core::arrow::array::{Float32Array, Int64Array, ListArray, StringArray};
        use arrowport_core::arrow::buffer::{NullBuffer, OffsetBuffer};
        use arrowport_core::arrow::datatypes::Field;

        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let schema = Arc::new(Schema::new(vec![
            Field::new("unique", DataType::Int64, false),
            Field::new("few", DataType::Utf8, true),
            Field::new("scores", DataType::List(item.clone()), true),
            Field::new("levels", DataType::List(item.clone()), true),
        ]));
        // 20,000-row groups: 160 KB of distinct ids fit the 1 MiB dictionary page.
        let batches: Vec<RecordBatch> = (0..4i64)
            .map(|b| {
                let ids: Vec<i64> = (b * 10_000..(b + 1) * 10_000).collect();
                let few = ids.iter().map(|i| ["a", "b", "c"][(*i % 3) as usize]);
                let unique = ids.iter().flat_map(|i| [*i as f32, -(*i as f32)]);
                let repeated = ids.iter().flat_map(|i| [(*i % 4) as f32, 0.5]);
                // As a Parquet reader hands them over: a bitmap with no null in it.
                let list = |values: Vec<f32>| -> ArrayRef {
                    let len = values.len();
                    let values = Float32Array::new(values.into(), Some(NullBuffer::new_valid(len)));
                    Arc::new(ListArray::new(
                        item.clone(),
                        OffsetBuffer::from_lengths(vec![2; len / 2]),
                        Arc::new(values),
                        None,
                    ))
                };
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(ids.clone())),
                        Arc::new(StringArray::from_iter_values(few)),
                        list(unique.collect()),
                        list(repeated.collect()),
                    ],
                )
                .unwrap()
            })
            .collect();
        let reader = written(&schema, &batches, "20000");
        let dictionary = |group, column| dictionary_encoded(&reader, group, column);
        assert_eq!(reader.metadata().num_row_groups(), 2);
        for unpaid in [0, 2] {
            assert!(dictionary(0, unpaid), "the first row group tries it");
            assert!(
                !dictionary(1, unpaid),
                "the second writes column {unpaid} plain"
            );
        }
        for paid in [1, 3] {
            assert!(
                dictionary(0, paid) && dictionary(1, paid),
                "column {paid} keeps it"
            );
        }
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let read = concat_batches(&schema, &read).unwrap();
        assert_eq!(read, concat_batches(&schema, &batches).unwrap());
    }

    fn batches(rows: usize) -> Vec<RecordBatch> {
        let config = Config {
            rows: (rows * 4) as u64,
            profile: Profile::All,
            ..Default::default()
        };
        (0..4)
            .map(|i| generate_batch(&config, (i * rows) as u64, rows, None).unwrap())
            .collect()
    }

    /// Dropping a writer with a row group being appended and another being encoded (a
    /// cancelled export) stops and joins its threads without panicking.
    #[test]
    fn dropped_writer_joins_its_threads() {
        let batches = batches(5000);
        let mut writer = open(&batches[0].schema(), &options("7000"), Vec::new()).unwrap();
        for b in &batches {
            writer.write(b).unwrap();
        }
        drop(writer);
    }

    /// Size-based rotation sees every row handed to the writer, appended or not.
    #[test]
    fn buffered_bytes_counts_queued_rows() {
        let batches = batches(5000);
        let mut writer = open(&batches[0].schema(), &options("7000"), Vec::new()).unwrap();
        assert_eq!(writer.buffered_bytes().unwrap(), 0);
        writer.write(&batches[0]).unwrap();
        let one = writer.buffered_bytes().unwrap();
        assert!(one > 0);
        writer.write(&batches[1]).unwrap();
        assert!(writer.buffered_bytes().unwrap() > 0);
        writer.finish().unwrap();
    }

    /// An encoder thread that fails (here: on a batch whose column is not of the schema's
    /// type) stops the writer with the reason, not a bare "stopped".
    #[test]
    fn encoder_failure_surfaces() {
        use arrowport_core::arrow::array::{Int64Array, StringArray};
        use arrowport_core::arrow::datatypes::Field;

        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let wrong = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec!["x"; 100]))],
        )
        .unwrap();
        let right = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1; 100]))],
        )
        .unwrap();
        let mut writer = open(&schema, &options("1000"), Vec::new()).unwrap();
        let mut failure = None;
        for batch in [&wrong, &right, &right, &right, &right] {
            if let Err(err) = writer.write(batch) {
                failure = Some(err);
                break;
            }
        }
        let err = match failure {
            Some(err) => err,
            None => writer.finish().expect_err("the bad batch fails the file"),
        };
        assert!(err.to_string().contains("Incompatible type"), "{err}");
    }

    /// Fails every write after the first `ok` bytes.
    struct Failing {
        ok: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.ok < buf.len() {
                return Err(io::Error::other("disk full"));
            }
            self.ok -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output for Failing {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A failure of the file surfaces as an I/O error, at a later write or at the end, and
    /// the writer refuses further work.
    #[test]
    fn append_failure_surfaces() {
        let batches = batches(5000);
        let mut writer = open(&batches[0].schema(), &options("7000"), Failing { ok: 4 }).unwrap();
        let mut failure = None;
        for b in &batches {
            if let Err(err) = writer.write(b) {
                failure = Some(err);
                break;
            }
        }
        let err = match failure {
            Some(err) => {
                assert!(writer.write(&batches[0]).is_err());
                err
            }
            None => writer.finish().err().unwrap(),
        };
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    }
}
