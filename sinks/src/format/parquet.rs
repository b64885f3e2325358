//! Parquet output through parquet-rs: its Arrow column writers, driven in parallel.
//!
//! Defaults follow pyarrow's `write_table`: zstd (level 1), 1 048 576-row row groups,
//! dictionary encoding, column chunk statistics. Memory stays bounded by one row group: the
//! writer keeps the open row group's encoded, compressed pages and flushes them when the group
//! is full, by rows or at [`MAX_ROW_GROUP_MEMORY`].

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use arrowport_core::arrow::datatypes::{DataType, IntervalUnit, Schema, SchemaRef};
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{Error, ErrorKind, Result};
use parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;

use super::FormatWriter;
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

/// Rows gathered before encoding: enough that starting threads is cheap next to the work.
const ENCODE_ROWS: usize = 65_536;
/// Input memory gathered before encoding, whatever the rows, so wide rows stay bounded.
const ENCODE_MEMORY: usize = 8 << 20;
/// Rows below which work stays on the calling thread (small files, the tail of a file).
const PARALLEL_MIN_ROWS: usize = 4096;
/// Memory at which the open row group closes before reaching `row_group_size` rows (about
/// Spark's 128 MiB parquet block size). The open row group lives in memory, so wide rows
/// (vectors) would otherwise hold gigabytes.
const MAX_ROW_GROUP_MEMORY: usize = 128 << 20;

/// `ArrowWriter`'s job, with leaf columns encoded in parallel through parquet-rs' documented
/// low-level API: encoding dominates the cost of a parquet export and columns are independent.
/// Incoming batches are gathered to [`ENCODE_ROWS`] rows first, so that each round of threads
/// has enough work. Threads are scoped to one round: none outlives a call, so dropping the
/// writer (or the export future) needs no cleanup.
struct ParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The open row group's writers, one per leaf column; empty between row groups.
    columns: Vec<ArrowColumnWriter>,
    /// Rows accepted but not encoded yet, all for the open row group.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_memory: usize,
    /// Rows encoded into the open row group.
    encoded_rows: usize,
    row_group_size: usize,
    threads: usize,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// Encodes the pending rows into the open row group, one job per leaf column.
    fn encode_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.columns.is_empty() {
            let index = self.file.flushed_row_groups().len();
            self.columns = self
                .factory
                .create_column_writers(index)
                .map_err(parquet_error)?;
        }
        let mut leaves: Vec<Vec<ArrowLeafColumn>> = self
            .columns
            .iter()
            .map(|_| Vec::with_capacity(self.pending.len()))
            .collect();
        for batch in self.pending.drain(..) {
            let mut slots = leaves.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
                for leaf in compute_leaves(field, column).map_err(parquet_error)? {
                    if let Some(slot) = slots.next() {
                        slot.push(leaf);
                    }
                }
            }
        }
        let threads = if self.pending_rows < PARALLEL_MIN_ROWS {
            1
        } else {
            self.threads
        };
        let jobs: Vec<_> = self.columns.iter_mut().zip(leaves).collect();
        parallel_map(jobs, threads, |(writer, leaves)| {
            leaves.iter().try_for_each(|leaf| writer.write(leaf))
        })?;
        self.encoded_rows += self.pending_rows;
        self.pending_rows = 0;
        self.pending_memory = 0;
        Ok(())
    }

    /// Closes the open row group (finishing each column in parallel) and appends it.
    fn flush_row_group(&mut self) -> Result<()> {
        self.encode_pending()?;
        if self.columns.is_empty() {
            return Ok(());
        }
        let columns = std::mem::take(&mut self.columns);
        let threads = if self.encoded_rows < PARALLEL_MIN_ROWS {
            1
        } else {
            self.threads
        };
        let chunks = parallel_map(columns, threads, ArrowColumnWriter::close)?;
        let mut row_group = self.file.next_row_group().map_err(parquet_error)?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(parquet_error)?;
        }
        row_group.close().map_err(parquet_error)?;
        self.encoded_rows = 0;
        Ok(())
    }

    /// The open row group's size estimate.
    fn encoded_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }
}

impl<W: Write + Send> FormatWriter<W> for ParquetWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let room = self.row_group_size - self.encoded_rows - self.pending_rows;
            let take = rest.num_rows().min(room);
            let head = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            self.pending_memory += head.get_array_memory_size();
            self.pending_rows += take;
            self.pending.push(head);
            let group_full = self.encoded_rows + self.pending_rows >= self.row_group_size;
            if group_full {
                self.flush_row_group()?;
            } else if self.pending_rows >= ENCODE_ROWS || self.pending_memory >= ENCODE_MEMORY {
                self.encode_pending()?;
                let memory: usize = self
                    .columns
                    .iter()
                    .map(ArrowColumnWriter::memory_size)
                    .sum();
                if memory >= MAX_ROW_GROUP_MEMORY {
                    self.flush_row_group()?;
                }
            }
        }
        Ok(())
    }

    /// Encodes the pending rows first, so that size-based rotation sees a measured size.
    fn buffered_bytes(&mut self) -> Result<usize> {
        self.encode_pending()?;
        Ok(self.encoded_bytes())
    }

    fn finish(mut self: Box<Self>) -> Result<W> {
        self.flush_row_group()?;
        self.file.into_inner().map_err(parquet_error)
    }
}

/// Runs `job` on every item on up to `threads` threads (this one included) and returns the
/// results in item order, or the first error in item order.
fn parallel_map<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    job: impl Fn(T) -> parquet::errors::Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items
            .into_iter()
            .map(|item| job(item).map_err(parquet_error))
            .collect();
    }
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new((0..count).map(|_| None).collect::<Vec<_>>());
    let work = || {
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((index, item)) = next else { break };
            let result = job(item);
            results.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .map(|r| match r {
            Some(r) => r.map_err(parquet_error),
            None => Err(Error::new(
                ErrorKind::Unexpected,
                "a parquet encoding job did not run",
            )),
        })
        .collect()
}

pub(crate) fn open<W: Write + Send + 'static>(
    schema: &SchemaRef,
    options: &WriterOptions,
    out: W,
) -> Result<Box<dyn FormatWriter<W>>> {
    let mut props = properties(options)?;
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(schema)
        .map_err(parquet_error)?;
    // Readers restore the exact Arrow types (time zones, unsigned, large types) from this.
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    let file = SerializedFileWriter::new(out, parquet_schema.root_schema_ptr(), Arc::new(props))
        .map_err(parquet_error)?;
    let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
    let leaves = parquet_schema.num_columns().max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Box::new(ParquetWriter {
        file,
        factory,
        schema: schema.clone(),
        columns: Vec::new(),
        pending: Vec::new(),
        pending_rows: 0,
        pending_memory: 0,
        encoded_rows: 0,
        row_group_size: options.row_group_size,
        threads: cores.min(leaves),
    }))
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
        let mut writer = open(&schema, &options("7000"), Vec::new()).unwrap();
        for b in &batches {
            writer.write(b).unwrap();
        }
        let bytes = writer.finish().unwrap();
        let file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &file, &bytes).unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
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

    #[test]
    fn parallel_map_keeps_order_and_the_first_error() {
        let out = parallel_map((0..100).collect(), 4, |i: i32| Ok(i * 2)).unwrap();
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let err = parallel_map((0..100).collect(), 4, |i: i32| {
            if i % 30 == 29 {
                Err(ParquetError::General(format!("job {i}")))
            } else {
                Ok(i)
            }
        })
        .unwrap_err();
        assert_eq!(err.message(), "parquet: Parquet error: job 29");
    }
}
